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

/// A DAG of `n` no-op tasks with the first `max_edges` of the edges `i -> j` (i < j), in order: with
/// enough edges, every task runs after every earlier one.
fn dense(n: usize, max_edges: usize) -> (serde_json::Value, usize) {
    let tasks = (0..n).map(|i| task(&format!("d{i}"), "noop", &[])).collect();
    let edges: Vec<serde_json::Value> = (0..n)
        .flat_map(|i| (i + 1..n).map(move |j| (i, j)))
        .take(max_edges)
        .map(|(i, j)| edge(&format!("d{i}"), &format!("d{j}")))
        .collect();
    let count = edges.len();
    (graph(tasks, edges), count)
}

/// The peak resident memory of `pid`, in MiB.
fn peak_rss_mib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|n| n.parse::<u64>().ok())
        .map(|kib| kib / 1024)
        .unwrap_or(0)
}

/// Complete DAGs of 100, 200 and 300 tasks and 700 tasks with 200,000 edges finish in time about
/// linear in their edges, and a one-task graph submitted while the biggest runs is not starved
/// (issue "Hardening", done-when 5). Embedded: the frontier's work is the same in both modes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dense_graphs_finish_in_time_linear_in_their_edges() {
    let dir = Scratch::new("scale-dense");
    let server = Server::start(&dir.0, &[]).await;
    let pid = server.pids()[0];
    for (n, max_edges) in [(100, usize::MAX), (200, usize::MAX), (300, usize::MAX), (700, 200_000)] {
        let (input, edges) = dense(n, max_edges);
        let started = Instant::now();
        let id = server.submit(input).await;
        let submitted = started.elapsed();
        let mut small_took = None;
        if n == 700 {
            // Meanwhile, another user's one-task run.
            tokio::time::sleep(Duration::from_millis(500)).await;
            let small = Instant::now();
            let other = server.submit(graph(vec![task("one", "add", &[("int64", json!(1))])], vec![])).await;
            let ended = server.wait_ended(&other, Duration::from_secs(30), Duration::from_millis(20)).await;
            assert_eq!(ended.as_deref(), Some("SUCCESS"));
            small_took = Some(small.elapsed());
        }
        let ended = server.wait_ended(&id, Duration::from_secs(900), Duration::from_millis(100)).await;
        let wall = started.elapsed();
        assert_eq!(ended.as_deref(), Some("SUCCESS"), "the dense graph of {n} tasks ended");
        let small = small_took.map(|d| format!(", a 1-task graph meanwhile took {:.0} ms", d.as_secs_f64() * 1000.0));
        record(&format!(
            "Embedded dense DAG: {n} tasks, {edges} edges, submit {:.2} s, wall {:.2} s, {:.1} µs per edge, peak RSS {} MiB{}",
            submitted.as_secs_f64(),
            wall.as_secs_f64(),
            wall.as_secs_f64() * 1e6 / edges as f64,
            peak_rss_mib(pid),
            small.unwrap_or_default()
        ));
        if let Some(took) = small_took {
            assert!(took < Duration::from_secs(1), "a 1-task graph took {took:?} while a dense graph ran");
        }
    }
}

aurora_e2e::scenarios!(ten_thousand_independent_tasks_complete, a_thousand_task_chain_completes);
