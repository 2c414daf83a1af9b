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
    // A process killed inside a MongoDB transaction leaves it open until the server's transaction
    // lifetime (60 s) ends it; until then every append that touches the same documents (the
    // position counter) fails with WriteConflict and is retried. So the distributed deployment
    // may need a minute more than the embedded one to finish (seen in a full, loaded run).
    let within = match deployment {
        Deployment::Embedded => Duration::from_secs(60),
        Deployment::Distributed => Duration::from_secs(150),
    };
    for id in &ids {
        let g = server.wait_terminal(id, within).await;
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

/// Removes the last event of `stream` and every read model, as someone covering their tracks
/// would: the remaining chain still verifies and a rebuild matches, so only an anchor finds it.
async fn remove_last_event_and_read_models(server: &mut Server, stream: &str, version: i64) {
    match server.cluster_mut() {
        None => {
            let data = server.data_dir.join("data");
            let conn = rusqlite::Connection::open(data.join("ledger.sqlite")).expect("open ledger");
            conn.execute_batch("DROP TRIGGER events_are_never_deleted").expect("drop the guard");
            let removed = conn
                .execute("DELETE FROM events WHERE stream = ?1 AND version = ?2", rusqlite::params![stream, version])
                .expect("delete");
            assert_eq!(removed, 1);
            drop(conn);
            std::fs::remove_file(data.join("read-models.sqlite")).expect("remove the read models");
        }
        Some(cluster) => {
            use mongodb::bson::doc;
            let db = cluster.mongo().await;
            let events = db.collection::<mongodb::bson::Document>("events");
            let removed = events.delete_one(doc! { "stream": stream, "version": version }).await.expect("delete");
            assert_eq!(removed.deleted_count, 1);
            for c in ["task_views", "graph_views", "graph_specs", "checkpoints"] {
                db.collection::<mongodb::bson::Document>(c).drop().await.expect("drop a read model");
            }
        }
    }
}

/// Truncation is detected (issue "Ledger truth…", done-when 5): with an anchor taken before,
/// `aurora replay --anchor` finds the removed last event of a stream and names the stream; without
/// the anchor the truncated ledger audits clean (why anchors exist); untouched, it passes.
async fn an_anchor_finds_a_removed_event(deployment: Deployment) {
    let dir = Scratch::new("anchor");
    let mut server = Server::deploy(deployment, &dir.0, &[]).await;
    let id = server.submit(graph(vec![task("a", "add", &[("int64", json!(2)), ("int64", json!(3))])], vec![])).await;
    let run = server.wait_terminal(&id, Duration::from_secs(60)).await;
    let a = aurora_e2e::task(&run, "a");
    let last = a["history"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["type"], "TaskSucceeded");
    assert!(server.stop().is_empty(), "a graceful stop exits 0");

    let anchor = dir.0.join("anchor.json");
    let out = Command::new(binary())
        .arg("anchor")
        .args(server.store_args())
        .args(["--output", anchor.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let taken: Value = serde_json::from_str(&std::fs::read_to_string(&anchor).unwrap()).unwrap();
    let stream = last["stream"].as_str().unwrap().to_string();
    assert_eq!(taken["heads"][&stream]["hash"], last["hash"], "the anchor holds a's head: {taken:#}");
    let store_args = server.store_args();
    let with_anchor = || {
        let out = Command::new(binary())
            .arg("replay")
            .args(&store_args)
            .args(["--anchor", anchor.to_str().unwrap()])
            .output()
            .unwrap();
        (
            out.status.success(),
            format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
        )
    };
    let (ok, out) = with_anchor();
    assert!(
        ok && out.contains("stream heads at position") && out.contains("unchanged"),
        "an untouched ledger passes:\n{out}"
    );

    remove_last_event_and_read_models(&mut server, &stream, last["version"].as_i64().unwrap()).await;
    let (ok, out) = replay(&server.store_args());
    assert!(ok, "without an anchor the truncation goes unseen (the rest still chains):\n{out}");
    let (ok, out) = with_anchor();
    assert!(!ok, "the anchor finds the removed event:\n{out}");
    assert!(out.contains(&format!("stream {stream}")) && out.contains("removed"), "names the stream:\n{out}");
}

aurora_e2e::scenarios!(
    sigkill_mid_run_then_restart_finishes_everything_once_and_replay_audits_it,
    an_anchor_finds_a_removed_event
);
