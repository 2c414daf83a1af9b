//! Graph validation: everything that makes a submission unacceptable, each problem named so the
//! user can fix it (which task key, which edge, which cycle, which arg).

use crate::handler::{Catalog, HandlerInfo};
use crate::signature::Signature;
use crate::spec::{GraphSpec, TaskSpec};
use crate::value::ArgType;
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
    /// Characters of keys, names, labels and idempotency keys.
    pub max_name_len: usize,
    /// Labels in one selector.
    pub max_labels: usize,
    /// Retries one task may ask for.
    pub max_retry_count: u32,
    /// The least delay before a retry: a shorter `retryBackoffMs` is raised to it.
    pub min_retry_backoff_ms: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_tasks: 50_000,
            max_edges: 200_000,
            max_args: 1_000,
            max_name_len: 200,
            max_labels: 64,
            max_retry_count: 100,
            min_retry_backoff_ms: 100,
        }
    }
}

/// `s` quoted for an error message, cut to 40 characters.
fn quoted(s: &str) -> String {
    match s.char_indices().nth(40) {
        None => format!("`{s}`"),
        Some((at, _)) => format!("`{}…`", &s[..at]),
    }
}

fn too_long(what: &str, s: &str, limits: &Limits) -> Option<String> {
    let n = s.chars().count();
    (n > limits.max_name_len)
        .then(|| format!("{what} {} has {n} characters; the limit is {}", quoted(s), limits.max_name_len))
}

fn selector_problems(what: &str, selector: Option<&crate::LabelSelector>, limits: &Limits) -> Vec<String> {
    let Some(sel) = selector else { return Vec::new() };
    let mut out = Vec::new();
    if sel.len() > limits.max_labels {
        out.push(format!("{what}: {} labels; the limit is {}", sel.len(), limits.max_labels));
    }
    for (k, v) in sel {
        out.extend(too_long(&format!("{what}: label"), k, limits));
        out.extend(too_long(&format!("{what}: label {} value", quoted(k)), v, limits));
    }
    out
}

/// Every problem found in `spec`; empty when it is acceptable. `catalog` holds the handlers live
/// workers offer, with their signatures, which every task's args must fit.
pub fn problems(spec: &GraphSpec, limits: &Limits, catalog: &Catalog) -> Vec<String> {
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
    out.extend(spec.name.as_deref().and_then(|n| too_long("the graph's name", n, limits)));
    out.extend(spec.idempotency_key.as_deref().and_then(|k| too_long("the idempotency key", k, limits)));
    out.extend(selector_problems("the graph's labelSelector", spec.label_selector.as_ref(), limits));
    let mut index: HashMap<&str, usize> = HashMap::new();
    for (i, task) in spec.tasks.iter().enumerate() {
        let key = task.key.as_str();
        let long_key = too_long("task key", key, limits);
        let shown = quoted(key);
        if key.is_empty() {
            out.push(format!("task #{i} has an empty key"));
        }
        out.extend(long_key);
        if index.insert(key, i).is_some() {
            out.push(format!("duplicate task key {shown}; keys must be unique within a graph"));
        }
        if task.name.is_empty() {
            out.push(format!("task {shown} has no handler name"));
        } else if let Some(long) = too_long(&format!("task {shown}: handler name"), &task.name, limits) {
            out.push(long);
        } else if !catalog.knows(&task.name) {
            out.push(format!("task {shown}: unknown handler `{}`; no worker offers it", task.name));
        }
        out.extend(selector_problems(&format!("task {shown}: labelSelector"), task.label_selector.as_ref(), limits));
        if task.retry_count > limits.max_retry_count {
            out.push(format!(
                "task {shown}: retryCount {} is over the limit of {} (limits.max_retry_count)",
                task.retry_count, limits.max_retry_count
            ));
        }
        if task.args.len() > limits.max_args {
            out.push(format!("task {shown} has {} args; the limit is {}", task.args.len(), limits.max_args));
        }
        for (j, arg) in task.args.iter().enumerate() {
            if let Err(e) = arg.check() {
                out.push(format!("task {shown} arg {j}: {e}"));
            }
        }
        if task.timeout_ms == Some(0) {
            out.push(format!("task {shown}: timeoutMs must be positive"));
        }
    }
    let mut seen_edges = HashSet::new();
    let mut edges_ok = true;
    for edge in &spec.edges {
        for end in [&edge.from, &edge.to] {
            if !index.contains_key(end.as_str()) {
                out.push(format!(
                    "edge {} -> {} refers to unknown task key {}",
                    quoted(&edge.from),
                    quoted(&edge.to),
                    quoted(end)
                ));
                edges_ok = false;
            }
        }
        if !seen_edges.insert((&edge.from, &edge.to)) {
            out.push(format!("duplicate edge {} -> {}", quoted(&edge.from), quoted(&edge.to)));
        }
    }
    if edges_ok && let Some(cycle) = find_cycle(spec, &index) {
        out.push(format!("the graph has a cycle: {}; remove one of these edges", cycle.join(" -> ")));
    }
    if edges_ok {
        out.extend(signature_problems(spec, catalog));
    }
    out
}

/// Each task whose args do not fit any signature its handler is offered under. A `passResults`
/// task gets its predecessors' results appended (in edge order): when their handlers declare
/// concrete result types the whole list is checked, otherwise the given args as its beginning.
fn signature_problems(spec: &GraphSpec, catalog: &Catalog) -> Vec<String> {
    let by_key: HashMap<&str, &TaskSpec> = spec.tasks.iter().map(|t| (t.key.as_str(), t)).collect();
    let mut out = Vec::new();
    for task in &spec.tasks {
        let offers = catalog.offers(&task.name);
        let Some(own) = task.args.iter().map(|a| a.ty.parse::<ArgType>().ok()).collect::<Option<Vec<_>>>() else {
            continue; // an unknown type name is reported with the arg
        };
        if offers.is_empty() {
            continue;
        }
        let passed: Option<Vec<ArgType>> = if task.pass_results {
            spec.edges
                .iter()
                .filter(|e| e.to == task.key)
                .map(|e| by_key.get(e.from.as_str()).and_then(|p| concrete_results(catalog.offers(&p.name))))
                .collect::<Option<Vec<Vec<ArgType>>>>()
                .map(|lists| lists.concat())
        } else {
            Some(Vec::new())
        };
        let mut first_mismatch = None;
        let fits = offers.iter().any(|info| {
            let Ok(sig) = Signature::parse(&info.arg_types) else {
                return true; // a worker advertising a signature we cannot read is not second-guessed
            };
            let checked = match &passed {
                Some(p) => sig.check(&[own.as_slice(), p.as_slice()].concat()),
                None => sig.check_prefix(&own),
            };
            match checked {
                Ok(()) => true,
                Err(m) => {
                    first_mismatch.get_or_insert(m);
                    false
                }
            }
        });
        if fits {
            continue;
        }
        let Some(mismatch) = first_mismatch else { continue };
        let via = match &passed {
            Some(p) if !p.is_empty() => {
                format!(" ({} given, {} passed from predecessors' results)", own.len(), p.len())
            }
            _ => String::new(),
        };
        out.push(match mismatch {
            crate::signature::Mismatch::Type { position, expected, got } => {
                let whose = if position < own.len() { "arg" } else { "passed result at arg" };
                format!(
                    "task {} {whose} {position}: handler `{}` expects {expected} there, got {got}{via}",
                    quoted(&task.key),
                    task.name
                )
            }
            crate::signature::Mismatch::Count { expected, got } => {
                format!("task {}: handler `{}` takes {expected}, got {got}{via}", quoted(&task.key), task.name)
            }
        });
    }
    out
}

/// The result types every offer of a handler agrees on, if they are known before it runs.
fn concrete_results(offers: &[HandlerInfo]) -> Option<Vec<ArgType>> {
    let mut lists = offers.iter().map(|i| Signature::parse(&i.result_types).ok().and_then(|s| s.concrete()));
    let first = lists.next()??;
    lists.all(|l| l.as_ref() == Some(&first)).then_some(first)
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
        problems(spec, &Limits::default(), &catalog())
    }

    fn offer(name: &str, args: &[&str], results: &[&str]) -> HandlerInfo {
        HandlerInfo {
            name: name.into(),
            usage: String::new(),
            arg_types: args.iter().map(|s| s.to_string()).collect(),
            result_types: results.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn catalog() -> Catalog {
        [
            offer("add", &["...int64"], &["int64"]),
            offer("split", &["string"], &["[]string"]),
            offer("pair", &["string", "int64"], &["string"]),
            offer("echo", &["...any"], &["...any"]),
        ]
        .into_iter()
        .collect()
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

    fn typed(key: &str, name: &str, args: &[(&str, serde_json::Value)]) -> TaskSpec {
        let args = args.iter().map(|(t, v)| TypedValue::new(*t, v.clone())).collect();
        TaskSpec { key: key.into(), name: name.into(), args, ..Default::default() }
    }

    #[test]
    fn args_must_fit_the_offered_signature() {
        let spec = GraphSpec {
            tasks: vec![
                typed("a", "add", &[("int64", json!(1)), ("string", json!("x"))]),
                typed("s", "split", &[("string", json!("ab")), ("string", json!("cd"))]),
                typed("p", "pair", &[("int64", json!(1)), ("int64", json!(2))]),
                typed("ok", "add", &[("int64", json!(1)), ("[]int64", json!([2, 3]))]),
                typed("e", "echo", &[("bool", json!(true)), ("[]string", json!([]))]),
            ],
            ..Default::default()
        };
        let p = check(&spec);
        assert_eq!(
            p,
            vec![
                "task `a` arg 1: handler `add` expects int64 (or []int64) there, got string",
                "task `s`: handler `split` takes exactly 1 value (string), got 2",
                "task `p` arg 0: handler `pair` expects string there, got int64",
            ]
        );
    }

    #[test]
    fn passed_results_count_when_their_types_are_declared() {
        let mut p = typed("p", "pair", &[]);
        p.pass_results = true;
        let spec = |preds: Vec<TaskSpec>, p: TaskSpec| {
            let edges = preds.iter().map(|t| edge(&t.key, "p")).collect();
            let mut tasks = preds;
            tasks.push(p);
            GraphSpec { tasks, edges, ..Default::default() }
        };
        // split returns []string where pair wants its int64: refused before anything runs.
        let mut p1 = typed("p", "pair", &[("string", json!("x"))]);
        p1.pass_results = true;
        let bad = check(&spec(vec![typed("s", "split", &[("string", json!("ab"))])], p1));
        assert_eq!(
            bad,
            vec![
                "task `p` passed result at arg 1: handler `pair` expects int64 there, got []string (1 given, 1 \
                 passed from predecessors' results)"
            ]
        );
        assert_eq!(
            check(&spec(vec![], p.clone())),
            vec!["task `p`: handler `pair` takes exactly 2 values (string, int64), got 0"]
        );
        // pair's own string first, then add's int64: exactly pair(string, int64).
        let mut p2 = typed("p", "pair", &[("string", json!("x"))]);
        p2.pass_results = true;
        assert!(check(&spec(vec![typed("a", "add", &[])], p2.clone())).is_empty());
        // echo's results are not known before it runs: only the given args are checked, as a prefix.
        assert!(check(&spec(vec![typed("e", "echo", &[])], p2)).is_empty());
        let mut p3 = typed("p", "pair", &[("int64", json!(1))]);
        p3.pass_results = true;
        assert_eq!(check(&spec(vec![typed("e", "echo", &[])], p3)).len(), 1);
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
