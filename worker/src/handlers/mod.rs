//! The handler registry: what a worker can run, by name.

mod builtin;
mod diagnostic;

use async_trait::async_trait;
use aurora_schemas::{GraphId, HandlerInfo, TaskId, TypedValue};
use std::collections::BTreeMap;
use std::sync::Arc;

/// What a handler knows about the attempt it serves.
#[derive(Debug, Clone, Copy)]
pub struct Context {
    /// The task.
    pub task_id: TaskId,
    /// Its graph.
    pub graph_id: GraphId,
    /// 1 for the first attempt.
    pub attempt: u32,
}

/// How a handler failed, and whether another attempt could help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandlerError {
    /// Worth retrying (subject to the task's retry count).
    #[error("{0}")]
    Retryable(String),
    /// The args cannot work; retrying would fail the same way.
    #[error("{0}")]
    BadArgs(String),
}

/// A named unit of work.
#[async_trait]
pub trait Handler: Send + Sync {
    /// Name, usage and signature, as advertised in the registry.
    fn info(&self) -> HandlerInfo;
    /// Runs one attempt.
    async fn call(&self, ctx: Context, args: Vec<TypedValue>) -> Result<Vec<TypedValue>, HandlerError>;
}

/// Handlers by name.
#[derive(Clone, Default)]
pub struct Registry {
    handlers: BTreeMap<String, Arc<dyn Handler>>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// The seed's built-ins (`add`, `multiply`, `concat`, `split`, `sum_floats`,
    /// `long_running_task`) and the diagnostic ones (`echo`, `noop`, `sleep`, `fail`, `flaky`).
    pub fn with_builtins() -> Self {
        let mut r = Self::new();
        for h in builtin::all().into_iter().chain(diagnostic::all()) {
            r.register(h);
        }
        r
    }

    /// Adds or replaces a handler.
    pub fn register(&mut self, handler: Arc<dyn Handler>) {
        self.handlers.insert(handler.info().name, handler);
    }

    /// The handler called `name`.
    pub fn get(&self, name: &str) -> Option<Arc<dyn Handler>> {
        self.handlers.get(name).cloned()
    }

    /// Whether `name` is registered.
    pub fn contains(&self, name: &str) -> bool {
        self.handlers.contains_key(name)
    }

    /// Every handler's info, sorted by name.
    pub fn infos(&self) -> Vec<HandlerInfo> {
        self.handlers.values().map(|h| h.info()).collect()
    }
}

pub(crate) fn info(name: &str, usage: &str, args: &[&str], results: &[&str]) -> HandlerInfo {
    HandlerInfo {
        name: name.into(),
        usage: usage.into(),
        arg_types: args.iter().map(|s| s.to_string()).collect(),
        result_types: results.iter().map(|s| s.to_string()).collect(),
    }
}
