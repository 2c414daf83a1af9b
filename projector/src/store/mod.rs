//! Where read models live: the [`ReadStore`] trait, its SQLite and MongoDB implementations, and
//! the conformance suite both pass.

pub mod conformance;
pub mod mongo;
pub mod sqlite;

use crate::views::{GraphView, Model, TaskView};
use async_trait::async_trait;
use aurora_schemas::{Event, GraphId, GraphSpec, GraphState, StreamId, TaskId};

/// What went wrong with the read store.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The store could not be reached or failed; retryable.
    #[error("read-model store unavailable: {0}")]
    Unavailable(String),
    /// A stored row could not be decoded.
    #[error("read-model row is corrupt: {0}")]
    Corrupt(String),
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        Self::Unavailable(e.to_string())
    }
}

/// A stream whose events before `event` are missing from the batch: read them from the ledger.
#[derive(Debug, Clone, PartialEq)]
pub struct Gap {
    /// The stream.
    pub stream: StreamId,
    /// The first missing version.
    pub from_version: u64,
    /// The event that could not be applied yet.
    pub event: Event,
}

/// The result of applying a batch.
#[derive(Debug, Default)]
pub struct Batch {
    /// Every row the batch touched, as it is after the batch.
    pub rows: Model,
    /// Events not applied because earlier events of their stream are missing.
    pub gaps: Vec<Gap>,
}

/// Read models and projector checkpoints.
///
/// Contract: `apply` runs [`Model::apply`] over the batch in order and stores the touched rows
/// atomically; applying the same events again changes nothing.
#[async_trait]
pub trait ReadStore: Send + Sync + 'static {
    /// Applies events in order.
    async fn apply(&self, events: Vec<Event>) -> Result<Batch, Error>;
    /// One task.
    async fn task(&self, id: TaskId) -> Result<Option<TaskView>, Error>;
    /// Several tasks (missing ones are left out).
    async fn tasks(&self, ids: Vec<TaskId>) -> Result<Vec<TaskView>, Error>;
    /// Every task of a graph.
    async fn graph_tasks(&self, graph: GraphId) -> Result<Vec<TaskView>, Error>;
    /// One graph.
    async fn graph(&self, id: GraphId) -> Result<Option<GraphView>, Error>;
    /// A graph's frozen spec.
    async fn graph_spec(&self, id: GraphId) -> Result<Option<GraphSpec>, Error>;
    /// Graphs, newest first, optionally in one state, submitted before `before_seq`.
    async fn graphs(
        &self,
        state: Option<GraphState>,
        first: usize,
        before_seq: Option<u64>,
    ) -> Result<Vec<GraphView>, Error>;
    /// Tasks that were dispatched and have not ended (PENDING, RECEIVED, STARTED, RETRY).
    async fn unfinished_tasks(&self) -> Result<Vec<TaskView>, Error>;
    /// The ledger position a named consumer has fully processed.
    async fn checkpoint(&self, name: &str) -> Result<u64, Error>;
    /// Records a consumer's progress.
    async fn save_checkpoint(&self, name: &str, position: u64) -> Result<(), Error>;
    /// Every row, for comparisons (replay).
    async fn dump(&self) -> Result<Model, Error>;
}
