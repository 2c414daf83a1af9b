//! What the dispatcher hands the broker and the worker receives: one order to run one attempt.

use crate::ids::{GraphId, TaskId};
use crate::selector::QueueKey;
use crate::value::TypedValue;
use serde::{Deserialize, Serialize};

/// An order to run a task. The worker claims it by appending `TaskReceived` at `version + 1`
/// (expected version `version`), so two copies of the same order cannot both run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskOrder {
    /// The task.
    pub task_id: TaskId,
    /// Its graph.
    pub graph_id: GraphId,
    /// The task's key in its graph (for handlers' logs).
    #[serde(default)]
    pub key: String,
    /// The stream version the order was made at.
    pub version: u64,
    /// The attempt this order starts (1 for the first).
    pub attempt: u32,
    /// The queue it travels on.
    pub queue: QueueKey,
    /// The handler's args.
    pub args: Vec<TypedValue>,
    /// Retries after the first attempt.
    pub retry_count: u32,
    /// Base retry delay.
    pub retry_backoff_ms: u64,
    /// Start-to-close timeout of one attempt.
    pub timeout_ms: Option<u64>,
    /// 0 to 9: among ready orders of one queue, higher is delivered first.
    #[serde(default)]
    pub priority: u8,
    /// The attempt that was running at `version` was interrupted (its holder died): take over.
    #[serde(default)]
    pub takeover: bool,
    /// W3C trace context of the run ([`crate::trace`]). Travels as the `traceparent` header of
    /// the broker's message, not in the body, so tracing-aware tools see it.
    #[serde(skip)]
    pub traceparent: Option<String>,
}
