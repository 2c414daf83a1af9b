//! The original system's request format (its `CenterRequest`: `task_type`, `signatures`,
//! `relations`, `callBack`, …) compiled into one [`GraphSpec`], as Aurora runs every workflow:
//! a `task` is a one-node graph, a `group` a graph without edges, a `chain` a path whose edges
//! pass results, a `chord` a fan-in whose callback receives every member's results, a `graph` the
//! given relations (which, as in the original, pass no data). Indices are checked, unlike the
//! original, which panicked on a bad one.

use crate::selector::LabelSelector;
use crate::spec::{EdgeSpec, GraphSpec, TaskSpec};
use crate::value::TypedValue;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};

/// One task of a request (the original's `Signature`; fields it has that Aurora does not need
/// are accepted and ignored).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct Signature {
    /// The client's tag for the task (the original's front end put its node id here).
    pub id: Option<String>,
    /// The original's task id.
    pub uuid: Option<String>,
    /// The handler.
    pub name: String,
    /// Positional typed args, `[{"type": "int64", "value": 1}]`.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Object>))]
    pub args: Vec<TypedValue>,
    /// Which workers may run it.
    pub label_selector: Option<LabelSelector>,
    /// Retries after the first attempt.
    pub retry_count: u32,
    /// The first retry's delay, in seconds.
    pub retry_timeout: Option<u64>,
    /// Earliest start (RFC 3339): the task waits until then.
    pub eta: Option<String>,
    /// 0 to 9: among ready tasks of one queue, higher runs first.
    pub priority: Option<u8>,
    /// Chain and chord only: do not receive the predecessors' results.
    pub immutable: bool,
    /// The original's follow-up tasks (refused when given: chains and relations say what runs
    /// after what; null or `[]`, as answers carry them, is accepted).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Vec<Object>>))]
    pub on_success: Option<serde_json::Value>,
    /// The original's failure callbacks (refused when given, as `on_success`).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Vec<Object>>))]
    pub on_error: Option<serde_json::Value>,
}

/// A request in the original's format (the body of its `/api/task/send`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct Request {
    /// `task`, `group`, `chain`, `chord` or `graph`.
    pub task_type: String,
    /// The tasks.
    pub signatures: Vec<Signature>,
    /// Graph edges, `[{"0": 1}]`: signature 0 runs before signature 1.
    pub relations: Vec<BTreeMap<String, usize>>,
    /// The selector of every signature without one.
    pub label_selector: Option<LabelSelector>,
    /// A chord's callback.
    #[serde(rename = "callBack")]
    pub call_back: Option<Signature>,
    /// The client's clock (required by the original).
    pub timestamp: Option<i64>,
    /// How long `send` waits for the results, in ms (0: until the run ends).
    pub timeout_duration: u64,
    /// The original's poll interval while `send` waits, in ms (accepted; Aurora is told when a
    /// run ends instead of polling).
    pub sleep_duration: u64,
    /// The original's publish concurrency for groups (accepted; a run is submitted at once).
    pub send_concurrency: u64,
    /// The request's id: echoed by `touch`.
    pub batch_id: Option<String>,
}

impl Request {
    /// The task key of each signature, then of the callback: its `id` (else `uuid`) where that is
    /// given and not taken, else `t<index>`.
    pub fn keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = Vec::with_capacity(self.signatures.len() + 1);
        let mut used = HashSet::new();
        for (i, s) in self.signatures.iter().chain(self.call_back.iter()).enumerate() {
            let wanted = s.id.clone().or_else(|| s.uuid.clone()).filter(|k| !k.is_empty());
            let key = match wanted {
                Some(k) if !used.contains(&k) => k,
                _ => format!("t{i}"),
            };
            used.insert(key.clone());
            keys.push(key);
        }
        keys
    }

    /// Whether a JSON document looks like the original's format rather than a `GraphInput`.
    pub fn looks_like(doc: &serde_json::Value) -> bool {
        doc.get("signatures").is_some() || doc.get("task_type").is_some()
    }

    /// The one graph this request stands for, or what is wrong with it.
    pub fn to_graph_spec(&self) -> Result<GraphSpec, Vec<String>> {
        let mut problems = Vec::new();
        let n = self.signatures.len();
        if n == 0 {
            problems.push("`signatures` is empty; give at least one task".to_string());
        }
        let keys = self.keys();
        let task = |i: usize, s: &Signature, pass: bool, problems: &mut Vec<String>| {
            let what = format!("signature {i} (`{}`)", keys[i]);
            let not_before = match s.eta.as_deref().filter(|e| !e.is_empty()) {
                None => None,
                Some(eta) => match chrono::DateTime::parse_from_rfc3339(eta) {
                    Ok(t) => Some(t.with_timezone(&chrono::Utc)),
                    Err(_) => {
                        problems.push(format!(
                            "{what}: `eta` `{}` is not an RFC 3339 time such as 2026-12-02T10:00:00Z",
                            eta.chars().take(60).collect::<String>()
                        ));
                        None
                    }
                },
            };
            let priority = s.priority.unwrap_or(0);
            if priority > crate::spec::MAX_PRIORITY {
                problems.push(format!(
                    "{what}: `priority` must be 0 to {} (the original's AMQP range went to 255; Aurora's queues have 10 levels)",
                    crate::spec::MAX_PRIORITY
                ));
            }
            let given = |v: &Option<serde_json::Value>| {
                v.as_ref().is_some_and(|v| !(v.is_null() || v.as_array().is_some_and(Vec::is_empty)))
            };
            for (field, v) in [("on_success", &s.on_success), ("on_error", &s.on_error)] {
                if given(v) {
                    problems.push(format!(
                        "{what}: `{field}` callbacks are not supported; use task_type `chain`, or `graph` with `relations`"
                    ));
                }
            }
            TaskSpec {
                key: keys[i].clone(),
                name: s.name.clone(),
                args: s.args.clone(),
                label_selector: s.label_selector.clone(),
                retry_count: s.retry_count,
                retry_backoff_ms: s.retry_timeout.map(|secs| secs.saturating_mul(1000)),
                timeout_ms: None,
                pass_results: pass && !s.immutable,
                not_before,
                priority: priority.min(crate::spec::MAX_PRIORITY),
            }
        };
        let mut tasks = Vec::new();
        let mut edges = Vec::new();
        let edge = |a: usize, b: usize| EdgeSpec { from: keys[a].clone(), to: keys[b].clone() };
        match self.task_type.as_str() {
            "task" => {
                if n > 1 {
                    problems.push(format!("task_type `task` runs one signature, but there are {n}; use `group`"));
                }
                tasks.extend(self.signatures.first().map(|s| task(0, s, false, &mut problems)));
            }
            "group" => tasks.extend(self.signatures.iter().enumerate().map(|(i, s)| task(i, s, false, &mut problems))),
            "chain" => {
                tasks.extend(self.signatures.iter().enumerate().map(|(i, s)| task(i, s, i > 0, &mut problems)));
                edges.extend((1..n).map(|i| edge(i - 1, i)));
            }
            "chord" => {
                tasks.extend(self.signatures.iter().enumerate().map(|(i, s)| task(i, s, false, &mut problems)));
                match &self.call_back {
                    Some(cb) => {
                        tasks.push(task(n, cb, true, &mut problems));
                        edges.extend((0..n).map(|i| edge(i, n)));
                    }
                    None => problems
                        .push("task_type `chord` needs `callBack`, the task that gets every member's results".into()),
                }
            }
            "graph" => {
                tasks.extend(self.signatures.iter().enumerate().map(|(i, s)| task(i, s, false, &mut problems)));
                for (r, relation) in self.relations.iter().enumerate() {
                    for (from, &to) in relation {
                        match from.parse::<usize>() {
                            Ok(f) if f < n && to < n => edges.push(edge(f, to)),
                            Ok(f) => problems.push(format!(
                                "relation {r} ({{\"{f}\": {to}}}) refers to signature {}, but there are only {n} (0 to {})",
                                if f >= n { f } else { to },
                                n.saturating_sub(1)
                            )),
                            Err(_) => problems.push(format!(
                                "relation {r}: `{from}` is not a signature index (relations look like [{{\"0\": 1}}])"
                            )),
                        }
                    }
                }
            }
            "" => problems.push("`task_type` is missing; use task, group, chain, chord or graph".into()),
            other => problems.push(format!(
                "task_type `{}` is not one of task, group, chain, chord, graph",
                other.chars().take(40).collect::<String>()
            )),
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(GraphSpec {
            name: Some(format!("seed {}", self.task_type)),
            tasks,
            edges,
            label_selector: self.label_selector.clone(),
            idempotency_key: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn request(v: serde_json::Value) -> Request {
        serde_json::from_value(v).expect("a request")
    }

    #[test]
    fn the_seed_readme_graph_becomes_two_tasks_and_one_edge() {
        let r = request(json!({"task_type":"graph","timestamp":1680752792,"signatures":[
            {"id":"y4e6vr63qb","name":"add","args":[{"type":"int64","value":1},{"type":"int64","value":2}],"label_selector":{"k1":"v1","k2":"v2"}},
            {"id":"ql0iytfa36","name":"add","args":[{"type":"int64","value":3},{"type":"int64","value":4}],"label_selector":{"k1":"v1","k2":"v2"}}],
            "relations":[{"0":1}],"timeout_duration":0,"sleep_duration":2000,"send_concurrency":0}));
        let spec = r.to_graph_spec().expect("valid");
        assert_eq!(spec.tasks.iter().map(|t| t.key.as_str()).collect::<Vec<_>>(), ["y4e6vr63qb", "ql0iytfa36"]);
        assert_eq!(spec.edges, vec![EdgeSpec { from: "y4e6vr63qb".into(), to: "ql0iytfa36".into() }]);
        assert!(spec.tasks.iter().all(|t| !t.pass_results), "graph relations pass no data, as in the original");
    }

    #[test]
    fn chains_pass_results_and_chords_fan_in() {
        let sig = |n: &str| json!({"name": n, "args": [{"type":"int64","value":1}]});
        let chain = request(json!({"task_type":"chain","signatures":[sig("add"), sig("add"), sig("add")]}))
            .to_graph_spec()
            .expect("chain");
        assert_eq!(chain.edges.len(), 2);
        assert_eq!(chain.tasks.iter().map(|t| t.pass_results).collect::<Vec<_>>(), [false, true, true]);
        let chord = request(json!({"task_type":"chord","signatures":[sig("add"), sig("add")],"callBack":sig("sum")}))
            .to_graph_spec()
            .expect("chord");
        assert_eq!(chord.tasks.len(), 3);
        assert_eq!(chord.edges.iter().filter(|e| e.to == "t2").count(), 2);
        assert!(chord.tasks[2].pass_results);
    }

    #[test]
    fn bad_requests_say_what_is_wrong() {
        let one = json!({"name":"add"});
        let err = request(json!({"task_type":"graph","signatures":[one.clone(), one.clone()],"relations":[{"0":5}]}))
            .to_graph_spec()
            .unwrap_err();
        assert_eq!(err, ["relation 0 ({\"0\": 5}) refers to signature 5, but there are only 2 (0 to 1)"]);
        let err = request(json!({"task_type":"flow","signatures":[one.clone()]})).to_graph_spec().unwrap_err();
        assert!(err[0].contains("is not one of task, group, chain, chord, graph"), "{err:?}");
        let err = request(json!({"task_type":"chord","signatures":[one.clone()]})).to_graph_spec().unwrap_err();
        assert!(err[0].contains("needs `callBack`"), "{err:?}");
        let err = request(json!({"task_type":"task","signatures":[{"name":"add","eta":"tomorrow"}]}))
            .to_graph_spec()
            .unwrap_err();
        assert!(err[0].contains("`eta` `tomorrow` is not an RFC 3339 time"), "{err:?}");
        let later =
            request(json!({"task_type":"task","signatures":[{"name":"add","eta":"2030-01-01T08:00:00+08:00"}]}))
                .to_graph_spec()
                .expect("an eta is a notBefore");
        assert_eq!(later.tasks[0].not_before.map(|t| t.to_rfc3339()).as_deref(), Some("2030-01-01T00:00:00+00:00"));
        let err = request(json!({"task_type":"task","signatures":[{"name":"add","on_success":[{"name":"add"}]}]}))
            .to_graph_spec()
            .unwrap_err();
        assert!(err[0].contains("`on_success` callbacks are not supported"), "{err:?}");
        let echoed = json!({"task_type":"task","signatures":[{"name":"add","on_success":null,"on_error":[]}]});
        assert!(request(echoed).to_graph_spec().is_ok(), "answers carry them as null; touch sends them back");
        assert!(Request::looks_like(&json!({"signatures": []})));
        assert!(!Request::looks_like(&json!({"tasks": []})));
    }
}
