//! The read side: read models (task and graph views), the graph frontier, the dispatcher,
//! checkpoints, and rebuild/replay. It reacts to the ledger; it never executes handlers.

pub mod anchor;
pub mod diff;
pub mod dispatcher;
pub mod frontier;
pub mod leadership;
pub mod metrics;
pub mod replay;
pub mod service;
pub mod store;
pub mod topology;
pub mod traces;
mod transition;
pub mod views;

pub use service::{Deps, Options, Partition, Service};
pub use store::sqlite::SqliteStore;
pub use store::{Error, GraphFilter, ReadStore};
pub use views::{GraphView, TaskView};
