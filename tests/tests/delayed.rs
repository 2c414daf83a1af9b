//! Delayed and prioritised tasks (issue "The seed's REST API, delayed and prioritised tasks…",
//! done-when 4): a task with `notBefore` waits (WAITING, with its `notBefore` visible) and starts no
//! earlier than that, timed from the ledger, so also across a SIGKILL and restart in between; the
//! seed's `eta` is the same thing over REST. With one worker slot, of ten ready tasks the
//! high-priority ones start first.

#![allow(clippy::unwrap_used)] // test code: a panic is a failed check

use aurora_e2e::graphs::{edge, graph, task};
use aurora_e2e::{Deployment, PASSWORD, Scratch, Server, assert_invariants};
use chrono::{DateTime, Duration as Span, SecondsFormat, Utc};
use serde_json::{Value, json};
use std::time::Duration;

fn at(v: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(v.as_str().unwrap_or_else(|| panic!("a time, got {v}"))).unwrap().with_timezone(&Utc)
}

/// When the task's first attempt was claimed, from its history.
fn claimed_at(g: &Value, key: &str) -> DateTime<Utc> {
    let t = aurora_e2e::task(g, key);
    let e = t["history"].as_array().unwrap().iter().find(|e| e["type"] == "TaskReceived").expect("claimed");
    at(&e["recordedAt"])
}

async fn task_row(server: &Server, id: &str, key: &str) -> Value {
    let q = "query($id: ID!) { graph(id: $id) { tasks { key state notBefore } } }";
    let g = server.client.query(q, json!({ "id": id })).await.unwrap();
    g["graph"]["tasks"].as_array().unwrap().iter().find(|t| t["key"] == key).cloned().unwrap_or(Value::Null)
}

async fn a_task_with_not_before_waits_then_runs_no_earlier(deployment: Deployment) {
    let dir = Scratch::new("delayed");
    let server = Server::deploy(deployment, &dir.0, &[]).await;
    let not_before = Utc::now() + Span::seconds(4);
    let mut later = task("later", "echo", &[("string", json!("late"))]);
    later["notBefore"] = json!(not_before.to_rfc3339_opts(SecondsFormat::Millis, true));
    // `now` runs at once; `later` is a root too but waits; `after` follows `later`.
    let input = graph(
        vec![
            task("now", "echo", &[("string", json!("now"))]),
            later,
            task("after", "echo", &[("string", json!("after"))]),
        ],
        vec![edge("later", "after")],
    );
    let id = server.submit(input).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    while task_row(&server, &id, "now").await["state"] != "SUCCESS" {
        assert!(std::time::Instant::now() < deadline, "the undelayed task waited");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(Utc::now() < not_before, "the check below must run before notBefore");
    let row = task_row(&server, &id, "later").await;
    assert_eq!(row["state"], "WAITING", "{row:#}");
    assert_eq!(at(&row["notBefore"]), not_before.with_nanosecond_millis(), "{row:#}");
    assert_eq!(task_row(&server, &id, "after").await["state"], "WAITING");

    let g = server.wait_terminal(&id, Duration::from_secs(30)).await;
    assert_eq!(g["state"], "SUCCESS", "{g:#}");
    let started = claimed_at(&g, "later");
    assert!(started >= not_before.with_nanosecond_millis(), "claimed at {started}, before notBefore {not_before}");
    assert!(claimed_at(&g, "after") >= started);
    assert_invariants(&g);
}

aurora_e2e::scenarios!(a_task_with_not_before_waits_then_runs_no_earlier);

/// One slot, held by a blocker; ten tasks of one handler become ready at once, low and high
/// priority interleaved (a low one first): the five high ones start before any low one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_one_slot_the_high_priority_tasks_start_first() {
    let dir = Scratch::new("priority");
    let server = Server::start(&dir.0, &["worker.slots=1"]).await;
    let blocker = server.submit(graph(vec![task("block", "sleep", &[("int64", json!(1500))])], vec![])).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while task_row(&server, &blocker, "block").await["state"] != "STARTED" {
        assert!(std::time::Instant::now() < deadline, "the blocker did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let tasks: Vec<Value> = (0..10)
        .map(|i| {
            let (key, priority) = if i % 2 == 0 { (format!("low{i}"), 0) } else { (format!("high{i}"), 9) };
            let mut t = task(&key, "echo", &[("string", json!(key))]);
            t["priority"] = json!(priority);
            t
        })
        .collect();
    let id = server.submit(graph(tasks, vec![])).await;
    let g = server.wait_terminal(&id, Duration::from_secs(60)).await;
    assert_eq!(g["state"], "SUCCESS", "{g:#}");
    let mut started: Vec<(DateTime<Utc>, String)> = g["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let key = t["key"].as_str().unwrap().to_string();
            (claimed_at(&g, &key), key)
        })
        .collect();
    started.sort();
    let order: Vec<&str> = started.iter().map(|(_, k)| k.as_str()).collect();
    assert!(order[..5].iter().all(|k| k.starts_with("high")), "high priority first: {order:?}");
    let row = task_row(&server, &id, "high1").await;
    assert!(row.is_object());
    let p = server
        .client
        .query("query($id: ID!) { graph(id: $id) { tasks { key priority } } }", json!({ "id": id }))
        .await
        .unwrap();
    let high = p["graph"]["tasks"].as_array().unwrap().iter().find(|t| t["key"] == "high1").unwrap().clone();
    assert_eq!(high["priority"], 9, "TaskRun.priority");

    // Out of range: refused, naming the task and the range.
    let mut bad = task("x", "echo", &[("string", json!("x"))]);
    bad["priority"] = json!(12);
    let err = server.client.submit(graph(vec![bad], vec![])).await.unwrap_err().to_string();
    assert!(err.contains("task `x`: priority must be 0 to 9, got 12"), "{err}");
}

trait Millis {
    fn with_nanosecond_millis(self) -> Self;
}

impl Millis for DateTime<Utc> {
    /// The time as the API shows it (milliseconds).
    fn with_nanosecond_millis(self) -> Self {
        DateTime::parse_from_rfc3339(&self.to_rfc3339_opts(SecondsFormat::Millis, true)).unwrap().with_timezone(&Utc)
    }
}

/// POSTs `body` as JSON (with the seed's bare `Authorization: <token>`); the JSON answer.
async fn post_json(url: &str, token: Option<&str>, body: &Value) -> Value {
    let mut req = reqwest::Client::new().post(url).json(body);
    if let Some(t) = token {
        req = req.header("Authorization", t);
    }
    req.send().await.unwrap().json().await.unwrap()
}

/// The delay is kept in the ledger, not in a process: `aurora dev` killed while the task waits,
/// and started again, still runs it — at its time, not before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delayed_task_survives_a_sigkill_and_restart_and_still_waits_for_its_time() {
    let dir = Scratch::new("delayed-restart");
    let mut server = Server::start(&dir.0, &[]).await;
    let not_before = Utc::now() + Span::seconds(3);
    let mut t = task("t", "echo", &[("string", json!("x"))]);
    t["notBefore"] = json!(not_before.to_rfc3339_opts(SecondsFormat::Millis, true));
    let id = server.submit(graph(vec![t], vec![])).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(task_row(&server, &id, "t").await["state"], "WAITING");
    server.kill();
    server.restart().await;
    let g = server.wait_terminal(&id, Duration::from_secs(30)).await;
    assert_eq!(g["state"], "SUCCESS", "{g:#}");
    let started = claimed_at(&g, "t");
    assert!(started >= not_before.with_nanosecond_millis(), "claimed at {started}, before notBefore {not_before}");
    assert_invariants(&g);

    // Over REST: the seed's `eta`.
    let login =
        post_json(&format!("{}/auth/login", server.url), None, &json!({"username": "admin", "password": PASSWORD}))
            .await;
    let token = login["data"]["token"].as_str().unwrap().to_string();
    let eta = Utc::now() + Span::seconds(2);
    // A short wait: the answer comes while the task still waits for its eta, shown WAITING as
    // GraphQL shows it.
    let body = json!({"task_type": "task", "timestamp": 1, "timeout_duration": 300, "signatures": [
        {"name": "echo", "args": [{"type": "string", "value": "eta"}], "eta": eta.to_rfc3339_opts(SecondsFormat::Millis, true)}]});
    let sent = post_json(&format!("{}/api/task/send", server.url), Some(&token), &body).await;
    assert_eq!(sent["message"], "continue", "{sent:#}");
    assert_eq!(sent["data"]["task_responses"][0]["state"], "WAITING", "{sent:#}");
    assert_eq!(sent["data"]["task_responses"][0]["signatures"][0]["eta"], body["signatures"][0]["eta"]);
    let graph_id = server
        .client
        .query("{ graphs(first: 1) { nodes { id } } }", json!({}))
        .await
        .unwrap()["graphs"]["nodes"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let g = server.wait_terminal(&graph_id, Duration::from_secs(30)).await;
    let only = g["tasks"][0]["key"].as_str().unwrap().to_string();
    assert!(claimed_at(&g, &only) >= eta.with_nanosecond_millis(), "the eta was kept");
}
