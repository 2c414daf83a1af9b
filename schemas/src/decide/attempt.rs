//! An attempt's decisions (DESIGN §3.3): whether an order may be claimed (a first claim at the
//! order's version, a takeover of an attempt whose holder vanished, or a duplicate to drop), and
//! what the end of an attempt records — success, a retry (with its backoff and jitter), or a final
//! failure with its kind (a timeout is a failure of kind `Timeout`). The attempt runner and the
//! remote-worker gateway (which records outcomes a worker resends after a reconnect) decide the
//! same way.

use crate::event::{Event, EventData, FailureKind};
use crate::{TaskSpec, TaskState, TypedValue};
use chrono::{DateTime, Utc};

/// Why an attempt did not succeed, and whether another attempt could help.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Worth retrying under the task's policy.
    Retryable {
        /// What went wrong.
        error: String,
        /// Its class (the kind recorded if no retry is left).
        kind: FailureKind,
    },
    /// Fails the task now, whatever retries are left.
    Final {
        /// What went wrong.
        error: String,
        /// Its class.
        kind: FailureKind,
    },
}

/// A task's retry policy, from its `TaskPending` (or its order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub retry_count: u32,
    /// The first retry's delay; each further one doubles, up to 60 s.
    pub retry_backoff_ms: u64,
}

/// The event that ends `attempt` with `outcome` at `now`; `jitter` (0.8 to 1.2) spreads retries.
pub fn outcome(
    attempt: u32,
    outcome: Result<Vec<TypedValue>, Failure>,
    policy: RetryPolicy,
    traceback: Option<String>,
    now: DateTime<Utc>,
    jitter: f64,
) -> EventData {
    match outcome {
        Ok(results) => EventData::TaskSucceeded { attempt, results },
        Err(Failure::Retryable { error, kind }) if attempt <= policy.retry_count => {
            let spec = TaskSpec { retry_backoff_ms: Some(policy.retry_backoff_ms), ..Default::default() };
            let delay = (spec.backoff_ms(attempt + 1) as f64 * jitter.clamp(0.8, 1.2)).min(60_000.0);
            EventData::TaskRetry {
                attempt,
                error,
                retry_at: now + chrono::Duration::milliseconds(delay as i64),
                timed_out: kind == FailureKind::Timeout,
                traceback,
            }
        }
        Err(Failure::Retryable { error, kind } | Failure::Final { error, kind }) => {
            EventData::TaskFailed { attempt: Some(attempt), error, kind, traceback }
        }
    }
}

/// What to do with an order whose claim at its version conflicted: `Some((at, attempt))` takes
/// over as a new attempt `attempt` appended at version `at` — only when the order may take over
/// (the broker redelivered it, its holder may have died; or it was re-ordered as a takeover) and
/// the task is still in an attempt (RECEIVED or STARTED); `None` drops it as a duplicate (another
/// copy was claimed, or the task moved on).
pub fn takeover(may_take_over: bool, stream: &[Event]) -> Option<(u64, u32)> {
    if !may_take_over || !matches!(TaskState::of_stream(stream), TaskState::Received | TaskState::Started) {
        return None;
    }
    let last = stream
        .iter()
        .filter_map(|e| match e.data {
            EventData::TaskReceived { attempt, .. } => Some(attempt),
            _ => None,
        })
        .max()
        .unwrap_or(0);
    Some((stream.len() as u64, last + 1))
}
