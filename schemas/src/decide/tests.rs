//! Given a run's events (its spec, what succeeded, a task's stream), when something happens, then
//! these events are appended — every branch of the write side's decisions, with time given
//! explicitly (`now`), so each case is exact and repeatable.

use super::attempt::{Failure, RetryPolicy, outcome, takeover};
use super::frontier::{cancels, graph_end, pending, ready_after_success, results_needed, skips};
use super::shape::{Progress, Topology};
use crate::event::{EventData, EventMeta, FailureKind, NewEvent};
use crate::{EdgeSpec, Event, GraphId, GraphSpec, TaskId, TaskSpec, TypedValue};
use chrono::{DateTime, TimeZone, Utc};
use std::collections::HashMap;

fn int(n: i64) -> TypedValue {
    TypedValue::new("int64", n)
}

/// A run of `tasks` (key, passes results) and `edges`, nothing succeeded yet.
struct Given {
    topo: Topology,
    progress: Progress,
    results: HashMap<String, Vec<TypedValue>>,
}

fn given(tasks: &[(&str, bool)], edges: &[(&str, &str)]) -> Given {
    let spec = GraphSpec {
        tasks: tasks
            .iter()
            .map(|(k, pass)| TaskSpec {
                key: k.to_string(),
                name: "add".into(),
                args: vec![int(0)],
                pass_results: *pass,
                ..Default::default()
            })
            .collect(),
        edges: edges.iter().map(|(f, t)| EdgeSpec { from: f.to_string(), to: t.to_string() }).collect(),
        ..Default::default()
    }
    .normalized();
    let topo = Topology::new(spec);
    let progress = Progress::new(&topo, |_| false);
    Given { topo, progress, results: HashMap::new() }
}

impl Given {
    /// When `key` succeeds with `results`: what the frontier appends (the `TaskPending` of every
    /// successor it made ready, by key).
    fn when_succeeds(&mut self, key: &str, results: Vec<TypedValue>) -> Vec<(String, Vec<TypedValue>)> {
        self.results.insert(key.to_string(), results);
        let index = self.topo.index_of(key).expect("a task of the run");
        let ready = ready_after_success(&self.topo, &mut self.progress, index);
        ready
            .into_iter()
            .map(|s| match pending(&self.topo, s, &self.results) {
                EventData::TaskPending { key, args, .. } => (key, args),
                other => panic!("a successor is dispatched with TaskPending, not {other:?}"),
            })
            .collect()
    }
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 2, 10, 0, 0).single().expect("a valid time")
}

fn boom() -> Failure {
    Failure::Retryable { error: "boom".into(), kind: FailureKind::HandlerError }
}

fn policy(retries: u32) -> RetryPolicy {
    RetryPolicy { retry_count: retries, retry_backoff_ms: 1_000 }
}

#[test]
fn success_dispatches_every_successor_it_makes_ready() {
    let mut run = given(&[("a", false), ("b", false), ("c", false)], &[("a", "b"), ("a", "c")]);
    assert_eq!(run.when_succeeds("a", vec![int(3)]), [("b".into(), vec![int(0)]), ("c".into(), vec![int(0)])]);
    assert_eq!(run.when_succeeds("b", vec![]), [], "b has no successors");
}

#[test]
fn fan_in_waits_for_the_last_predecessor() {
    let mut run = given(&[("a", false), ("b", false), ("join", false)], &[("a", "join"), ("b", "join")]);
    assert_eq!(run.when_succeeds("a", vec![int(1)]), [], "join still waits for b");
    assert_eq!(run.when_succeeds("b", vec![int(2)]), [("join".into(), vec![int(0)])]);
}

#[test]
fn pass_results_appends_predecessors_results_in_edge_order() {
    // Edges b → join before a → join: b's results come first, whatever order they finished in.
    let mut run = given(&[("a", false), ("b", false), ("join", true)], &[("b", "join"), ("a", "join")]);
    assert_eq!(results_needed(&run.topo, 2), ["b", "a"]);
    run.when_succeeds("a", vec![int(1)]);
    assert_eq!(run.when_succeeds("b", vec![int(2), int(3)]), [("join".into(), vec![int(0), int(2), int(3), int(1)])]);
}

#[test]
fn a_duplicate_success_proposes_the_same_dispatch_and_counts_nothing_twice() {
    let mut run = given(&[("a", false), ("b", false), ("j", false)], &[("a", "j"), ("b", "j")]);
    assert_eq!(run.when_succeeds("a", vec![]), []);
    assert_eq!(run.when_succeeds("a", vec![]), [], "a's second success does not stand in for b's");
    assert_eq!(run.when_succeeds("b", vec![]).len(), 1);
    assert_eq!(run.when_succeeds("b", vec![]).len(), 1, "re-deciding proposes the same (the ledger refuses it)");
}

#[test]
fn a_failure_with_retries_left_retries_after_the_backoff() {
    match outcome(1, Err(boom()), policy(2), Some("trace".into()), now(), 1.0) {
        EventData::TaskRetry { attempt: 1, retry_at, timed_out: false, traceback: Some(t), error } => {
            assert_eq!(retry_at - now(), chrono::Duration::milliseconds(1_000));
            assert_eq!((t.as_str(), error.as_str()), ("trace", "boom"));
        }
        other => panic!("{other:?}"),
    }
    match outcome(2, Err(boom()), policy(2), None, now(), 1.2) {
        EventData::TaskRetry { retry_at, .. } => assert_eq!(retry_at - now(), chrono::Duration::milliseconds(2_400)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_final_failure_fails_the_task_and_skips_its_descendants() {
    let last = outcome(3, Err(boom()), policy(2), None, now(), 1.0);
    assert!(
        matches!(last, EventData::TaskFailed { attempt: Some(3), kind: FailureKind::HandlerError, .. }),
        "{last:?}"
    );
    let bad = Failure::Final { error: "bad args".into(), kind: FailureKind::BadArgs };
    assert!(matches!(
        outcome(1, Err(bad), policy(5), None, now(), 1.0),
        EventData::TaskFailed { kind: FailureKind::BadArgs, .. }
    ));
    let run = given(&[("a", false), ("b", false), ("c", false), ("d", false)], &[("a", "b"), ("b", "c"), ("a", "d")]);
    let mut skipped: Vec<(String, EventData)> = skips(&run.topo, "b");
    skipped.sort_by(|x, y| x.0.cmp(&y.0));
    assert_eq!(skipped, [("c".to_string(), EventData::TaskSkipped { upstream: "b".into() })], "only b's descendants");
    assert_eq!(skips(&run.topo, "a").len(), 3);
}

#[test]
fn success_records_the_results() {
    assert_eq!(
        outcome(2, Ok(vec![int(7)]), policy(3), None, now(), 1.0),
        EventData::TaskSucceeded { attempt: 2, results: vec![int(7)] }
    );
}

#[test]
fn a_timeout_retries_as_the_workers_own_then_fails_as_a_timeout() {
    let t = Failure::Retryable { error: "timed out after 50 ms".into(), kind: FailureKind::Timeout };
    assert!(matches!(
        outcome(1, Err(t.clone()), policy(1), None, now(), 1.0),
        EventData::TaskRetry { timed_out: true, .. }
    ));
    assert!(matches!(
        outcome(2, Err(t), policy(1), None, now(), 1.0),
        EventData::TaskFailed { kind: FailureKind::Timeout, .. }
    ));
}

#[test]
fn cancel_cancels_every_unfinished_task_at_its_version_then_the_run_ends_cancelled() {
    let g = GraphId::new();
    let (a, b) = (TaskId::derive(g, "a"), TaskId::derive(g, "b"));
    let c = cancels([(a, 3), (b, 1)], Some("operator"));
    assert_eq!(c.len(), 2);
    assert_eq!((c[0].0, c[0].1), (a, 3));
    assert_eq!(c[1].2, EventData::TaskCancelled { reason: Some("operator".into()) });
    assert_eq!(graph_end(false, true, 3, 2, vec![]), None, "a task is unfinished");
    assert_eq!(graph_end(false, true, 3, 3, vec!["x".into()]), Some(EventData::GraphCancelled { reason: None }));
    assert_eq!(
        graph_end(false, false, 2, 2, vec!["b".into(), "a".into()]),
        Some(EventData::GraphFailed { failed: vec!["a".into(), "b".into()] })
    );
    assert_eq!(graph_end(false, false, 2, 2, vec![]), Some(EventData::GraphSucceeded {}));
    assert_eq!(graph_end(true, false, 2, 2, vec![]), None, "an ended run ends once");
}

fn stream(data: Vec<EventData>) -> Vec<Event> {
    let g = GraphId::new();
    let t = TaskId::derive(g, "a");
    let mut prev = String::new();
    data.into_iter()
        .enumerate()
        .map(|(i, d)| {
            let e = NewEvent::task(g, t, d, EventMeta::default()).seal(i as u64 + 1, now(), prev.clone());
            prev = e.hash.clone();
            e
        })
        .collect()
}

#[test]
fn a_redelivered_order_of_an_open_attempt_is_taken_over_as_the_next_attempt() {
    let task = TaskSpec { key: "a".into(), name: "add".into(), ..Default::default() };
    let open = stream(vec![
        EventData::pending(&task, vec![]),
        EventData::TaskReceived { attempt: 1, worker_id: "w1".into(), takeover: false },
        EventData::TaskStarted { attempt: 1 },
    ]);
    assert_eq!(takeover(true, &open), Some((3, 2)), "appended at version 3 as attempt 2");
}

#[test]
fn a_duplicate_order_is_dropped() {
    let task = TaskSpec { key: "a".into(), name: "add".into(), ..Default::default() };
    let open = stream(vec![
        EventData::pending(&task, vec![]),
        EventData::TaskReceived { attempt: 1, worker_id: "w1".into(), takeover: false },
    ]);
    assert_eq!(takeover(false, &open), None, "not redelivered: another copy was claimed first");
    let done = stream(vec![
        EventData::pending(&task, vec![]),
        EventData::TaskReceived { attempt: 1, worker_id: "w1".into(), takeover: false },
        EventData::TaskStarted { attempt: 1 },
        EventData::TaskSucceeded { attempt: 1, results: vec![] },
    ]);
    assert_eq!(takeover(true, &done), None, "the task ended: nothing to take over");
    assert_eq!(
        takeover(true, &stream(vec![EventData::pending(&task, vec![])])),
        None,
        "not claimed yet: no conflict to take over"
    );
}
