//! Hostile clients (issue "Hardening", done-when 1 and 2): each denial-of-service probe is refused
//! quickly with a message that names the limit, the server's memory stays bounded (read from
//! /proc), and a normal client is served meanwhile.

#![allow(clippy::unwrap_used)] // test code: a panic is a failed check

use aurora_e2e::graphs::{graph, task};
use aurora_e2e::{PASSWORD, Scratch, Server};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// The resident memory of `pid`, in MiB.
fn rss_mib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    kib / 1024
}

async fn post(server: &Server, token: Option<&str>, body: Vec<u8>) -> (u16, Value) {
    let mut r =
        reqwest::Client::new().post(format!("{}/graphql", server.url)).header("content-type", "application/json");
    if let Some(t) = token {
        r = r.header("authorization", format!("Bearer {t}"));
    }
    let resp = r.body(body).send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or_else(|_| json!({ "raw": text })))
}

/// Sends only the headers of a POST announcing a body of `length` bytes; returns the answer.
async fn announce_body(server: &Server, token: Option<&str>, length: usize) -> String {
    let mut tcp = tokio::net::TcpStream::connect(server.url.trim_start_matches("http://")).await.unwrap();
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    let head = format!(
        "POST /graphql HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/json\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n"
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).into_owned()
}

fn message(doc: &Value) -> String {
    doc["errors"][0]["message"].as_str().unwrap_or_default().to_string()
}

/// `/health` answers within a second while the server is under a probe.
async fn healthy(server: &Server) {
    let start = Instant::now();
    let r = reqwest::Client::new().get(format!("{}/health", server.url)).timeout(Duration::from_secs(5)).send().await;
    assert!(r.is_ok_and(|r| r.status().is_success()), "/health must answer under load");
    assert!(start.elapsed() < Duration::from_secs(1), "/health took {:?}", start.elapsed());
}

fn noop_run(n: usize) -> Value {
    graph((0..n).map(|i| task(&format!("t{i}"), "noop", &[])).collect(), vec![])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expensive_queries_are_refused_up_front_and_big_lists_are_paged() {
    let dir = Scratch::new("hardening-queries");
    let server = Server::start(&dir.0, &[]).await;
    let token = server.client.token().unwrap().to_string();
    let id = server.submit(noop_run(3000)).await;
    assert_eq!(server.wait_terminal(&id, Duration::from_secs(120)).await["state"], "SUCCESS");
    let pid = server.pids()[0];
    let before = rss_mib(pid);

    // 20 aliases of a run's history: each is one bounded page now, answered in a moment...
    let aliases: String = (0..20).map(|i| format!("g{i}: graph(id: \"{id}\") {{ history {{ data }} }} ")).collect();
    let start = Instant::now();
    let (status, doc) =
        post(&server, Some(&token), json!({ "query": format!("{{ {aliases} }}") }).to_string().into_bytes()).await;
    assert_eq!(status, 200, "{}", doc["errors"]);
    assert!(doc["errors"].is_null(), "{:.2000}", doc["errors"].to_string());
    assert_eq!(doc["data"]["g0"]["history"].as_array().unwrap().len(), 1000, "the default page");
    assert!(start.elapsed() < Duration::from_secs(20), "took {:?}", start.elapsed());
    // ...and asking for big pages under many aliases is refused before anything is read.
    let big: String = (0..20)
        .map(|i| format!("g{i}: graph(id: \"{id}\") {{ history(first: 10000) {{ id data hash prevHash }} }} "))
        .collect();
    let start = Instant::now();
    let (_, doc) =
        post(&server, Some(&token), json!({ "query": format!("{{ {big} }}") }).to_string().into_bytes()).await;
    assert!(message(&doc).contains("too complex") && message(&doc).contains("limits.max_complexity"), "{doc}");
    assert!(start.elapsed() < Duration::from_secs(1));
    // A page past the maximum says how to page.
    let q = format!("{{ graph(id: \"{id}\") {{ history(first: 20000) {{ id }} }} }}");
    let err = server.client.query(&q, json!({})).await.unwrap_err().to_string();
    assert!(err.contains("between 1 and 10000") && err.contains("after"), "{err}");
    // The next page starts after the last event's position.
    let q = format!("{{ graph(id: \"{id}\") {{ history(first: 5) {{ position }} }} }}");
    let first = server.client.query(&q, json!({})).await.unwrap()["graph"]["history"].clone();
    let last = first[4]["position"].as_str().unwrap().to_string();
    let q = format!("{{ graph(id: \"{id}\") {{ history(first: 5, after: \"{last}\") {{ position }} }} }}");
    let next = server.client.query(&q, json!({})).await.unwrap()["graph"]["history"].clone();
    let pos = |v: &Value| v["position"].as_str().unwrap().parse::<u64>().unwrap();
    assert!(pos(&next[0]) > pos(&first[4]), "{first} then {next}");

    // 1,000 aliases of graphs(first: 200): refused quickly.
    let many: String = (0..1000).map(|i| format!("a{i}: graphs(first: 200) {{ nodes {{ id }} }} ")).collect();
    let start = Instant::now();
    let (_, doc) =
        post(&server, Some(&token), json!({ "query": format!("{{ {many} }}") }).to_string().into_bytes()).await;
    assert!(message(&doc).contains("limits.max_fields") || message(&doc).contains("limits.max_complexity"), "{doc}");
    assert!(start.elapsed() < Duration::from_secs(2), "took {:?}", start.elapsed());
    // 100,000 __typename selections: refused, not executed.
    let typenames = "__typename ".repeat(100_000);
    let start = Instant::now();
    let (_, doc) =
        post(&server, Some(&token), json!({ "query": format!("{{ {typenames} }}") }).to_string().into_bytes()).await;
    assert!(message(&doc).contains("selects 100000 fields") && message(&doc).contains("limits.max_fields"), "{doc}");
    assert!(start.elapsed() < Duration::from_secs(2), "took {:?}", start.elapsed());
    // A fragment that doubles at each level is counted as it expands.
    let mut bomb = String::from("query { ...F0 } fragment F0 on Query { ...F1 ...F1 }");
    for i in 1..20 {
        bomb.push_str(&format!(" fragment F{i} on Query {{ ...F{} ...F{} }}", i + 1, i + 1));
    }
    bomb.push_str(" fragment F20 on Query { __typename }");
    let (_, doc) = post(&server, Some(&token), json!({ "query": bomb }).to_string().into_bytes()).await;
    assert!(message(&doc).contains("limits.max_fields"), "{doc}");

    healthy(&server).await;
    let after = rss_mib(pid);
    assert!(after < before + 400, "RSS grew from {before} to {after} MiB");
    eprintln!("query probes: RSS {before} -> {after} MiB");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_response_budget_stops_a_query_that_would_grow_too_big() {
    let dir = Scratch::new("hardening-budget");
    let server = Server::start(&dir.0, &["limits.max_response_bytes=50000"]).await;
    let id = server.submit(noop_run(2000)).await;
    let ended = server.wait_ended(&id, Duration::from_secs(120), Duration::from_millis(100)).await;
    assert_eq!(ended.as_deref(), Some("SUCCESS"));
    let q = format!("{{ graph(id: \"{id}\") {{ tasks {{ id key name state args {{ type value }} }} }} }}");
    let err = server.client.query(&q, json!({})).await.unwrap_err().to_string();
    assert!(err.contains("would exceed 50000 bytes") && err.contains("limits.max_response_bytes"), "{err}");
    let small = format!("{{ graph(id: \"{id}\") {{ state }} }}");
    assert_eq!(server.client.query(&small, json!({})).await.unwrap()["graph"]["state"], "SUCCESS");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_are_bounded_and_checked_after_the_token_before_parsing() {
    let dir = Scratch::new("hardening-bodies");
    let server = Server::start(&dir.0, &["limits.max_body_bytes=4000000"]).await;
    let token = server.client.token().unwrap().to_string();
    let pid = server.pids()[0];
    let before = rss_mib(pid);
    // Without a token, a 33 MB body is refused at once: the answer comes before the body is sent.
    let start = Instant::now();
    let answer = announce_body(&server, None, 33 * 1024 * 1024).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("limits.anonymous_max_body_bytes"), "{answer}");
    assert!(start.elapsed() < Duration::from_secs(3), "took {:?}", start.elapsed());
    // With a token the configured limit applies, and says so.
    let answer = announce_body(&server, Some(&token), 33 * 1024 * 1024).await;
    assert!(answer.starts_with("HTTP/1.1 413") && answer.contains("4000000 bytes (limits.max_body_bytes)"), "{answer}");
    // A body over the limit that does not announce its length is cut off as it arrives.
    let (status, doc) = post(&server, None, vec![b' '; 200 * 1024]).await;
    assert_eq!(status, 413, "{doc}");
    // A bad type name of 1 MB is quoted, not echoed.
    let name = "x".repeat(1024 * 1024);
    let input = graph(vec![task("a", "add", &[(name.as_str(), json!(1))])], vec![]);
    let body =
        json!({ "query": "mutation($i: GraphInput!) { submitGraph(input: $i) { id } }", "variables": { "i": input } });
    let (_, doc) = post(&server, Some(&token), body.to_string().into_bytes()).await;
    let m = message(&doc);
    assert!(m.contains("is not a supported type"), "{m:.300}");
    assert!(doc.to_string().len() < 4096, "the error is {} bytes", doc.to_string().len());
    // A body that is not JSON: a GraphQL error in JSON.
    let (status, doc) = post(&server, Some(&token), b"{\"query\": \"{ graphs".to_vec()).await;
    assert_eq!((status, doc["errors"][0]["extensions"]["code"].as_str()), (400, Some("BAD_USER_INPUT")), "{doc}");
    healthy(&server).await;
    let after = rss_mib(pid);
    assert!(after < before + 200, "RSS grew from {before} to {after} MiB");
    eprintln!("body probes: RSS {before} -> {after} MiB");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_requests_are_cut_off_and_connections_are_capped() {
    let dir = Scratch::new("hardening-slow");
    let server = Server::start(
        &dir.0,
        &["limits.header_read_timeout_secs=1", "limits.body_read_timeout_secs=1", "limits.max_connections=50"],
    )
    .await;
    let addr = server.url.trim_start_matches("http://").to_string();
    // Half the headers, then nothing: the server closes the connection.
    let mut slow = tokio::net::TcpStream::connect(&addr).await.unwrap();
    slow.write_all(b"POST /graphql HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    let start = Instant::now();
    let mut buf = [0u8; 512];
    let read = tokio::time::timeout(Duration::from_secs(10), slow.read(&mut buf)).await.expect("closed in time");
    assert!(start.elapsed() < Duration::from_secs(5), "held open for {:?}", start.elapsed());
    drop(read);
    // The headers, half the body: a 408 after the body timeout.
    let mut half = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let token = server.client.token().unwrap().to_string();
    let head = format!(
        "POST /graphql HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"query\""
    );
    half.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let _ =
        tokio::time::timeout(Duration::from_secs(10), half.read_to_end(&mut answer)).await.expect("answered in time");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408") && answer.contains("limits.body_read_timeout_secs"), "{answer}");

    // Idle connections beyond the cap get a 503 that says why; /health works once they go.
    let mut idle = Vec::new();
    for _ in 0..50 {
        idle.push(tokio::net::TcpStream::connect(&addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut over = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let mut refused = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), over.read_to_end(&mut refused)).await;
    let refused = String::from_utf8_lossy(&refused);
    assert!(refused.starts_with("HTTP/1.1 503") && refused.contains("limits.max_connections"), "{refused}");
    drop(idle);
    // The idle ones are cut off by the header timeout anyway; then the server serves again.
    tokio::time::sleep(Duration::from_secs(2)).await;
    healthy(&server).await;
}

async fn socket(
    server: &Server,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    let url = format!("{}/graphql/ws", server.url.replacen("http", "ws", 1));
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert("Sec-WebSocket-Protocol", "graphql-transport-ws".parse().unwrap());
    tokio_tungstenite::connect_async(request).await.unwrap().0
}

/// The close frame the server ends `ws` with (code, reason), waiting at most `within`.
async fn closed(
    ws: &mut tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    within: Duration,
) -> (u16, String) {
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, ws.next()).await.expect("closed within the time") {
            Some(Ok(Message::Close(Some(f)))) => return (f.code.into(), f.reason.to_string()),
            Some(Ok(Message::Close(None))) | None => return (0, String::new()),
            Some(Ok(_)) => continue,
            Some(Err(e)) => panic!("socket error instead of a close frame: {e}"),
        }
    }
}

fn init(token: &str) -> Message {
    Message::Text(
        json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } })
            .to_string()
            .into(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sockets_speak_the_protocols_close_codes_and_end_with_their_token() {
    let dir = Scratch::new("hardening-ws");
    let server = Server::start(
        &dir.0,
        &["limits.connection_init_timeout_secs=1", "limits.max_sockets_per_token=3", "auth.token_ttl_secs=3"],
    )
    .await;
    // No connection_init: 4408.
    let mut ws = socket(&server).await;
    let start = Instant::now();
    assert_eq!(closed(&mut ws, Duration::from_secs(5)).await.0, 4408);
    assert!(start.elapsed() < Duration::from_secs(3));
    // A bad token: 4403 with the reason.
    let mut ws = socket(&server).await;
    ws.send(init("aur_not_a_token")).await.unwrap();
    let (code, reason) = closed(&mut ws, Duration::from_secs(5)).await;
    assert_eq!(code, 4403);
    assert!(reason.contains("valid token"), "{reason}");
    // A subscribe before connection_init: 4401.
    let mut ws = socket(&server).await;
    let sub = json!({ "id": "1", "type": "subscribe", "payload": { "query": "subscription { graphEvents(id: \"x\") { id } }" } });
    ws.send(Message::Text(sub.to_string().into())).await.unwrap();
    assert_eq!(closed(&mut ws, Duration::from_secs(5)).await.0, 4401);

    // Sockets per token: the fourth is refused with 4429.
    let token = server.anonymous().login("admin", PASSWORD).await.unwrap();
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut ws = socket(&server).await;
        ws.send(init(&token)).await.unwrap();
        let ack = ws.next().await.unwrap().unwrap();
        assert!(ack.to_string().contains("connection_ack"), "{ack}");
        held.push(ws);
    }
    let mut fourth = socket(&server).await;
    fourth.send(init(&token)).await.unwrap();
    let (code, reason) = closed(&mut fourth, Duration::from_secs(5)).await;
    assert_eq!(code, 4429, "{reason}");
    assert!(reason.contains("limits.max_sockets_per_token"), "{reason}");

    // A live subscription ends when its token is revoked...
    let id = server.submit(graph(vec![task("s", "sleep", &[("int64", json!(20_000))])], vec![])).await;
    let sub = json!({ "id": "1", "type": "subscribe", "payload": { "query": format!("subscription {{ graphEvents(id: \"{id}\") {{ id }} }}") } });
    held[0].send(Message::Text(sub.to_string().into())).await.unwrap();
    let first = held[0].next().await.unwrap().unwrap();
    assert!(first.to_string().contains("\"next\""), "{first}");
    server.client.with_token(Some(token.clone())).query("mutation { logout }", json!({})).await.unwrap();
    let (code, reason) = closed(&mut held[0], Duration::from_secs(6)).await;
    assert_eq!(code, 4401, "{reason}");
    assert!(reason.contains("revoked"), "{reason}");
    // ...or expires (the token lives 3 s here).
    let short = server.anonymous().login("admin", PASSWORD).await.unwrap();
    let mut ws = socket(&server).await;
    ws.send(init(&short)).await.unwrap();
    let _ack = ws.next().await.unwrap().unwrap();
    let (code, reason) = closed(&mut ws, Duration::from_secs(8)).await;
    assert_eq!(code, 4401, "{reason}");
    assert!(reason.contains("expired"), "{reason}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_idle_sockets_do_not_starve_the_server() {
    let dir = Scratch::new("hardening-fds");
    let server = Server::start(&dir.0, &["limits.max_sockets_per_token=1000"]).await;
    let token = server.client.token().unwrap().to_string();
    let mut held = Vec::new();
    for _ in 0..1000 {
        let mut ws = socket(&server).await;
        ws.send(init(&token)).await.unwrap();
        held.push(ws);
    }
    for ws in &mut held[990..] {
        let ack = ws.next().await.unwrap().unwrap();
        assert!(ack.to_string().contains("connection_ack"), "{ack}");
    }
    healthy(&server).await;
    let id = server.submit(graph(vec![task("a", "add", &[("int64", json!(1))])], vec![])).await;
    assert_eq!(server.wait_terminal(&id, Duration::from_secs(30)).await["state"], "SUCCESS");
    eprintln!("1000 idle sockets: RSS {} MiB", rss_mib(server.pids()[0]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logins_are_throttled_and_password_checks_bounded() {
    let dir = Scratch::new("hardening-login");
    let server = Server::start(&dir.0, &["limits.logins_per_minute=1000"]).await;
    let pid = server.pids()[0];
    let before = rss_mib(pid);
    // Unknown user and wrong password read the same.
    let wrong = server.anonymous().login("admin", "nope").await.unwrap_err().to_string();
    let ghost = server.anonymous().login("ghost", "nope").await.unwrap_err().to_string();
    assert_eq!(wrong, ghost);
    // 100 aliased logins in one request are 100 guesses: after the free failures, RATE_LIMITED.
    let aliases: String =
        (0..100).map(|i| format!("l{i}: login(username: \"admin\", password: \"guess{i}\") {{ token }} ")).collect();
    let (_, doc) =
        post(&server, None, json!({ "query": format!("mutation {{ {aliases} }}") }).to_string().into_bytes()).await;
    let errors = doc["errors"].as_array().unwrap();
    let limited: Vec<&Value> = errors.iter().filter(|e| e["extensions"]["code"] == "RATE_LIMITED").collect();
    assert!(limited.len() >= 90, "{} of 100 were rate limited: {doc:.500}", limited.len());
    assert!(limited[0]["message"].as_str().unwrap().contains("try again in"), "{}", limited[0]);
    assert!(limited[0]["extensions"]["retryAfterSecs"].as_u64().is_some_and(|s| s >= 1));
    // The right password is refused too while the name waits, and says when to come back.
    let err = server.anonymous().login("admin", PASSWORD).await.unwrap_err();
    assert_eq!(err.codes(), ["RATE_LIMITED"], "{err}");

    // 200 concurrent logins (other names): bounded memory, /health answers meanwhile.
    let logins = (0..200).map(|i| {
        let c = server.anonymous();
        async move { c.login(&format!("user{i}"), "x").await }
    });
    let probe = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        healthy(&server).await;
    };
    let (results, ()) = tokio::join!(futures::future::join_all(logins), probe);
    assert!(results.iter().all(|r| r.is_err()));
    let after = rss_mib(pid);
    assert!(after < before + 300, "RSS grew from {before} to {after} MiB with 200 concurrent logins");
    eprintln!("200 concurrent logins: RSS {before} -> {after} MiB");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runaway_retries_are_refused_and_backoff_is_floored() {
    let dir = Scratch::new("hardening-retries");
    let server = Server::start(&dir.0, &[]).await;
    let mut t = task("f", "fail", &[("string", json!("boom"))]);
    t["retryCount"] = json!(2_147_483_647);
    t["retryBackoffMs"] = json!(0);
    let before = server.ledger_event_count().await;
    let err = server.client.submit(graph(vec![t.clone()], vec![])).await.unwrap_err().to_string();
    assert!(err.contains("retryCount 2147483647 is over the limit of 100 (limits.max_retry_count)"), "{err}");
    assert_eq!(server.ledger_event_count().await, before);
    t["retryCount"] = json!(3);
    let id = server.submit(graph(vec![t], vec![])).await;
    let g = server.wait_terminal(&id, Duration::from_secs(30)).await;
    let history = aurora_e2e::task(&g, "f")["history"].as_array().unwrap().clone();
    let received: Vec<chrono::DateTime<chrono::Utc>> = history
        .iter()
        .filter(|e| e["type"] == "TaskReceived")
        .map(|e| e["recordedAt"].as_str().unwrap().parse().unwrap())
        .collect();
    assert_eq!(received.len(), 4);
    for w in received.windows(2) {
        assert!(w[1] - w[0] >= chrono::Duration::milliseconds(70), "a retry came after {:?}", w[1] - w[0]);
    }
    // Names are bounded in characters, not bytes: 200 three-byte characters are fine.
    let mut long = task(&"é".repeat(200), "add", &[]);
    long["labelSelector"] = json!({ "zone": "a".repeat(201) });
    let err = server.client.submit(graph(vec![long], vec![])).await.unwrap_err().to_string();
    assert!(!err.contains("task key"), "200 characters are within the limit: {err}");
    assert!(err.contains("value `aaaa") && err.contains("has 201 characters; the limit is 200"), "{err}");
}

/// The introspection query of graphql-core (the one graphql-js and GraphiQL send) succeeds, and a
/// client schema builds from its answer (done-when 2). Needs the test venv `scripts/test` makes.
#[cfg(feature = "service-tests")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standard_tools_can_load_the_schema() {
    let python = aurora_e2e::cluster::service_env("AURORA_TEST_PYTHON");
    let dir = Scratch::new("hardening-introspection");
    let server = Server::start(&dir.0, &[]).await;
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("clients/introspect.py");
    let out = std::process::Command::new(python)
        .arg(script)
        .arg(&server.url)
        .arg(server.client.token().unwrap())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    for field in ["graph", "graphs", "handlers", "task", "workers"] {
        assert!(stdout.split_whitespace().any(|f| f == field), "the client schema has Query.{field}: {stdout}");
    }
}

/// Cancelling a run stops its running handler at once: the worker's only slot is free again for
/// the next run (without the stop, a 60 s `sleep` would hold it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_stops_a_running_handler_and_frees_its_slot() {
    let dir = Scratch::new("hardening-cancel");
    let server = Server::start(&dir.0, &["worker.slots=1"]).await;
    let long = server.submit(graph(vec![task("s", "sleep", &[("int64", json!(60_000))])], vec![])).await;
    let started = Instant::now();
    loop {
        let g = server
            .client
            .query("query($id: ID!) { graph(id: $id) { tasks { state } } }", json!({ "id": long }))
            .await
            .unwrap();
        if g["graph"]["tasks"][0]["state"] == "STARTED" {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "the sleep never started: {g}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.client.query("mutation($id: ID!) { cancelGraph(id: $id) { id } }", json!({ "id": long })).await.unwrap();
    let next = server.submit(graph(vec![task("a", "add", &[("int64", json!(1))])], vec![])).await;
    let waited = Instant::now();
    let ended = server.wait_ended(&next, Duration::from_secs(20), Duration::from_millis(20)).await;
    assert_eq!(ended.as_deref(), Some("SUCCESS"), "the next run waited for the cancelled sleep");
    assert!(waited.elapsed() < Duration::from_secs(10), "the slot came free after {:?}", waited.elapsed());
}

/// The first message about operation `id` on `ws` (skipping the connection's acknowledgement).
async fn answer_to(
    ws: &mut tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    id: &str,
) -> Value {
    loop {
        let m = tokio::time::timeout(Duration::from_secs(10), ws.next()).await.expect("an answer in time");
        let text = m.expect("the socket is open").expect("no socket error").into_text().unwrap().to_string();
        let v: Value = serde_json::from_str(&text).unwrap();
        if v["id"] == id {
            return v;
        }
    }
}

/// Over a socket, subscriptions run without the guard's per-field hook (their events are not one
/// response), yet are held to the same field and complexity limits, told the same way; queries
/// over a socket still have the response budget.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operations_over_a_socket_are_held_to_the_same_limits() {
    let dir = Scratch::new("hardening-ws-limits");
    let server =
        Server::start(&dir.0, &["limits.max_fields=6", "limits.max_complexity=5", "limits.max_response_bytes=300"])
            .await;
    let id = server.submit(graph(vec![task("a", "noop", &[])], vec![])).await;
    let token = server.anonymous().login("admin", PASSWORD).await.unwrap();
    let mut ws = socket(&server).await;
    ws.send(init(&token)).await.unwrap();
    let operation = |n: &str, query: String| {
        Message::Text(json!({ "id": n, "type": "subscribe", "payload": { "query": query } }).to_string().into())
    };
    // Seven fields: over max_fields.
    let q =
        format!("subscription {{ graphEvents(id: \"{id}\") {{ id stream version type graphId taskId position }} }}");
    ws.send(operation("1", q)).await.unwrap();
    let refused = answer_to(&mut ws, "1").await.to_string();
    assert!(refused.contains("selects 8 fields") && refused.contains("limits.max_fields"), "{refused}");
    // Five fields: within max_fields, over max_complexity (told with the limit and what to do).
    let q = format!("subscription {{ graphEvents(id: \"{id}\") {{ id stream version type graphId }} }}");
    ws.send(operation("2", q)).await.unwrap();
    let refused = answer_to(&mut ws, "2").await.to_string();
    assert!(refused.contains("too complex") && refused.contains("limits.max_complexity"), "{refused}");
    // Within both: events arrive.
    let q = format!("subscription {{ graphEvents(id: \"{id}\") {{ type position }} }}");
    ws.send(operation("3", q)).await.unwrap();
    let event = answer_to(&mut ws, "3").await;
    assert_eq!(event["type"], "next", "{event}");
    assert!(event["payload"]["data"]["graphEvents"]["position"].is_string(), "{event}");
    // A chain of 50,000 fragments is refused by its depth, before it is followed (it would
    // overflow the stack), and the server goes on.
    let mut chain = String::from("subscription { ...F0 }");
    for i in 0..50_000 {
        chain.push_str(&format!(" fragment F{i} on Subscription {{ ...F{} }}", i + 1));
    }
    chain.push_str(&format!(" fragment F50000 on Subscription {{ graphEvents(id: \"{id}\") {{ type }} }}"));
    ws.send(operation("5", chain)).await.unwrap();
    let refused = answer_to(&mut ws, "5").await.to_string();
    assert!(refused.contains("deeper than 32 levels"), "{}", &refused[..refused.len().min(500)]);
    healthy(&server).await;
    // A query over the socket: the response budget still applies.
    ws.send(operation("4", "{ __schema { types { name } } }".into())).await.unwrap();
    let refused = answer_to(&mut ws, "4").await.to_string();
    assert!(refused.contains("the response would exceed 300 bytes"), "{refused}");
}
