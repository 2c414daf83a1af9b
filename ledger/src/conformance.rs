//! The conformance suite every [`Ledger`] implementation must pass: a plain async function run
//! against each store (`SqliteLedger` here, the MongoDB store in its own crate's tests).

#![allow(clippy::unwrap_used)] // a test suite: a panic is a failed case

use crate::subscribe::{Scope, subscribe};
use crate::{AppendRequest, Error, Ledger};
use aurora_schemas::event::EventData;
use aurora_schemas::hash::verify_chain;
use aurora_schemas::{Event, EventMeta, GraphId, NewEvent, TaskId};
use std::future::Future;
use std::sync::Arc;

fn started(g: GraphId, t: TaskId, attempt: u32) -> NewEvent {
    NewEvent::task(g, t, EventData::TaskStarted { attempt }, EventMeta::default())
}

/// Appends `n` events to a fresh task stream and returns them.
pub async fn append_started(ledger: &dyn Ledger, n: u32) -> Vec<Event> {
    let g = GraphId::new();
    let t = TaskId::derive(g, "t");
    let events = (1..=n).map(|i| started(g, t, i)).collect();
    ledger.append(AppendRequest::new(0, events)).await.expect("append to a new stream")
}

/// Runs every case against fresh ledgers made by `make`.
pub async fn run<F, Fut>(make: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Arc<dyn Ledger>>,
{
    versions_positions_and_chain(make().await).await;
    conflicts_write_nothing(make().await).await;
    multi_stream_appends_are_atomic(make().await).await;
    racing_appends_have_one_winner(make().await).await;
    reads_by_stream_graph_and_position(make().await).await;
    subscriptions_have_no_gap_and_no_duplicate(make().await).await;
    malformed_requests_are_refused(make().await).await;
    stale_fencing_tokens_are_refused(make().await).await;
}

/// A lease holder's appends are refused once a greater token of the same lease has appended;
/// other leases and unfenced appends are not affected.
async fn stale_fencing_tokens_are_refused(ledger: Arc<dyn Ledger>) {
    let g = GraphId::new();
    let fenced =
        |lease: &str, token: u64| crate::FencedLedger::new(ledger.clone(), crate::Fence { lease: lease.into(), token });
    let append = |via: crate::FencedLedger, key: &str| {
        let t = TaskId::derive(g, key);
        async move { via.append(AppendRequest::new(0, vec![started(g, t, 1)])).await }
    };
    let first = append(fenced("projector/0", 2), "a").await.expect("the first holder appends");
    assert_eq!(first[0].meta.fencing_token, Some(2), "the token is stamped on the event");
    append(fenced("projector/0", 2), "b").await.expect("the same holder appends again");
    append(fenced("projector/0", 3), "c").await.expect("its successor appends");
    let refused = append(fenced("projector/0", 2), "d").await.unwrap_err();
    assert!(refused.is_fenced(), "the old holder is fenced out: {refused}");
    assert!(refused.to_string().contains("token 2 is fenced out by token 3"), "{refused}");
    assert!(ledger.read_stream(&TaskId::derive(g, "d").stream(), 1).await.unwrap().is_empty(), "nothing written");
    append(fenced("projector/1", 1), "e").await.expect("another lease has its own tokens");
    let t = TaskId::derive(g, "f");
    ledger.append(AppendRequest::new(0, vec![started(g, t, 1)])).await.expect("unfenced appends go on");
}

async fn versions_positions_and_chain(ledger: Arc<dyn Ledger>) {
    let events = append_started(ledger.as_ref(), 3).await;
    assert_eq!(events.iter().map(|e| e.version).collect::<Vec<_>>(), vec![1, 2, 3]);
    assert!(events.windows(2).all(|w| w[0].position < w[1].position), "positions increase");
    verify_chain(&events).expect("a fresh stream verifies");
    let more = ledger
        .append(AppendRequest::new(3, vec![started(events[0].graph_id, events[0].task_id.expect("task"), 4)]))
        .await
        .expect("append at the head");
    assert_eq!(more[0].version, 4);
    assert_eq!(more[0].prev_hash, events[2].hash, "the chain continues across appends");
    let all = ledger.read_stream(&events[0].stream, 1).await.expect("read");
    verify_chain(&all).expect("the whole stream verifies");
    assert_eq!(ledger.head().await.expect("head"), more[0].position);
}

async fn conflicts_write_nothing(ledger: Arc<dyn Ledger>) {
    let events = append_started(ledger.as_ref(), 2).await;
    let (g, t) = (events[0].graph_id, events[0].task_id.expect("task"));
    for expected in [0, 1, 3] {
        let err = ledger.append(AppendRequest::new(expected, vec![started(g, t, 9)])).await.unwrap_err();
        assert_eq!(err, Error::Conflict { stream: t.stream(), expected, actual: 2 });
    }
    assert_eq!(ledger.read_stream(&t.stream(), 1).await.expect("read").len(), 2);
}

async fn multi_stream_appends_are_atomic(ledger: Arc<dyn Ledger>) {
    let existing = append_started(ledger.as_ref(), 1).await;
    let g = existing[0].graph_id;
    let fresh = TaskId::derive(g, "fresh");
    let batch = vec![
        AppendRequest::new(0, vec![started(g, fresh, 1)]),
        AppendRequest::new(0, vec![started(g, existing[0].task_id.expect("task"), 1)]), // conflicts
    ];
    assert!(ledger.append_all(batch).await.unwrap_err().is_conflict());
    assert!(ledger.read_stream(&fresh.stream(), 1).await.expect("read").is_empty(), "nothing of a failed batch");
    let ok = ledger
        .append_all(vec![
            AppendRequest::new(0, vec![started(g, fresh, 1)]),
            AppendRequest::new(1, vec![started(g, existing[0].task_id.expect("task"), 2)]),
        ])
        .await
        .expect("both at the right versions");
    assert_eq!(ok.len(), 2);
}

async fn racing_appends_have_one_winner(ledger: Arc<dyn Ledger>) {
    let g = GraphId::new();
    let t = TaskId::derive(g, "race");
    let attempts = (0..16).map(|i| {
        let ledger = ledger.clone();
        tokio::spawn(async move { ledger.append(AppendRequest::new(0, vec![started(g, t, i)])).await })
    });
    let results = futures::future::join_all(attempts).await;
    let wins = results.iter().filter(|r| matches!(r, Ok(Ok(_)))).count();
    let conflicts = results.iter().filter(|r| matches!(r, Ok(Err(e)) if e.is_conflict())).count();
    assert_eq!((wins, conflicts), (1, 15));
    // Many streams at once (group commit) all succeed.
    let many = (0..200).map(|i| {
        let ledger = ledger.clone();
        tokio::spawn(async move {
            ledger.append(AppendRequest::new(0, vec![started(g, TaskId::derive(g, &format!("m{i}")), 1)])).await
        })
    });
    for r in futures::future::join_all(many).await {
        r.expect("join").expect("independent streams never conflict");
    }
}

async fn reads_by_stream_graph_and_position(ledger: Arc<dyn Ledger>) {
    let g = GraphId::new();
    let other = append_started(ledger.as_ref(), 2).await;
    let (a, b) = (TaskId::derive(g, "a"), TaskId::derive(g, "b"));
    ledger.append(AppendRequest::new(0, vec![started(g, a, 1), started(g, a, 2)])).await.expect("a");
    ledger.append(AppendRequest::new(0, vec![started(g, b, 1)])).await.expect("b");
    ledger.append(AppendRequest::new(2, vec![started(g, a, 3)])).await.expect("a again");
    let graph = ledger.read_graph(g).await.expect("graph");
    assert_eq!(graph.len(), 4);
    assert!(graph.iter().all(|e| e.graph_id == g));
    assert!(graph.windows(2).all(|w| w[0].position < w[1].position));
    let rest = ledger.read_graph_after(g, graph[1].position, usize::MAX).await.expect("graph after");
    let page = ledger.read_graph_after(g, 0, 2).await.expect("a page");
    assert_eq!(
        page.iter().map(|e| e.position).collect::<Vec<_>>(),
        graph[..2].iter().map(|e| e.position).collect::<Vec<_>>(),
        "the first page, in order"
    );
    assert_eq!(rest, graph[2..], "only the graph's events after the position");
    let tail = ledger.read_stream(&a.stream(), 2).await.expect("tail");
    assert_eq!(tail.iter().map(|e| e.version).collect::<Vec<_>>(), vec![2, 3]);
    let after_other = ledger.read_from(other[1].position, 2).await.expect("page");
    assert_eq!(after_other.len(), 2, "limit is honoured");
    assert_eq!(after_other[0].graph_id, g);
    assert_eq!(ledger.read_from(0, 100).await.expect("all").len(), 6);
}

async fn subscriptions_have_no_gap_and_no_duplicate(ledger: Arc<dyn Ledger>) {
    let g = GraphId::new();
    for i in 0..5 {
        ledger
            .append(AppendRequest::new(0, vec![started(g, TaskId::derive(g, &format!("h{i}")), 1)]))
            .await
            .expect("h");
    }
    let mut all = subscribe(ledger.clone(), Scope::All, 0);
    let mut graph_only = subscribe(ledger.clone(), Scope::Graph(g), 0);
    let writer = {
        let ledger = ledger.clone();
        tokio::spawn(async move {
            for i in 0..50 {
                let other = GraphId::new();
                let (gg, key) = if i % 2 == 0 { (g, format!("l{i}")) } else { (other, "x".to_string()) };
                ledger
                    .append(AppendRequest::new(0, vec![started(gg, TaskId::derive(gg, &key), 1)]))
                    .await
                    .expect("live");
            }
        })
    };
    let mut seen = Vec::new();
    while seen.len() < 55 {
        seen.push(
            tokio::time::timeout(std::time::Duration::from_secs(10), all.next())
                .await
                .expect("in time")
                .expect("event"),
        );
    }
    writer.await.expect("writer");
    let stored = ledger.read_from(0, 1000).await.expect("all");
    assert_eq!(seen, stored, "exactly the stored events, in position order");
    let mut mine = Vec::new();
    while mine.len() < 30 {
        mine.push(graph_only.next().await.expect("event"));
    }
    assert!(mine.iter().all(|e| e.graph_id == g));
    assert!(mine.windows(2).all(|w| w[0].position < w[1].position));
    let from_middle = subscribe(ledger.clone(), Scope::All, stored[9].position);
    let mut from_middle = from_middle;
    assert_eq!(from_middle.next().await.expect("event"), stored[10]);
}

async fn malformed_requests_are_refused(ledger: Arc<dyn Ledger>) {
    let g = GraphId::new();
    let err = ledger
        .append(AppendRequest { stream: g.stream(), expected: 0, events: vec![], fence: None })
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Invalid(_)), "{err}");
    let t = TaskId::derive(g, "t");
    let err = ledger
        .append(AppendRequest { stream: g.stream(), expected: 0, events: vec![started(g, t, 1)], fence: None })
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Invalid(_)), "an event for another stream: {err}");
}
