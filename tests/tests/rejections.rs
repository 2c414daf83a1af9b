//! Bad input gets a clear GraphQL error and writes no event (done-when 5).

#![allow(clippy::unwrap_used)] // test code: a panic is a failed check

use aurora_e2e::graphs::{edge, graph, task};
use aurora_e2e::{Deployment, Scratch, Server};
use serde_json::{Value, json};

async fn rejected(server: &Server, input: Value, expect: &str) -> String {
    let before = server.ledger_event_count().await;
    let err = server.client.submit(input).await.expect_err("must be rejected");
    assert_eq!(err.codes(), ["BAD_USER_INPUT"], "{err}");
    assert!(err.to_string().contains(expect), "expected `{expect}` in: {err}");
    assert_eq!(server.ledger_event_count().await, before, "a rejected submission writes nothing ({expect})");
    err.to_string()
}

async fn every_kind_of_bad_graph_is_named_and_writes_nothing(deployment: Deployment) {
    let dir = Scratch::new("reject");
    let server = Server::deploy(deployment, &dir.0, &[]).await;
    let one = |k: &str| task(k, "add", &[("int64", json!(1))]);
    let cycle = rejected(
        &server,
        graph(vec![one("a"), one("b"), one("c")], vec![edge("a", "b"), edge("b", "c"), edge("c", "b")]),
        "the graph has a cycle: ",
    )
    .await;
    assert!(cycle.contains("b -> c -> b") || cycle.contains("c -> b -> c"), "the cycle's keys, in order: {cycle}");
    let _ = rejected(&server, graph(vec![one("a"), one("a")], vec![]), "duplicate task key `a`").await;
    let _ = rejected(&server, graph(vec![one("a")], vec![edge("a", "ghost")]), "unknown task key `ghost`").await;
    let _ = rejected(
        &server,
        graph(vec![task("a", "add", &[("decimal", json!(1))])], vec![]),
        "task `a` arg 0: `decimal` is not a supported type",
    )
    .await;
    let _ = rejected(
        &server,
        graph(vec![task("a", "add", &[("int8", json!(300))])], vec![]),
        "task `a` arg 0: 300 is out of range for int8",
    )
    .await;
    let _ =
        rejected(&server, graph(vec![task("a", "no_such_handler", &[])], vec![]), "unknown handler `no_such_handler`")
            .await;
    let _ = rejected(&server, graph(vec![], vec![]), "the graph has no tasks").await;
    let mut bad_selector = one("a");
    bad_selector["labelSelector"] = json!({ "zone": 1 });
    let _ = rejected(&server, graph(vec![bad_selector], vec![]), "label `zone` must be a string").await;
}

async fn malformed_json_and_wrong_shapes_are_refused_without_writing(deployment: Deployment) {
    let dir = Scratch::new("malformed");
    let server = Server::deploy(deployment, &dir.0, &[]).await;
    let before = server.ledger_event_count().await;
    let mutation = "mutation($i: GraphInput!) { submitGraph(input: $i) { id } }";
    // Variables that are not JSON at all.
    let body = format!(r#"{{"query": {}, "variables": "{{tasks: [oops"}}"#, json!(mutation));
    let doc = server.client.post_raw(body).await;
    let text = format!("{doc:?}");
    assert!(doc.is_err() || doc.as_ref().is_ok_and(|d| d.get("errors").is_some()), "refused: {text}");
    // A variable of the wrong shape: an arg without a value.
    let body = json!({ "query": mutation, "variables": { "i": { "tasks": [{ "key": "a", "name": "add", "args": [{ "type": "int64" }] }] } } });
    let doc = server.client.post_raw(body.to_string()).await.expect("a GraphQL answer");
    let message = doc["errors"][0]["message"].as_str().unwrap_or("");
    assert!(message.contains("value"), "the error names the missing field: {doc}");
    // A request body that is not JSON: a GraphQL error document, not a text/plain debug string.
    let doc = server.client.post_raw("{\"query\": ".into()).await.expect("a GraphQL error document");
    assert_eq!(doc["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{doc}");
    let message = doc["errors"][0]["message"].as_str().unwrap_or("");
    assert!(message.starts_with("the request body is not a GraphQL request"), "{doc}");
    assert_eq!(server.ledger_event_count().await, before);
}

aurora_e2e::scenarios!(
    every_kind_of_bad_graph_is_named_and_writes_nothing,
    malformed_json_and_wrong_shapes_are_refused_without_writing,
);
