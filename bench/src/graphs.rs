//! The graphs the workloads submit, built from `noop` tasks with the plan's payload.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

/// A `noop` task carrying `payload`, optionally only for workers whose labels match `selector`.
pub fn noop(key: &str, payload: &str, selector: Option<(&str, &str)>) -> Value {
    let mut task = json!({ "key": key, "name": "noop", "args": [{ "type": "string", "value": payload }] });
    if let Some((k, v)) = selector {
        task["labelSelector"] = json!({ k: v });
    }
    task
}

fn edge(from: &str, to: &str) -> Value {
    json!({ "from": from, "to": to })
}

/// `n` independent tasks.
pub fn independent(n: usize, payload: &str, selector: Option<(&str, &str)>) -> Value {
    let tasks: Vec<Value> = (0..n).map(|i| noop(&format!("t{i}"), payload, selector)).collect();
    json!({ "tasks": tasks, "edges": [] })
}

/// A chain of `n`: c0 → c1 → … → c(n-1).
pub fn chain(n: usize, payload: &str) -> Value {
    let tasks: Vec<Value> = (0..n).map(|i| noop(&format!("c{i}"), payload, None)).collect();
    let edges: Vec<Value> = (1..n).map(|i| edge(&format!("c{}", i - 1), &format!("c{i}"))).collect();
    json!({ "tasks": tasks, "edges": edges })
}

/// Fan-out/fan-in: `root` → `width` tasks → `join`.
pub fn fan_out_fan_in(width: usize, payload: &str) -> Value {
    let mut tasks = vec![noop("root", payload, None)];
    let mut edges = Vec::new();
    for i in 0..width {
        let key = format!("m{i}");
        tasks.push(noop(&key, payload, None));
        edges.push(edge("root", &key));
        edges.push(edge(&key, "join"));
    }
    tasks.push(noop("join", payload, None));
    json!({ "tasks": tasks, "edges": edges })
}

/// A layered DAG, the same for the same `seed`: `layers` × `width` tasks, each task below the first
/// layer with 1–3 distinct parents in the layer above.
pub fn layered(layers: usize, width: usize, seed: u64, payload: &str) -> Value {
    let mut rng = StdRng::seed_from_u64(seed);
    let key = |l: usize, i: usize| format!("l{l}t{i}");
    let mut tasks = Vec::new();
    let mut edges = Vec::new();
    let above: Vec<usize> = (0..width).collect();
    for l in 0..layers {
        for i in 0..width {
            tasks.push(noop(&key(l, i), payload, None));
            if l > 0 {
                let parents = rng.gen_range(1..=3.min(width));
                for p in above.choose_multiple(&mut rng, parents) {
                    edges.push(edge(&key(l - 1, *p), &key(l, i)));
                }
            }
        }
    }
    json!({ "tasks": tasks, "edges": edges })
}

/// `sleep(hold_ms)` as the root of `n - 1` `noop` tasks: a run whose events start flowing once
/// the watchers are connected (W7).
pub fn held_fan_out(n: usize, hold_ms: i64, payload: &str) -> Value {
    let mut tasks = vec![json!({ "key": "hold", "name": "sleep", "args": [{ "type": "int64", "value": hold_ms }] })];
    let mut edges = Vec::new();
    for i in 1..n {
        let key = format!("t{i}");
        tasks.push(noop(&key, payload, None));
        edges.push(edge("hold", &key));
    }
    json!({ "tasks": tasks, "edges": edges })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_layered_dag_is_seeded_and_every_lower_task_has_one_to_three_parents() {
        let a = layered(4, 10, 7, "p");
        assert_eq!(a, layered(4, 10, 7, "p"), "same seed, same graph");
        assert_ne!(a, layered(4, 10, 8, "p"));
        assert_eq!(a["tasks"].as_array().map(Vec::len), Some(40));
        for l in 1..4 {
            for i in 0..10 {
                let to = format!("l{l}t{i}");
                let parents: Vec<&Value> =
                    a["edges"].as_array().into_iter().flatten().filter(|e| e["to"] == to).collect();
                assert!((1..=3).contains(&parents.len()), "{to} has {} parents", parents.len());
                assert!(
                    parents.iter().all(|e| e["from"].as_str().is_some_and(|f| f.starts_with(&format!("l{}t", l - 1))))
                );
            }
        }
    }

    #[test]
    fn fan_out_fan_in_has_one_root_and_one_join() {
        let g = fan_out_fan_in(3, "p");
        assert_eq!(g["tasks"].as_array().map(Vec::len), Some(5));
        assert_eq!(g["edges"].as_array().map(Vec::len), Some(6));
    }
}
