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

/// Subscribers of one run share one tail; each gets the history and the live events once, in
/// order, and its stream ends with the run's terminal event. Other runs' events are not theirs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_of_a_run_share_one_tail_and_see_every_event_once() {
    let ledger = ledger();
    let (g, other) = (GraphId::new(), GraphId::new());
    let mut ours = vec![task_event(&ledger, g, "a").await, task_event(&ledger, g, "b").await];
    task_event(&ledger, other, "x").await;
    let tails = Tails::new(ledger.clone());
    let (first, second) = (tails.follow(g), tails.follow(g));
    assert!(Arc::ptr_eq(&first, &second), "one tail per run");
    assert_eq!(tails.open(), 1);
    let readers = [first.clone().read_after(0), second.read_after(0)];
    let reading: Vec<_> = readers.into_iter().map(|r| tokio::spawn(read_to_end(r))).collect();
    // Live events, appended while they read.
    ours.push(task_event(&ledger, g, "c").await);
    task_event(&ledger, other, "y").await;
    ours.push(finish(&ledger, g).await);
    for r in reading {
        assert_eq!(r.await.unwrap(), ours);
    }
    // Read again after the end, from the tail's memory: the same events, then the end.
    assert_eq!(read_to_end(first.clone().read_after(0)).await, ours);
    drop(first);
    assert_eq!(tails.open(), 0, "the tail is gone with its last holder");
}

/// A subscriber resuming `after` a position gets only what came after it, whether the tail had
/// read that far when it joined or not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_resuming_after_a_position_gets_only_what_came_after_it() {
    let ledger = ledger();
    let g = GraphId::new();
    let mut positions = Vec::new();
    for i in 0..50 {
        positions.push(task_event(&ledger, g, &format!("t{i}")).await);
    }
    positions.push(finish(&ledger, g).await);
    let tails = Tails::new(ledger.clone());
    // Joins at once: the tail has not read the history yet.
    let resumed = read_to_end(tails.follow(g).read_after(positions[39])).await;
    assert_eq!(resumed, positions[40..]);
}

/// The tail of a run nobody watches any more stops following the ledger.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unwatched_tail_stops_following_the_ledger() {
    let ledger = ledger();
    let g = GraphId::new();
    task_event(&ledger, g, "a").await;
    let tails = Tails::new(ledger.clone());
    let tail = tails.follow(g);
    let stop = tail.stop.clone();
    let mut reader = tail.clone().read_after(0);
    assert!(reader.next().await.unwrap().is_ok());
    drop((reader, tail));
    assert!(stop.is_cancelled(), "the feed is told to stop when the last holder leaves");
    assert_eq!(tails.open(), 0);
    // A new subscriber of the same run gets a new tail, from the start.
    let again = read_after_first(tails.follow(g)).await;
    assert_eq!(again, 1, "the new tail reads the run's history again");
}

async fn read_after_first(tail: Arc<Tail>) -> u64 {
    let mut reader = tail.read_after(0);
    reader.next().await.unwrap().unwrap().position.parse().unwrap()
}
