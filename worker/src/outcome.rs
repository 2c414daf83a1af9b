//! What the end of an attempt records, decided without I/O: success, a retry (with its backoff and
//! jitter), or a final failure with its kind. The attempt runner and the remote-worker gateway
//! (which records outcomes a worker resends after a reconnect) decide the same way.

use aurora_schemas::event::{EventData, FailureKind};
use aurora_schemas::{TaskSpec, TypedValue};
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
pub fn decide(
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

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(retries: u32) -> RetryPolicy {
        RetryPolicy { retry_count: retries, retry_backoff_ms: 1000 }
    }

    fn boom() -> Failure {
        Failure::Retryable { error: "boom".into(), kind: FailureKind::HandlerError }
    }

    #[test]
    fn success_retry_and_final_failure() {
        let now = Utc::now();
        let ok = decide(1, Ok(vec![TypedValue::new("int64", 3)]), policy(0), None, now, 1.0);
        assert!(matches!(ok, EventData::TaskSucceeded { attempt: 1, .. }));
        match decide(1, Err(boom()), policy(2), Some("trace".into()), now, 1.0) {
            EventData::TaskRetry { attempt: 1, retry_at, timed_out: false, traceback: Some(t), .. } => {
                assert_eq!(retry_at - now, chrono::Duration::milliseconds(1000));
                assert_eq!(t, "trace");
            }
            other => panic!("{other:?}"),
        }
        match decide(2, Err(boom()), policy(2), None, now, 1.2) {
            EventData::TaskRetry { retry_at, .. } => assert_eq!(retry_at - now, chrono::Duration::milliseconds(2400)),
            other => panic!("{other:?}"),
        }
        let last = decide(3, Err(boom()), policy(2), None, now, 1.0);
        assert!(matches!(last, EventData::TaskFailed { attempt: Some(3), kind: FailureKind::HandlerError, .. }));
        let final_ = Failure::Final { error: "bad".into(), kind: FailureKind::BadArgs };
        assert!(matches!(
            decide(1, Err(final_), policy(5), None, now, 1.0),
            EventData::TaskFailed { kind: FailureKind::BadArgs, .. }
        ));
    }

    #[test]
    fn a_timeout_is_marked_as_the_workers_own() {
        let t = Failure::Retryable { error: "timed out".into(), kind: FailureKind::Timeout };
        assert!(matches!(
            decide(1, Err(t.clone()), policy(1), None, Utc::now(), 1.0),
            EventData::TaskRetry { timed_out: true, .. }
        ));
        assert!(matches!(
            decide(2, Err(t), policy(1), None, Utc::now(), 1.0),
            EventData::TaskFailed { kind: FailureKind::Timeout, .. }
        ));
    }
}
