//! The event ledger: the one durable truth of Aurora.
//!
//! Owns the [`Ledger`] trait (conditional append, reads, live notification), the embedded SQLite
//! store, the MongoDB store, catch-up-then-live subscriptions built on any store, and the conformance suite every
//! store must pass. It knows events only by their envelope: streams, versions, positions, hashes.

pub mod conformance;
mod error;
pub mod fenced;
pub mod metrics;
pub mod mongo;
pub mod sqlite;
pub mod subscribe;

pub use error::{Error, StorageFailure, storage_failure};
pub use fenced::FencedLedger;
pub use mongo::MongoLedger;
pub use sqlite::SqliteLedger;
pub use subscribe::{Scope, Subscription, subscribe};

use async_trait::async_trait;
use aurora_schemas::{Event, GraphId, NewEvent, StreamId};
use std::sync::Arc;
use tokio::sync::broadcast;

/// One conditional append: `events` go to `stream` if its current version is `expected`.
#[derive(Debug, Clone)]
pub struct AppendRequest {
    /// The stream every event must belong to.
    pub stream: StreamId,
    /// The version the stream must be at (0: the stream must not exist).
    pub expected: u64,
    /// The events, in order; they get versions `expected + 1 …`.
    pub events: Vec<NewEvent>,
    /// If set, the append is refused when a greater token of the same lease was already seen.
    pub fence: Option<Fence>,
}

/// A lease's fencing token, carried by the appends of the lease's holder. The store remembers the
/// greatest token of each lease it has seen and refuses appends with a smaller one, so a holder
/// that lost its lease without noticing (a pause, a partition) cannot write once its successor
/// has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    /// The lease (e.g. `projector/0`).
    pub lease: String,
    /// The holder's token.
    pub token: u64,
}

impl AppendRequest {
    /// An append of `events` to the stream of the first event.
    pub fn new(expected: u64, events: Vec<NewEvent>) -> Self {
        let stream = events.first().map(NewEvent::stream).unwrap_or_else(|| StreamId(String::new()));
        Self { stream, expected, events, fence: None }
    }
}

impl Fence {
    /// Whether an append with this fence may go ahead, given the greatest token the store has
    /// seen for the lease; the error says who fenced it out.
    pub fn admit(&self, seen: Option<u64>) -> Result<(), Error> {
        match seen {
            Some(current) if current > self.token => {
                Err(Error::Fenced { lease: self.lease.clone(), token: self.token, current })
            }
            _ => Ok(()),
        }
    }
}

/// A committed batch, as announced to live listeners: events in position order.
pub type Committed = Arc<Vec<Event>>;

/// The event store.
///
/// Contract, for every implementation:
/// - Versions are gapless per stream, from 1. An append succeeds only if the stream is at the
///   expected version, and then atomically; otherwise it fails with [`Error::Conflict`] carrying
///   the actual version and writes nothing.
/// - An append is durable when it returns `Ok`; nothing is ever updated or deleted.
/// - Every event gets a `position`, unique and increasing across all streams, and the per-stream
///   hash chain (`prev_hash`, `hash`) of DESIGN §2. Reads by position never pass a position that
///   is committed later: in SQLite positions are commit order; in MongoDB they are reserved before
///   the write and readers see only up to the stable horizon (`mongo/horizon.rs`).
/// - [`Ledger::watch`] announces each committed batch after it is durable, in position order. A
///   listener that falls behind is told it lagged and must re-read from the store; an empty batch
///   means the store's own feed was interrupted and announcements may be missing, with the same
///   remedy. See [`subscribe`] for the gap-free combination of both.
#[async_trait]
pub trait Ledger: Send + Sync + 'static {
    /// Appends one stream's events atomically if the stream is at `expected`.
    async fn append(&self, request: AppendRequest) -> Result<Vec<Event>, Error> {
        self.append_all(vec![request]).await
    }

    /// Appends to several streams atomically: all requests succeed or none is written.
    async fn append_all(&self, requests: Vec<AppendRequest>) -> Result<Vec<Event>, Error>;

    /// The events of `stream` with version `>= from_version`, in version order.
    async fn read_stream(&self, stream: &StreamId, from_version: u64) -> Result<Vec<Event>, Error>;

    /// Every event of a graph (its graph stream and all its task streams), in position order.
    async fn read_graph(&self, graph: GraphId) -> Result<Vec<Event>, Error> {
        self.read_graph_after(graph, 0, usize::MAX).await
    }

    /// Up to `limit` events of a graph with position `> after`, in position order (a subscriber
    /// catching up reads only what it has not delivered; a history is read page by page).
    async fn read_graph_after(&self, graph: GraphId, after: u64, limit: usize) -> Result<Vec<Event>, Error>;

    /// Up to `limit` events with position `> after`, in position order.
    async fn read_from(&self, after: u64, limit: usize) -> Result<Vec<Event>, Error>;

    /// The position of the last event readers can see (0 when empty): the last committed one in
    /// SQLite, the last at or below the stable horizon in MongoDB.
    async fn head(&self) -> Result<u64, Error>;

    /// Live announcements of committed batches.
    fn watch(&self) -> broadcast::Receiver<Committed>;
}
