//! The ledger's event envelope and the event vocabulary (DESIGN §2).
//!
//! An [`Event`] is immutable once appended. Writers build a [`NewEvent`]; the ledger assigns the
//! version, position, timestamp and hash chain.

use crate::hash;
use crate::ids::{GraphId, StreamId, TaskId};
use crate::selector::LabelSelector;
use crate::spec::GraphSpec;
use crate::value::TypedValue;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The version of the payload schemas below; bumped when a payload changes incompatibly.
pub const SCHEMA_VERSION: u32 = 1;

/// Why a task failed for good.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// The handler returned an error (after all retries).
    HandlerError,
    /// An attempt ran longer than `timeoutMs` (after all retries).
    Timeout,
    /// No worker has the handler.
    HandlerMissing,
    /// No matching worker claimed the task within the schedule-to-start timeout.
    ScheduleToStartTimeout,
    /// The args did not fit the handler.
    BadArgs,
    /// The handler's results did not fit its declared result types.
    BadResults,
}

/// The payload of an event; its variant is the event's `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum EventData {
    /// The frozen, validated spec was accepted.
    GraphSubmitted {
        /// The normalized spec (defaults resolved).
        spec: GraphSpec,
        /// SHA-256 of the canonical spec.
        spec_hash: String,
        /// Who submitted it.
        submitter: String,
        /// The idempotency key, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        idempotency_key: Option<String>,
        /// The run this one reruns (`rerunGraph`), and the ledger position it was based on.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        forked_from: Option<ForkedFrom>,
    },
    /// Someone asked to cancel the run.
    GraphCancelRequested {
        /// Why, as given.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// Every task succeeded.
    GraphSucceeded {},
    /// A task failed for good; its descendants were skipped.
    GraphFailed {
        /// Keys of the tasks that failed.
        failed: Vec<String>,
    },
    /// The run was cancelled.
    GraphCancelled {
        /// Why, as given.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// Dispatched: eligible to run now, or at `not_before`.
    TaskPending {
        /// The task's key in its graph.
        key: String,
        /// The handler.
        name: String,
        /// The final args, predecessors' results appended when `passResults` is set.
        args: Vec<TypedValue>,
        /// Which workers may run it.
        label_selector: LabelSelector,
        /// Retries after the first attempt.
        retry_count: u32,
        /// Base retry delay.
        retry_backoff_ms: u64,
        /// Start-to-close timeout of one attempt.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timeout_ms: Option<u64>,
        /// The task is ordered (given to a worker) no earlier than this.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        not_before: Option<DateTime<Utc>>,
        /// 0 to 9: among ready tasks of one queue, higher runs first.
        #[serde(default, skip_serializing_if = "crate::event::is_zero")]
        priority: u8,
    },
    /// A worker claimed an attempt.
    TaskReceived {
        /// 1 for the first attempt.
        attempt: u32,
        /// The claiming worker.
        worker_id: String,
        /// The previous attempt's holder vanished and this one took over.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        takeover: bool,
    },
    /// The handler started.
    TaskStarted {
        /// The attempt.
        attempt: u32,
    },
    /// The handler reported how far the attempt is (the task stays STARTED).
    TaskProgress {
        /// The attempt.
        attempt: u32,
        /// 0 to 1.
        fraction: f64,
        /// What the handler says about it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    /// The attempt failed and another one is scheduled.
    TaskRetry {
        /// The failed attempt.
        attempt: u32,
        /// What went wrong.
        error: String,
        /// When the next attempt becomes eligible.
        retry_at: DateTime<Utc>,
        /// The attempt ran out of time (recorded by the worker, not reported by the handler).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        timed_out: bool,
        /// Diagnostic text from the handler (a stack trace).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        traceback: Option<String>,
    },
    /// The handler returned results.
    TaskSucceeded {
        /// The attempt.
        attempt: u32,
        /// Typed results.
        results: Vec<TypedValue>,
    },
    /// The task failed for good.
    TaskFailed {
        /// The last attempt, if one ran.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        attempt: Option<u32>,
        /// What went wrong.
        error: String,
        /// The class of failure.
        kind: FailureKind,
        /// Diagnostic text from the handler (a stack trace).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        traceback: Option<String>,
    },
    /// The run was cancelled before this task ended.
    TaskCancelled {
        /// Why, as given.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// An upstream task failed, so this one will never run.
    TaskSkipped {
        /// The key of the failed upstream task.
        upstream: String,
    },
    /// A rerun took this task's results from the run it forked from: it succeeded without
    /// running (terminal, like `TaskSucceeded`).
    TaskReused {
        /// The task's key in its graph.
        key: String,
        /// The handler (not called).
        name: String,
        /// The results, as the source run recorded them.
        results: Vec<TypedValue>,
        /// The source run's `TaskSucceeded` they were taken from.
        source: SourceEvent,
    },
}

/// Where a rerun came from: `GraphSubmitted.forked_from`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForkedFrom {
    /// The source run.
    pub graph: GraphId,
    /// The ledger position of the last source-run event the rerun was planned from.
    pub position: u64,
}

/// An event of another stream that a new event points at, verifiable by its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceEvent {
    /// The source run.
    pub graph: GraphId,
    /// The stream.
    pub stream: StreamId,
    /// Its version there.
    pub version: u64,
    /// Its id.
    pub event_id: Uuid,
    /// Its hash.
    pub hash: String,
}

/// The event type names, as stored in the envelope's `type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    #[allow(missing_docs)]
    GraphSubmitted,
    #[allow(missing_docs)]
    GraphCancelRequested,
    #[allow(missing_docs)]
    GraphSucceeded,
    #[allow(missing_docs)]
    GraphFailed,
    #[allow(missing_docs)]
    GraphCancelled,
    #[allow(missing_docs)]
    TaskPending,
    #[allow(missing_docs)]
    TaskReceived,
    #[allow(missing_docs)]
    TaskStarted,
    #[allow(missing_docs)]
    TaskProgress,
    #[allow(missing_docs)]
    TaskRetry,
    #[allow(missing_docs)]
    TaskSucceeded,
    #[allow(missing_docs)]
    TaskFailed,
    #[allow(missing_docs)]
    TaskCancelled,
    #[allow(missing_docs)]
    TaskSkipped,
    #[allow(missing_docs)]
    TaskReused,
}

impl EventType {
    /// The stored name, e.g. `TaskPending`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::GraphSubmitted => "GraphSubmitted",
            Self::GraphCancelRequested => "GraphCancelRequested",
            Self::GraphSucceeded => "GraphSucceeded",
            Self::GraphFailed => "GraphFailed",
            Self::GraphCancelled => "GraphCancelled",
            Self::TaskPending => "TaskPending",
            Self::TaskReceived => "TaskReceived",
            Self::TaskStarted => "TaskStarted",
            Self::TaskProgress => "TaskProgress",
            Self::TaskRetry => "TaskRetry",
            Self::TaskSucceeded => "TaskSucceeded",
            Self::TaskFailed => "TaskFailed",
            Self::TaskCancelled => "TaskCancelled",
            Self::TaskSkipped => "TaskSkipped",
            Self::TaskReused => "TaskReused",
        }
    }

    /// Whether the event ends its graph's run.
    pub fn ends_graph(self) -> bool {
        matches!(self, Self::GraphSucceeded | Self::GraphFailed | Self::GraphCancelled)
    }
}

impl EventData {
    /// The event's type.
    pub fn event_type(&self) -> EventType {
        match self {
            Self::GraphSubmitted { .. } => EventType::GraphSubmitted,
            Self::GraphCancelRequested { .. } => EventType::GraphCancelRequested,
            Self::GraphSucceeded {} => EventType::GraphSucceeded,
            Self::GraphFailed { .. } => EventType::GraphFailed,
            Self::GraphCancelled { .. } => EventType::GraphCancelled,
            Self::TaskPending { .. } => EventType::TaskPending,
            Self::TaskReceived { .. } => EventType::TaskReceived,
            Self::TaskStarted { .. } => EventType::TaskStarted,
            Self::TaskProgress { .. } => EventType::TaskProgress,
            Self::TaskRetry { .. } => EventType::TaskRetry,
            Self::TaskSucceeded { .. } => EventType::TaskSucceeded,
            Self::TaskFailed { .. } => EventType::TaskFailed,
            Self::TaskCancelled { .. } => EventType::TaskCancelled,
            Self::TaskSkipped { .. } => EventType::TaskSkipped,
            Self::TaskReused { .. } => EventType::TaskReused,
        }
    }

    /// Splits into the stored `type` name and `data` JSON.
    pub fn to_parts(&self) -> (&'static str, serde_json::Value) {
        let mut v = serde_json::to_value(self).expect("event payloads always serialise");
        let data = v.get_mut("data").map(serde_json::Value::take).unwrap_or_default();
        (self.event_type().as_str(), data)
    }

    /// Rebuilds a payload from its stored `type` name and `data` JSON.
    pub fn from_parts(ty: &str, data: serde_json::Value) -> Result<Self, serde_json::Error> {
        serde_json::from_value(serde_json::json!({ "type": ty, "data": data }))
    }
}

/// Who and what caused an event.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventMeta {
    /// The user or role that caused it (`admin`, `projector`, `worker:<id>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// The event that caused this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub causation_id: Option<Uuid>,
    /// The run this event belongs to (the graph id for everything Aurora appends).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<Uuid>,
    /// The W3C trace id, when tracing is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    /// The worker that appended it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker_id: Option<String>,
    /// The lease fencing token of the appender, where it holds one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fencing_token: Option<u64>,
}

/// An event before it is appended.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// Time-ordered id (UUIDv7).
    pub id: Uuid,
    /// The graph it belongs to.
    pub graph_id: GraphId,
    /// The task, for task-stream events.
    pub task_id: Option<TaskId>,
    /// The payload.
    pub data: EventData,
    /// Who and what caused it.
    pub meta: EventMeta,
    /// When it was first recorded, for an event carried over from another ledger (an import):
    /// sealed with this time instead of the appending ledger's clock, so its hash is unchanged.
    pub recorded_at: Option<DateTime<Utc>>,
}

impl NewEvent {
    /// An event of a graph stream.
    pub fn graph(graph_id: GraphId, data: EventData, meta: EventMeta) -> Self {
        Self { id: Uuid::now_v7(), graph_id, task_id: None, data, meta, recorded_at: None }
    }

    /// An event of a task stream.
    pub fn task(graph_id: GraphId, task_id: TaskId, data: EventData, meta: EventMeta) -> Self {
        Self { id: Uuid::now_v7(), graph_id, task_id: Some(task_id), data, meta, recorded_at: None }
    }

    /// The stream the event goes to.
    pub fn stream(&self) -> StreamId {
        match self.task_id {
            Some(t) => t.stream(),
            None => self.graph_id.stream(),
        }
    }

    /// `event` as it would be appended again elsewhere: same id, payload, meta and time.
    pub fn carried_over(event: &Event) -> Self {
        Self {
            id: event.id,
            graph_id: event.graph_id,
            task_id: event.task_id,
            data: event.data.clone(),
            meta: event.meta.clone(),
            recorded_at: Some(event.recorded_at),
        }
    }

    /// Seals the event at `version` after `prev_hash`, as the ledger does when it appends, at
    /// `recorded_at` (unless it carries its own time).
    pub fn seal(self, version: u64, recorded_at: DateTime<Utc>, prev_hash: String) -> Event {
        let recorded_at = self.recorded_at.unwrap_or(recorded_at);
        let mut event = Event {
            id: self.id,
            position: 0,
            stream: self.stream(),
            version,
            graph_id: self.graph_id,
            task_id: self.task_id,
            schema_version: SCHEMA_VERSION,
            data: self.data,
            meta: self.meta,
            recorded_at: hash::truncate_to_micros(recorded_at),
            prev_hash,
            hash: String::new(),
        };
        event.hash = hash::event_hash(&event);
        event
    }
}

/// An appended, immutable event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Time-ordered id (UUIDv7).
    pub id: Uuid,
    /// The ledger's global order (not part of the hash: a store may renumber on migration).
    pub position: u64,
    /// `graph:<uuid>` or `task:<uuid>`.
    pub stream: StreamId,
    /// Gapless within the stream, from 1.
    pub version: u64,
    /// The graph it belongs to.
    pub graph_id: GraphId,
    /// The task, for task-stream events.
    pub task_id: Option<TaskId>,
    /// The payload schema version.
    pub schema_version: u32,
    /// The payload; its variant is the type.
    pub data: EventData,
    /// Who and what caused it.
    pub meta: EventMeta,
    /// When the ledger accepted it (microsecond precision).
    pub recorded_at: DateTime<Utc>,
    /// The hash of the stream's previous event (empty for version 1).
    pub prev_hash: String,
    /// SHA-256 over `prev_hash` and the canonical event.
    pub hash: String,
}

impl Event {
    /// The event's type.
    pub fn event_type(&self) -> EventType {
        self.data.event_type()
    }
}

/// The frozen spec of the run whose events (any order) are `events`: its `GraphSubmitted`'s.
pub fn submitted_spec(events: &[Event]) -> Option<&GraphSpec> {
    events.iter().find_map(|e| match &e.data {
        EventData::GraphSubmitted { spec, .. } => Some(spec),
        _ => None,
    })
}

fn is_zero(p: &u8) -> bool {
    *p == 0
}

impl EventData {
    /// The `TaskPending` that dispatches `task` with its final `args`.
    pub fn pending(task: &crate::spec::TaskSpec, args: Vec<TypedValue>) -> Self {
        Self::TaskPending {
            key: task.key.clone(),
            name: task.name.clone(),
            args,
            label_selector: task.label_selector.clone().unwrap_or_default(),
            retry_count: task.retry_count,
            retry_backoff_ms: task.retry_backoff_ms.unwrap_or(crate::spec::DEFAULT_RETRY_BACKOFF_MS),
            timeout_ms: task.timeout_ms,
            not_before: task.not_before,
            priority: task.priority,
        }
    }
}
