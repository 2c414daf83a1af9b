//! Graph validation: everything that makes a submission unacceptable, each problem named so the
//! user can fix it (which task key, which edge, which cycle, which arg).

use crate::spec::GraphSpec;
use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, NodeIndex};
use std::collections::{HashMap, HashSet, VecDeque};

/// Upper bounds that keep one submission from exhausting the server.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Tasks per graph.
    pub max_tasks: usize,
    /// Edges per graph.
    pub max_edges: usize,
    /// Args per task.
    pub max_args: usize,
    /// Length of keys and names.
    pub max_name_len: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_tasks: 50_000, max_edges: 200_000, max_args: 1_000, max_name_len: 200 }
    }
}

/// Every problem found in `spec`; empty when it is acceptable. `known_handler` says whether a
/// handler name is served by some worker.
pub fn problems(spec: &GraphSpec, limits: &Limits, known_handler: &dyn Fn(&str) -> bool) -> Vec<String> {
    let mut out = Vec::new();
    if spec.tasks.is_empty() {
        out.push("the graph has no tasks; add at least one".to_string());
        return out;
    }
    if spec.tasks.len() > limits.max_tasks {
        out.push(format!("the graph has {} tasks; the limit is {}", spec.tasks.len(), limits.max_tasks));
        return out;
    }
    if spec.edges.len() > limits.max_edges {
        out.push(format!("the graph has {} edges; the limit is {}", spec.edges.len(), limits.max_edges));
        return out;
    }
    let mut index: HashMap<&str, usize> = HashMap::new();
    for (i, task) in spec.tasks.iter().enumerate() {
        let key = task.key.as_str();
        if key.is_empty() {
            out.push(format!("task #{i} has an empty key"));
        } else if key.len() > limits.max_name_len {
            out.push(format!("task key `{key:.40}…` is longer than {} characters", limits.max_name_len));
        }
        if index.insert(key, i).is_some() {
            out.push(format!("duplicate task key `{key}`; keys must be unique within a graph"));
        }
        if task.name.is_empty() {
            out.push(format!("task `{key}` has no handler name"));
        } else if !known_handler(&task.name) {
            out.push(format!("task `{key}`: unknown handler `{}`; no worker offers it", task.name));
        }
        if task.args.len() > limits.max_args {
            out.push(format!("task `{key}` has {} args; the limit is {}", task.args.len(), limits.max_args));
        }
        for (j, arg) in task.args.iter().enumerate() {
            if let Err(e) = arg.check() {
                out.push(format!("task `{key}` arg {j}: {e}"));
            }
        }
        if task.timeout_ms == Some(0) {
            out.push(format!("task `{key}`: timeoutMs must be positive"));
        }
    }
    let mut seen_edges = HashSet::new();
    let mut edges_ok = true;
    for edge in &spec.edges {
        for end in [&edge.from, &edge.to] {
            if !index.contains_key(end.as_str()) {
                out.push(format!("edge {} -> {} refers to unknown task key `{end}`", edge.from, edge.to));
                edges_ok = false;
            }
        }
        if !seen_edges.insert((&edge.from, &edge.to)) {
            out.push(format!("duplicate edge {} -> {}", edge.from, edge.to));
        }
    }
    if edges_ok && let Some(cycle) = find_cycle(spec, &index) {
        out.push(format!("the graph has a cycle: {}; remove one of these edges", cycle.join(" -> ")));
    }
    out
}

/// One cycle as a list of keys that starts and ends with the same key, if the graph has any.
fn find_cycle(spec: &GraphSpec, index: &HashMap<&str, usize>) -> Option<Vec<String>> {
    let mut g: DiGraph<(), ()> = DiGraph::with_capacity(spec.tasks.len(), spec.edges.len());
    let nodes: Vec<NodeIndex> = spec.tasks.iter().map(|_| g.add_node(())).collect();
    for e in &spec.edges {
        g.add_edge(nodes[index[e.from.as_str()]], nodes[index[e.to.as_str()]], ());
    }
    let key = |n: NodeIndex| spec.tasks[n.index()].key.clone();
    for scc in tarjan_scc(&g) {
        let start = scc[0];
        if scc.len() == 1 && !g.contains_edge(start, start) {
            continue;
        }
        if scc.len() == 1 {
            return Some(vec![key(start), key(start)]);
        }
        // Shortest way back to `start` inside the component: a concrete cycle to show the user.
        let members: HashSet<NodeIndex> = scc.iter().copied().collect();
        let mut parent: HashMap<NodeIndex, NodeIndex> = HashMap::new();
        let mut queue = VecDeque::from([start]);
        while let Some(n) = queue.pop_front() {
            for next in g.neighbors(n) {
                if next == start {
                    let mut path = vec![key(start)];
                    let mut cur = n;
                    while cur != start {
                        path.push(key(cur));
                        cur = parent[&cur];
                    }
                    path.push(key(start));
                    return Some(fix_order(path));
                }
                if members.contains(&next) && !parent.contains_key(&next) && next != start {
                    parent.insert(next, n);
                    queue.push_back(next);
                }
            }
        }
    }
    None
}

/// `[start, nk, …, n1, start]` (built backwards) becomes `[start, n1, …, nk, start]`.
fn fix_order(mut path: Vec<String>) -> Vec<String> {
    let last = path.len() - 1;
    path[1..last].reverse();
    path
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{EdgeSpec, TaskSpec};
    use crate::value::TypedValue;
    use serde_json::json;

    fn task(key: &str) -> TaskSpec {
        TaskSpec { key: key.into(), name: "add".into(), ..Default::default() }
    }
    fn edge(a: &str, b: &str) -> EdgeSpec {
        EdgeSpec { from: a.into(), to: b.into() }
    }
    fn check(spec: &GraphSpec) -> Vec<String> {
        problems(spec, &Limits::default(), &|n| n == "add")
    }

    #[test]
    fn a_cycle_is_named_by_its_keys_in_order() {
        let spec = GraphSpec {
            tasks: vec![task("a"), task("b"), task("c"), task("d")],
            edges: vec![edge("a", "b"), edge("b", "c"), edge("c", "d"), edge("d", "b")],
            ..Default::default()
        };
        let p = check(&spec);
        assert_eq!(p.len(), 1, "{p:?}");
        let cycle = &p[0];
        assert!(
            cycle.contains("b -> c -> d -> b")
                || cycle.contains("c -> d -> b -> c")
                || cycle.contains("d -> b -> c -> d"),
            "{cycle}"
        );
        let self_loop = GraphSpec { tasks: vec![task("a")], edges: vec![edge("a", "a")], ..Default::default() };
        assert!(check(&self_loop)[0].contains("a -> a"));
    }

    #[test]
    fn each_problem_is_named() {
        let mut bad = task("x");
        bad.args = vec![TypedValue::new("int8", json!(300)), TypedValue::new("decimal", json!(1))];
        let spec = GraphSpec {
            tasks: vec![
                task("a"),
                task("a"),
                bad,
                TaskSpec { key: "y".into(), name: "nope".into(), ..Default::default() },
            ],
            edges: vec![edge("a", "ghost")],
            ..Default::default()
        };
        let p = check(&spec).join("\n");
        assert!(p.contains("duplicate task key `a`"), "{p}");
        assert!(p.contains("task `x` arg 0: 300 is out of range for int8"), "{p}");
        assert!(p.contains("task `x` arg 1: `decimal` is not a supported type"), "{p}");
        assert!(p.contains("unknown handler `nope`"), "{p}");
        assert!(p.contains("unknown task key `ghost`"), "{p}");
        assert_eq!(check(&GraphSpec::default()), vec!["the graph has no tasks; add at least one"]);
    }

    #[test]
    fn a_dag_passes() {
        let spec = GraphSpec {
            tasks: vec![task("a"), task("b"), task("c"), task("d")],
            edges: vec![edge("a", "b"), edge("a", "c"), edge("b", "d"), edge("c", "d")],
            ..Default::default()
        };
        assert!(check(&spec).is_empty());
    }
}
