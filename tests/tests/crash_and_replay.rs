//! SIGKILL mid-run, restart, and audit (done-when 7 and 8).

#![allow(clippy::unwrap_used)] // test code: a panic is a failed check

use aurora_e2e::graphs::{edge, graph, sleep, sleep_chain, task};
use aurora_e2e::{Deployment, Scratch, Server, assert_invariants, binary};
use serde_json::{Value, json};
use std::process::Command;
use std::time::{Duration, Instant};

fn replay(store_args: &[String]) -> (bool, String) {
    let out = Command::new(binary()).arg("replay").args(store_args).output().expect("run aurora replay");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

fn fan_in(n: usize, ms: i64) -> Value {
    let mut tasks: Vec<Value> = (0..n).map(|i| sleep(&format!("w{i}"), ms)).collect();
    let mut join = task("join", "echo", &[]);
    join["passResults"] = json!(true);
    tasks.push(join);
    graph(tasks, (0..n).map(|i| edge(&format!("w{i}"), "join")).collect())
}

/// SIGKILL every process of the deployment mid-run (`aurora dev`, or every gateway, projector and
/// worker at once), start them again: everything finishes once, interrupted attempts are taken
/// over, and `aurora replay` finds the read models identical to a rebuild.
async fn sigkill_mid_run_then_restart_finishes_everything_once_and_replay_audits_it(deployment: Deployment) {
    let dir = Scratch::new("crash");
    let mut server = Server::deploy(deployment, &dir.0, &["worker.slots=4"]).await;
    let ids = vec![
        server.submit(sleep_chain(3, 1_200)).await,
        server.submit(fan_in(6, 900)).await,
        server.submit(graph(vec![task("quick", "add", &[("int64", json!(2)), ("int64", json!(3))])], vec![])).await,
    ];
    // Kill while attempts are running.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let g = server.client.graph(&ids[0]).await.expect("graph");
        if aurora_e2e::task(&g, "s0")["state"] == "STARTED" {
            break;
        }
        assert!(Instant::now() < deadline, "s0 never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    server.kill();

    server.restart().await;
    let mut takeovers = 0;
    for id in &ids {
        let g = server.wait_terminal(id, Duration::from_secs(60)).await;
        assert_eq!(g["state"], "SUCCESS", "graph {id}: {g:#}");
        assert_invariants(&g);
        for t in g["tasks"].as_array().expect("tasks") {
            let taken_over = t["history"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|e| e["type"] == "TaskReceived" && e["data"]["takeover"] == true);
            if taken_over {
                takeovers += 1;
                assert!(
                    t["attempts"].as_i64().unwrap_or(0) >= 2,
                    "an interrupted attempt shows as an extra attempt: {t:#}"
                );
            }
        }
    }
    assert!(takeovers >= 1, "at least the running s0 was interrupted and taken over");
    let fan = server.client.graph(&ids[1]).await.expect("graph");
    assert_eq!(
        aurora_e2e::task(&fan, "join")["args"].as_array().map(Vec::len),
        Some(0),
        "sleep returns nothing to pass"
    );

    // Done-when 8: replay finds the read models identical to a rebuild, and every chain intact.
    let unclean = server.stop();
    assert!(unclean.is_empty(), "a graceful stop exits 0: {unclean:?}");
    let (ok, out) = replay(&server.store_args());
    assert!(ok, "replay after a crash and restart is clean:\n{out}");
    assert!(out.contains("read models are identical to a rebuild"), "{out}");
}

/// Editing one stored event is caught by `aurora replay`, which names the stream and version.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_names_a_tampered_event() {
    let dir = Scratch::new("tamper");
    let mut server = Server::start(&dir.0, &[]).await;
    let id =
        server.submit(graph(vec![task("quick", "add", &[("int64", json!(2)), ("int64", json!(3))])], vec![])).await;
    server.wait_terminal(&id, Duration::from_secs(30)).await;
    assert!(server.stop().is_empty());
    let data = dir.0.join("data");
    let (ok, out) = replay(&server.store_args());
    assert!(ok, "replay of an untouched ledger is clean:\n{out}");

    // Tamper with one stored event, as an attacker with file access would.
    let conn = rusqlite::Connection::open(data.join("ledger.sqlite")).expect("open ledger");
    conn.execute_batch("DROP TRIGGER events_are_immutable").expect("drop the guard");
    let (stream, version): (String, i64) = conn
        .query_row(
            "SELECT stream, version FROM events WHERE type = 'TaskSucceeded' ORDER BY position LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("a success event");
    let changed = conn
        .execute(
            "UPDATE events SET data = json_set(data, '$.attempt', 99) WHERE stream = ?1 AND version = ?2",
            rusqlite::params![stream, version],
        )
        .expect("tamper");
    assert_eq!(changed, 1);
    drop(conn);
    let (ok, out) = replay(&server.store_args());
    assert!(!ok, "replay must fail on a tampered ledger:\n{out}");
    assert!(out.contains(&format!("stream {stream} version {version}")), "names the stream and version:\n{out}");
}

aurora_e2e::scenarios!(sigkill_mid_run_then_restart_finishes_everything_once_and_replay_audits_it);
