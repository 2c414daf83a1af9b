//! Shared tails over a real (SQLite) ledger.

#![allow(clippy::unwrap_used)] // tests: a panic is a failed case

use super::*;
use aurora_ledger::{AppendRequest, SqliteLedger};
use aurora_schemas::event::EventData;
use aurora_schemas::{EventMeta, NewEvent, TaskId};
use std::time::Duration;

fn ledger() -> Arc<dyn Ledger> {
    Arc::new(SqliteLedger::scratch().unwrap())
}

/// Appends one event of task `key` of `g`; returns its position.
async fn task_event(ledger: &Arc<dyn Ledger>, g: GraphId, key: &str) -> u64 {
    let data = EventData::TaskReceived { attempt: 1, worker_id: "w".into(), takeover: false };
    let event = NewEvent::task(g, TaskId::derive(g, key), data, EventMeta::default());
    ledger.append(AppendRequest::new(0, vec![event])).await.unwrap()[0].position
}

/// Appends events of tasks `t{from}` … `t{to - 1}` of `g`; returns their positions.
async fn task_events(ledger: &Arc<dyn Ledger>, g: GraphId, keys: std::ops::Range<usize>) -> Vec<u64> {
    let mut positions = Vec::new();
    for i in keys {
        positions.push(task_event(ledger, g, &format!("t{i}")).await);
    }
    positions
}

async fn finish(ledger: &Arc<dyn Ledger>, g: GraphId) -> u64 {
    let event = NewEvent::graph(g, EventData::GraphSucceeded {}, EventMeta::default());
    ledger.append(AppendRequest::new(0, vec![event])).await.unwrap()[0].position
}

/// Every event a reader delivers until its stream ends, as positions.
async fn read_to_end(mut reader: Reader) -> Vec<u64> {
    let mut got = Vec::new();
    loop {
        match tokio::time::timeout(Duration::from_secs(10), reader.next()).await.expect("the tail ends in time") {
            Some(event) => got.push(event.unwrap().position.parse().unwrap()),
            None => return got,
        }
    }
}

/// Waits until `done` holds (the feed task lets go of its tail a moment after its last push).
async fn eventually(what: &str, done: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !done() {
        assert!(std::time::Instant::now() < deadline, "{what}: not within 5 s");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Subscribers of one run share one tail; each gets the history and the live events once, in
/// order, and its stream ends with the run's terminal event. Other runs' events are not theirs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_of_a_run_share_one_tail_and_see_every_event_once() {
    let ledger = ledger();
    let (g, other) = (GraphId::new(), GraphId::new());
    let mut ours = vec![task_event(&ledger, g, "a").await, task_event(&ledger, g, "b").await];
    task_event(&ledger, other, "x").await;
    let tails = Tails::new(ledger.clone());
    let (first, second) = (tails.read_after(g, 0), tails.read_after(g, 0));
    assert!(Arc::ptr_eq(&first.tail, &second.tail), "one tail per run");
    assert_eq!(tails.open(), 1);
    let held = first.tail.clone();
    let reading: Vec<_> = [first, second].into_iter().map(|r| tokio::spawn(read_to_end(r))).collect();
    // Live events, appended while they read.
    ours.push(task_event(&ledger, g, "c").await);
    task_event(&ledger, other, "y").await;
    ours.push(finish(&ledger, g).await);
    for r in reading {
        assert_eq!(r.await.unwrap(), ours);
    }
    // Read again after the end, from the tail's memory: the same events, then the end.
    assert_eq!(read_to_end(tails.read_after(g, 0)).await, ours);
    drop(held);
    eventually("the tail is gone with its last holder", || tails.open() == 0).await;
}

/// A subscriber resuming `after` a position gets only what came after it, whether the tail had
/// read that far when it joined or not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_resuming_after_a_position_gets_only_what_came_after_it() {
    let ledger = ledger();
    let g = GraphId::new();
    let mut positions = task_events(&ledger, g, 0..50).await;
    positions.push(finish(&ledger, g).await);
    let tails = Tails::new(ledger.clone());
    // Joins at once: the tail has not read the history yet.
    let resumed = tails.read_after(g, positions[39]);
    let held = resumed.tail.clone();
    assert_eq!(read_to_end(resumed).await, positions[40..]);
    // One resuming from before where the shared tail started reads the ledger itself, then joins.
    let late = tails.read_after(g, positions[9]);
    assert!(late.own.is_some(), "the tail keeps nothing before position {}", positions[39]);
    assert!(Arc::ptr_eq(&late.tail, &held));
    assert_eq!(read_to_end(late).await, positions[10..]);
}

/// A tail keeps a bounded number of events: readers behind what it keeps read the ledger on
/// their own and join it again, missing and repeating nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tail_keeps_a_bounded_window_and_readers_behind_it_miss_nothing() {
    let ledger = ledger();
    let g = GraphId::new();
    let mut positions = task_events(&ledger, g, 0..40).await;
    let tails = Tails::keeping(ledger.clone(), 5);
    let mut slow = tails.read_after(g, 0);
    // Let the feed read the history far past what it keeps.
    let tail = slow.tail.clone();
    eventually("the feed read the history", || {
        let inner = tail.lock();
        inner.dropped + inner.events.len() == 40
    })
    .await;
    assert_eq!(tail.lock().events.len(), 5, "only the latest 5 are kept");
    let first = slow.next().await.unwrap().unwrap();
    assert_eq!(first.position.parse::<u64>().unwrap(), positions[0], "from the ledger, the tail no longer has it");
    assert!(slow.own.is_some());
    let reading = tokio::spawn(async move {
        let mut rest = read_to_end(slow).await;
        rest.insert(0, first.position.parse().unwrap());
        rest
    });
    positions.extend(task_events(&ledger, g, 40..60).await);
    positions.push(finish(&ledger, g).await);
    assert_eq!(reading.await.unwrap(), positions);
}

/// The tail of a run nobody watches any more stops following the ledger.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unwatched_tail_stops_following_the_ledger() {
    let ledger = ledger();
    let g = GraphId::new();
    task_event(&ledger, g, "a").await;
    let tails = Tails::new(ledger.clone());
    let mut reader = tails.read_after(g, 0);
    let stop = reader.tail.stop.clone();
    assert!(reader.next().await.unwrap().is_ok());
    drop(reader);
    eventually("the feed is told to stop when the last holder leaves", || stop.is_cancelled()).await;
    assert_eq!(tails.open(), 0);
    // A new subscriber of the same run gets a new tail, from the start.
    let mut again = tails.read_after(g, 0);
    let first = again.next().await.unwrap().unwrap();
    assert_eq!(first.position, "1", "the new tail reads the run's history again");
}
