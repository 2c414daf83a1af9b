//! The worker: consumes deliveries, claims attempts, runs handlers under their timeouts, records
//! transitions and retries. It owns no read models: everything it decides comes from the order
//! and the task's own stream.

pub mod attempt;
pub mod handlers;
pub mod metrics;
pub mod service;

pub use handlers::Registry as Handlers;
pub use service::{Deps, Options, Service};
