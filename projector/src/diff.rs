//! How two runs differ (`graphDiff`), as a pure function of their specs, rows and events: per
//! task key what changed (state, attempts, args, results, error, handler, duration beyond a
//! tolerance), and the tasks and edges one spec has and the other has not.
//!
//! A task a rerun reused did not execute: its results are compared, its execution (attempts,
//! duration, args) is not — it is the execution of the run it was taken from.

use crate::views::{TaskView, as_of};
use aurora_schemas::event::EventData;
use aurora_schemas::{Event, GraphId, GraphSpec, TaskId};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// One run, as the diff reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    /// Its spec.
    pub spec: GraphSpec,
    /// Its task rows by key.
    pub tasks: BTreeMap<String, TaskView>,
    /// How long each task's last attempt ran (start to end), by key.
    pub durations: BTreeMap<String, Duration>,
}

impl Run {
    /// The run `graph` from its events (ledger order); `None` without a submission.
    pub fn of(graph: GraphId, events: &[Event]) -> Option<Self> {
        let spec = aurora_schemas::event::submitted_spec(events)?.clone();
        let model = as_of(events, None);
        let tasks: BTreeMap<String, TaskView> = spec
            .tasks
            .iter()
            .filter_map(|t| model.tasks.get(&TaskId::derive(graph, &t.key)).map(|v| (t.key.clone(), v.clone())))
            .collect();
        let mut started: BTreeMap<TaskId, chrono::DateTime<chrono::Utc>> = BTreeMap::new();
        let mut durations = BTreeMap::new();
        let keys: BTreeMap<TaskId, &str> = tasks.values().map(|v| (v.task_id, v.key.as_str())).collect();
        for e in events {
            let Some(t) = e.task_id else { continue };
            match &e.data {
                EventData::TaskStarted { .. } => {
                    started.insert(t, e.recorded_at);
                }
                EventData::TaskSucceeded { .. } | EventData::TaskFailed { .. } | EventData::TaskRetry { .. } => {
                    if let (Some(from), Some(key)) = (started.get(&t), keys.get(&t)) {
                        durations.insert(key.to_string(), (e.recorded_at - *from).to_std().unwrap_or_default());
                    }
                }
                _ => {}
            }
        }
        Some(Self { spec, tasks, durations })
    }
}

/// What differs for one task key.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskDiff {
    /// The task's key.
    pub key: String,
    /// What differs: `state`, `attempts`, `args`, `results`, `error`, `handler`, `duration`,
    /// or `added` / `removed` when only one run has it; empty when nothing does.
    pub changed: Vec<&'static str>,
    /// The row in the first run.
    pub before: Option<TaskView>,
    /// The row in the second run.
    pub after: Option<TaskView>,
}

/// How run `b` differs from run `a`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Diff {
    /// Every task key of either run: `a`'s in spec order, then those only `b` has.
    pub tasks: Vec<TaskDiff>,
    /// Edges (`from`, `to`) only `b` has.
    pub edges_added: Vec<(String, String)>,
    /// Edges only `a` has.
    pub edges_removed: Vec<(String, String)>,
}

/// How `b` differs from `a`; durations differ when they are further apart than `tolerance`.
pub fn diff(a: &Run, b: &Run, tolerance: Duration) -> Diff {
    let mut keys: Vec<&str> = a.spec.tasks.iter().map(|t| t.key.as_str()).collect();
    let in_a: BTreeSet<&str> = keys.iter().copied().collect();
    keys.extend(b.spec.tasks.iter().map(|t| t.key.as_str()).filter(|k| !in_a.contains(k)));
    let spec_of = |run: &Run, key: &str| run.spec.tasks.iter().find(|t| t.key == key).cloned();
    let tasks = keys
        .into_iter()
        .map(|key| {
            let (sa, sb) = (spec_of(a, key), spec_of(b, key));
            let (before, after) = (a.tasks.get(key).cloned(), b.tasks.get(key).cloned());
            let changed = match (&sa, &sb) {
                (Some(_), None) => vec!["removed"],
                (None, Some(_)) => vec!["added"],
                _ => changes(key, a, b, tolerance),
            };
            TaskDiff { key: key.to_string(), changed, before, after }
        })
        .collect();
    let edges = |run: &Run| -> BTreeSet<(String, String)> {
        run.spec.edges.iter().map(|e| (e.from.clone(), e.to.clone())).collect()
    };
    let (ea, eb) = (edges(a), edges(b));
    Diff {
        tasks,
        edges_added: eb.difference(&ea).cloned().collect(),
        edges_removed: ea.difference(&eb).cloned().collect(),
    }
}

fn changes(key: &str, a: &Run, b: &Run, tolerance: Duration) -> Vec<&'static str> {
    let handler = |run: &Run| run.spec.tasks.iter().find(|t| t.key == key).map(|t| t.name.clone());
    let (va, vb) = (a.tasks.get(key), b.tasks.get(key));
    let mut out = Vec::new();
    let state = |v: Option<&TaskView>| v.map(|v| v.state);
    if state(va) != state(vb) {
        out.push("state");
    }
    let executed = |v: Option<&TaskView>| v.is_some_and(|v| v.reused_from.is_none());
    if executed(va) && executed(vb) {
        if va.map(|v| v.attempts) != vb.map(|v| v.attempts) {
            out.push("attempts");
        }
        let args = |v: Option<&TaskView>| v.map(|v| v.args.clone().unwrap_or_else(|| v.spec_args.clone()));
        if args(va) != args(vb) {
            out.push("args");
        }
    }
    if va.and_then(|v| v.results.as_ref()) != vb.and_then(|v| v.results.as_ref()) {
        out.push("results");
    }
    if va.and_then(|v| v.error.as_ref()) != vb.and_then(|v| v.error.as_ref()) {
        out.push("error");
    }
    if handler(a) != handler(b) {
        out.push("handler");
    }
    if executed(va) && executed(vb) {
        let (da, db) = (a.durations.get(key), b.durations.get(key));
        let apart = match (da, db) {
            (Some(x), Some(y)) => x.abs_diff(*y) > tolerance,
            (None, None) => false,
            _ => true,
        };
        if apart {
            out.push("duration");
        }
    }
    out
}

#[cfg(test)]
mod tests;
