//! Every operation but login needs a valid token; logout revokes; tokens expire (done-when 9).

#![allow(clippy::unwrap_used)] // test code: a panic is a failed check

use aurora_e2e::graphs::{graph, task};
use aurora_e2e::{Deployment, PASSWORD, Scratch, Server};
use serde_json::json;
use std::time::Duration;

const QUERY: &str = "{ graphs { nodes { id } } }";
const MUTATION: &str = "mutation($i: GraphInput!) { submitGraph(input: $i) { id } }";

fn input() -> serde_json::Value {
    graph(vec![task("a", "add", &[("int64", json!(1))])], vec![])
}

async fn refused(client: &aurora::client::Client, graph_id: &str) {
    let q = client.query(QUERY, json!({})).await.unwrap_err();
    assert_eq!(q.codes(), ["UNAUTHENTICATED"], "query: {q}");
    let m = client.query(MUTATION, json!({ "i": input() })).await.unwrap_err();
    assert_eq!(m.codes(), ["UNAUTHENTICATED"], "mutation: {m}");
    match client.graph_events(graph_id).await {
        Err(_) => {}
        Ok(mut s) => {
            let first = s.next().await;
            assert!(matches!(first, None | Some(Err(_))), "subscription must be refused, got {first:?}");
        }
    }
}

async fn no_token_a_bad_token_and_a_revoked_token_are_refused(deployment: Deployment) {
    let dir = Scratch::new("auth");
    let server = Server::deploy(deployment, &dir.0, &[]).await;
    let id = server.submit(input()).await;
    refused(&server.anonymous(), &id).await;
    refused(&server.client.with_token(Some("aur_not_a_real_token".into())), &id).await;
    let wrong = server.anonymous().login("admin", "wrong").await.unwrap_err();
    assert_eq!(wrong.codes(), ["UNAUTHENTICATED"]);

    let token = server.anonymous().login("admin", PASSWORD).await.expect("login");
    let mine = server.client.with_token(Some(token));
    mine.query(QUERY, json!({})).await.expect("a fresh token works");
    let out = mine.query("mutation { logout }", json!({})).await.expect("logout");
    assert_eq!(out["logout"], true);
    refused(&mine, &id).await;
    server.client.query(QUERY, json!({})).await.expect("other sessions are unaffected");
}

async fn an_expired_token_is_refused(deployment: Deployment) {
    let dir = Scratch::new("auth-expiry");
    let server = Server::deploy(deployment, &dir.0, &["auth.token_ttl_secs=1"]).await;
    let id = server.submit(input()).await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    refused(&server.client, &id).await;
}

async fn a_viewer_may_read_but_not_submit_and_the_submitter_is_recorded(deployment: Deployment) {
    let dir = Scratch::new("auth-roles");
    let hash = aurora_query_graphql::auth::hash_password("viewer-pw");
    let config = dir.0.join("aurora.toml");
    std::fs::write(
        &config,
        format!("[[auth.users]]\nname = \"vera\"\npassword_hash = \"{hash}\"\nrole = \"viewer\"\n"),
    )
    .expect("write config");
    let server = Server::deploy_with_config(deployment, &dir.0, &config, &[]).await;
    let id = server.submit(input()).await;
    let g = server.wait_terminal(&id, Duration::from_secs(30)).await;
    assert_eq!(g["submittedBy"], "admin");
    let submitted = &g["history"][0];
    assert_eq!((submitted["type"].as_str(), submitted["actor"].as_str()), (Some("GraphSubmitted"), Some("admin")));

    let token = server.anonymous().login("vera", "viewer-pw").await.expect("viewer login");
    let vera = server.client.with_token(Some(token));
    vera.query(QUERY, json!({})).await.expect("a viewer can read");
    let err = vera.query(MUTATION, json!({ "i": input() })).await.unwrap_err();
    assert_eq!(err.codes(), ["FORBIDDEN"], "{err}");
}

aurora_e2e::scenarios!(
    no_token_a_bad_token_and_a_revoked_token_are_refused,
    an_expired_token_is_refused,
    a_viewer_may_read_but_not_submit_and_the_submitter_is_recorded,
);
