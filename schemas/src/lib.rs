//! The vocabulary every Aurora crate speaks: ids, graph and task specs, typed argument values, the
//! ledger's event envelope and payloads, the task state machine and graph validation.
//!
//! This crate does no I/O. Everything here is a pure function of its inputs, which is what lets the
//! read models, the validator and the hash chain be tested in isolation.

pub mod backoff;
pub mod decide;
pub mod delivery;
pub mod event;
pub mod handler;
pub mod hash;
pub mod ids;
pub mod portable;
pub mod seed;
pub mod selector;
pub mod signature;
pub mod spec;
pub mod state;
pub mod trace;
pub mod validate;
pub mod value;

pub use delivery::TaskOrder;
pub use event::{Event, EventData, EventMeta, EventType, NewEvent};
pub use handler::{Catalog, HandlerInfo};
pub use ids::{GraphId, StreamId, TaskId};
pub use selector::{LabelSelector, Labels, QueueKey};
pub use spec::{EdgeSpec, GraphSpec, TaskSpec};
pub use state::{GraphState, TaskState};
pub use value::{ArgType, TypedValue};
