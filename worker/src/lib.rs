//! The worker: consumes deliveries, claims attempts, runs handlers under their timeouts, records
//! transitions and retries. It owns no read models: everything it decides comes from the order
//! and the task's own stream.
//!
//! It is also a library for workers of your own: build a [`Registry`] (typed Rust functions from
//! [`handler`], the built-ins, anything implementing [`Handler`]) and [`run`] it against a
//! deployment, as `examples/custom-worker/` does.

pub mod attempt;
mod attempt_trace;
pub mod deploy;
pub mod handlers;
pub mod metrics;
pub mod service;
pub mod user_metrics;

pub use deploy::{Backends, Error, Worker, configure, run};
pub use handlers::typed::{Variadic, handler};
pub use handlers::{Context, Handler, HandlerError, Progress, Registry, Settled, StopReason};
pub use service::{Deps, Options, Service};
