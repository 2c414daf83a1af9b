//! Invariant 5: read models are a pure function of the per-stream sequences.

use super::*;
use aurora_schemas::{EdgeSpec, EventMeta, GraphSpec, NewEvent, TaskSpec};
use proptest::prelude::*;

/// A finished run of a diamond with a retry, as the ledger would hold it (per-stream order).
fn history() -> Vec<Event> {
    let g = GraphId::new();
    let spec = GraphSpec {
        tasks: ["a", "b", "c", "d"]
            .iter()
            .map(|k| TaskSpec { key: k.to_string(), name: "add".into(), ..Default::default() })
            .collect(),
        edges: vec![("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")]
            .into_iter()
            .map(|(f, t)| EdgeSpec { from: f.into(), to: t.into() })
            .collect(),
        ..Default::default()
    }
    .normalized();
    let mut out = Vec::new();
    let mut pos = 0;
    let mut push = |ne: NewEvent, version: u64, out: &mut Vec<Event>| {
        pos += 1;
        let mut e = ne.seal(version, Utc::now(), String::new());
        e.position = pos;
        out.push(e);
    };
    let meta = EventMeta::default;
    push(
        NewEvent::graph(
            g,
            EventData::GraphSubmitted {
                spec: spec.clone(),
                spec_hash: "h".into(),
                submitter: "admin".into(),
                idempotency_key: None,
                forked_from: None,
            },
            meta(),
        ),
        1,
        &mut out,
    );
    for (i, key) in ["a", "b", "c", "d"].iter().enumerate() {
        let t = TaskId::derive(g, key);
        let task = spec.task(key).expect("task");
        let mut v = 0;
        let mut next = |data: EventData, out: &mut Vec<Event>| {
            v += 1;
            push(NewEvent::task(g, t, data, meta()), v, out);
        };
        next(EventData::pending(task, vec![]), &mut out);
        next(EventData::TaskReceived { attempt: 1, worker_id: "w".into(), takeover: false }, &mut out);
        next(EventData::TaskStarted { attempt: 1 }, &mut out);
        if i == 1 {
            next(
                EventData::TaskRetry {
                    attempt: 1,
                    error: "boom".into(),
                    retry_at: Utc::now(),
                    timed_out: false,
                    traceback: None,
                },
                &mut out,
            );
            next(EventData::TaskReceived { attempt: 2, worker_id: "w".into(), takeover: false }, &mut out);
            next(EventData::TaskStarted { attempt: 2 }, &mut out);
        }
        next(EventData::TaskSucceeded { attempt: 1, results: vec![TypedValue::new("int64", i as i64)] }, &mut out);
    }
    push(NewEvent::graph(g, EventData::GraphSucceeded {}, meta()), 2, &mut out);
    out
}

fn build(events: &[Event]) -> Model {
    let mut m = Model::default();
    for e in events {
        assert!(!matches!(m.apply(e), Applied::Gap { .. }), "no gap when per-stream order is kept");
    }
    m
}

/// Interleaves the streams of `events` by `choices`, keeping each stream's order, with duplicates.
fn interleave(events: &[Event], choices: &[usize], dups: &[usize]) -> Vec<Event> {
    let mut streams: BTreeMap<String, std::collections::VecDeque<Event>> = BTreeMap::new();
    for e in events {
        streams.entry(e.stream.0.clone()).or_default().push_back(e.clone());
    }
    let mut out = Vec::new();
    let mut i = 0;
    while streams.values().any(|q| !q.is_empty()) {
        let live: Vec<String> = streams.iter().filter(|(_, q)| !q.is_empty()).map(|(k, _)| k.clone()).collect();
        let pick = &live[choices.get(i).copied().unwrap_or(0) % live.len()];
        let e = streams.get_mut(pick).and_then(|q| q.pop_front()).expect("non-empty");
        if dups.contains(&i) {
            out.push(e.clone());
        }
        out.push(e);
        i += 1;
    }
    out
}

#[test]
fn a_finished_run_reads_as_expected() {
    let m = build(&history());
    let g = m.graphs.values().next().expect("graph");
    assert_eq!((g.state, g.tasks_total, g.tasks_terminal, g.tasks_failed), (GraphState::Success, 4, 4, 0));
    let b = m.tasks.values().find(|t| t.key == "b").expect("b");
    assert_eq!((b.state, b.attempts, b.version), (TaskState::Success, 2, 7));
    assert_eq!(b.error, None, "a later success clears the retry's error");
}

#[test]
fn a_gap_is_reported_not_skipped() {
    let events = history();
    let mut m = Model::default();
    m.apply(&events[0]);
    let third_of_a = events.iter().filter(|e| e.task_id.is_some()).nth(2).expect("event");
    assert_eq!(m.apply(third_of_a), Applied::Gap { from_version: 1 });
}

proptest! {
    #[test]
    fn any_interleaving_with_duplicates_gives_the_same_model(
        choices in proptest::collection::vec(0usize..16, 0..40),
        dups in proptest::collection::vec(0usize..40, 0..8),
    ) {
        let events = history();
        let expected = build(&events);
        let shuffled = interleave(&events, &choices, &dups);
        prop_assert_eq!(build(&shuffled), expected);
    }
}

/// As-of: the rows at a moment are the rows of the events recorded up to it (that instant
/// included), nothing before the submission, everything after the end.
#[test]
fn as_of_a_moment_is_the_model_of_the_events_up_to_it() {
    let base = Utc::now();
    let mut events = history();
    for (i, e) in events.iter_mut().enumerate() {
        e.recorded_at = base + chrono::Duration::milliseconds(10 * i as i64);
    }
    assert_eq!(as_of(&events, None), build(&events));
    assert!(as_of(&events, Some(base - chrono::Duration::milliseconds(1))).graphs.is_empty());
    for k in 0..events.len() {
        let at = events[k].recorded_at;
        assert_eq!(as_of(&events, Some(at)), build(&events[..=k]), "at event {k}");
    }
    let end = events.last().map(|e| e.recorded_at).unwrap_or(base);
    assert_eq!(as_of(&events, Some(end + chrono::Duration::hours(1))), build(&events));
}

/// With clocks that disagree (event 5 stamped before event 4 by another process), a moment shows
/// a prefix of the ledger's order: never event 5 without event 4.
#[test]
fn as_of_cuts_the_ledgers_order_not_each_stream() {
    let base = Utc::now();
    let mut events = history();
    for (i, e) in events.iter_mut().enumerate() {
        e.recorded_at = base + chrono::Duration::milliseconds(10 * i as i64);
    }
    events[5].recorded_at = events[4].recorded_at - chrono::Duration::milliseconds(5);
    assert_eq!(as_of(&events, Some(events[5].recorded_at)), build(&events[..4]));
    assert_eq!(as_of(&events, Some(events[4].recorded_at)), build(&events[..6]));
}
