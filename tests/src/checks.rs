//! The checks every scenario shares: terminal states, one terminal event per task, successors
//! dispatched once.

use serde_json::Value;
use std::collections::HashMap;
/// The task with `key` in a `graph` query result.
pub fn task<'a>(graph: &'a Value, key: &str) -> &'a Value {
    graph["tasks"]
        .as_array()
        .and_then(|ts| ts.iter().find(|t| t["key"] == key))
        .unwrap_or_else(|| panic!("no task {key}"))
}

/// Event types of a task's history, in order.
pub fn types(task: &Value) -> Vec<String> {
    task["history"].as_array().into_iter().flatten().map(|e| e["type"].as_str().unwrap_or("").to_string()).collect()
}

/// The invariants every finished run must satisfy: the graph ended once; every task has exactly
/// one terminal event and a gapless history; nothing was dispatched twice; nothing follows a
/// terminal event.
pub fn assert_invariants(graph: &Value) {
    let id = graph["id"].as_str().unwrap_or("?");
    assert_ne!(graph["state"], "RUNNING", "graph {id} is still running");
    let graph_ends = graph["history"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| {
            e["taskId"].is_null()
                && ["GraphSucceeded", "GraphFailed", "GraphCancelled"].contains(&e["type"].as_str().unwrap_or(""))
        })
        .count();
    assert_eq!(graph_ends, 1, "graph {id} has {graph_ends} terminal graph events");
    const TERMINAL: [&str; 5] = ["TaskSucceeded", "TaskFailed", "TaskCancelled", "TaskSkipped", "TaskReused"];
    for t in graph["tasks"].as_array().expect("tasks") {
        let key = t["key"].as_str().unwrap_or("?");
        let history = t["history"].as_array().expect("history");
        let versions: Vec<i64> = history.iter().map(|e| e["version"].as_i64().unwrap_or(-1)).collect();
        assert_eq!(versions, (1..=history.len() as i64).collect::<Vec<_>>(), "task {key}: versions are gapless from 1");
        let kinds = types(t);
        let terminal: Vec<usize> =
            kinds.iter().enumerate().filter(|(_, k)| TERMINAL.contains(&k.as_str())).map(|(i, _)| i).collect();
        assert_eq!(terminal.len(), 1, "task {key}: exactly one terminal event, got {kinds:?}");
        assert_eq!(terminal[0], kinds.len() - 1, "task {key}: nothing after the terminal event: {kinds:?}");
        let pendings = kinds.iter().filter(|k| *k == "TaskPending").count();
        assert!(pendings <= 1, "task {key} was dispatched {pendings} times");
    }
}

/// Counts of each task state in a `graph` query result.
pub fn states(graph: &Value) -> HashMap<String, usize> {
    let mut out = HashMap::new();
    for t in graph["tasks"].as_array().into_iter().flatten() {
        *out.entry(t["state"].as_str().unwrap_or("?").to_string()).or_default() += 1;
    }
    out
}
