//! Runs that end the way users expect (issue "Aurora core", done-when 1–4).

#![allow(clippy::unwrap_used)] // test code: a panic is a failed check

use aurora_e2e::graphs::{edge, graph, sleep, sleep_chain, task};
use aurora_e2e::{Deployment, Scratch, Server, assert_invariants, states, types};
use serde_json::{Value, json};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);

fn results(t: &Value) -> Vec<Value> {
    t["results"].as_array().cloned().unwrap_or_default()
}

async fn the_seed_readme_example_succeeds_with_its_results_and_history(deployment: Deployment) {
    let dir = Scratch::new("seed");
    // The seed example selects workers labelled k1=v1,k2=v2.
    let server = Server::deploy(deployment, &dir.0, &["worker.labels.k1=v1", "worker.labels.k2=v2"]).await;
    let mut input = graph(
        vec![
            task("y4e6vr63qb", "add", &[("int64", json!(1)), ("int64", json!(2))]),
            task("ql0iytfa36", "add", &[("int64", json!(3)), ("int64", json!(4))]),
        ],
        vec![edge("y4e6vr63qb", "ql0iytfa36")],
    );
    input["labelSelector"] = json!({ "k1": "v1", "k2": "v2" });
    let id = server.submit(input).await;
    let g = server.wait_terminal(&id, WAIT).await;
    assert_eq!(g["state"], "SUCCESS");
    assert_eq!(g["submittedBy"], "admin");
    for (key, sum) in [("y4e6vr63qb", 3), ("ql0iytfa36", 7)] {
        let t = aurora_e2e::task(&g, key);
        assert_eq!(t["state"], "SUCCESS");
        assert_eq!(results(t), vec![json!({ "type": "int64", "value": sum })]);
        let history = t["history"].as_array().expect("history");
        let st: Vec<&str> = history.iter().map(|e| e["state"].as_str().unwrap_or("")).collect();
        assert_eq!(st, ["PENDING", "RECEIVED", "STARTED", "SUCCESS"], "{key}");
        let versions: Vec<i64> = history.iter().map(|e| e["version"].as_i64().unwrap_or(0)).collect();
        assert_eq!(versions, [1, 2, 3, 4]);
    }
    // The successor was dispatched only after its predecessor succeeded.
    let pos = |key: &str, ty: &str| {
        g["history"]
            .as_array()
            .expect("history")
            .iter()
            .position(|e| e["type"] == ty && aurora_e2e::task(&g, key)["id"] == e["taskId"])
    };
    assert!(pos("y4e6vr63qb", "TaskSucceeded") < pos("ql0iytfa36", "TaskPending"));
    assert_invariants(&g);

    // One run, one W3C trace: every event carries the run's trace id, which reached the worker
    // through the delivery's `traceparent`; attempts name their worker; what the projector
    // appended carries its fencing token and its cause.
    let trace_id = id.replace('-', "");
    for e in g["history"].as_array().expect("history") {
        assert_eq!(e["traceId"], trace_id.as_str(), "{e:#}");
        let ty = e["type"].as_str().unwrap_or("");
        if ["TaskReceived", "TaskStarted", "TaskSucceeded"].contains(&ty) {
            assert!(e["workerId"].as_str().is_some_and(|w| !w.is_empty()), "{e:#}");
        }
    }
    let successor_pending = g["history"]
        .as_array()
        .expect("history")
        .iter()
        .find(|e| e["type"] == "TaskPending" && aurora_e2e::task(&g, "ql0iytfa36")["id"] == e["taskId"])
        .expect("the successor's TaskPending");
    assert!(successor_pending["fencingToken"].as_i64().is_some_and(|t| t >= 1), "{successor_pending:#}");
    assert!(successor_pending["causationId"].is_string(), "{successor_pending:#}");
}

async fn a_diamond_passes_results_in_edge_order(deployment: Deployment) {
    let dir = Scratch::new("diamond");
    let server = Server::deploy(deployment, &dir.0, &[]).await;
    let mut d = task("d", "echo", &[("string", json!("d"))]);
    d["passResults"] = json!(true);
    let input = graph(
        vec![
            task("a", "add", &[("int64", json!(1)), ("int64", json!(1))]),
            task("b", "multiply", &[("int64", json!(10)), ("int64", json!(2))]),
            task("c", "concat", &[("string", json!("x")), ("string", json!("y"))]),
            d,
        ],
        // d's incoming edges are listed c before b: results arrive in that order.
        vec![edge("a", "b"), edge("a", "c"), edge("c", "d"), edge("b", "d")],
    );
    let id = server.submit(input).await;
    let g = server.wait_terminal(&id, WAIT).await;
    assert_eq!(g["state"], "SUCCESS");
    let d = aurora_e2e::task(&g, "d");
    let expected = vec![
        json!({ "type": "string", "value": "d" }),
        json!({ "type": "string", "value": "xy" }),
        json!({ "type": "int64", "value": 20 }),
    ];
    assert_eq!(d["args"].as_array().cloned().unwrap_or_default(), expected, "own args, then c's, then b's");
    assert_eq!(results(d), expected, "echo returns what it was given");
    assert_invariants(&g);
}

async fn retries_then_failure_skip_descendants_and_spare_independent_branches(deployment: Deployment) {
    let dir = Scratch::new("failure");
    let server = Server::deploy(deployment, &dir.0, &[]).await;
    let mut bad = task("bad", "fail", &[("string", json!("disk on fire"))]);
    bad["retryCount"] = json!(2);
    bad["retryBackoffMs"] = json!(20);
    let mut flaky = task("flaky", "flaky", &[("int64", json!(1))]);
    flaky["retryCount"] = json!(1);
    flaky["retryBackoffMs"] = json!(20);
    let input = graph(
        vec![
            bad,
            task("child", "echo", &[]),
            task("grandchild", "echo", &[]),
            flaky,
            task("other", "add", &[("int64", json!(2)), ("int64", json!(2))]),
        ],
        vec![edge("bad", "child"), edge("child", "grandchild")],
    );
    let id = server.submit(input).await;
    let g = server.wait_terminal(&id, WAIT).await;
    assert_eq!(g["state"], "FAILURE");
    let bad = aurora_e2e::task(&g, "bad");
    let states_of_bad: Vec<&str> = bad["history"]
        .as_array()
        .expect("history")
        .iter()
        .filter_map(|e| e["state"].as_str())
        .filter(|s| ["RETRY", "FAILURE"].contains(s))
        .collect();
    assert_eq!(states_of_bad, ["RETRY", "RETRY", "FAILURE"]);
    assert_eq!(bad["attempts"], 3);
    assert_eq!(types(bad).iter().filter(|t| *t == "TaskReceived").count(), 3, "three attempts in the history");
    assert_eq!(bad["error"], "disk on fire");
    for key in ["child", "grandchild"] {
        let t = aurora_e2e::task(&g, key);
        assert_eq!(t["state"], "SKIPPED", "{key}");
        assert!(t["error"].as_str().unwrap_or("").contains("`bad` failed"), "{key}: {}", t["error"]);
    }
    let flaky = aurora_e2e::task(&g, "flaky");
    assert_eq!(flaky["state"], "SUCCESS");
    assert_eq!(results(flaky), vec![json!({ "type": "int64", "value": 2 })], "succeeds on attempt 2");
    assert_eq!(aurora_e2e::task(&g, "other")["state"], "SUCCESS", "an independent branch still succeeds");
    let graph_end = g["history"].as_array().and_then(|h| h.last().cloned()).expect("events");
    assert_eq!(graph_end["type"], "GraphFailed");
    assert_eq!(graph_end["data"]["failed"], json!(["bad"]));
    assert_invariants(&g);
}

async fn a_timeout_ends_a_long_attempt_and_says_so(deployment: Deployment) {
    let dir = Scratch::new("timeout");
    let server = Server::deploy(deployment, &dir.0, &[]).await;
    let mut slow = sleep("slow", 5_000);
    slow["timeoutMs"] = json!(200);
    let started = std::time::Instant::now();
    let id = server.submit(graph(vec![slow], vec![])).await;
    let g = server.wait_terminal(&id, WAIT).await;
    assert!(started.elapsed() < Duration::from_secs(4), "the attempt was cut short, not waited out");
    let t = aurora_e2e::task(&g, "slow");
    assert_eq!(t["state"], "FAILURE");
    let err = t["error"].as_str().unwrap_or("");
    assert!(err.contains("timed out after 200 ms"), "{err}");
    let failed = t["history"].as_array().and_then(|h| h.last().cloned()).expect("events");
    assert_eq!(failed["data"]["kind"], "timeout");
    assert_invariants(&g);
}

async fn cancelling_a_running_graph_cancels_running_and_waiting_tasks(deployment: Deployment) {
    let dir = Scratch::new("cancel");
    let server = Server::deploy(deployment, &dir.0, &[]).await;
    let id = server.submit(sleep_chain(3, 3_000)).await;
    // Wait until the first task runs.
    for _ in 0..100 {
        let g = server.client.graph(&id).await.expect("graph");
        if aurora_e2e::task(&g, "s0")["state"] == "STARTED" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let run = server
        .client
        .query("mutation($id: ID!) { cancelGraph(id: $id, reason: \"not needed\") { id } }", json!({ "id": id }))
        .await
        .expect("cancel accepted");
    assert_eq!(run["cancelGraph"]["id"], id);
    let g = server.wait_terminal(&id, Duration::from_secs(10)).await;
    assert_eq!(g["state"], "CANCELLED");
    assert_eq!(states(&g).get("CANCELLED"), Some(&3), "the running task and both waiting ones: {g:#}");
    assert!(g["finishedAt"].is_string());
    assert_invariants(&g);
    let cancel = "mutation($id: ID!) { cancelGraph(id: $id) { id state } }";
    let again = server.client.query(cancel, json!({ "id": id })).await.expect("repeating a cancel is a no-op");
    assert_eq!(again["cancelGraph"]["state"], "CANCELLED");
    let done = server.submit(graph(vec![task("quick", "add", &[("int64", json!(1))])], vec![])).await;
    server.wait_terminal(&done, WAIT).await;
    let err = server.client.query(cancel, json!({ "id": done })).await.unwrap_err();
    assert_eq!(err.codes(), ["BAD_USER_INPUT"], "an ended graph cannot be cancelled: {err}");
    assert!(err.to_string().contains("already ended SUCCESS"), "{err}");
}

async fn a_task_no_worker_can_take_fails_after_the_schedule_to_start_timeout(deployment: Deployment) {
    let dir = Scratch::new("unroutable");
    let server = Server::deploy(deployment, &dir.0, &["projector.schedule_to_start_secs=1"]).await;
    let mut t = task("gpu-job", "add", &[("int64", json!(1))]);
    t["labelSelector"] = json!({ "gpu": "h100" }); // no worker of either deployment has it
    let id = server.submit(graph(vec![t, task("cpu-job", "add", &[("int64", json!(1))])], vec![])).await;
    let g = server.wait_terminal(&id, Duration::from_secs(20)).await;
    let gpu = aurora_e2e::task(&g, "gpu-job");
    assert_eq!(gpu["state"], "FAILURE");
    let err = gpu["error"].as_str().unwrap_or("");
    assert!(err.contains("no live worker offers handler `add` with labels matching {\"gpu\":\"h100\"}"), "{err}");
    assert_eq!(aurora_e2e::task(&g, "cpu-job")["state"], "SUCCESS");
    assert_invariants(&g);
}

async fn health_readiness_and_metrics_report_what_happened(deployment: Deployment) {
    let dir = Scratch::new("observability");
    let server = Server::deploy(deployment, &dir.0, &[]).await;
    let id = server.submit(graph(vec![task("a", "add", &[("int64", json!(1))])], vec![])).await;
    server.wait_terminal(&id, WAIT).await;
    let get = |url: String| async move {
        let resp = reqwest::get(url).await.expect("reachable");
        (resp.status().as_u16(), resp.text().await.expect("body"))
    };
    // Every process answers; the metrics of the deployment are the sum of its processes'.
    let mut metrics = String::new();
    for url in server.process_urls() {
        assert_eq!(get(format!("{url}/health")).await, (200, r#"{"status":"ok"}"#.to_string()), "{url}");
        let (status, ready) = get(format!("{url}/ready")).await;
        assert_eq!(status, 200, "{url}: {ready}");
        let (status, text) = get(format!("{url}/metrics")).await;
        assert_eq!(status, 200, "{url}");
        // Every process says what runs and what it costs, whatever its role.
        for name in
            ["process_resident_memory_bytes", "process_open_fds", "process_cpu_seconds_total", "aurora_build_info{"]
        {
            assert!(text.contains(name), "{url}: {name} missing from /metrics");
        }
        metrics.push_str(&text);
    }
    for name in [
        "aurora_task_transitions_total{handler=\"add\",state=\"SUCCESS\"} 1",
        "aurora_ledger_events_appended_total",
        "aurora_projector_events_total",
        "aurora_dispatch_orders_total",
        "aurora_graphs_total{state=\"success\"} 1",
        "aurora_worker_slots",
    ] {
        assert!(metrics.contains(name), "{name} missing from /metrics");
    }
}

/// A worker's `/metrics` has its metrics before its first task (a fresh worker is not blank).
#[cfg(feature = "service-tests")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_worker_shows_its_metrics_and_a_taken_health_port_moves() {
    let dir = Scratch::new("idle-worker");
    let mut server = Server::deploy(Deployment::Distributed, &dir.0, &[]).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let listen = format!("server.listen=\"127.0.0.1:{port}\"");
    let cluster = server.cluster_mut().unwrap();
    // Two more workers with the same configured health address and no --listen: the second moves.
    let mut held = Vec::new();
    for name in ["idle-a", "idle-b"] {
        let args =
            ["worker", "--config", &cluster.config.display().to_string(), "--set", &listen, "--labels", "idle=yes"]
                .map(String::from);
        let p = aurora_e2e::Process::spawn(&args, &dir.0.join(format!("{name}.log")));
        let text = reqwest::get(format!("{}/metrics", p.url)).await.unwrap().text().await.unwrap();
        assert!(
            text.contains("aurora_worker_slots 16") && text.contains("aurora_worker_attempts_running 0"),
            "{name}: {text:.800}"
        );
        held.push(p); // the first keeps the port while the second starts
    }
    let log = std::fs::read_to_string(dir.0.join("idle-b.log")).unwrap();
    assert!(log.contains("address is taken") && log.contains("using a free port"), "{log:.2000}");
    assert_ne!(held[0].url, held[1].url);
}

aurora_e2e::scenarios!(
    the_seed_readme_example_succeeds_with_its_results_and_history,
    a_diamond_passes_results_in_edge_order,
    retries_then_failure_skip_descendants_and_spare_independent_branches,
    a_timeout_ends_a_long_attempt_and_says_so,
    cancelling_a_running_graph_cancels_running_and_waiting_tasks,
    a_task_no_worker_can_take_fails_after_the_schedule_to_start_timeout,
    health_readiness_and_metrics_report_what_happened,
);
