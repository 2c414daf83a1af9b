//! Given two runs' events, when they are compared, then what differs is named per task.

use super::*;
use aurora_schemas::event::{FailureKind, ForkedFrom, SourceEvent};
use aurora_schemas::{EdgeSpec, EventMeta, NewEvent, TaskSpec, TypedValue};
use chrono::Utc;

fn spec(keys: &[&str], edges: &[(&str, &str)]) -> GraphSpec {
    GraphSpec {
        tasks: keys.iter().map(|k| TaskSpec { key: k.to_string(), name: "add".into(), ..Default::default() }).collect(),
        edges: edges.iter().map(|(f, t)| EdgeSpec { from: f.to_string(), to: t.to_string() }).collect(),
        ..Default::default()
    }
}

/// Builds a run's events; each task's steps are given as event payloads, `ms` apart.
struct Given {
    graph: GraphId,
    events: Vec<Event>,
    versions: BTreeMap<String, u64>,
    clock: chrono::DateTime<Utc>,
}

impl Given {
    fn run(spec: &GraphSpec, forked_from: Option<ForkedFrom>) -> Self {
        let graph = GraphId::new();
        let mut me = Self { graph, events: Vec::new(), versions: BTreeMap::new(), clock: Utc::now() };
        let data = EventData::GraphSubmitted {
            spec: spec.clone(),
            spec_hash: "h".into(),
            submitter: "alice".into(),
            idempotency_key: None,
            forked_from,
        };
        me.push(NewEvent::graph(graph, data, EventMeta::default()), 0);
        me
    }

    fn push(&mut self, ne: NewEvent, after_ms: i64) -> &Event {
        let stream = ne.stream().0;
        let version = self.versions.entry(stream).or_insert(0);
        *version += 1;
        self.clock += chrono::Duration::milliseconds(after_ms);
        let mut e = ne.seal(*version, self.clock, String::new());
        e.position = self.events.len() as u64 + 1;
        self.events.push(e);
        self.events.last().expect("just pushed")
    }

    fn task(&mut self, key: &str, args: i64, end: EventData, ran_ms: i64) -> &mut Self {
        let t = TaskId::derive(self.graph, key);
        let task = TaskSpec { key: key.into(), name: "add".into(), ..Default::default() };
        let steps = [
            (EventData::pending(&task, vec![TypedValue::new("int64", args)]), 1),
            (EventData::TaskReceived { attempt: 1, worker_id: "w".into(), takeover: false }, 1),
            (EventData::TaskStarted { attempt: 1 }, 1),
            (end, ran_ms),
        ];
        for (data, ms) in steps {
            self.push(NewEvent::task(self.graph, t, data, EventMeta::default()), ms);
        }
        self
    }

    fn reused(&mut self, key: &str, results: Vec<TypedValue>, from: GraphId) -> &mut Self {
        let t = TaskId::derive(self.graph, key);
        let source = SourceEvent {
            graph: from,
            stream: t.stream(),
            version: 4,
            event_id: uuid::Uuid::now_v7(),
            hash: "x".into(),
        };
        let data = EventData::TaskReused { key: key.into(), name: "add".into(), results, source };
        self.push(NewEvent::task(self.graph, t, data, EventMeta::default()), 1);
        self
    }

    fn skipped(&mut self, key: &str) -> &mut Self {
        let t = TaskId::derive(self.graph, key);
        self.push(
            NewEvent::task(self.graph, t, EventData::TaskSkipped { upstream: "b".into() }, EventMeta::default()),
            1,
        );
        self
    }

    fn read(&self) -> Run {
        Run::of(self.graph, &self.events).expect("submitted")
    }
}

fn ok(n: i64) -> EventData {
    EventData::TaskSucceeded { attempt: 1, results: vec![TypedValue::new("int64", n)] }
}

fn failed() -> EventData {
    EventData::TaskFailed { attempt: Some(1), error: "boom".into(), kind: FailureKind::HandlerError, traceback: None }
}

fn changed<'a>(d: &'a Diff, key: &str) -> &'a [&'static str] {
    &d.tasks.iter().find(|t| t.key == key).expect("key").changed
}

#[test]
fn a_rerun_that_fixed_b_differs_at_b_and_its_descendants_and_not_at_the_reused_a() {
    let s = spec(&["a", "b", "c"], &[("a", "b"), ("b", "c")]);
    let mut first = Given::run(&s, None);
    first.task("a", 1, ok(1), 5).task("b", 0, failed(), 5).skipped("c");
    let mut rerun = Given::run(&s, Some(ForkedFrom { graph: first.graph, position: 9 }));
    rerun.reused("a", vec![TypedValue::new("int64", 1)], first.graph).task("b", 2, ok(3), 5).task("c", 3, ok(4), 5);
    let d = diff(&first.read(), &rerun.read(), Duration::from_secs(1));
    assert_eq!(changed(&d, "a"), &[] as &[&str], "reused: same results, its execution is the source's");
    assert_eq!(changed(&d, "b"), ["state", "args", "results", "error"]);
    // c was skipped, so it never ran: now it did.
    assert_eq!(changed(&d, "c"), ["state", "attempts", "args", "results", "error", "duration"]);
    let b = d.tasks.iter().find(|t| t.key == "b").expect("b");
    assert_eq!(b.before.as_ref().map(|v| v.state), Some(aurora_schemas::TaskState::Failure));
    assert_eq!(b.after.as_ref().map(|v| v.state), Some(aurora_schemas::TaskState::Success));
    assert!(d.edges_added.is_empty() && d.edges_removed.is_empty());
}

#[test]
fn durations_differ_only_beyond_the_tolerance() {
    let s = spec(&["a"], &[]);
    let mut quick = Given::run(&s, None);
    quick.task("a", 1, ok(1), 100);
    let mut slow = Given::run(&s, None);
    slow.task("a", 1, ok(1), 1_600);
    let (q, sl) = (quick.read(), slow.read());
    assert_eq!(q.durations["a"], Duration::from_millis(100));
    assert_eq!(changed(&diff(&q, &sl, Duration::from_secs(1)), "a"), ["duration"]);
    assert_eq!(changed(&diff(&q, &sl, Duration::from_secs(2)), "a"), &[] as &[&str]);
}

#[test]
fn tasks_and_edges_only_one_spec_has_are_named() {
    let mut one = Given::run(&spec(&["a", "b"], &[("a", "b")]), None);
    one.task("a", 1, ok(1), 1).task("b", 1, ok(1), 1);
    let mut two = Given::run(&spec(&["a", "c"], &[("a", "c")]), None);
    two.task("a", 1, ok(1), 1).task("c", 1, ok(1), 1);
    let d = diff(&one.read(), &two.read(), Duration::from_secs(1));
    assert_eq!(d.tasks.iter().map(|t| t.key.as_str()).collect::<Vec<_>>(), ["a", "b", "c"]);
    assert_eq!(changed(&d, "b"), ["removed"]);
    assert_eq!(changed(&d, "c"), ["added"]);
    assert_eq!(changed(&d, "a"), &[] as &[&str]);
    assert_eq!(d.edges_added, [("a".to_string(), "c".to_string())]);
    assert_eq!(d.edges_removed, [("a".to_string(), "b".to_string())]);
}
