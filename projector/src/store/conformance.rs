//! The conformance suite every [`ReadStore`] must pass (SQLite here, MongoDB with services).

#![allow(clippy::unwrap_used)] // a test suite: a panic is a failed case

use super::{GraphFilter, ReadStore};
use aurora_schemas::event::EventData;
use aurora_schemas::{
    Event, EventMeta, GraphId, GraphSpec, GraphState, NewEvent, TaskId, TaskSpec, TaskState, TypedValue,
};
use chrono::Utc;
use std::future::Future;
use std::sync::Arc;

/// A submitted graph of `n` tasks and, for its first task, pending → success; positions from `pos`.
pub(crate) fn run(n: usize, pos: &mut u64) -> (GraphId, Vec<Event>) {
    named_run(n, pos, None)
}

fn named_run(n: usize, pos: &mut u64, name: Option<&str>) -> (GraphId, Vec<Event>) {
    let g = GraphId::new();
    let spec = GraphSpec {
        name: name.map(str::to_string),
        tasks: (0..n).map(|i| TaskSpec { key: format!("t{i}"), name: "add".into(), ..Default::default() }).collect(),
        ..Default::default()
    }
    .normalized();
    let mut seal = |ne: NewEvent, v: u64, prev: &str| {
        *pos += 1;
        let mut e = ne.seal(v, Utc::now(), prev.to_string());
        e.position = *pos;
        e
    };
    let submitted = EventData::GraphSubmitted {
        spec: spec.clone(),
        spec_hash: "h".into(),
        submitter: "admin".into(),
        idempotency_key: None,
        forked_from: None,
    };
    let mut out = vec![seal(NewEvent::graph(g, submitted, EventMeta::default()), 1, "")];
    let t = TaskId::derive(g, "t0");
    let steps = [
        EventData::pending(&spec.tasks[0], vec![]),
        EventData::TaskReceived { attempt: 1, worker_id: "w".into(), takeover: false },
        EventData::TaskStarted { attempt: 1 },
        EventData::TaskSucceeded { attempt: 1, results: vec![TypedValue::new("int64", 1)] },
    ];
    for (i, data) in steps.into_iter().enumerate() {
        let prev = out.last().map(|e| e.hash.clone()).unwrap_or_default();
        out.push(seal(NewEvent::task(g, t, data, EventMeta::default()), i as u64 + 1, &prev));
    }
    (g, out)
}

/// Runs every case against fresh stores made by `make`.
pub async fn run_suite<F, Fut>(make: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Arc<dyn ReadStore>>,
{
    applying_twice_changes_nothing(make().await).await;
    queries_and_checkpoints(make().await).await;
}

async fn applying_twice_changes_nothing(store: Arc<dyn ReadStore>) {
    let mut pos = 0;
    let (g, events) = run(3, &mut pos);
    let batch = store.apply(events.clone()).await.unwrap();
    assert!(batch.gaps.is_empty());
    let first = store.dump().await.unwrap();
    store.apply(events.clone()).await.unwrap();
    store.apply(events[2..].to_vec()).await.unwrap();
    assert_eq!(store.dump().await.unwrap(), first, "re-applying is a no-op");
    let view = store.graph(g).await.unwrap().unwrap();
    assert_eq!((view.tasks_total, view.tasks_terminal, view.state), (3, 1, GraphState::Running));
    let t0 = store.task(TaskId::derive(g, "t0")).await.unwrap().unwrap();
    assert_eq!((t0.state, t0.version, t0.attempts), (TaskState::Success, 4, 1));
    let waiting = store.task(TaskId::derive(g, "t2")).await.unwrap().unwrap();
    assert_eq!((waiting.state, waiting.version), (TaskState::Waiting, 0));
    // A stream whose earlier events are missing is reported, not skipped.
    let mut pos2 = 100;
    let (_, other) = run(1, &mut pos2);
    let gap = store.apply(vec![other[0].clone(), other[3].clone()]).await.unwrap();
    assert_eq!(gap.gaps.len(), 1);
    assert_eq!(gap.gaps[0].from_version, 1);
}

async fn queries_and_checkpoints(store: Arc<dyn ReadStore>) {
    let mut pos = 0;
    let mut ids = Vec::new();
    for name in ["Nightly (ETL)", "adhoc", "nightly.*"] {
        let (g, events) = named_run(2, &mut pos, Some(name));
        store.apply(events[..3].to_vec()).await.unwrap(); // t0 left RECEIVED
        ids.push(g);
    }
    let all = GraphFilter::default();
    let page = store.graphs(&all, 2, None).await.unwrap();
    assert_eq!(page.iter().map(|g| g.graph_id).collect::<Vec<_>>(), vec![ids[2], ids[1]], "newest first");
    let next = store.graphs(&all, 2, Some(page[1].seq)).await.unwrap();
    assert_eq!(next.iter().map(|g| g.graph_id).collect::<Vec<_>>(), vec![ids[0]]);
    let success = GraphFilter { state: Some(GraphState::Success), ..Default::default() };
    assert!(store.graphs(&success, 10, None).await.unwrap().is_empty());
    let named = |n: &str| GraphFilter { name: Some(n.into()), ..Default::default() };
    let found = store.graphs(&named("NIGHTLY"), 10, None).await.unwrap();
    assert_eq!(found.iter().map(|g| g.graph_id).collect::<Vec<_>>(), vec![ids[2], ids[0]], "substring, any case");
    let literal = store.graphs(&named(".*"), 10, None).await.unwrap();
    assert_eq!(literal.iter().map(|g| g.graph_id).collect::<Vec<_>>(), vec![ids[2]], "the text is not a pattern");
    assert_eq!(store.graphs(&named("(etl)"), 10, None).await.unwrap().len(), 1);
    assert_eq!(store.unfinished_tasks().await.unwrap().len(), 3);
    assert_eq!(store.graph_tasks(ids[0]).await.unwrap().len(), 2);
    assert!(store.graph_spec(ids[0]).await.unwrap().is_some());
    assert_eq!(store.tasks(vec![TaskId::derive(ids[0], "t0"), TaskId::derive(ids[0], "t1")]).await.unwrap().len(), 2);
    assert_eq!(store.checkpoint("p").await.unwrap(), 0);
    store.save_checkpoint("p", 10).await.unwrap();
    store.save_checkpoint("p", 7).await.unwrap();
    assert_eq!(store.checkpoint("p").await.unwrap(), 10, "a checkpoint never moves back");
}
