//! What a handler knows about the attempt it serves, how it learns that it must stop, and how it
//! reports progress and diagnostics for the attempt's record.

use aurora_schemas::{GraphId, TaskId};
use chrono::{DateTime, Utc};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::sync::mpsc;
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

/// A handler's report of how far its attempt is.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    /// 0 to 1.
    pub fraction: f64,
    /// What it says about it.
    pub message: Option<String>,
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
    /// The task's key in its graph (empty where not known).
    pub key: String,
    /// When the attempt times out, if it has a timeout.
    pub deadline: Option<DateTime<Utc>>,
    stop: Arc<Stop>,
    progress: Option<mpsc::UnboundedSender<Progress>>,
    traceback: Arc<Mutex<Option<String>>>,
}

#[derive(Debug, Default)]
struct Stop {
    token: CancellationToken,
    reason: OnceLock<StopReason>,
}

impl Context {
    /// The context of attempt `attempt` of `task_id` in `graph_id`.
    pub fn new(task_id: TaskId, graph_id: GraphId, attempt: u32) -> Self {
        Self {
            task_id,
            graph_id,
            attempt,
            key: String::new(),
            deadline: None,
            stop: Arc::default(),
            progress: None,
            traceback: Arc::default(),
        }
    }

    /// The same, with its deadline and a channel the runner records progress from.
    pub(crate) fn run_by(mut self, deadline: Option<DateTime<Utc>>, progress: mpsc::UnboundedSender<Progress>) -> Self {
        self.deadline = deadline;
        self.progress = Some(progress);
        self
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

    /// Reports how far the attempt is (`fraction` 0 to 1, clamped). Recorded as a `TaskProgress`
    /// event, at most one a second per task (the latest wins); ignored outside a worker.
    pub fn progress(&self, fraction: f64, message: Option<String>) {
        if let Some(tx) = &self.progress {
            let fraction = if fraction.is_nan() { 0.0 } else { fraction.clamp(0.0, 1.0) };
            let _ = tx.send(Progress { fraction, message });
        }
    }

    /// A user-defined metric (`[[metrics]]` in the config) with these label values, to update:
    /// `ctx.metric("images_total", &[("format", "png")]).inc()?`. An update that does not fit the
    /// declaration (an undeclared name, other labels, `set` on a counter) is an error.
    pub fn metric(&self, name: &str, labels: &[(&str, &str)]) -> Metric {
        Metric { name: name.to_string(), labels: labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect() }
    }

    /// Diagnostic text (a stack trace) recorded with the attempt's failure, if it fails.
    pub fn set_traceback(&self, text: impl Into<String>) {
        *self.traceback.lock().unwrap_or_else(|p| p.into_inner()) = Some(text.into());
    }

    pub(crate) fn traceback(&self) -> Option<String> {
        self.traceback.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// A user-defined metric with label values, from [`Context::metric`].
#[derive(Debug, Clone)]
pub struct Metric {
    name: String,
    labels: std::collections::BTreeMap<String, String>,
}

impl Metric {
    fn apply(&self, op: crate::user_metrics::Op) -> Result<(), crate::user_metrics::MetricError> {
        crate::user_metrics::process().update(&crate::user_metrics::Update {
            name: self.name.clone(),
            labels: self.labels.clone(),
            op,
        })
    }

    /// Counter or gauge: adds 1.
    pub fn inc(&self) -> Result<(), crate::user_metrics::MetricError> {
        self.apply(crate::user_metrics::Op::Inc(1.0))
    }

    /// Counter (`v` ≥ 0) or gauge: adds `v`.
    pub fn inc_by(&self, v: f64) -> Result<(), crate::user_metrics::MetricError> {
        self.apply(crate::user_metrics::Op::Inc(v))
    }

    /// Gauge: sets it to `v`.
    pub fn set(&self, v: f64) -> Result<(), crate::user_metrics::MetricError> {
        self.apply(crate::user_metrics::Op::Set(v))
    }

    /// Histogram or summary: records `v`.
    pub fn observe(&self, v: f64) -> Result<(), crate::user_metrics::MetricError> {
        self.apply(crate::user_metrics::Op::Observe(v))
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
