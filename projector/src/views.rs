//! The read models and the pure function that builds them from events (DESIGN §2, invariant 5).
//!
//! [`Model::apply`] is deterministic and depends only on the per-stream event sequences: each row
//! stores the stream version it reflects and applies only the next one, so applying an event twice
//! or interleaving streams differently yields the same rows. Stores load the rows an event
//! touches into a [`Model`], apply, and write the rows back.

use aurora_schemas::event::{EventData, ForkedFrom, SourceEvent};
use aurora_schemas::{Event, GraphId, GraphState, LabelSelector, TaskId, TaskState, TypedValue};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The read model of one task (the seed's "touch" model, and more).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskView {
    /// The task.
    pub task_id: TaskId,
    /// Its graph.
    pub graph_id: GraphId,
    /// Its key in the graph (empty until the graph's spec or its first event is seen).
    pub key: String,
    /// The handler.
    pub name: String,
    /// The current state.
    pub state: TaskState,
    /// The args as submitted.
    pub spec_args: Vec<TypedValue>,
    /// The args it was dispatched with (with predecessors' results when `passResults`).
    pub args: Option<Vec<TypedValue>>,
    /// The results, once it succeeded.
    pub results: Option<Vec<TypedValue>>,
    /// The last error.
    pub error: Option<String>,
    /// Attempts claimed so far.
    pub attempts: u32,
    /// The worker of the current or last attempt.
    pub worker_id: Option<String>,
    /// When the next attempt is due, while in RETRY.
    pub retry_at: Option<DateTime<Utc>>,
    /// Dispatch parameters, from `TaskPending`.
    pub label_selector: LabelSelector,
    /// Retries after the first attempt.
    pub retry_count: u32,
    /// Base retry delay.
    pub retry_backoff_ms: u64,
    /// Start-to-close timeout.
    pub timeout_ms: Option<u64>,
    /// When the task came into being (its graph's submission).
    pub created_at: DateTime<Utc>,
    /// The time of the last event applied.
    pub updated_at: DateTime<Utc>,
    /// The task stream version this row reflects (0: no task event yet).
    pub version: u64,
    /// The last progress the current (or last) attempt reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<ProgressView>,
    /// Ordered no earlier than this (from `TaskPending`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<DateTime<Utc>>,
    /// 0 to 9 (from `TaskPending`).
    #[serde(default)]
    pub priority: u8,
    /// A rerun reused this task's results instead of running it: where they came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reused_from: Option<SourceEvent>,
}

impl TaskView {
    /// Whether it is dispatched but waits for its `not_before` at `now`.
    pub fn delayed_at(&self, now: DateTime<Utc>) -> bool {
        self.state == TaskState::Pending && self.not_before.is_some_and(|t| t > now)
    }

    /// The state every API shows at `now`: WAITING while a dispatched task waits for its
    /// `not_before`, else its state.
    pub fn shown_state(&self, now: DateTime<Utc>) -> TaskState {
        if self.delayed_at(now) { TaskState::Waiting } else { self.state }
    }
}

/// A task's last reported progress.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProgressView {
    /// The attempt that reported it.
    pub attempt: u32,
    /// 0 to 1.
    pub fraction: f64,
    /// What the handler said.
    pub message: Option<String>,
    /// When it was recorded.
    pub recorded_at: DateTime<Utc>,
}

/// The read model of one graph run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GraphView {
    /// The run.
    pub graph_id: GraphId,
    /// Its name.
    pub name: Option<String>,
    /// The run's state.
    pub state: GraphState,
    /// Who submitted it.
    pub submitted_by: String,
    /// When.
    pub submitted_at: DateTime<Utc>,
    /// When it ended.
    pub finished_at: Option<DateTime<Utc>>,
    /// Someone asked to cancel it.
    pub cancel_requested: bool,
    /// How many tasks it has.
    pub tasks_total: u64,
    /// How many of them are terminal.
    pub tasks_terminal: u64,
    /// How many ended FAILURE.
    pub tasks_failed: u64,
    /// The ledger position of `GraphSubmitted`: the listing order.
    pub seq: u64,
    /// The graph stream version this row reflects.
    pub version: u64,
    /// The run this one reruns (`rerunGraph`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forked_from: Option<ForkedFrom>,
}

/// What applying one event did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// The row moved to this event's version.
    Changed,
    /// The row already reflects this version (a duplicate): nothing changed.
    Duplicate,
    /// Events are missing before this one: read the stream from `from_version` and apply those first.
    Gap {
        /// The stream's first missing version.
        from_version: u64,
    },
}

/// A set of rows: all of them for tests and rebuilds, the touched ones inside a store batch.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Model {
    /// Task rows.
    pub tasks: BTreeMap<TaskId, TaskView>,
    /// Graph rows.
    pub graphs: BTreeMap<GraphId, GraphView>,
}

fn placeholder(task_id: TaskId, graph_id: GraphId, at: DateTime<Utc>) -> TaskView {
    TaskView {
        task_id,
        graph_id,
        key: String::new(),
        name: String::new(),
        state: TaskState::Waiting,
        spec_args: Vec::new(),
        args: None,
        results: None,
        error: None,
        attempts: 0,
        worker_id: None,
        retry_at: None,
        label_selector: LabelSelector::new(),
        retry_count: 0,
        retry_backoff_ms: aurora_schemas::spec::DEFAULT_RETRY_BACKOFF_MS,
        timeout_ms: None,
        created_at: at,
        updated_at: at,
        version: 0,
        progress: None,
        not_before: None,
        priority: 0,
        reused_from: None,
    }
}

impl Model {
    /// Applies one event. Rows the event touches must be loaded (a missing row means "none yet").
    pub fn apply(&mut self, e: &Event) -> Applied {
        match e.task_id {
            Some(task_id) => self.apply_task(task_id, e),
            None => self.apply_graph(e),
        }
    }

    fn apply_task(&mut self, task_id: TaskId, e: &Event) -> Applied {
        let row = self.tasks.entry(task_id).or_insert_with(|| placeholder(task_id, e.graph_id, e.recorded_at));
        if e.version <= row.version {
            return Applied::Duplicate;
        }
        if e.version > row.version + 1 {
            return Applied::Gap { from_version: row.version + 1 };
        }
        let Some(next) = TaskState::after(e.event_type()) else {
            return Applied::Duplicate;
        };
        let was_terminal = row.state.is_terminal();
        row.version = e.version;
        row.state = next;
        row.updated_at = row.updated_at.max(e.recorded_at);
        row.created_at = row.created_at.min(e.recorded_at);
        match &e.data {
            EventData::TaskPending {
                key,
                name,
                args,
                label_selector,
                retry_count,
                retry_backoff_ms,
                timeout_ms,
                not_before,
                priority,
            } => {
                row.not_before = *not_before;
                row.priority = *priority;
                row.key.clone_from(key);
                row.name.clone_from(name);
                row.args = Some(args.clone());
                row.label_selector.clone_from(label_selector);
                row.retry_count = *retry_count;
                row.retry_backoff_ms = *retry_backoff_ms;
                row.timeout_ms = *timeout_ms;
            }
            EventData::TaskReceived { attempt, worker_id, .. } => {
                row.attempts = row.attempts.max(*attempt);
                row.worker_id = Some(worker_id.clone());
                row.retry_at = None;
                row.progress = None;
            }
            EventData::TaskProgress { attempt, fraction, message } => {
                row.progress = Some(ProgressView {
                    attempt: *attempt,
                    fraction: *fraction,
                    message: message.clone(),
                    recorded_at: e.recorded_at,
                });
            }
            EventData::TaskRetry { error, retry_at, .. } => {
                row.error = Some(error.clone());
                row.retry_at = Some(*retry_at);
            }
            EventData::TaskSucceeded { results, .. } => {
                row.results = Some(results.clone());
                row.error = None;
            }
            EventData::TaskFailed { error, .. } => row.error = Some(error.clone()),
            EventData::TaskCancelled { reason } => {
                row.error = Some(reason.clone().unwrap_or_else(|| "cancelled".to_string()));
            }
            EventData::TaskSkipped { upstream } => {
                row.error = Some(format!("skipped: upstream task `{upstream}` failed"));
            }
            EventData::TaskReused { key, name, results, source } => {
                row.key.clone_from(key);
                row.name.clone_from(name);
                row.results = Some(results.clone());
                row.reused_from = Some(source.clone());
            }
            _ => {}
        }
        let (now_terminal, failed) = (row.state.is_terminal(), row.state == TaskState::Failure);
        if now_terminal
            && !was_terminal
            && let Some(g) = self.graphs.get_mut(&e.graph_id)
        {
            g.tasks_terminal += 1;
            g.tasks_failed += u64::from(failed);
        }
        Applied::Changed
    }

    fn apply_graph(&mut self, e: &Event) -> Applied {
        let current = self.graphs.get(&e.graph_id).map(|g| g.version).unwrap_or(0);
        if e.version <= current {
            return Applied::Duplicate;
        }
        if e.version > current + 1 {
            return Applied::Gap { from_version: current + 1 };
        }
        if let EventData::GraphSubmitted { spec, submitter, forked_from, .. } = &e.data {
            let mut view = GraphView {
                graph_id: e.graph_id,
                name: spec.name.clone(),
                state: GraphState::Running,
                submitted_by: submitter.clone(),
                submitted_at: e.recorded_at,
                finished_at: None,
                cancel_requested: false,
                tasks_total: spec.tasks.len() as u64,
                tasks_terminal: 0,
                tasks_failed: 0,
                seq: e.position,
                version: 1,
                forked_from: forked_from.clone(),
            };
            for task in &spec.tasks {
                let id = TaskId::derive(e.graph_id, &task.key);
                let row = self.tasks.entry(id).or_insert_with(|| placeholder(id, e.graph_id, e.recorded_at));
                row.key.clone_from(&task.key);
                row.name.clone_from(&task.name);
                row.spec_args.clone_from(&task.args);
                row.created_at = row.created_at.min(e.recorded_at);
                row.updated_at = row.updated_at.max(e.recorded_at);
                // Task events seen before the graph's own (any interleaving is allowed).
                view.tasks_terminal += u64::from(row.state.is_terminal());
                view.tasks_failed += u64::from(row.state == TaskState::Failure);
            }
            self.graphs.insert(e.graph_id, view);
            return Applied::Changed;
        }
        let Some(g) = self.graphs.get_mut(&e.graph_id) else {
            return Applied::Gap { from_version: 1 };
        };
        g.version = e.version;
        if matches!(e.data, EventData::GraphCancelRequested { .. }) {
            g.cancel_requested = true;
        }
        if let Some(state) = GraphState::after(e.event_type()) {
            g.state = state;
            if state.is_terminal() {
                g.finished_at = Some(e.recorded_at);
            }
        }
        Applied::Changed
    }
}

/// The rows of a run as they stood at `at` (all of them when `None`): built by the same
/// [`Model::apply`] from the run's events (in ledger order) up to the first one recorded after
/// `at`. Cutting the ledger's order, not each stream's, keeps the view one the ledger actually
/// passed through even when processes' clocks disagree (a successor is never shown dispatched
/// before the success that dispatched it).
pub fn as_of(events: &[Event], at: Option<DateTime<Utc>>) -> Model {
    let mut model = Model::default();
    for e in recorded_by(events, at) {
        model.apply(e);
    }
    model
}

/// The events (in ledger order) the ledger had passed through at `at`: those before the first one
/// recorded after it (all of them when `None`).
pub fn recorded_by(events: &[Event], at: Option<DateTime<Utc>>) -> &[Event] {
    let end = at.and_then(|at| events.iter().position(|e| e.recorded_at > at)).unwrap_or(events.len());
    &events[..end]
}

#[cfg(test)]
mod tests;
