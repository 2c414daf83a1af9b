//! Outcomes for attempts that are not in flight on the connection that carried them (a worker
//! resending after a reconnect, or one that finished after its attempt was cancelled): which
//! protocol rule applies (§7.2 of `docs/worker-protocol.md`) is a pure function of the task's
//! stream; recording is a conditional append at the stream's version.

use super::link::Reported;
use aurora_ledger::{AppendRequest, Ledger};
use aurora_schemas::decide::attempt::{self as decide, Failure, RetryPolicy};
use aurora_schemas::event::{EventData, FailureKind};
use aurora_schemas::signature::Signature;
use aurora_schemas::{Event, EventMeta, HandlerInfo, NewEvent, TaskId, TaskState, TypedValue};
use chrono::Utc;
use rand::Rng;

/// What to do with a worker's outcome of one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Rule 1: a worker's outcome of this attempt is recorded already; `rejected` is the message
    /// of a recorded rejection (`bad_results`).
    Recorded {
        /// The rejection's message, if the recorded outcome was one.
        rejected: Option<String>,
    },
    /// Rule 2: the attempt is open; record the outcome at `version`.
    Open {
        /// The stream's version the outcome is appended at.
        version: u64,
        /// The task's retry policy.
        policy: RetryPolicy,
        /// The task's handler.
        handler: String,
    },
    /// Rule 3: the task moved on without this attempt; record nothing.
    Superseded(String),
}

/// Which rule applies to an outcome of `attempt`, given the task's whole stream.
pub fn judge(stream: &[Event], attempt: u32) -> Verdict {
    let Some(pending) = stream.iter().find_map(|e| match &e.data {
        EventData::TaskPending { name, retry_count, retry_backoff_ms, .. } => {
            Some((name.clone(), RetryPolicy { retry_count: *retry_count, retry_backoff_ms: *retry_backoff_ms }))
        }
        _ => None,
    }) else {
        return Verdict::Superseded("no such task".into());
    };
    for e in stream {
        match &e.data {
            EventData::TaskSucceeded { attempt: a, .. } if *a == attempt => {
                return Verdict::Recorded { rejected: None };
            }
            EventData::TaskRetry { attempt: a, timed_out: false, .. } if *a == attempt => {
                return Verdict::Recorded { rejected: None };
            }
            EventData::TaskFailed { attempt: Some(a), kind, error, .. }
                if *a == attempt && *kind != FailureKind::Timeout =>
            {
                let rejected = (*kind == FailureKind::BadResults).then(|| error.clone());
                return Verdict::Recorded { rejected };
            }
            _ => {}
        }
    }
    let last_claimed = stream
        .iter()
        .filter_map(|e| match e.data {
            EventData::TaskReceived { attempt, .. } => Some(attempt),
            _ => None,
        })
        .max();
    let state = TaskState::of_stream(stream);
    match last_claimed {
        Some(a) if a == attempt && matches!(state, TaskState::Received | TaskState::Started) => {
            Verdict::Open { version: stream.len() as u64, policy: pending.1, handler: pending.0 }
        }
        Some(a) if a > attempt => Verdict::Superseded(format!("attempt {a} took the task over")),
        Some(a) if a == attempt && state == TaskState::Cancelled => Verdict::Superseded("the run was cancelled".into()),
        Some(a) if a == attempt => Verdict::Superseded("the attempt timed out; its timeout was recorded".into()),
        _ => Verdict::Superseded(format!("no attempt {attempt} was claimed")),
    }
}

/// The failure to record for results that break `declared` (the worker's declaration of the
/// task's handler on this connection), if they do.
pub fn check_results(declared: Option<&HandlerInfo>, results: &[TypedValue]) -> Result<(), String> {
    let mut types = Vec::with_capacity(results.len());
    for (i, r) in results.iter().enumerate() {
        types.push(r.check().map_err(|e| format!("result {i}: {e}"))?);
    }
    let Some(info) = declared else { return Ok(()) };
    let signature = Signature::parse(&info.result_types).map_err(|e| e.to_string())?;
    signature.check(&types).map_err(|m| format!("{}: the results do not fit its declared results: {m}", info.name))
}

/// How a resent outcome ended: the ack's status and message.
pub type Ack = (&'static str, Option<String>);

/// Records `reported` for `attempt` of `task` if its attempt is open, as `worker_id`; answers with
/// the ack to send. `declared` finds this connection's declaration of a handler.
pub async fn record(
    ledger: &dyn Ledger,
    task: TaskId,
    attempt: u32,
    reported: Reported,
    worker_id: &str,
    declared: impl Fn(&str) -> Option<HandlerInfo>,
) -> Result<Ack, aurora_ledger::Error> {
    for _ in 0..4 {
        let stream = ledger.read_stream(&task.stream(), 1).await?;
        let (version, policy, handler) = match judge(&stream, attempt) {
            Verdict::Recorded { rejected: None } => return Ok(("recorded", None)),
            Verdict::Recorded { rejected: Some(m) } => return Ok(("rejected", Some(m))),
            Verdict::Superseded(m) => return Ok(("superseded", Some(m))),
            Verdict::Open { version, policy, handler } => (version, policy, handler),
        };
        let Some(graph_id) = stream.first().map(|e| e.graph_id) else { return Ok(("superseded", None)) };
        let (result, traceback, rejected) = match &reported {
            Reported::Result(results) => match check_results(declared(&handler).as_ref(), results) {
                Ok(()) => (Ok(results.iter().cloned().map(TypedValue::normalized).collect()), None, None),
                Err(m) => (Err(Failure::Final { error: m.clone(), kind: FailureKind::BadResults }), None, Some(m)),
            },
            Reported::Failure { error, retry, traceback } => {
                let kind = FailureKind::HandlerError;
                let failure = if *retry {
                    Failure::Retryable { error: error.clone(), kind }
                } else {
                    Failure::Final { error: error.clone(), kind }
                };
                (Err(failure), traceback.clone(), None)
            }
        };
        let jitter = rand::thread_rng().gen_range(0.8..1.2);
        let data = decide::outcome(attempt, result, policy, traceback, Utc::now(), jitter);
        let meta = EventMeta {
            actor: Some(format!("worker:{worker_id}")),
            correlation_id: Some(graph_id.0),
            worker_id: Some(worker_id.to_string()),
            trace_id: Some(aurora_schemas::trace::trace_id(graph_id)),
            ..Default::default()
        };
        let event = NewEvent::task(graph_id, task, data, meta);
        match ledger.append(AppendRequest::new(version, vec![event])).await {
            Ok(_) => {
                tracing::info!(task_id = %task, attempt, worker_id, "recorded a resent outcome");
                return Ok(match rejected {
                    Some(m) => ("rejected", Some(m)),
                    None => ("recorded", None),
                });
            }
            Err(e) if e.is_conflict() => continue, // the task moved meanwhile: judge again
            Err(e) => return Err(e),
        }
    }
    Ok(("superseded", Some("the task kept changing while the outcome was recorded".into())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aurora_schemas::{GraphId, LabelSelector};

    fn stream(events: Vec<EventData>) -> Vec<Event> {
        let graph = GraphId(uuid::Uuid::nil());
        let task = TaskId(uuid::Uuid::nil());
        events
            .into_iter()
            .enumerate()
            .map(|(i, data)| Event {
                id: uuid::Uuid::now_v7(),
                position: i as u64 + 1,
                stream: task.stream(),
                version: i as u64 + 1,
                graph_id: graph,
                task_id: Some(task),
                schema_version: 1,
                data,
                meta: EventMeta::default(),
                recorded_at: Utc::now(),
                prev_hash: String::new(),
                hash: String::new(),
            })
            .collect()
    }

    fn pending() -> EventData {
        EventData::TaskPending {
            key: "a".into(),
            name: "resize".into(),
            args: vec![],
            label_selector: LabelSelector::default(),
            retry_count: 2,
            retry_backoff_ms: 500,
            timeout_ms: None,
            not_before: None,
            priority: 0,
        }
    }

    fn claimed(attempt: u32) -> [EventData; 2] {
        [
            EventData::TaskReceived { attempt, worker_id: "remote-1".into(), takeover: attempt > 1 },
            EventData::TaskStarted { attempt },
        ]
    }

    #[test]
    fn an_open_attempt_is_recorded_at_the_streams_version_under_the_tasks_policy() {
        let mut s = vec![pending()];
        s.extend(claimed(1));
        s.push(EventData::TaskProgress { attempt: 1, fraction: 0.5, message: None });
        let v = judge(&stream(s), 1);
        assert_eq!(
            v,
            Verdict::Open {
                version: 4,
                policy: RetryPolicy { retry_count: 2, retry_backoff_ms: 500 },
                handler: "resize".into()
            }
        );
    }

    #[test]
    fn an_outcome_recorded_before_is_acked_again_and_a_rejection_stays_one() {
        let mut s = vec![pending()];
        s.extend(claimed(1));
        s.push(EventData::TaskSucceeded { attempt: 1, results: vec![] });
        assert_eq!(judge(&stream(s.clone()), 1), Verdict::Recorded { rejected: None });
        s.pop();
        s.push(EventData::TaskFailed {
            attempt: Some(1),
            error: "result 0 must be string".into(),
            kind: FailureKind::BadResults,
            traceback: None,
        });
        assert_eq!(judge(&stream(s), 1), Verdict::Recorded { rejected: Some("result 0 must be string".into()) });
    }

    #[test]
    fn timeouts_cancellations_takeovers_and_unknown_attempts_supersede() {
        let mut timed_out = vec![pending()];
        timed_out.extend(claimed(1));
        timed_out.push(EventData::TaskRetry {
            attempt: 1,
            error: "timed out".into(),
            retry_at: Utc::now(),
            timed_out: true,
            traceback: None,
        });
        assert!(matches!(judge(&stream(timed_out), 1), Verdict::Superseded(m) if m.contains("timed out")));
        let mut cancelled = vec![pending()];
        cancelled.extend(claimed(1));
        cancelled.push(EventData::TaskCancelled { reason: None });
        assert!(matches!(judge(&stream(cancelled), 1), Verdict::Superseded(m) if m.contains("cancelled")));
        let mut taken = vec![pending()];
        taken.extend(claimed(1));
        taken.extend(claimed(2));
        assert!(matches!(judge(&stream(taken.clone()), 1), Verdict::Superseded(m) if m.contains("attempt 2")));
        assert!(matches!(judge(&stream(taken), 3), Verdict::Superseded(m) if m.contains("no attempt 3")));
        assert!(matches!(judge(&[], 1), Verdict::Superseded(m) if m == "no such task"));
    }

    #[test]
    fn results_are_checked_against_the_declaration_when_there_is_one() {
        let info = HandlerInfo {
            name: "resize".into(),
            usage: String::new(),
            arg_types: vec![],
            result_types: vec!["string".into()],
        };
        let int: TypedValue = serde_json::from_value(serde_json::json!({"type": "int64", "value": 3})).expect("value");
        let err = check_results(Some(&info), std::slice::from_ref(&int)).unwrap_err();
        assert!(err.starts_with("resize: the results do not fit"), "{err}");
        assert_eq!(check_results(None, &[int]), Ok(()));
    }
}
