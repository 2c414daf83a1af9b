//! Builders for the graphs the scenarios submit.

use serde_json::{Value, json};

/// A task calling `name` with typed args.
pub fn task(key: &str, name: &str, args: &[(&str, Value)]) -> Value {
    let args: Vec<Value> = args.iter().map(|(t, v)| json!({ "type": t, "value": v })).collect();
    json!({ "key": key, "name": name, "args": args })
}

/// `sleep(ms)`.
pub fn sleep(key: &str, ms: i64) -> Value {
    task(key, "sleep", &[("int64", json!(ms))])
}

/// An edge.
pub fn edge(from: &str, to: &str) -> Value {
    json!({ "from": from, "to": to })
}

/// A graph input.
pub fn graph(tasks: Vec<Value>, edges: Vec<Value>) -> Value {
    json!({ "tasks": tasks, "edges": edges })
}

/// A chain of `n` sleeps of `ms` each: s0 → s1 → …
pub fn sleep_chain(n: usize, ms: i64) -> Value {
    let tasks = (0..n).map(|i| sleep(&format!("s{i}"), ms)).collect();
    let edges = (1..n).map(|i| edge(&format!("s{}", i - 1), &format!("s{i}"))).collect();
    graph(tasks, edges)
}

/// A graph file shipped in `examples/`.
pub fn example(name: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}
