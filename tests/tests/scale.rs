//! Large graphs complete (done-when 10). Wall times and event rates are printed and appended to
//! `target/e2e-figures.txt`; they are measurements, not assertions.

#![allow(clippy::unwrap_used)] // test code: a panic is a failed check

use aurora_e2e::graphs::{edge, graph, task};
use aurora_e2e::{Deployment, Scratch, Server, states};
use serde_json::json;
use std::io::Write;
use std::time::{Duration, Instant};

fn record(line: &str) {
    println!("{line}");
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/e2e-figures.txt");
    if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(path) {
        let _ = writeln!(f, "{line}");
    }
}

async fn run(server: &Server, deployment: Deployment, name: &str, input: serde_json::Value, tasks: usize) {
    let started = Instant::now();
    let id = server.submit(input).await;
    let submitted = started.elapsed();
    let g = server.wait_terminal(&id, Duration::from_secs(600)).await;
    let wall = started.elapsed();
    assert_eq!(g["state"], "SUCCESS");
    assert_eq!(states(&g).get("SUCCESS"), Some(&tasks));
    let events = g["history"].as_array().map(Vec::len).unwrap_or(0);
    record(&format!(
        "{deployment:?} {name}: {tasks} tasks, {events} events, submit {:.2} s, wall {:.2} s, {:.0} events/s, {:.0} tasks/s",
        submitted.as_secs_f64(),
        wall.as_secs_f64(),
        events as f64 / wall.as_secs_f64(),
        tasks as f64 / wall.as_secs_f64()
    ));
}

async fn ten_thousand_independent_tasks_complete(deployment: Deployment) {
    let dir = Scratch::new("scale-wide");
    let server = Server::deploy(deployment, &dir.0, &[]).await;
    let tasks =
        (0..10_000).map(|i| task(&format!("t{i}"), "add", &[("int64", json!(i)), ("int64", json!(1))])).collect();
    run(&server, deployment, "10,000-task graph without edges", graph(tasks, vec![]), 10_000).await;
}

async fn a_thousand_task_chain_completes(deployment: Deployment) {
    let dir = Scratch::new("scale-chain");
    let server = Server::deploy(deployment, &dir.0, &[]).await;
    let tasks = (0..1_000).map(|i| task(&format!("c{i}"), "add", &[("int64", json!(i))])).collect();
    let edges = (1..1_000).map(|i| edge(&format!("c{}", i - 1), &format!("c{i}"))).collect();
    run(&server, deployment, "1,000-task chain", graph(tasks, edges), 1_000).await;
}

aurora_e2e::scenarios!(ten_thousand_independent_tasks_complete, a_thousand_task_chain_completes);
