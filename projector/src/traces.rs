//! The projector's trace spans (`aurora-telemetry`): a `project` step per graph per batch, a
//! `dispatch` span per order it publishes (the parent its attempts name in their `traceparent`),
//! and the run's root span once the run has ended. Built by pure functions from what the batch
//! already holds; nothing is built when no exporter is installed.

use crate::views::Model;
use aurora_schemas::event::EventData;
use aurora_schemas::{Event, GraphId, TaskOrder, trace};
use aurora_telemetry::span::run_span;
use aurora_telemetry::{Kind, Span};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

/// The spans of one processed batch: its step for every graph it touched, and the root span of
/// every run it ended (from submission to the end event).
pub fn batch_spans(events: &[Event], rows: &Model, started: DateTime<Utc>, ended: DateTime<Utc>) -> Vec<Span> {
    let mut by_graph: BTreeMap<GraphId, Vec<&Event>> = BTreeMap::new();
    for e in events {
        by_graph.entry(e.graph_id).or_default().push(e);
    }
    let mut spans = Vec::new();
    for (graph, events) in by_graph {
        let mut types: Vec<&str> = events.iter().map(|e| e.data.event_type().as_str()).collect();
        types.dedup();
        let first = events.first().map_or(0, |e| e.position);
        let last = events.last().map_or(0, |e| e.position);
        spans.push(
            Span::between(graph, Some(run_span(graph)), "project", Kind::Internal, started, ended)
                .attr("aurora.events", events.len())
                .attr("aurora.event_types", types.join(","))
                .attr("aurora.positions", format!("{first}..{last}")),
        );
        for e in events {
            let (state, failed) = match &e.data {
                EventData::GraphSucceeded {} => ("SUCCESS", None),
                EventData::GraphFailed { failed } => ("FAILURE", Some(format!("tasks failed: {}", failed.join(", ")))),
                EventData::GraphCancelled { .. } => ("CANCELLED", None),
                _ => continue,
            };
            let Some(view) = rows.graphs.get(&graph) else { continue };
            let mut root = Span::run(graph, view.submitted_at, e.recorded_at)
                .attr("aurora.graph.id", graph.to_string())
                .attr("aurora.state", state)
                .attr("aurora.tasks", i64::try_from(view.tasks_total).unwrap_or(i64::MAX))
                .attr("aurora.submitter", view.submitted_by.clone());
            if let Some(name) = &view.name {
                root = root.attr("aurora.graph.name", name.clone());
            }
            spans.push(match failed {
                Some(why) => root.failed(why),
                None => root,
            });
        }
    }
    spans
}

/// The span of publishing `order`: its id is the parent span id the order's `traceparent` carries.
pub fn dispatch_span(order: &TaskOrder, started: DateTime<Utc>, ended: DateTime<Utc>) -> Span {
    let graph = order.graph_id;
    Span::between(graph, Some(run_span(graph)), "dispatch", Kind::Producer, started, ended)
        .with_id(trace::order_span_id(order.task_id, order.version).to_be_bytes())
        .attr("aurora.task.id", order.task_id.to_string())
        .attr("aurora.task.key", order.key.clone())
        .attr("aurora.handler", order.queue.handler.clone())
        .attr("aurora.attempt", order.attempt)
        .attr("aurora.priority", u32::from(order.priority))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::views::GraphView;
    use aurora_schemas::{EventMeta, GraphState, TaskId};

    fn event(graph: GraphId, position: u64, data: EventData) -> Event {
        Event {
            id: uuid::Uuid::now_v7(),
            position,
            stream: graph.stream(),
            version: position,
            graph_id: graph,
            task_id: None,
            schema_version: 1,
            recorded_at: Utc::now(),
            data,
            meta: EventMeta::default(),
            prev_hash: String::new(),
            hash: String::new(),
        }
    }

    #[test]
    fn a_batch_gives_one_step_per_graph_and_the_root_of_each_run_it_ended() {
        let (a, b) = (GraphId::new(), GraphId::new());
        let now = Utc::now();
        let mut rows = Model::default();
        rows.graphs.insert(
            a,
            GraphView {
                graph_id: a,
                name: Some("nightly".into()),
                state: GraphState::Failure,
                submitted_by: "alice".into(),
                submitted_at: now - chrono::Duration::seconds(3),
                finished_at: Some(now),
                cancel_requested: false,
                tasks_total: 2,
                tasks_terminal: 2,
                tasks_failed: 1,
                seq: 1,
                version: 2,
                forked_from: None,
            },
        );
        let events = vec![
            event(a, 7, EventData::GraphFailed { failed: vec!["b".into()] }),
            event(b, 8, EventData::GraphCancelRequested { reason: None }),
        ];
        let spans = batch_spans(&events, &rows, now, now);
        let steps: Vec<&Span> = spans.iter().filter(|s| s.name == "project").collect();
        assert_eq!(steps.len(), 2, "one step per graph: {spans:?}");
        assert!(steps.iter().all(|s| s.parent == Some(run_span(GraphId(uuid::Uuid::from_bytes(s.trace_id))))));
        let roots: Vec<&Span> = spans.iter().filter(|s| s.name == "run").collect();
        assert_eq!(roots.len(), 1, "only a's run ended");
        assert_eq!(roots[0].span_id, run_span(a));
        assert_eq!(roots[0].parent, None);
        assert_eq!(roots[0].start, now - chrono::Duration::seconds(3));
        assert_eq!(roots[0].error.as_deref(), Some("tasks failed: b"));
    }

    #[test]
    fn a_dispatch_span_is_the_parent_its_order_names() {
        let g = GraphId::new();
        let t = TaskId::derive(g, "a");
        let order = TaskOrder {
            task_id: t,
            graph_id: g,
            key: "a".into(),
            version: 3,
            attempt: 1,
            queue: aurora_schemas::QueueKey::new("add", Default::default()),
            args: Vec::new(),
            retry_count: 0,
            retry_backoff_ms: 0,
            timeout_ms: None,
            priority: 0,
            takeover: false,
            traceparent: Some(trace::traceparent(g, t, 3)),
        };
        let span = dispatch_span(&order, Utc::now(), Utc::now());
        let (_, parent) =
            aurora_telemetry::span::parent_of(order.traceparent.as_deref().unwrap_or_default()).expect("well formed");
        assert_eq!(span.span_id, parent);
        assert_eq!(span.parent, Some(run_span(g)));
    }
}
