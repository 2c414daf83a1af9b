//! `graphEvents`: history, then live, exactly once, then completion (done-when 6).

#![allow(clippy::unwrap_used)] // test code: a panic is a failed check

use aurora_e2e::graphs::sleep_chain;
use aurora_e2e::{Deployment, Scratch, Server};
use serde_json::Value;
use std::collections::HashSet;
use std::time::Duration;

/// Subscribes on the last gateway: in a distributed deployment not the one the run was submitted
/// on, so the events cross processes.
async fn collect(server: &Server, id: &str) -> Vec<Value> {
    let gateway = server.gateways().pop().expect("a gateway");
    let mut stream = gateway.graph_events(id).await.expect("subscribed");
    let mut events = Vec::new();
    while let Some(e) =
        tokio::time::timeout(Duration::from_secs(30), stream.next()).await.expect("an event or completion in time")
    {
        events.push(e.expect("event"));
    }
    events
}

fn ids(events: &[Value]) -> Vec<String> {
    events.iter().map(|e| e["id"].as_str().unwrap_or("").to_string()).collect()
}

fn assert_per_stream_order(events: &[Value]) {
    let mut last: std::collections::HashMap<&str, i64> = Default::default();
    for e in events {
        let stream = e["stream"].as_str().unwrap_or("");
        let v = e["version"].as_i64().unwrap_or(0);
        let prev = last.insert(stream, v).unwrap_or(0);
        assert_eq!(v, prev + 1, "stream {stream}: version {v} after {prev}");
    }
}

async fn a_subscriber_joining_mid_run_sees_every_event_once_then_completion(deployment: Deployment) {
    let dir = Scratch::new("subscribe");
    let server = Server::deploy(deployment, &dir.0, &[]).await;
    let id = server.submit(sleep_chain(6, 150)).await;
    // Join when the run is about half done.
    loop {
        let g = server.client.graph(&id).await.expect("graph");
        if aurora_e2e::task(&g, "s2")["state"] != "WAITING" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let live = collect(&server, &id).await;
    // The subscription reads the ledger; the read model may take a moment to show the end.
    let g = server.wait_terminal(&id, Duration::from_secs(10)).await;
    assert_eq!(g["state"], "SUCCESS");
    let stored = g["history"].as_array().cloned().expect("history");
    assert_eq!(ids(&live), ids(&stored), "every stored event, in ledger order");
    assert_eq!(ids(&live).into_iter().collect::<HashSet<_>>().len(), live.len(), "no duplicates");
    assert_per_stream_order(&live);
    assert_eq!(live.last().map(|e| e["type"].clone()), Some("GraphSucceeded".into()), "ends with the graph's end");

    let late = collect(&server, &id).await;
    assert_eq!(ids(&late), ids(&stored), "a subscriber after the end gets the full history and completes");
}

async fn many_concurrent_subscribers_all_see_the_same_events(deployment: Deployment) {
    let dir = Scratch::new("subscribers");
    let server = Server::deploy(deployment, &dir.0, &[]).await;
    let id = server.submit(sleep_chain(4, 100)).await;
    let gateways = server.gateways();
    let subs: Vec<_> = (0..10)
        .map(|i| {
            let client = gateways[i % gateways.len()].clone();
            let id = id.clone();
            tokio::spawn(async move {
                let mut s = client.graph_events(&id).await.expect("subscribed");
                let mut out = Vec::new();
                while let Some(e) = s.next().await {
                    out.push(e.expect("event")["id"].as_str().unwrap_or("").to_string());
                }
                out
            })
        })
        .collect();
    let mut all = Vec::new();
    for s in subs {
        all.push(tokio::time::timeout(Duration::from_secs(30), s).await.expect("in time").expect("join"));
    }
    let g = server.wait_terminal(&id, Duration::from_secs(10)).await;
    let stored: Vec<String> =
        g["history"].as_array().into_iter().flatten().map(|e| e["id"].as_str().unwrap_or("").to_string()).collect();
    for seen in all {
        assert_eq!(seen, stored);
    }
}

async fn subscribing_to_an_unknown_graph_is_an_error(deployment: Deployment) {
    let dir = Scratch::new("subscribe-unknown");
    let server = Server::deploy(deployment, &dir.0, &[]).await;
    let mut s = server.client.graph_events(&uuid::Uuid::now_v7().to_string()).await.expect("connected");
    let first = s.next().await.expect("an answer").expect_err("no such graph");
    assert_eq!(first.codes(), ["NOT_FOUND"], "{first}");
}

aurora_e2e::scenarios!(
    a_subscriber_joining_mid_run_sees_every_event_once_then_completion,
    many_concurrent_subscribers_all_see_the_same_events,
    subscribing_to_an_unknown_graph_is_an_error,
);
