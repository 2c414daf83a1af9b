//! Distributed mode: separate gateway, projector and worker processes on MongoDB, RabbitMQ and
//! Redis (issue "Distributed mode", done-when 2 and 3). Needs the services: scripts/test starts
//! them and turns on the `service-tests` feature.

#![cfg(feature = "service-tests")]
#![allow(clippy::unwrap_used)] // test code: a panic is a failed check

use aurora::client::Client;
use aurora_e2e::cluster::{Cluster, Layout, Services, role_args, write_config};
use aurora_e2e::graphs::{edge, example, graph, task};
use aurora_e2e::{PASSWORD, Process, Scratch, assert_invariants};
use serde_json::{Value, json};
use std::path::Path;
use std::time::{Duration, Instant};

fn config(dir: &Path) -> std::path::PathBuf {
    write_config(dir, &Services::from_env(), "").0
}

fn args(role: &str, config: &Path, extra: &[&str]) -> Vec<String> {
    role_args(role, config, extra)
}

async fn cluster(dir: &Path, workers: &[&str]) -> Cluster {
    let layout = Layout { gateways: 2, projectors: 2, workers: workers.iter().map(|w| w.to_string()).collect() };
    let c = Cluster::start(dir, &Services::from_env(), &layout, &[], "").await;
    // Every process, not only gateways, answers liveness and readiness (its dependencies reachable).
    for (name, p) in &c.processes {
        for path in ["/health", "/ready"] {
            let resp = reqwest::get(format!("{}{path}", p.url)).await.unwrap();
            assert_eq!(resp.status().as_u16(), 200, "{name} {path}: {}", resp.text().await.unwrap_or_default());
        }
    }
    c
}

async fn wait_terminal(c: &Client, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let g = c.graph(id).await.unwrap();
        if g["state"].as_str().is_some_and(|s| s != "RUNNING") {
            return g;
        }
        assert!(Instant::now() < deadline, "graph {id} did not end: {g:#}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graphs_run_across_processes_and_tokens_work_on_every_gateway() {
    let dir = Scratch::new("distributed");
    let c = cluster(&dir.0, &["zone=a", "zone=b"]).await;
    // Submitted on one gateway, watched and read on the other, with the same token.
    let id = c.gateways[0].submit(example("seed-readme.json")).await.unwrap()["id"].as_str().unwrap().to_string();
    let mut events = c.gateways[1].graph_events(&id).await.unwrap();
    let mut seen = Vec::new();
    while let Some(e) = tokio::time::timeout(Duration::from_secs(60), events.next()).await.unwrap() {
        seen.push(e.unwrap()["type"].as_str().unwrap().to_string());
    }
    assert_eq!(seen.first().map(String::as_str), Some("GraphSubmitted"));
    assert_eq!(seen.last().map(String::as_str), Some("GraphSucceeded"));
    assert_eq!(seen.len(), 10, "{seen:?}");
    let g = wait_terminal(&c.gateways[1], &id).await;
    assert_eq!(aurora_e2e::task(&g, "ql0iytfa36")["results"], json!([{ "type": "int64", "value": 7 }]));
    assert_invariants(&g);

    let mut bad = task("bad", "fail", &[("string", json!("boom"))]);
    bad["retryCount"] = json!(1);
    bad["retryBackoffMs"] = json!(50);
    let failing = graph(
        vec![bad, task("after", "echo", &[]), task("other", "add", &[("int64", json!(1))])],
        vec![edge("bad", "after")],
    );
    let id = c.gateways[1].submit(failing).await.unwrap()["id"].as_str().unwrap().to_string();
    let g = wait_terminal(&c.gateways[0], &id).await;
    assert_eq!(g["state"], "FAILURE");
    assert_eq!(aurora_e2e::task(&g, "after")["state"], "SKIPPED");
    assert_eq!(aurora_e2e::task(&g, "other")["state"], "SUCCESS");
    assert_invariants(&g);

    // The audit works on MongoDB too: rebuild the read models, compare, verify every hash chain.
    let out =
        std::process::Command::new(aurora_e2e::binary()).args(["replay", "--config"]).arg(&c.config).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "replay on MongoDB: {text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("read models are identical to a rebuild"), "{text}");

    let logout = c.gateways[0].query("mutation { logout }", json!({})).await.unwrap();
    assert_eq!(logout["logout"], true);
    let refused = c.gateways[1].query("{ graphs { nodes { id } } }", json!({})).await.unwrap_err();
    assert_eq!(refused.codes(), ["UNAUTHENTICATED"], "logout on one gateway revokes the token on every gateway");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_run_on_workers_whose_labels_match_and_unmatched_ones_fail_with_the_reason() {
    let dir = Scratch::new("routing");
    let c = cluster(&dir.0, &["zone=a", "zone=b", "zone=a,gpu=true"]).await;
    let workers = c.gateways[0].query("{ workers { id labels } }", json!({})).await.unwrap();
    let labels_of = |id: &str| -> Value {
        workers["workers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|w| w["id"] == id)
            .map(|w| w["labels"].clone())
            .unwrap_or(Value::Null)
    };
    let with = |key: &str, sel: Value| {
        let mut t = task(key, "add", &[("int64", json!(1))]);
        t["labelSelector"] = sel;
        t
    };
    let input = graph(
        vec![
            with("in-a", json!({ "zone": "a" })),
            with("in-b", json!({ "zone": "b" })),
            with("on-gpu", json!({ "gpu": "true" })),
            with("nowhere", json!({ "zone": "z" })),
        ],
        vec![],
    );
    let id = c.gateways[0].submit(input).await.unwrap()["id"].as_str().unwrap().to_string();
    let g = wait_terminal(&c.gateways[1], &id).await;
    for (key, sel) in
        [("in-a", json!({ "zone": "a" })), ("in-b", json!({ "zone": "b" })), ("on-gpu", json!({ "gpu": "true" }))]
    {
        let t = aurora_e2e::task(&g, key);
        assert_eq!(t["state"], "SUCCESS", "{key}: {t:#}");
        let received = t["history"].as_array().unwrap().iter().find(|e| e["type"] == "TaskReceived").unwrap();
        let worker = received["data"]["worker_id"].as_str().unwrap();
        let labels = labels_of(worker);
        for (k, v) in sel.as_object().unwrap() {
            assert_eq!(&labels[k], v, "{key} ran on {worker} with labels {labels}, which must satisfy {sel}");
        }
    }
    let nowhere = aurora_e2e::task(&g, "nowhere");
    assert_eq!(nowhere["state"], "FAILURE");
    assert!(nowhere["error"].as_str().unwrap().contains("no live worker"), "{nowhere:#}");
    assert_invariants(&g);
}

/// Polls until `pred` holds for the run, or fails after `secs`.
async fn wait_until(c: &Client, id: &str, secs: u64, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let g = c.graph(id).await.unwrap();
        if pred(&g) {
            return g;
        }
        assert!(Instant::now() < deadline, "{what} did not happen within {secs} s: {g:#}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_a_worker_or_the_leading_projector_loses_nothing() {
    let dir = Scratch::new("faults");
    let cfg = config(&dir.0);
    let spawn = |role: &str, extra: &[&str], name: &str| {
        Process::spawn(&args(role, &cfg, extra), &dir.0.join(format!("{name}.log")))
    };
    let mut projector_a = spawn("projector", &[], "projector-a");
    let gateway = spawn("gateway", &["--admin-password", PASSWORD], "gateway");
    let mut worker_a = spawn("worker", &["--labels", "pool=x"], "worker-a");
    let c = Client::new(&gateway.url, None);
    let c = c.with_token(Some(c.login("admin", PASSWORD).await.unwrap()));

    // A long task starts on the only worker, which is then killed mid-task.
    let mut long = task("long", "sleep", &[("int64", json!(1_500))]);
    long["labelSelector"] = json!({ "pool": "x" });
    let mut after = task("after", "add", &[("int64", json!(1)), ("int64", json!(2))]);
    after["labelSelector"] = json!({ "pool": "x" });
    let id = c.submit(graph(vec![long, after], vec![edge("long", "after")])).await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    wait_until(&c, &id, 30, "the long task starting", |g| aurora_e2e::task(g, "long")["state"] == "STARTED").await;
    worker_a.kill();
    let _worker_b = spawn("worker", &["--labels", "pool=x"], "worker-b");
    let g = wait_terminal(&c, &id).await;
    assert_eq!(g["state"], "SUCCESS", "{g:#}");
    let long = aurora_e2e::task(&g, "long");
    assert_eq!(long["attempts"], 2, "the interrupted attempt shows, and a second one completed: {long:#}");
    let receivers: Vec<&str> = long["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "TaskReceived")
        .map(|e| e["data"]["worker_id"].as_str().unwrap())
        .collect();
    assert_eq!(receivers.len(), 2);
    assert_ne!(receivers[0], receivers[1], "the second attempt ran elsewhere");
    assert_invariants(&g);

    // The leading projector dies; the standby takes over within the lease time.
    let _projector_b = spawn("projector", &[], "projector-b");
    tokio::time::sleep(Duration::from_millis(500)).await;
    projector_a.kill();
    let mut chain = aurora_e2e::graphs::sleep_chain(3, 100);
    for t in chain["tasks"].as_array_mut().unwrap() {
        t["labelSelector"] = json!({ "pool": "x" });
    }
    let id = c.submit(chain).await.unwrap()["id"].as_str().unwrap().to_string();
    let g = wait_until(&c, &id, 60, "the run ending under the new leader", |g| {
        g["state"].as_str().is_some_and(|s| s != "RUNNING")
    })
    .await;
    assert_eq!(g["state"], "SUCCESS");
    assert_invariants(&g);
}

/// Done-when 5: the projector's checkpoint is lost (as a resume token that aged out of the oplog
/// would be). The projector falls back to a catch-up scan from the start of the ledger, which
/// re-applies every event harmlessly (DESIGN §2, invariant 5): nothing is dispatched twice, no
/// graph ends twice, new work runs, and the read models are identical to a rebuild.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_checkpoint_is_caught_up_by_a_scan_and_the_read_models_match_a_rebuild() {
    use mongodb::bson::{Document, doc};
    let dir = Scratch::new("lost-checkpoint");
    let layout = Layout { gateways: 1, projectors: 1, workers: vec!["zone=a".into()] };
    let mut c = Cluster::start(&dir.0, &Services::from_env(), &layout, &[], "").await;
    let gw = c.gateways[0].clone();
    let mut ids = Vec::new();
    for input in [example("seed-readme.json"), aurora_e2e::graphs::sleep_chain(3, 50)] {
        let id = gw.submit(input).await.unwrap()["id"].as_str().unwrap().to_string();
        wait_terminal(&gw, &id).await;
        ids.push(id);
    }
    c.process("projector0").kill();
    let db = c.mongo().await;
    let checkpoints = db.collection::<Document>("checkpoints");
    let dropped = checkpoints.delete_many(doc! {}).await.unwrap().deleted_count;
    assert_eq!(dropped, 1, "the projector had one checkpoint");
    let head = c.event_count().await;
    c.respawn("projector0");
    // The new projector finds no checkpoint, scans the whole ledger and checkpoints its head.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let saved = checkpoints.find_one(doc! {}).await.unwrap().and_then(|d| d.get_i64("position").ok());
        if saved == Some(head) {
            break;
        }
        assert!(Instant::now() < deadline, "the catch-up scan did not reach the head {head}: {saved:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(c.event_count().await, head, "re-applying the whole ledger appended nothing");
    let id = gw.submit(example("seed-readme.json")).await.unwrap()["id"].as_str().unwrap().to_string();
    ids.push(id);
    for id in &ids {
        let g = wait_terminal(&gw, id).await;
        assert_eq!(g["state"], "SUCCESS", "{g:#}");
        assert_invariants(&g);
    }
    let out = std::process::Command::new(aurora_e2e::binary()).args(["replay", "--config"]).arg(&c.config).output();
    let out = out.unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "replay: {text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("read models are identical to a rebuild"), "{text}");
}

/// Partitions: with `projector.partitions=3` and two projector processes, both lead some
/// partitions, graphs of every partition finish, and when one process dies the other takes its
/// partitions over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitioned_projectors_share_the_graphs_and_take_over_each_others_partitions() {
    let dir = Scratch::new("partitions");
    let layout = Layout { gateways: 1, projectors: 2, workers: vec!["zone=a".into(), "zone=b".into()] };
    let sets = ["projector.partitions=3".to_string()];
    let mut c = Cluster::start(&dir.0, &Services::from_env(), &layout, &sets, "").await;
    let gw = c.gateways[0].clone();
    let leads = |name: &str| {
        let log = std::fs::read_to_string(dir.0.join(format!("{name}.log"))).unwrap_or_default();
        log.lines().filter(|l| l.contains("leading") && l.contains("lease=\"projector/")).count()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while leads("projector0") == 0 || leads("projector1") == 0 || leads("projector0") + leads("projector1") < 3 {
        assert!(Instant::now() < deadline, "both projector processes should lead a partition");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Graph ids are random, so a fixed number of runs can miss a partition (12 runs miss one about
    // 2 % of the time): submit until every partition has at least 4 runs, then wait for them all.
    let run_batch = || {
        let gw = gw.clone();
        async move {
            let mut per_partition = [0usize; 3];
            let mut ids = Vec::new();
            while per_partition.iter().any(|&n| n < 4) {
                assert!(ids.len() < 100, "100 random graph ids should cover 3 partitions: {per_partition:?}");
                let id = gw.submit(example("seed-readme.json")).await.unwrap()["id"].as_str().unwrap().to_string();
                per_partition[id.parse::<aurora_schemas::GraphId>().unwrap().partition(3) as usize] += 1;
                ids.push(id);
            }
            for id in &ids {
                let g = wait_terminal(&gw, id).await;
                assert_eq!(g["state"], "SUCCESS", "{g:#}");
                assert_invariants(&g);
            }
            ids.len()
        }
    };
    let runs = run_batch().await;
    eprintln!("{runs} runs, each partition's finished");
    c.process("projector0").kill();
    let runs = run_batch().await;
    eprintln!("after the kill: {runs} runs, each partition's finished");
}

/// SIGTERM is graceful: a worker stops taking deliveries, finishes the attempt it holds within
/// `worker.grace_secs`, records it, and exits 0; the run does not need a second attempt.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_stopped_with_sigterm_finishes_what_it_holds() {
    let dir = Scratch::new("sigterm");
    let layout = Layout { gateways: 1, projectors: 1, workers: vec!["pool=t".into()] };
    let mut c = Cluster::start(&dir.0, &Services::from_env(), &layout, &[], "").await;
    let gw = c.gateways[0].clone();
    let mut long = task("long", "sleep", &[("int64", json!(1_500))]);
    long["labelSelector"] = json!({ "pool": "t" });
    let id = gw.submit(graph(vec![long], vec![])).await.unwrap()["id"].as_str().unwrap().to_string();
    wait_until(&gw, &id, 30, "the long task starting", |g| aurora_e2e::task(g, "long")["state"] == "STARTED").await;
    let status = c.process("worker0").stop();
    assert!(status.success(), "the worker exits cleanly after finishing its attempt: {status}");
    let g = wait_terminal(&gw, &id).await;
    let long = aurora_e2e::task(&g, "long");
    assert_eq!(long["state"], "SUCCESS", "{long:#}");
    assert_eq!(long["attempts"], 1, "finished by the worker that was stopping, not handed over: {long:#}");
    assert_invariants(&g);
}
