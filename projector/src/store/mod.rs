//! Where read models live: the [`ReadStore`] trait, its SQLite and MongoDB implementations, and
//! the conformance suite both pass.

pub mod conformance;
pub mod mongo;
pub mod sqlite;

use crate::views::{Applied, GraphView, Model, TaskView};
use async_trait::async_trait;
use aurora_schemas::event::EventData;
use aurora_schemas::{Event, GraphId, GraphSpec, GraphState, StreamId, TaskId};
use std::collections::{BTreeSet, HashSet};

/// Which runs a listing returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GraphFilter {
    /// Only runs in this state.
    pub state: Option<GraphState>,
    /// Only runs whose name contains this, ignoring case.
    pub name: Option<String>,
    /// Only reruns of this run (`rerunGraph`).
    pub forked_from: Option<GraphId>,
}

/// What went wrong with the read store.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The store could not be reached or failed; retryable.
    #[error("read-model store unavailable: {0}")]
    Unavailable(String),
    /// A stored row could not be decoded, or the store's file is damaged.
    #[error("read-model row is corrupt: {0}")]
    Corrupt(String),
    /// The store cannot write (disk full, read-only, I/O error).
    #[error("the read models' storage failed: {0}")]
    Storage(String),
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        use aurora_ledger::StorageFailure as F;
        match aurora_ledger::storage_failure(&e) {
            Some(F::Full) => Self::Storage(format!("the disk is full ({e}); free space on the server")),
            Some(F::ReadOnly | F::Io) => Self::Storage(e.to_string()),
            Some(F::Corrupt) => Self::Corrupt(format!("the database file is damaged ({e})")),
            None => Self::Unavailable(e.to_string()),
        }
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
    /// Graphs matching `filter`, newest first, submitted before `before_seq`.
    async fn graphs(
        &self,
        filter: &GraphFilter,
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
    /// The caller is about to become the only writer of its rows (a projector's term begins): a
    /// store that keeps rows in memory between batches drops them, since another writer may have
    /// changed them meanwhile.
    fn begin_writing(&self) {}
}

/// The rows a batch touches, which a store loads before applying it.
pub(crate) struct Touched {
    /// Graph rows.
    pub graphs: BTreeSet<GraphId>,
    /// Task rows named by task events.
    pub tasks: BTreeSet<TaskId>,
    /// Graphs submitted in the batch: all their task rows are touched (WAITING placeholders).
    pub submitted: BTreeSet<GraphId>,
}

/// What a batch touches.
pub(crate) fn touched(events: &[Event]) -> Touched {
    Touched {
        graphs: events.iter().map(|e| e.graph_id).collect(),
        tasks: events.iter().filter_map(|e| e.task_id).collect(),
        submitted: events
            .iter()
            .filter(|e| matches!(e.data, EventData::GraphSubmitted { .. }))
            .map(|e| e.graph_id)
            .collect(),
    }
}

/// What applying a batch changed: the rows to write back, the specs to keep, the gaps to fill.
pub(crate) struct Changes<'a> {
    /// Task rows to write.
    pub tasks: HashSet<TaskId>,
    /// Graph rows to write.
    pub graphs: HashSet<GraphId>,
    /// Frozen specs of newly submitted graphs.
    pub specs: Vec<(GraphId, &'a GraphSpec)>,
    /// Events not applied for missing predecessors.
    pub gaps: Vec<Gap>,
}

/// Applies `events` in order to the loaded rows in `model` (the pure [`Model::apply`]) and collects
/// what every store must write back.
pub(crate) fn apply_events<'a>(model: &mut Model, events: &'a [Event]) -> Changes<'a> {
    let mut changes = Changes { tasks: HashSet::new(), graphs: HashSet::new(), specs: Vec::new(), gaps: Vec::new() };
    for e in events {
        match model.apply(e) {
            Applied::Changed => {
                changes.graphs.insert(e.graph_id);
                match (e.task_id, &e.data) {
                    (Some(t), _) => {
                        changes.tasks.insert(t);
                    }
                    (None, EventData::GraphSubmitted { spec, .. }) => {
                        changes.tasks.extend(spec.tasks.iter().map(|t| TaskId::derive(e.graph_id, &t.key)));
                        changes.specs.push((e.graph_id, spec));
                    }
                    _ => {}
                }
            }
            Applied::Duplicate => {}
            Applied::Gap { from_version } => {
                changes.gaps.push(Gap { stream: e.stream.clone(), from_version, event: e.clone() });
            }
        }
    }
    changes
}
