//! The seed's REST API, as its users call it (issue "The seed's REST API…", done-when 1–3): the
//! seed README's three curl commands, every `task_type`, `send`'s wait, touch, and refusals in the
//! seed's envelope with nothing written. On both deployments.

#![allow(clippy::unwrap_used)] // test code: a panic is a failed check

use aurora_e2e::{Deployment, PASSWORD, Scratch, Server};
use serde_json::{Value, json};
use std::process::Command;
use std::time::{Duration, Instant};

/// The seed README's `send` body, byte for byte.
const SEED_SEND_BODY: &str = r#"{"task_type":"graph","timestamp":1680752792,"signatures":[{"id":"y4e6vr63qb","name":"add","args":[{"type":"int64","value":1},{"type":"int64","value":2}],"label_selector":{"k1":"v1","k2":"v2"}},{"id":"ql0iytfa36","name":"add","args":[{"type":"int64","value":3},{"type":"int64","value":4}],"label_selector":{"k1":"v1","k2":"v2"}}],"relations":[{"0":1}],"timeout_duration":0,"sleep_duration":2000,"send_concurrency":0}"#;

/// Runs one of the seed README's curl commands (its URL pointed at this server) and parses the
/// body it prints.
fn curl(args: &[&str]) -> Value {
    let out = Command::new("curl")
        .arg("--silent")
        .arg("--show-error")
        .args(args)
        .output()
        .expect("curl runs (the seed README's commands use it)");
    assert!(out.status.success(), "curl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("curl {args:?} printed no JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

async fn the_seed_readmes_three_curl_commands_work_unchanged(deployment: Deployment) {
    let dir = Scratch::new("rest-seed-readme");
    let server = Server::deploy(deployment, &dir.0, &["worker.labels.k1=v1", "worker.labels.k2=v2"]).await;
    let url = &server.url;

    // 1. Log in (the README's `jq -r '.data.token'` is the lookup below).
    let login_body = format!("{{\n    \"username\": \"admin\",\n    \"password\": \"{PASSWORD}\"\n}}");
    let response = curl(&[
        "--location",
        "--request",
        "POST",
        &format!("{url}/auth/login"),
        "--header",
        "Content-Type: application/json",
        "--data-raw",
        &login_body,
    ]);
    assert_eq!(response["code"], 200, "{response:#}");
    assert_eq!(response["message"], "", "{response:#}");
    assert_eq!(response["data"]["user"]["roles"], json!(["admin"]), "{response:#}");
    assert_eq!(response["data"]["user"]["user"]["username"], "admin", "{response:#}");
    let token = response["data"]["token"].as_str().expect("a token").to_string();

    // 2. Send the README's graph: it waits (timeout_duration 0) and answers with 3 and 7.
    let sent = curl(&[
        "--location",
        "--request",
        "POST",
        &format!("{url}/api/task/send"),
        "--header",
        &format!("Authorization: {token}"),
        "--header",
        "Content-Type: application/json",
        "--data-raw",
        SEED_SEND_BODY,
    ]);
    assert_eq!((sent["code"].clone(), sent["message"].clone()), (json!(200), json!("")), "{sent:#}");
    let data = &sent["data"];
    assert_eq!(data["user"], "admin");
    assert_eq!(data["task_type"], "graph");
    let graph_uuid = data["task_uuid"].as_str().expect("task_uuid").to_string();
    assert!(graph_uuid.starts_with("graph_"), "{graph_uuid}");
    let responses = data["task_responses"].as_array().expect("task_responses");
    assert_eq!(responses.len(), 2, "{data:#}");
    for (r, (id, sum)) in responses.iter().zip([("y4e6vr63qb", 3), ("ql0iytfa36", 7)]) {
        assert_eq!(r["results"], json!([sum]), "{r:#}");
        assert_eq!(r["state"], "SUCCESS", "{r:#}");
        let sig = &r["signatures"][0];
        assert_eq!(sig["id"], id);
        assert!(sig["uuid"].as_str().unwrap().starts_with("task_"), "{sig:#}");
        assert_eq!(sig["graph_uuid"], graph_uuid.as_str());
        assert_eq!(sig["graph_task_count"], 2);
        assert_eq!(sig["label_selector"], json!({"k1": "v1", "k2": "v2"}));
        assert_eq!(r["callBack"], Value::Null);
    }

    // 3. simple/touch by the graph's uuid: the seed's PascalCase rows, in vertex order.
    let touched = curl(&[
        "--location",
        "--request",
        "POST",
        &format!("{url}/api/task/simple/touch"),
        "--header",
        &format!("Authorization: {token}"),
        "--header",
        "Content-Type: application/json",
        "--data-raw",
        &format!("{{\n    \"task_type\": \"graph\",\n    \"task_uuid\": \"{graph_uuid}\"\n}}"),
    ]);
    assert_eq!((touched["code"].clone(), touched["message"].clone()), (json!(200), json!("")), "{touched:#}");
    let rows = touched["data"].as_array().expect("rows");
    assert_eq!(rows.len(), 2);
    for (row, sum) in rows.iter().zip([3, 7]) {
        assert_eq!(row["TaskName"], "add");
        assert_eq!(row["State"], "SUCCESS");
        assert_eq!(row["Results"], json!([{"Type": "int64", "Value": sum}]), "{row:#}");
        assert_eq!(row["Error"], "");
        assert!(row["TaskUUID"].as_str().unwrap().starts_with("task_"));
    }
    assert_eq!(rows[0]["TaskUUID"], responses[0]["signatures"][0]["uuid"]);

    // The same token as `Bearer` works too, and the run is an ordinary Aurora run.
    let info = http()
        .get(format!("{url}/auth/info"))
        .header("Authorization", format!("Bearer {token}"))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(info["data"]["user"]["username"], "admin", "{info:#}");
    let id = graph_uuid.trim_start_matches("graph_");
    let g = server.wait_terminal(id, Duration::from_secs(10)).await;
    assert_eq!(g["state"], "SUCCESS");
    aurora_e2e::assert_invariants(&g);
}

fn http() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(120)).build().unwrap()
}

/// POSTs `body` to `path` with the seed's bare `Authorization: <token>`; the status and envelope.
async fn post(url: &str, token: Option<&str>, path: &str, body: &Value) -> (u16, Value) {
    let mut req = http().post(format!("{url}{path}")).json(body);
    if let Some(t) = token {
        req = req.header("Authorization", t);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: not JSON ({e}): {text}")))
}

async fn seed_login(url: &str) -> String {
    let (status, r) = post(url, None, "/auth/login", &json!({"username": "admin", "password": PASSWORD})).await;
    assert_eq!(status, 200, "{r:#}");
    r["data"]["token"].as_str().unwrap().to_string()
}

fn add(args: &[i64]) -> Value {
    json!({"name": "add", "args": args.iter().map(|a| json!({"type": "int64", "value": a})).collect::<Vec<_>>()})
}

fn request(kind: &str, signatures: Vec<Value>) -> Value {
    json!({"task_type": kind, "timestamp": 1_700_000_000, "signatures": signatures, "timeout_duration": 0})
}

async fn every_task_type_runs_and_send_waits_without_blocking_anyone(deployment: Deployment) {
    let dir = Scratch::new("rest-kinds");
    let server = Server::deploy(deployment, &dir.0, &[]).await;
    let (url, token) = (server.url.clone(), seed_login(&server.url).await);
    let token = token.as_str();

    // task: one signature, one answer.
    let (s, r) = post(&url, Some(token), "/api/task/send", &request("task", vec![add(&[1, 2])])).await;
    assert_eq!((s, r["message"].clone()), (200, json!("")), "{r:#}");
    assert_eq!(r["data"]["task_responses"][0]["results"], json!([3]));
    assert!(r["data"]["task_uuid"].as_str().unwrap().starts_with("task_"));

    // group: three members, each answered; simple/touch lists them in order.
    let (s, r) =
        post(&url, Some(token), "/api/task/send", &request("group", vec![add(&[1]), add(&[2]), add(&[3])])).await;
    assert_eq!((s, r["message"].clone()), (200, json!("")), "{r:#}");
    let results: Vec<Value> =
        r["data"]["task_responses"].as_array().unwrap().iter().map(|t| t["results"].clone()).collect();
    assert_eq!(results, [json!([1]), json!([2]), json!([3])]);
    let group = r["data"]["task_uuid"].as_str().unwrap().to_string();
    assert!(group.starts_with("group_"), "{group}");
    assert_eq!(r["data"]["task_responses"][0]["signatures"][0]["group_uuid"], group.as_str());
    let (_, rows) =
        post(&url, Some(token), "/api/task/simple/touch", &json!({"task_type": "group", "task_uuid": group})).await;
    let values: Vec<Value> =
        rows["data"].as_array().unwrap().iter().map(|r| r["Results"][0]["Value"].clone()).collect();
    assert_eq!(values, [json!(1), json!(2), json!(3)]);

    // chain: results passed along — add(1, 2) = 3, add(10, 3) = 13, add(100, 13) = 113.
    let (s, r) =
        post(&url, Some(token), "/api/task/send", &request("chain", vec![add(&[1, 2]), add(&[10]), add(&[100])])).await;
    assert_eq!((s, r["message"].clone()), (200, json!("")), "{r:#}");
    let answer = &r["data"]["task_responses"];
    assert_eq!(answer.as_array().unwrap().len(), 1, "a chain answers with its last task");
    assert_eq!(answer[0]["results"], json!([113]), "{r:#}");
    assert_eq!(answer[0]["signatures"].as_array().unwrap().len(), 3);
    assert_eq!(r["data"]["task_uuid"], answer[0]["signatures"][2]["uuid"]);

    // chord: the callback gets every member's result — add(3, 7, 11) = 21.
    let mut chord = request("chord", vec![add(&[1, 2]), add(&[3, 4]), add(&[5, 6])]);
    chord["callBack"] = add(&[]);
    let (s, r) = post(&url, Some(token), "/api/task/send", &chord).await;
    assert_eq!((s, r["message"].clone()), (200, json!("")), "{r:#}");
    let answer = &r["data"]["task_responses"][0];
    assert_eq!(answer["results"], json!([21]), "{r:#}");
    assert_eq!(answer["signatures"].as_array().unwrap().len(), 3);
    assert_eq!(r["data"]["task_uuid"], answer["callBack"]["uuid"]);

    // graph with relations: a diamond of adds (no data flows, as in the seed).
    let mut diamond = request("graph", vec![add(&[1]), add(&[2]), add(&[3]), add(&[4])]);
    diamond["relations"] = json!([{"0": 1}, {"0": 2}, {"1": 3, "2": 3}]);
    let (s, r) = post(&url, Some(token), "/api/task/send", &diamond).await;
    assert_eq!((s, r["message"].clone()), (200, json!("")), "{r:#}");
    let results: Vec<Value> =
        r["data"]["task_responses"].as_array().unwrap().iter().map(|t| t["results"].clone()).collect();
    assert_eq!(results, [json!([1]), json!([2]), json!([3]), json!([4])]);

    // A wait shorter than the run answers "continue"; touch later shows it finished.
    let slow = json!({"name": "sleep", "args": [{"type": "int64", "value": 1500}]});
    let mut short = request("chain", vec![slow.clone(), add(&[5])]);
    short["timeout_duration"] = json!(200);
    let started = Instant::now();
    let (s, r) = post(&url, Some(token), "/api/task/send", &short).await;
    assert_eq!((s, r["message"].clone()), (200, json!("continue")), "{r:#}");
    assert!(started.elapsed() < Duration::from_millis(1400), "send waited {:?}", started.elapsed());
    assert_eq!(r["data"]["task_responses"][0]["results"], Value::Null);
    let mut touch = r["data"].clone();
    touch["signatures"] = touch["task_responses"][0]["signatures"].clone();
    let deadline = Instant::now() + Duration::from_secs(30);
    let touched = loop {
        let (s, t) = post(&url, Some(token), "/api/task/touch", &touch).await;
        assert_eq!(s, 200, "{t:#}");
        if t["message"] != "continue" || Instant::now() > deadline {
            break t;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(touched["message"], "", "{touched:#}");
    assert_eq!(touched["data"]["task_responses"][0]["state"], "SUCCESS");
    assert_eq!(touched["data"]["task_responses"][0]["results"], json!([5]), "sleep returns nothing; add(5) = 5");

    // While a send waits (a 3 s task, timeout_duration 0), other requests are answered at once.
    let waiting = {
        let (url, token) = (url.clone(), token.to_string());
        let body = request("task", vec![json!({"name": "sleep", "args": [{"type": "int64", "value": 3000}]})]);
        tokio::spawn(async move { post(&url, Some(&token), "/api/task/send", &body).await })
    };
    let baseline = {
        let t = Instant::now();
        seed_login(&url).await;
        t.elapsed()
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!waiting.is_finished(), "the send is still waiting");
    let t = Instant::now();
    seed_login(&url).await;
    let login_while_waiting = t.elapsed();
    let t = Instant::now();
    let polled = server.client.query("{ graphs(first: 1) { nodes { id state } } }", json!({})).await.unwrap();
    let query_while_waiting = t.elapsed();
    assert_eq!(polled["graphs"]["nodes"].as_array().map(Vec::len), Some(1), "{polled:#}");
    let t = Instant::now();
    let info = http().get(format!("{url}/auth/info")).header("Authorization", token).send().await.unwrap();
    let info_while_waiting = t.elapsed();
    assert_eq!(info.status(), 200);
    println!(
        "while a send waited: GraphQL query {query_while_waiting:?}, /auth/info {info_while_waiting:?}, login {login_while_waiting:?} (a login alone: {baseline:?})"
    );
    assert!(query_while_waiting < Duration::from_millis(100), "a GraphQL query took {query_while_waiting:?}");
    assert!(info_while_waiting < Duration::from_millis(100), "/auth/info took {info_while_waiting:?}");
    assert!(
        login_while_waiting < baseline + Duration::from_millis(100),
        "a login took {login_while_waiting:?} while a send waited, {baseline:?} alone"
    );
    assert!(!waiting.is_finished(), "the send was still waiting while they were answered");
    let (s, r) = waiting.await.unwrap();
    assert_eq!((s, r["message"].clone()), (200, json!("")), "{r:#}");
}

async fn bad_rest_input_gets_a_precise_4xx_in_the_envelope_and_writes_nothing(deployment: Deployment) {
    let dir = Scratch::new("rest-refusals");
    let server = Server::deploy(deployment, &dir.0, &[]).await;
    let (url, token) = (server.url.clone(), seed_login(&server.url).await);
    let before = server.ledger_event_count().await;
    let refused = |status: u16, r: &Value, needle: &str| {
        assert_eq!(r["code"], status, "{r:#}");
        assert_eq!(r["data"], Value::Null, "{r:#}");
        let m = r["message"].as_str().unwrap_or_default();
        assert!(m.contains(needle), "expected `{needle}` in `{m}`");
    };

    // Malformed JSON.
    let resp = http()
        .post(format!("{url}/api/task/send"))
        .header("Authorization", &token)
        .header("Content-Type", "application/json")
        .body(r#"{"task_type": "graph", "signatures": [}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    refused(400, &resp.json().await.unwrap(), "the body is not a CenterRequest");

    let mut no_timestamp = request("task", vec![add(&[1])]);
    no_timestamp.as_object_mut().unwrap().remove("timestamp");
    let (s, r) = post(&url, Some(&token), "/api/task/send", &no_timestamp).await;
    assert_eq!(s, 400);
    refused(400, &r, "`timestamp` is required");

    let (s, r) = post(&url, Some(&token), "/api/task/send", &request("pipeline", vec![add(&[1])])).await;
    assert_eq!(s, 400);
    refused(400, &r, "task_type `pipeline` is not one of task, group, chain, chord, graph");

    let mut missing = request("graph", vec![add(&[1]), add(&[2])]);
    missing["relations"] = json!([{"0": 5}]);
    let (s, r) = post(&url, Some(&token), "/api/task/send", &missing).await;
    assert_eq!(s, 400);
    refused(400, &r, "refers to signature 5, but there are only 2");

    let mut cycle = request("graph", vec![add(&[1]), add(&[2])]);
    cycle["relations"] = json!([{"0": 1}, {"1": 0}]);
    let (s, r) = post(&url, Some(&token), "/api/task/send", &cycle).await;
    assert_eq!(s, 400);
    refused(400, &r, "cycle");

    let bad_arg = request("task", vec![json!({"name": "add", "args": [{"type": "int64", "value": "one"}]})]);
    let (s, r) = post(&url, Some(&token), "/api/task/send", &bad_arg).await;
    assert_eq!(s, 400);
    refused(400, &r, "int64");

    let (s, r) = post(&url, None, "/api/task/send", &request("task", vec![add(&[1])])).await;
    assert_eq!(s, 401);
    refused(401, &r, "log in with POST /auth/login");

    let (s, r) = post(&url, None, "/auth/login", &json!({"username": "admin", "password": "wrong"})).await;
    assert_eq!(s, 401);
    refused(401, &r, "wrong username or password");

    let (s, r) =
        post(&url, Some(&token), "/api/task/simple/touch", &json!({"task_type": "graph", "task_uuid": "graph_nope"}))
            .await;
    assert_eq!(s, 400);
    refused(400, &r, "is not a graph id");

    let (s, r) = post(&url, Some(&token), "/api/no/such/route", &json!({})).await;
    assert_eq!(s, 404, "an unknown API path is a 404, not the UI's page");
    refused(404, &r, "/api/openapi.json");

    assert_eq!(server.ledger_event_count().await, before, "a refusal writes nothing");
}

aurora_e2e::scenarios!(
    the_seed_readmes_three_curl_commands_work_unchanged,
    every_task_type_runs_and_send_waits_without_blocking_anyone,
    bad_rest_input_gets_a_precise_4xx_in_the_envelope_and_writes_nothing,
);

/// `http.cors_origins`: listed origins get CORS headers (never credentials), others none; the
/// OpenAPI document lists every route.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_follows_the_configured_origins_and_the_openapi_document_is_served() {
    let dir = Scratch::new("rest-cors");
    let server = Server::start(&dir.0, &[r#"http.cors_origins=["https://app.example.com"]"#]).await;
    let url = &server.url;
    let preflight = |origin: &'static str| {
        http()
            .request(reqwest::Method::OPTIONS, format!("{url}/api/task/send"))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .header("Access-Control-Request-Headers", "authorization, content-type")
            .send()
    };
    let ok = preflight("https://app.example.com").await.unwrap();
    assert_eq!(ok.status(), 204);
    assert_eq!(ok.headers()["access-control-allow-origin"], "https://app.example.com");
    assert!(ok.headers()["access-control-allow-headers"].to_str().unwrap().contains("authorization"));
    assert!(!ok.headers().contains_key("access-control-allow-credentials"));
    let other = preflight("https://evil.example.com").await.unwrap();
    assert_eq!(other.status(), 403);
    assert!(!other.headers().contains_key("access-control-allow-origin"));
    let health = http().get(format!("{url}/health")).header("Origin", "https://app.example.com").send().await.unwrap();
    assert_eq!(health.headers()["access-control-allow-origin"], "https://app.example.com");

    let doc: Value = http().get(format!("{url}/api/openapi.json")).send().await.unwrap().json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with('3'), "{doc:#}");
    for path in [
        "/auth/login",
        "/api/task/send",
        "/api/task/touch",
        "/api/task/simple/touch",
        "/api/worker/list",
        "/api/faas/list",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} is documented");
    }

    // The worker and FaaS lists in the seed's shapes.
    let token = seed_login(url).await;
    let workers: Value = http()
        .get(format!("{url}/api/worker/list"))
        .header("Authorization", &token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let w = &workers["data"][0];
    assert!(w["uuid"].is_string() && w["labels"].is_object(), "{workers:#}");
    let adder = w["handlers"].as_array().unwrap().iter().find(|h| h["name"] == "add").expect("add is offered");
    assert_eq!(adder["in_args"], json!([{"type": "...int64", "value": null}]), "{adder:#}");
    let faas: Value = http()
        .post(format!("{url}/api/faas/list"))
        .header("Authorization", &token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!((faas["code"].clone(), faas["data"].clone()), (json!(200), json!([])), "no providers configured");

    // Logout revokes the token.
    let out = http().delete(format!("{url}/auth/logout")).header("Authorization", &token).send().await.unwrap();
    assert_eq!(out.status(), 200);
    let after = http().get(format!("{url}/auth/info")).header("Authorization", &token).send().await.unwrap();
    assert_eq!(after.status(), 401);
}
