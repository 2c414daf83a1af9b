//! Given the events of a source run, when a rerun is planned, then these tasks are reused, run
//! again, or ready at once.

use super::*;
use aurora_schemas::{EdgeSpec, EventMeta, NewEvent, TaskSpec};
use chrono::Utc;

fn spec(tasks: &[(&str, bool)], edges: &[(&str, &str)]) -> GraphSpec {
    GraphSpec {
        tasks: tasks
            .iter()
            .map(|(k, pass)| TaskSpec {
                key: (*k).into(),
                name: "add".into(),
                args: vec![TypedValue::new("int64", 1)],
                pass_results: *pass,
                ..Default::default()
            })
            .collect(),
        edges: edges.iter().map(|(f, t)| EdgeSpec { from: (*f).into(), to: (*t).into() }).collect(),
        ..Default::default()
    }
}

/// A source run of `spec` in which the tasks in `succeeded` succeeded with results `[key-length]`,
/// those in `failed` failed, the rest were skipped, and the run ended.
fn given(spec: &GraphSpec, succeeded: &[&str], failed: &[&str]) -> (GraphId, Vec<Event>) {
    let g = GraphId::new();
    let mut position = 0;
    let mut events = Vec::new();
    let mut seal = |ne: NewEvent, version: u64| {
        position += 1;
        let mut e = ne.seal(version, Utc::now(), String::new());
        e.position = position;
        e
    };
    let submitted = EventData::GraphSubmitted {
        spec: spec.clone(),
        spec_hash: "h".into(),
        submitter: "alice".into(),
        idempotency_key: Some("first".into()),
        forked_from: None,
    };
    events.push(seal(NewEvent::graph(g, submitted, EventMeta::default()), 1));
    for task in &spec.tasks {
        let t = TaskId::derive(g, &task.key);
        let end = if succeeded.contains(&task.key.as_str()) {
            EventData::TaskSucceeded { attempt: 1, results: vec![TypedValue::new("string", task.key.clone())] }
        } else if failed.contains(&task.key.as_str()) {
            EventData::TaskFailed {
                attempt: Some(1),
                error: "boom".into(),
                kind: aurora_schemas::event::FailureKind::HandlerError,
                traceback: None,
            }
        } else {
            EventData::TaskSkipped { upstream: "x".into() }
        };
        events.push(seal(NewEvent::task(g, t, end, EventMeta::default()), 1));
    }
    let end = if failed.is_empty() { EventData::GraphSucceeded {} } else { EventData::GraphFailed { failed: vec![] } };
    events.push(seal(NewEvent::graph(g, end, EventMeta::default()), 2));
    (g, events)
}

fn keys(reused: &[Reuse]) -> Vec<&str> {
    reused.iter().map(|r| r.key.as_str()).collect()
}

#[test]
fn without_from_what_failed_and_its_descendants_run_and_the_successes_are_reused() {
    // a → b → c, a → d; b failed, c skipped.
    let s = spec(&[("a", false), ("b", true), ("c", false), ("d", false)], &[("a", "b"), ("b", "c"), ("a", "d")]);
    let (g, events) = given(&s, &["a", "d"], &["b"]);
    let p = plan(g, &events, &Request::default()).unwrap();
    assert_eq!(keys(&p.reused), ["a", "d"]);
    assert_eq!(p.rerun, ["b", "c"]);
    // b passes results: its args get a's reused results, as the frontier would have given them.
    assert_eq!(p.ready, vec![("b".to_string(), vec![TypedValue::new("int64", 1), TypedValue::new("string", "a")])]);
    let a = &p.reused[0];
    let source = events.iter().find(|e| e.task_id == Some(TaskId::derive(g, "a"))).unwrap();
    assert_eq!((a.source.event_id, &a.source.hash, a.source.version), (source.id, &source.hash, 1));
    assert_eq!(a.source.graph, g);
    assert_eq!(p.position, events.last().unwrap().position);
    assert_eq!(p.spec.idempotency_key, None, "the source's idempotency key is not the rerun's");
}

#[test]
fn from_reruns_a_succeeded_task_and_its_descendants_only() {
    let s = spec(&[("a", false), ("b", false), ("c", false)], &[("a", "b"), ("a", "c")]);
    let (g, events) = given(&s, &["a", "b", "c"], &[]);
    let p = plan(g, &events, &Request { from: vec!["b".into()], ..Default::default() }).unwrap();
    assert_eq!(keys(&p.reused), ["a", "c"]);
    assert_eq!(p.rerun, ["b"]);
    assert_eq!(p.ready.len(), 1);
    let p = plan(g, &events, &Request { from: vec!["a".into()], ..Default::default() }).unwrap();
    assert!(p.reused.is_empty());
    assert_eq!(p.rerun, ["a", "b", "c"]);
    assert_eq!(p.ready.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(), ["a"], "b and c wait for a");
}

#[test]
fn an_override_changes_the_spec_and_reruns_its_task() {
    let s = spec(&[("a", false), ("b", false)], &[("a", "b")]);
    let (g, events) = given(&s, &["a"], &["b"]);
    let o = TaskOverride {
        key: "b".into(),
        name: Some("echo".into()),
        args: Some(vec![TypedValue::new("string", "fixed")]),
        retry_count: Some(2),
        timeout_ms: Some(500),
        ..Default::default()
    };
    let p = plan(g, &events, &Request { overrides: vec![o], ..Default::default() }).unwrap();
    let b = p.spec.tasks.iter().find(|t| t.key == "b").unwrap();
    assert_eq!((b.name.as_str(), b.retry_count, b.timeout_ms), ("echo", 2, Some(500)));
    assert_eq!(p.ready, vec![("b".to_string(), vec![TypedValue::new("string", "fixed")])]);
    assert_eq!(keys(&p.reused), ["a"]);
    assert_eq!(p.spec.tasks.iter().find(|t| t.key == "a"), s.tasks.first(), "a is unchanged");
}

#[test]
fn a_rerun_of_a_rerun_points_at_the_reuse_it_took_the_results_from() {
    let s = spec(&[("a", false), ("b", false)], &[("a", "b")]);
    let (g, mut events) = given(&s, &["b"], &[]);
    // a was itself reused in this run.
    let a = TaskId::derive(g, "a");
    let idx = events.iter().position(|e| e.task_id == Some(a)).unwrap();
    let reuse = EventData::TaskReused {
        key: "a".into(),
        name: "add".into(),
        results: vec![TypedValue::new("int64", 7)],
        source: SourceEvent {
            graph: GraphId::new(),
            stream: a.stream(),
            version: 4,
            event_id: uuid::Uuid::now_v7(),
            hash: "x".into(),
        },
    };
    events[idx].data = reuse;
    let p = plan(g, &events, &Request { from: vec!["b".into()], ..Default::default() }).unwrap();
    assert_eq!(p.reused[0].results, vec![TypedValue::new("int64", 7)]);
    assert_eq!(p.reused[0].source.graph, g, "the source is the run forked from, not its own source");
    assert_eq!(p.reused[0].source.event_id, events[idx].id);
}

#[test]
fn refusals_name_what_is_wrong() {
    let s = spec(&[("a", false), ("b", false)], &[("a", "b")]);
    let (g, events) = given(&s, &["a", "b"], &[]);
    let err = plan(g, &events, &Request::default()).unwrap_err();
    assert!(err.contains("nothing would run again") && err.contains("from"), "{err}");
    let err = plan(g, &events, &Request { from: vec!["zz".into()], ..Default::default() }).unwrap_err();
    assert!(err.contains("from: run") && err.contains("no task `zz`") && err.contains("a, b"), "{err}");
    let twice = vec![TaskOverride { key: "a".into(), ..Default::default() }; 2];
    let err = plan(g, &events, &Request { overrides: twice, ..Default::default() }).unwrap_err();
    assert!(err.contains("overridden twice"), "{err}");
    let unknown = vec![TaskOverride { key: "q".into(), ..Default::default() }];
    let err = plan(g, &events, &Request { overrides: unknown, ..Default::default() }).unwrap_err();
    assert!(err.contains("overrides: run") && err.contains("no task `q`"), "{err}");
    // Still running: the last event (the graph's end) not there yet.
    let err = plan(g, &events[..events.len() - 1], &Request::default()).unwrap_err();
    assert!(err.contains("still running"), "{err}");
    let err = plan(g, &[], &Request::default()).unwrap_err();
    assert!(err.contains("no submission"), "{err}");
}
