//! What a handler knows about the attempt it serves, and how it learns that it must stop.

use aurora_schemas::{GraphId, TaskId};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Why an attempt must stop before its handler returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// The attempt ran past its timeout.
    TimedOut {
        /// The timeout that elapsed.
        after: Duration,
    },
    /// The task moved on without this attempt: its run was cancelled, or another worker took the
    /// task over.
    Cancelled,
}

/// The attempt a handler serves. Cheap to clone; every clone sees the same stop signal.
#[derive(Debug, Clone)]
pub struct Context {
    /// The task.
    pub task_id: TaskId,
    /// Its graph.
    pub graph_id: GraphId,
    /// 1 for the first attempt.
    pub attempt: u32,
    stop: Arc<Stop>,
}

#[derive(Debug, Default)]
struct Stop {
    token: CancellationToken,
    reason: OnceLock<StopReason>,
}

impl Context {
    /// The context of attempt `attempt` of `task_id` in `graph_id`.
    pub fn new(task_id: TaskId, graph_id: GraphId, attempt: u32) -> Self {
        Self { task_id, graph_id, attempt, stop: Arc::default() }
    }

    /// Resolves when the attempt must stop (timeout or cancellation), with the reason. A handler
    /// that holds resources outside its future (a child process) selects on this to release
    /// them; one that does not is simply dropped.
    pub async fn stopped(&self) -> StopReason {
        self.stop.token.cancelled().await;
        self.stop_reason().unwrap_or(StopReason::Cancelled)
    }

    /// Why the attempt must stop, once it must.
    pub fn stop_reason(&self) -> Option<StopReason> {
        self.stop.reason.get().copied()
    }

    /// Tells the handler to stop; the first reason given is kept.
    pub(crate) fn stop(&self, reason: StopReason) {
        let _ = self.stop.reason.set(reason);
        self.stop.token.cancel();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_clone_sees_the_first_reason() {
        let g = GraphId::new();
        let ctx = Context::new(TaskId::derive(g, "t"), g, 1);
        let clone = ctx.clone();
        assert_eq!(clone.stop_reason(), None);
        ctx.stop(StopReason::TimedOut { after: Duration::from_millis(5) });
        ctx.stop(StopReason::Cancelled);
        assert_eq!(clone.stopped().await, StopReason::TimedOut { after: Duration::from_millis(5) });
    }
}
