//! The trace span of one attempt (`aurora-telemetry`): from its claim to its recorded outcome,
//! a child of the dispatch span its order's `traceparent` names, with the handler, worker,
//! attempt and outcome as attributes. Nothing is built when no exporter is installed.

use aurora_schemas::TaskOrder;
use aurora_schemas::event::EventData;
use aurora_telemetry::span::parent_of;
use aurora_telemetry::{Kind, Span};

/// An attempt's span while it runs.
pub struct AttemptTrace(Option<Span>);

impl AttemptTrace {
    /// Starts the span of `attempt` of `order` on `worker`.
    pub fn start(order: &TaskOrder, worker: &str, attempt: u32, takeover: bool) -> Self {
        if !aurora_telemetry::enabled() {
            return Self(None);
        }
        let parent = order.traceparent.as_deref().and_then(parent_of).map(|(_, parent)| parent);
        let span = Span::start(order.graph_id, parent, "attempt", Kind::Consumer)
            .attr("aurora.task.id", order.task_id.to_string())
            .attr("aurora.task.key", order.key.clone())
            .attr("aurora.handler", order.queue.handler.clone())
            .attr("aurora.worker", worker)
            .attr("aurora.attempt", attempt)
            .attr("aurora.takeover", takeover);
        Self(Some(span))
    }

    /// Ends the span with `outcome` (a task state such as `SUCCESS`, or `superseded`,
    /// `abandoned`, `unrecorded`) and, when the attempt failed, why.
    pub fn end(self, outcome: &str, error: Option<&str>) {
        let Some(span) = self.0 else { return };
        let span = span.attr("aurora.outcome", outcome);
        match error {
            Some(e) => span.failed(e).finish(),
            None => span.finish(),
        }
    }

    /// Ends the span with the outcome `data` records.
    pub fn recorded(self, data: &EventData, state: &str) {
        let error = match data {
            EventData::TaskFailed { error, .. } | EventData::TaskRetry { error, .. } => Some(error.as_str()),
            _ => None,
        };
        self.end(state, error);
    }
}
