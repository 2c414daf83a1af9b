//! `examples/custom-worker` joins a distributed deployment, and its Rust handlers' results appear
//! in the run (issue "Your own code as tasks", done-when 5).

#![cfg(feature = "service-tests")]
#![allow(clippy::unwrap_used)] // test code: a panic is a failed check

use aurora_e2e::graphs::{edge, graph, task};
use aurora_e2e::{Deployment, Scratch, Server, assert_invariants};
use serde_json::json;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_custom_worker_joins_a_distributed_deployment_and_runs_its_handlers() {
    let dir = Scratch::new("custom-worker");
    let mut server = Server::deploy(Deployment::Distributed, &dir.0, &[]).await;
    let config = server.cluster_mut().unwrap().config.clone();
    let log = std::fs::File::create(dir.0.join("custom-worker.log")).unwrap();
    let mut worker = Command::new(env!("CARGO_BIN_EXE_custom-worker"))
        .arg("--config")
        .arg(&config)
        .args(["--set", "worker.labels.lang=rust"])
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();

    // It advertises its handlers, with the signatures derived from the Rust functions.
    let start = Instant::now();
    let (worker_id, handlers) = loop {
        let w = server
            .client
            .query("{ workers { id handlers } handlers { name argTypes resultTypes } }", json!({}))
            .await
            .unwrap();
        let ours = w["workers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|w| w["handlers"].as_array().unwrap().contains(&json!("resize")));
        if let Some(ours) = ours {
            break (ours["id"].as_str().unwrap().to_string(), w["handlers"].clone());
        }
        assert!(start.elapsed() < Duration::from_secs(30), "the custom worker did not register: {w:#}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let resize = handlers.as_array().unwrap().iter().find(|h| h["name"] == "resize").unwrap();
    assert_eq!(resize["argTypes"], json!(["int64", "int64", "int64"]));
    assert_eq!(resize["resultTypes"], json!(["int64", "int64"]));

    let ints = |v: &[i64]| v.iter().map(|n| ("int64", json!(n))).collect::<Vec<_>>();
    let mut selected = task("resize", "resize", &ints(&[1920, 1080, 640]));
    selected["labelSelector"] = json!({ "lang": "rust" });
    let mut slug = task("slug", "slugify", &[("string", json!("Hello, Aurora World!"))]);
    slug["labelSelector"] = json!({ "lang": "rust" });
    let mut shout = task("title", "concat", &[("string", json!("slug: "))]);
    shout["passResults"] = json!(true);
    let id = server.submit(graph(vec![selected, slug, shout], vec![edge("slug", "title")])).await;
    let g = server.wait_terminal(&id, Duration::from_secs(60)).await;
    assert_eq!(g["state"], "SUCCESS", "{g:#}");
    let results = |key: &str| aurora_e2e::task(&g, key)["results"].clone();
    assert_eq!(results("resize"), json!([{ "type": "int64", "value": 640 }, { "type": "int64", "value": 360 }]));
    assert_eq!(results("slug"), json!([{ "type": "string", "value": "hello-aurora-world" }]));
    assert_eq!(results("title"), json!([{ "type": "string", "value": "slug: hello-aurora-world" }]));
    for key in ["resize", "slug"] {
        let received = aurora_e2e::task(&g, key)["history"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["type"] == "TaskReceived")
            .cloned()
            .unwrap();
        assert_eq!(received["workerId"], worker_id.as_str(), "{key} ran on the custom worker");
    }
    assert_invariants(&g);

    // Args that do not fit its signature are refused at submission.
    let err = server.client.submit(graph(vec![task("r", "resize", &ints(&[1, 2]))], vec![])).await.unwrap_err();
    assert!(err.to_string().contains("handler `resize` takes exactly 3 values (int64, int64, int64), got 2"), "{err}");

    // SIGTERM: it drains and exits cleanly.
    Command::new("kill").args(["-TERM", &worker.id().to_string()]).status().unwrap();
    let status = worker.wait().unwrap();
    assert!(status.success(), "{status}");
}
