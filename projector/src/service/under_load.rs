//! The projector working through a backlog: its checkpoint moves as it goes (not only at the
//! end), and a shutdown in the middle stops it there, with the checkpoint where it got to.

#![allow(clippy::unwrap_used)] // tests: a panic is a failed case

use super::{Deps, Options, Partition, Service};
use crate::store::ReadStore;
use aurora_ledger::{AppendRequest, Ledger, SqliteLedger};
use aurora_schemas::event::EventData;
use aurora_schemas::{EventMeta, GraphId, NewEvent, TaskId};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// A graph that partition 1 of 2 owns: partition 0's projector only moves its checkpoint past
/// its events, which is quick and needs no graph to exist.
fn foreign_graph() -> GraphId {
    loop {
        let g = GraphId::new();
        if g.partition(2) == 1 {
            return g;
        }
    }
}

/// Appends `n` events, one per new task stream, in appends of 1,000.
async fn backlog(ledger: &dyn Ledger, n: usize) -> u64 {
    let g = foreign_graph();
    let mut head = 0;
    for chunk in (0..n).collect::<Vec<_>>().chunks(1_000) {
        let requests = chunk
            .iter()
            .map(|i| {
                let event = NewEvent::task(
                    g,
                    TaskId::derive(g, &format!("t{i}")),
                    EventData::TaskReceived { attempt: 1, worker_id: "w".into(), takeover: false },
                    EventMeta::default(),
                );
                AppendRequest::new(0, vec![event])
            })
            .collect();
        head = ledger.append_all(requests).await.unwrap().last().unwrap().position;
    }
    head
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_projector_working_through_a_backlog_saves_its_checkpoint_as_it_goes_and_stops_when_asked() {
    let ledger: Arc<dyn Ledger> = Arc::new(SqliteLedger::scratch().unwrap());
    let head = backlog(ledger.as_ref(), 50_000).await;
    let store: Arc<dyn ReadStore> = Arc::new(crate::SqliteStore::in_memory().unwrap());
    let deps = Deps {
        ledger,
        store: store.clone(),
        broker: Arc::new(aurora_broker::LocalBroker::new()),
        registry: Arc::new(aurora_coord::LocalCoord::new()),
    };
    // One event per batch: the backlog takes many batches.
    let options =
        Options { name: "p0".into(), partition: Partition { index: 0, count: 2 }, batch_max: 1, ..Options::default() };
    let shutdown = CancellationToken::new();
    let run = tokio::spawn(Service::new(options, deps).run(shutdown.clone()));

    // The checkpoint moves while the backlog lasts.
    let started = Instant::now();
    let mid = loop {
        let saved = store.checkpoint("p0").await.unwrap();
        if saved > 0 {
            break saved;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "no checkpoint saved in 30 s");
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    assert!(mid < head, "the checkpoint moved while the backlog lasted ({mid} of {head})");

    // Asked to stop in the middle of the backlog, it stops there, saving where it got to.
    shutdown.cancel();
    let stopped = tokio::time::timeout(Duration::from_secs(10), run).await.expect("stopped within 10 s");
    stopped.unwrap().expect("a clean stop");
    let last = store.checkpoint("p0").await.unwrap();
    assert!(last >= mid, "the checkpoint never goes back ({last} < {mid})");
    assert!(last < head, "it stopped when asked, not at the end of the backlog ({last} of {head})");
}
