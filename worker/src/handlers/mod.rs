//! What a worker can run: the [`Handler`] trait, the live [`Registry`], and every kind of
//! handler behind it — the built-ins, typed Rust functions ([`typed`]), executables from a
//! handlers directory ([`executable`]) and FaaS functions ([`faas`]). All of them run under the
//! same attempt logic (claim, timeout, retry, record) in [`crate::attempt`].

mod builtin;
mod context;
mod diagnostic;
pub mod executable;
pub mod faas;
mod registry;
pub mod typed;

pub use context::{Context, Metric, Progress, StopReason};
pub use registry::Registry;

use async_trait::async_trait;
use aurora_schemas::{HandlerInfo, TypedValue};
use std::time::Duration;

/// How a handler failed, and whether another attempt could help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandlerError {
    /// Worth retrying (subject to the task's retry count).
    #[error("{0}")]
    Retryable(String),
    /// The args cannot work; retrying would fail the same way.
    #[error("{0}")]
    BadArgs(String),
    /// The handler broke its contract; fails the task at once.
    #[error("{0}")]
    Final(String),
    /// The results do not fit the handler's declared result types; fails the task at once (kind
    /// `bad_results`).
    #[error("{0}")]
    BadResults(String),
    /// The attempt cannot finish here (the remote worker running it went away): nothing is
    /// recorded, and the delivery goes back to the broker, so the task runs again on a live
    /// worker as a new attempt.
    #[error("{0}")]
    Abandon(String),
}

impl HandlerError {
    /// A failure worth retrying, from anything printable (`.map_err(HandlerError::retry)`).
    pub fn retry(e: impl std::fmt::Display) -> Self {
        Self::Retryable(e.to_string())
    }

    /// Args that cannot work, from anything printable.
    pub fn bad_args(e: impl std::fmt::Display) -> Self {
        Self::BadArgs(e.to_string())
    }
}

impl From<String> for HandlerError {
    fn from(message: String) -> Self {
        Self::Retryable(message)
    }
}

impl From<&str> for HandlerError {
    fn from(message: &str) -> Self {
        Self::Retryable(message.to_string())
    }
}

/// What became of an attempt's outcome, once that is settled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settled {
    /// Durable in the ledger, as this state.
    Recorded(aurora_schemas::TaskState),
    /// The results broke the declared types; the task failed with this message.
    Rejected(String),
    /// The task moved on without this attempt (cancelled, timed out, taken over): nothing of
    /// the handler's outcome was recorded.
    Superseded(String),
}

/// A named unit of work.
#[async_trait]
pub trait Handler: Send + Sync {
    /// Name, usage and signature, as advertised in the registry.
    fn info(&self) -> HandlerInfo;

    /// Runs one attempt. The future is dropped when the attempt must stop (after
    /// [`Handler::stop_grace`] to clean up, see [`Context::stopped`]).
    async fn call(&self, ctx: Context, args: Vec<TypedValue>) -> Result<Vec<TypedValue>, HandlerError>;

    /// The timeout of an attempt whose task sets none (e.g. an executable's manifest `timeout_ms`).
    fn default_timeout(&self) -> Option<Duration> {
        None
    }

    /// How long the handler may take, once told to stop, to release what it holds outside its
    /// future (e.g. to terminate a process group) before its future is dropped.
    fn stop_grace(&self) -> Duration {
        Duration::ZERO
    }

    /// Told what became of the attempt once that is durable (a remote worker acks with it).
    async fn settled(&self, _ctx: &Context, _settled: Settled) {}
}

pub(crate) fn info(name: &str, usage: &str, args: &[&str], results: &[&str]) -> HandlerInfo {
    HandlerInfo {
        name: name.into(),
        usage: usage.into(),
        arg_types: args.iter().map(|s| s.to_string()).collect(),
        result_types: results.iter().map(|s| s.to_string()).collect(),
    }
}
