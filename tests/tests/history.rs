//! History you can work with (issue "Ledger truth…", done-when 1–3), on both deployments: a run
//! that failed at `b` is rerun with an override of `b`; `a` (and the independent `d`) are reused —
//! `TaskReused`, no `TaskReceived`, their handler not called again — while `b` and its descendant
//! `c` run, and the rerun succeeds, linked to its source both ways; the invariants hold and
//! `aurora replay` is clean. `graph(id, asOf)` shows the source as it stood when `a` succeeded,
//! null before it was submitted, and the live view after its end; `graphDiff` (and `aurora diff`)
//! marks `b` and `c` changed and `a` not.

#![allow(clippy::unwrap_used)] // test code: a panic is a failed check

use aurora_e2e::graphs::{edge, graph, task};
use aurora_e2e::{Deployment, Scratch, Server, assert_invariants, binary, types};
use serde_json::{Value, json};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// Every field a user sees of a run and its tasks, for comparing a live view with an as-of one.
const RUN: &str = "id name state submittedBy submittedAt finishedAt cancelRequested
    taskCounts { total waiting pending received started retry success failure cancelled skipped }
    edges { from to } forkedFrom { graphId position }
    tasks { id key name state args { type value } results { type value } error attempts workerId retryAt
            labelSelector retryCount retryBackoffMs timeoutMs notBefore priority createdAt updatedAt
            reusedFrom { graphId stream version eventId hash } history { id version type hash prevHash recordedAt } }
    history { id position type }";

/// `step(string)`: appends its arg to `calls` (so the test sees every call), answers `did ARG`.
fn handlers(dir: &Path) -> std::path::PathBuf {
    let handlers = dir.join("handlers");
    std::fs::create_dir_all(&handlers).unwrap();
    let calls = dir.join("calls.log");
    let script = handlers.join("step");
    std::fs::write(
        &script,
        format!("#!/bin/sh\nread -r arg\necho \"$arg\" >> '{}'\necho \"did $arg\"\n", calls.display()),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    handlers
}

async fn deploy(deployment: Deployment, dir: &Path, handlers: &Path) -> Server {
    let server = match deployment {
        Deployment::Embedded => {
            Server::deploy(deployment, dir, &[&format!("--handlers-dir={}", handlers.display())]).await
        }
        Deployment::Distributed => {
            let mut server = Server::deploy(deployment, dir, &[]).await;
            let handlers = handlers.display().to_string();
            server.cluster_mut().unwrap().add("worker-scripts", "worker", &[], &["--handlers-dir", &handlers]);
            server
        }
    };
    for _ in 0..200 {
        let h = server.client.query("{ handlers { name } }", json!({})).await.unwrap();
        if h["handlers"].as_array().unwrap().iter().any(|h| h["name"] == "step") {
            return server;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the step handler never showed up");
}

async fn run(server: &Server, id: &str, as_of: Option<&str>) -> Value {
    let q = format!("query($id: ID!, $asOf: DateTime) {{ graph(id: $id, asOf: $asOf) {{ {RUN} }} }}");
    server.client.query(&q, json!({ "id": id, "asOf": as_of })).await.unwrap()["graph"].clone()
}

fn task_of<'a>(run: &'a Value, key: &str) -> &'a Value {
    run["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["key"] == key)
        .unwrap_or_else(|| panic!("no task {key}: {run:#}"))
}

fn calls(dir: &Path) -> Vec<String> {
    let mut c: Vec<String> =
        std::fs::read_to_string(dir.join("calls.log")).unwrap_or_default().lines().map(str::to_string).collect();
    c.sort();
    c
}

fn cli(server: &Server, args: &[&str]) -> (i32, String) {
    let out = Command::new(binary())
        .args(args)
        .args(["--server", &server.url, "--token", server.client.token().unwrap(), "--utc"])
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

async fn rerun_reuses_what_succeeded_and_history_can_be_read_as_of_and_diffed(deployment: Deployment) {
    let dir = Scratch::new("history");
    let handlers = handlers(&dir.0);
    let server = deploy(deployment, &dir.0, &handlers).await;
    let s = |v: &str| ("string", json!(v));

    // a → b → c, a → d; b fails for good, so c is skipped and the run fails.
    let source = server
        .submit(graph(
            vec![
                task("a", "step", &[s("a")]),
                task("b", "fail", &[s("boom")]),
                task("c", "step", &[s("c")]),
                task("d", "step", &[s("d")]),
            ],
            vec![edge("a", "b"), edge("b", "c"), edge("a", "d")],
        ))
        .await;
    let first = server.wait_terminal(&source, Duration::from_secs(60)).await;
    assert_eq!(first["state"], "FAILURE", "{first:#}");
    assert_eq!(calls(&dir.0), ["a", "d"]);

    // Done-when 1: rerun with an override of b.
    let q = "mutation($id: ID!, $o: [TaskOverride!], $k: String) {
               rerunGraph(id: $id, overrides: $o, idempotencyKey: $k) { id } }";
    let vars = json!({ "id": source, "o": [{ "key": "b", "name": "step", "args": [{ "type": "string", "value": "b" }] }], "k": "fix-b" });
    let rerun = server.client.query(q, vars.clone()).await.unwrap()["rerunGraph"]["id"].as_str().unwrap().to_string();
    assert_ne!(rerun, source);
    let second = server.wait_terminal(&rerun, Duration::from_secs(60)).await;
    assert_eq!(second["state"], "SUCCESS", "{second:#}");
    assert_invariants(&second);
    for key in ["a", "d"] {
        let t = aurora_e2e::task(&second, key);
        assert_eq!(types(t), ["TaskReused"], "{key} is reused, never received: {t:#}");
        assert_eq!(t["state"], "SUCCESS");
        assert_eq!(t["results"], aurora_e2e::task(&first, key)["results"], "{key}'s results are the source's");
    }
    for key in ["b", "c"] {
        let t = aurora_e2e::task(&second, key);
        assert!(types(t).contains(&"TaskReceived".to_string()), "{key} ran again: {t:#}");
    }
    assert_eq!(aurora_e2e::task(&second, "b")["results"][0]["value"], "did b");
    assert_eq!(calls(&dir.0), ["a", "b", "c", "d"], "a and d were not called again");
    let again = server.client.query(q, vars).await.unwrap()["rerunGraph"]["id"].as_str().unwrap().to_string();
    assert_eq!(again, rerun, "the same idempotency key answers the same rerun");

    let now = run(&server, &rerun, None).await;
    assert_eq!(now["forkedFrom"]["graphId"], source.as_str());
    let a_reused = &task_of(&now, "a")["reusedFrom"];
    let a_source = aurora_e2e::task(&first, "a")["history"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(a_source["type"], "TaskSucceeded");
    assert_eq!(a_reused["eventId"], a_source["id"], "the reuse points at the source's TaskSucceeded");
    assert_eq!(a_reused["hash"], a_source["hash"]);
    let lineage = server
        .client
        .query(
            "query($id: ID!, $src: ID!) { graph(id: $id) { forkedFrom { graph { id } position } }
                                         source: graph(id: $src) { forks { id } } }",
            json!({ "id": rerun, "src": source }),
        )
        .await
        .unwrap();
    assert_eq!(lineage["graph"]["forkedFrom"]["graph"]["id"], source.as_str(), "{lineage:#}");
    assert!(lineage["graph"]["forkedFrom"]["position"].as_str().unwrap().parse::<u64>().unwrap() > 0);
    assert_eq!(lineage["source"]["forks"], json!([{ "id": rerun }]), "{lineage:#}");

    // Done-when 2: the source as it stood when a succeeded.
    let a_done = a_source["recordedAt"].as_str().unwrap().to_string();
    let then = run(&server, &source, Some(&a_done)).await;
    assert_eq!(then["state"], "RUNNING", "{then:#}");
    assert_eq!(task_of(&then, "a")["state"], "SUCCESS", "{then:#}");
    for key in ["b", "c"] {
        assert_eq!(task_of(&then, key)["state"], "WAITING", "{key} at the moment a succeeded: {then:#}");
    }
    assert!(task_of(&then, "c")["history"].as_array().unwrap().is_empty());
    let echoed = server
        .client
        .query(
            "query($id: ID!, $t: DateTime) { graph(id: $id, asOf: $t) { asOf } }",
            json!({ "id": source, "t": a_done }),
        )
        .await
        .unwrap();
    let echoed: chrono::DateTime<chrono::Utc> = echoed["graph"]["asOf"].as_str().unwrap().parse().unwrap();
    assert_eq!(echoed, a_done.parse::<chrono::DateTime<chrono::Utc>>().unwrap());
    let submitted: chrono::DateTime<chrono::Utc> = first["submittedAt"].as_str().unwrap().parse().unwrap();
    let before = (submitted - chrono::Duration::seconds(1)).to_rfc3339();
    assert_eq!(run(&server, &source, Some(&before)).await, Value::Null, "before its submission there is no run");
    let after = (chrono::Utc::now() + chrono::Duration::seconds(1)).to_rfc3339();
    assert_eq!(
        run(&server, &source, Some(&after)).await,
        run(&server, &source, None).await,
        "after its end: the live view"
    );
    assert_eq!(run(&server, &rerun, Some(&after)).await, now, "the same for the rerun");

    // Done-when 3: what differs.
    let d = server
        .client
        .query(
            "query($a: ID!, $b: ID!) { graphDiff(a: $a, b: $b) { tasks { key changed before { state } after { state } } edgesAdded { from } edgesRemoved { from } } }",
            json!({ "a": source, "b": rerun }),
        )
        .await
        .unwrap();
    let changed = |key: &str| -> Vec<String> {
        let t = d["graphDiff"]["tasks"].as_array().unwrap().iter().find(|t| t["key"] == key).unwrap();
        t["changed"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_string()).collect()
    };
    assert!(changed("a").is_empty() && changed("d").is_empty(), "{d:#}");
    for key in ["b", "c"] {
        assert!(changed(key).contains(&"state".to_string()), "{key}: {d:#}");
    }
    assert!(changed("b").contains(&"handler".to_string()) && changed("b").contains(&"results".to_string()));
    assert_eq!(d["graphDiff"]["edgesAdded"], json!([]));

    // The CLI's view of the same.
    let (code, out) = cli(&server, &["diff", &source, &rerun]);
    assert_eq!(code, 1, "runs that differ exit 1:\n{out}");
    let line =
        |key: &str| out.lines().find(|l| l.split_whitespace().next() == Some(key)).unwrap_or_default().to_string();
    assert!(line("a").contains("(reused)") && line("a").trim_end().ends_with('-'), "{out}");
    assert!(line("b").contains("FAILURE") && line("b").contains("SUCCESS") && line("b").contains("state"), "{out}");
    let (code, out) = cli(&server, &["diff", &source, &source]);
    assert_eq!(code, 0, "a run does not differ from itself:\n{out}");
    let (code, out) = cli(&server, &["events", &source, "--as-of", &a_done]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("TaskSucceeded") && !out.contains("GraphFailed") && !out.contains("TaskFailed"), "{out}");
    let (code, out) = cli(&server, &["events", &source, "--as-of", &before]);
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("had not been submitted"), "{out}");

    // Replay: the chains verify and a rebuild gives the same read models.
    let mut server = server;
    let unclean = server.stop();
    assert!(unclean.is_empty(), "a graceful stop exits 0: {unclean:?}");
    let out = Command::new(binary()).arg("replay").args(server.store_args()).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && text.contains("read models are identical to a rebuild"), "{text}");
}

/// Refusals write nothing: a running source, an unknown key, nothing to rerun.
async fn a_rerun_that_cannot_be_planned_is_refused_with_what_to_do(deployment: Deployment) {
    let dir = Scratch::new("history-refusals");
    let handlers = handlers(&dir.0);
    let server = deploy(deployment, &dir.0, &handlers).await;
    let done = server.submit(graph(vec![task("a", "step", &[("string", json!("a"))])], vec![])).await;
    server.wait_terminal(&done, Duration::from_secs(60)).await;
    let running = server.submit(graph(vec![task("s", "sleep", &[("int64", json!(30_000))])], vec![])).await;
    let runs = || async { server.client.query("{ graphs(first: 200) { nodes { id } } }", json!({})).await.unwrap() };
    let before = runs().await;
    let q = "mutation($id: ID!, $from: [String!]) { rerunGraph(id: $id, from: $from) { id } }";
    for (id, from, says) in [
        (&done, json!(null), "nothing would run again"),
        (&done, json!(["zz"]), "no task `zz`"),
        (&running, json!(null), "still running"),
    ] {
        let err = server.client.query(q, json!({ "id": id, "from": from })).await.unwrap_err().to_string();
        assert!(err.contains(says), "{err}");
    }
    let err = server.client.query(q, json!({ "id": uuid::Uuid::now_v7().to_string() })).await.unwrap_err().to_string();
    assert!(err.contains("no graph with id"), "{err}");
    assert_eq!(runs().await, before, "no run written on a refusal");
}

/// Done-when 4: a run exported from one deployment and imported into a fresh one is the same run
/// with the same hashes, and replay there is clean; an export with one edited value is refused,
/// naming the stream and version, and nothing is written; importing it twice is refused.
async fn an_exported_run_imports_into_a_fresh_aurora_unchanged(deployment: Deployment) {
    let dir = Scratch::new("history-export");
    let (one_dir, two_dir) = (dir.0.join("one"), dir.0.join("two"));
    std::fs::create_dir_all(&one_dir).unwrap();
    std::fs::create_dir_all(&two_dir).unwrap();
    let one = Server::deploy(deployment, &one_dir, &[]).await;
    let add = task("a", "add", &[("int64", json!(1)), ("int64", json!(2))]);
    let mut b = task("b", "add", &[("int64", json!(4))]);
    b["passResults"] = json!(true);
    let id = one.submit(graph(vec![add, b], vec![edge("a", "b")])).await;
    let source = one.wait_terminal(&id, Duration::from_secs(60)).await;
    assert_eq!(source["state"], "SUCCESS", "{source:#}");
    let file = dir.0.join("run.jsonl");
    let (code, out) = cli(&one, &["export", &id, "--output", file.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    let text = std::fs::read_to_string(&file).unwrap();
    let history = source["history"].as_array().unwrap();
    assert_eq!(text.lines().count(), history.len(), "one line per event");

    // An operator may submit but not import: the history is appended as its exporter recorded it.
    let hash = aurora_query_graphql::auth::hash_password("op-pw");
    let config = two_dir.join("users.toml");
    std::fs::write(
        &config,
        format!("[[auth.users]]\nname = \"olga\"\npassword_hash = \"{hash}\"\nrole = \"operator\"\n"),
    )
    .unwrap();
    let mut two = Server::deploy_with_config(deployment, &two_dir, &config, &[]).await;
    let olga = two.client.with_token(Some(two.anonymous().login("olga", "op-pw").await.unwrap()));
    let q = "mutation($lines: [String!]!) { importRun(lines: $lines) { id } }";
    let err = olga.query(q, json!({ "lines": text.lines().collect::<Vec<_>>() })).await.unwrap_err();
    assert_eq!(err.codes(), ["FORBIDDEN"], "{err}");
    assert_eq!(two.ledger_event_count().await, 0, "nothing written for an operator");
    // One edited value: b's result 7 becomes 8.
    let edited = dir.0.join("edited.jsonl");
    let tampered: Vec<String> = text
        .lines()
        .map(|l| {
            if l.contains("\"type\":\"TaskSucceeded\"") && l.contains("\"value\":7") {
                l.replace("\"value\":7", "\"value\":8")
            } else {
                l.to_string()
            }
        })
        .collect();
    assert_ne!(tampered.join("\n"), text.trim_end(), "the edit happened");
    std::fs::write(&edited, tampered.join("\n")).unwrap();
    let (code, out) = cli(&two, &["import", edited.to_str().unwrap()]);
    assert_ne!(code, 0, "an edited export is refused:\n{out}");
    let b_stream = format!("task:{}", aurora_e2e::task(&source, "b")["id"].as_str().unwrap());
    assert!(out.contains(&b_stream) && out.contains("version 4") && out.contains("does not match"), "{out}");
    assert_eq!(two.ledger_event_count().await, 0, "nothing written on a refusal");

    let (code, out) = cli(&two, &["import", file.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&id), "{out}");
    let imported = two.wait_terminal(&id, Duration::from_secs(60)).await;
    // The same events with the same hashes (their positions are the new ledger's own).
    let hashes = |g: &Value| -> std::collections::BTreeSet<(String, String)> {
        g["history"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (e["id"].as_str().unwrap().into(), e["hash"].as_str().unwrap().into()))
            .collect()
    };
    assert_eq!(hashes(&imported), hashes(&source), "the same events with the same hashes");
    assert_eq!(hashes(&imported).len(), history.len());
    for key in ["a", "b"] {
        let (x, y) = (aurora_e2e::task(&source, key), aurora_e2e::task(&imported, key));
        for field in ["state", "results", "args", "attempts"] {
            assert_eq!(x[field], y[field], "{key}.{field}");
        }
    }
    assert_eq!(imported["submittedAt"], source["submittedAt"]);
    let (code, out) = cli(&two, &["import", file.to_str().unwrap()]);
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("already exists"), "{out}");

    let unclean = two.stop();
    assert!(unclean.is_empty(), "a graceful stop exits 0: {unclean:?}");
    let out = Command::new(binary()).arg("replay").args(two.store_args()).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && text.contains("read models are identical to a rebuild"), "{text}");
}

aurora_e2e::scenarios!(
    rerun_reuses_what_succeeded_and_history_can_be_read_as_of_and_diffed,
    a_rerun_that_cannot_be_planned_is_refused_with_what_to_do,
    an_exported_run_imports_into_a_fresh_aurora_unchanged
);
