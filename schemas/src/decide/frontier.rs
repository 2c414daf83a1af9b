//! The frontier's decisions (DESIGN §3.4): given a run's shape, its progress and one of its
//! events, the events to append — each to a task stream at expected version 0 (a new stream, so a
//! replay cannot dispatch twice) or at the task's current version.

use super::shape::{Progress, Topology};
use crate::event::EventData;
use crate::{TaskId, TypedValue};
use std::collections::HashMap;

/// The successors of the task at `index` that its success makes ready (every predecessor
/// succeeded), marking it succeeded in `progress`; re-deciding after a restart proposes the same.
pub fn ready_after_success(topo: &Topology, progress: &mut Progress, index: usize) -> Vec<usize> {
    progress.succeed(topo, index)
}

/// The predecessors whose results the task at `index` needs before it can be dispatched (none
/// unless it passes results).
pub fn results_needed(topo: &Topology, index: usize) -> Vec<&str> {
    if topo.at(index).pass_results { topo.predecessors_of(index).map(|p| p.key.as_str()).collect() } else { Vec::new() }
}

/// The `TaskPending` that dispatches the task at `index`: its args, then — when it passes
/// results — each predecessor's results in edge order (`results` by key; a missing one adds
/// nothing).
pub fn pending(topo: &Topology, index: usize, results: &HashMap<String, Vec<TypedValue>>) -> EventData {
    EventData::pending(topo.at(index), pending_args(topo, index, results))
}

/// The args the task at `index` is dispatched with (see [`pending`]).
pub fn pending_args(topo: &Topology, index: usize, results: &HashMap<String, Vec<TypedValue>>) -> Vec<TypedValue> {
    let mut args = topo.at(index).args.clone();
    for key in results_needed(topo, index) {
        args.extend(results.get(key).cloned().unwrap_or_default());
    }
    args
}

/// The `TaskSkipped` of every descendant of the task `failed` (it failed for good), by key.
pub fn skips(topo: &Topology, failed: &str) -> Vec<(String, EventData)> {
    topo.descendants(failed)
        .into_iter()
        .map(|d| (d.key.clone(), EventData::TaskSkipped { upstream: failed.to_string() }))
        .collect()
}

/// The `TaskCancelled` of every unfinished task, as `(task, its version, event)`: appended at
/// that version, following the task if it moved on meanwhile.
pub fn cancels(
    unfinished: impl IntoIterator<Item = (TaskId, u64)>,
    reason: Option<&str>,
) -> Vec<(TaskId, u64, EventData)> {
    unfinished
        .into_iter()
        .map(|(t, v)| (t, v, EventData::TaskCancelled { reason: reason.map(str::to_string) }))
        .collect()
}

/// What a run's counts say about its end: nothing while a task is unfinished (or the run has
/// ended already); else `GraphCancelled` if a cancel was requested, `GraphFailed` with the
/// failed keys (sorted) if any failed, `GraphSucceeded` otherwise.
pub fn graph_end(
    ended: bool,
    cancel_requested: bool,
    tasks_total: u64,
    tasks_terminal: u64,
    mut failed: Vec<String>,
) -> Option<EventData> {
    if ended || tasks_terminal < tasks_total {
        return None;
    }
    Some(if cancel_requested {
        EventData::GraphCancelled { reason: None }
    } else if !failed.is_empty() {
        failed.sort();
        EventData::GraphFailed { failed }
    } else {
        EventData::GraphSucceeded {}
    })
}
