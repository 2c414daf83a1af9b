//! Distributed mode: separate gateway, projector and worker processes on MongoDB, RabbitMQ and
//! Redis (issue "Distributed mode", done-when 2 and 3). Needs the services: scripts/test starts
//! them and turns on the `service-tests` feature.

#![cfg(feature = "service-tests")]
#![allow(clippy::unwrap_used)] // test code: a panic is a failed check

use aurora::client::Client;
use aurora_e2e::graphs::{edge, example, graph, task};
use aurora_e2e::{PASSWORD, Process, Scratch, assert_invariants};
use serde_json::{Value, json};
use std::path::Path;
use std::time::{Duration, Instant};

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set; run the service tests through scripts/test"))
}

/// A config for one isolated deployment: its own database, queue prefix and key prefix.
fn config(dir: &Path) -> std::path::PathBuf {
    config_with(dir, &env("AURORA_TEST_MONGODB_URI"), &env("AURORA_TEST_REDIS_URL"))
}

/// The same, on a given MongoDB and Redis.
fn config_with(dir: &Path, mongo: &str, redis: &str) -> std::path::PathBuf {
    let id = uuid::Uuid::now_v7().simple().to_string();
    let text = format!(
        r#"
[ledger]
uri = "{mongo}"
namespace = "aurora_e2e_{id}"
[broker]
uri = "{amqp}"
namespace = "aurora-e2e-{id}."
[coord]
uri = "{redis}"
namespace = "aurora-e2e-{id}"
[projector]
schedule_to_start_secs = 3
"#,
        amqp = env("AURORA_TEST_AMQP_URL"),
    );
    let path = dir.join("aurora.toml");
    std::fs::write(&path, text).unwrap();
    path
}

struct Cluster {
    _procs: Vec<Process>,
    gateways: Vec<Client>,
}

fn args(role: &str, config: &Path, extra: &[&str]) -> Vec<String> {
    let mut a = vec![
        role.to_string(),
        "--config".into(),
        config.display().to_string(),
        "--listen".into(),
        "127.0.0.1:0".into(),
    ];
    a.extend(extra.iter().map(|s| s.to_string()));
    a
}

async fn cluster(dir: &Path, workers: &[&str]) -> Cluster {
    let cfg = config(dir);
    let mut procs = Vec::new();
    for i in 0..2 {
        procs.push(Process::spawn(&args("projector", &cfg, &[]), &dir.join(format!("projector{i}.log"))));
    }
    for (i, labels) in workers.iter().enumerate() {
        procs.push(Process::spawn(&args("worker", &cfg, &["--labels", labels]), &dir.join(format!("worker{i}.log"))));
    }
    let mut gateways = Vec::new();
    for i in 0..2 {
        let p = Process::spawn(
            &args("gateway", &cfg, &["--admin-password", PASSWORD]),
            &dir.join(format!("gateway{i}.log")),
        );
        gateways.push(Client::new(&p.url, None));
        procs.push(p);
    }
    // Every process, not only gateways, answers liveness and readiness (its dependencies reachable).
    for p in &procs {
        for path in ["/health", "/ready"] {
            let resp = reqwest::get(format!("{}{path}", p.url)).await.unwrap();
            assert_eq!(resp.status().as_u16(), 200, "{}{path}: {}", p.url, resp.text().await.unwrap_or_default());
        }
    }
    let token = gateways[0].login("admin", PASSWORD).await.unwrap();
    let gateways = gateways.into_iter().map(|g| g.with_token(Some(token.clone()))).collect();
    Cluster { _procs: procs, gateways }
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
    let out = std::process::Command::new(aurora_e2e::binary())
        .args(["replay", "--config"])
        .arg(dir.0.join("aurora.toml"))
        .output()
        .unwrap();
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

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn wait_for_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A server process of our own (Redis or the MongoDB stand-in) that the test may restart.
struct Private {
    child: std::process::Child,
    program: &'static str,
    args: Vec<String>,
    port: u16,
}

impl Private {
    fn start(program: &'static str, args: Vec<String>, port: u16) -> Self {
        let child = std::process::Command::new(program)
            .args(&args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{program}: {e}"));
        wait_for_port(port);
        Self { child, program, args, port }
    }

    fn restart(&mut self, down_for: Duration) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::thread::sleep(down_for);
        *self = Self::start(self.program, self.args.clone(), self.port);
    }
}

impl Drop for Private {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Logs in, retrying while the gateway's dependencies come back.
async fn login(url: &str) -> Client {
    let anonymous = Client::new(url, None);
    for _ in 0..200 {
        if let Ok(token) = anonymous.login("admin", PASSWORD).await {
            return anonymous.with_token(Some(token));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("could not log in to {url}");
}

/// Waits for the run to end, logging in again when a restart cost the session.
async fn wait_terminal_through_restarts(url: &str, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut c = login(url).await;
    loop {
        match c.graph(id).await {
            Ok(g) if g["state"].as_str().is_some_and(|s| s != "RUNNING") => return g,
            Ok(_) => {}
            Err(e) if e.codes().iter().any(|c| c == "UNAUTHENTICATED") => c = login(url).await,
            Err(_) => {} // a dependency is restarting
        }
        assert!(Instant::now() < deadline, "graph {id} did not end after the restarts");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarting_redis_mid_run_loses_nothing() {
    // Redis keeps no data here (like a cache node that was replaced): leases, the registry, the
    // queue set and sessions are all lost and must be rebuilt by the processes.
    let dir = Scratch::new("restarts");
    let redis_port = free_port();
    let mut redis = Private::start(
        "redis-server",
        ["--port", &redis_port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
            .map(String::from)
            .to_vec(),
        redis_port,
    );
    let cfg = config_with(&dir.0, &env("AURORA_TEST_MONGODB_URI"), &format!("redis://127.0.0.1:{redis_port}/0"));
    let spawn = |role: &str, extra: &[&str], name: &str| {
        Process::spawn(&args(role, &cfg, extra), &dir.0.join(format!("{name}.log")))
    };
    let _projector = spawn("projector", &[], "projector");
    let gateway = spawn("gateway", &["--admin-password", PASSWORD], "gateway");
    let _worker = spawn("worker", &["--labels", "pool=y"], "worker");
    let c = login(&gateway.url).await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        let mut chain = aurora_e2e::graphs::sleep_chain(5, 300);
        for t in chain["tasks"].as_array_mut().unwrap() {
            t["labelSelector"] = json!({ "pool": "y" });
        }
        ids.push(c.submit(chain).await.unwrap()["id"].as_str().unwrap().to_string());
    }
    tokio::time::sleep(Duration::from_millis(600)).await;
    redis.restart(Duration::from_millis(300));
    for id in &ids {
        let g = wait_terminal_through_restarts(&gateway.url, id).await;
        assert_eq!(g["state"], "SUCCESS", "{g:#}");
        assert_invariants(&g);
    }
}
