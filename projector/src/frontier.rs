//! The graph frontier (DESIGN §3.4): after each event, decide what the graph does next.
//!
//! - a success dispatches every successor whose predecessors all succeeded (`TaskPending` at
//!   expected version 0, so a replay cannot dispatch twice), passing results when asked;
//! - a final failure skips every descendant;
//! - a cancel request cancels every unfinished task;
//! - when every task is terminal, the graph's terminal event is appended.
//!
//! Every action is idempotent, so re-processing events after a restart is harmless.

use crate::store::{Error, ReadStore};
use crate::topology::Cache;
use crate::transition::{self, OnConflict};
use crate::views::{GraphView, Model};
use aurora_ledger::{AppendRequest, Ledger};
use aurora_schemas::decide::frontier as decide;
use aurora_schemas::event::EventData;
use aurora_schemas::{Event, EventMeta, GraphId, GraphState, NewEvent, TaskId, TaskState};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use tracing::{debug, info, warn};

/// Frontier errors: the ledger or the read store failed.
#[derive(Debug, thiserror::Error)]
pub enum FrontierError {
    /// The ledger failed.
    #[error(transparent)]
    Ledger(#[from] aurora_ledger::Error),
    /// The read store failed.
    #[error(transparent)]
    Store(#[from] Error),
}

/// Reacts to events with the next steps of their graph.
pub struct Frontier {
    ledger: Arc<dyn Ledger>,
    store: Arc<dyn ReadStore>,
    topologies: Cache,
}

/// The `meta` of an event the frontier appends because of `cause`. (A leading projector's ledger
/// is a [`aurora_ledger::FencedLedger`], which adds the fencing token.)
fn meta(graph: GraphId, cause: &Event) -> EventMeta {
    EventMeta {
        actor: Some("projector".into()),
        causation_id: Some(cause.id),
        correlation_id: Some(graph.0),
        trace_id: Some(aurora_schemas::trace::trace_id(graph)),
        ..Default::default()
    }
}

impl Frontier {
    /// A frontier over `ledger`, reading views from `store`.
    pub fn new(ledger: Arc<dyn Ledger>, store: Arc<dyn ReadStore>) -> Self {
        Self { ledger, store, topologies: Cache::default() }
    }

    /// Reacts to a batch of events whose rows (after the batch) are `rows`.
    pub async fn react(&self, events: &[Event], rows: &Model) -> Result<(), FrontierError> {
        let mut check_end: BTreeSet<GraphId> = BTreeSet::new();
        for e in events {
            match &e.data {
                EventData::TaskSucceeded { .. } => {
                    self.on_success(e, rows).await?;
                    check_end.insert(e.graph_id);
                }
                EventData::TaskFailed { .. } => {
                    self.on_failure(e).await?;
                    check_end.insert(e.graph_id);
                }
                EventData::TaskCancelled { .. } | EventData::TaskSkipped { .. } | EventData::TaskReused { .. } => {
                    check_end.insert(e.graph_id);
                }
                EventData::GraphCancelRequested { .. } => {
                    self.on_cancel(e).await?;
                    check_end.insert(e.graph_id);
                }
                d if d.event_type().ends_graph() => self.topologies.evict(e.graph_id),
                _ => {}
            }
        }
        for g in check_end {
            self.maybe_end(g, rows.graphs.get(&g)).await?;
        }
        Ok(())
    }

    async fn on_success(&self, e: &Event, rows: &Model) -> Result<(), FrontierError> {
        let (Some(task_id), Some(graph)) = (e.task_id, rows.graphs.get(&e.graph_id)) else {
            return Ok(());
        };
        if graph.cancel_requested || graph.state.is_terminal() {
            return Ok(());
        }
        let Some(topo) = self.topologies.get(self.store.as_ref(), e.graph_id).await? else {
            return Ok(());
        };
        let Some(key) = rows.tasks.get(&task_id).map(|t| t.key.clone()) else {
            return Ok(());
        };
        let Some(index) = topo.index_of(&key) else {
            return Ok(());
        };
        // Read what the decision needs (the progress, then the results the ready successors
        // pass on), decide, append each dispatch conditionally (a new stream: at most once).
        let ready = topo
            .progress(self.store.as_ref(), e.graph_id)
            .await?
            .as_mut()
            .map(|p| decide::ready_after_success(&topo, p, index))
            .unwrap_or_default();
        let needed: BTreeSet<&str> = ready.iter().flat_map(|&s| decide::results_needed(&topo, s)).collect();
        let mut results = HashMap::new();
        if !needed.is_empty() {
            let ids = needed.iter().map(|k| TaskId::derive(e.graph_id, k)).collect();
            for v in self.store.tasks(ids).await? {
                results.insert(v.key.clone(), v.results.unwrap_or_default());
            }
        }
        let mut appends = Vec::new();
        for s in ready {
            let succ_id = TaskId::derive(e.graph_id, &topo.at(s).key);
            let data = decide::pending(&topo, s, &results);
            appends.push(transition::append(
                self.ledger.as_ref(),
                e.graph_id,
                succ_id,
                data,
                meta(e.graph_id, e),
                0,
                OnConflict::GiveUp,
            ));
        }
        for r in futures::future::join_all(appends).await {
            if r? {
                debug!(graph_id = %e.graph_id, after = %key, "successor dispatched");
            }
        }
        Ok(())
    }

    async fn on_failure(&self, e: &Event) -> Result<(), FrontierError> {
        let Some(topo) = self.topologies.get(self.store.as_ref(), e.graph_id).await? else {
            return Ok(());
        };
        let Some(task_id) = e.task_id else {
            return Ok(());
        };
        let Some(failed) = topo.spec.tasks.iter().find(|t| TaskId::derive(e.graph_id, &t.key) == task_id) else {
            return Ok(());
        };
        let skips = decide::skips(&topo, &failed.key).into_iter().map(|(key, data)| {
            let id = TaskId::derive(e.graph_id, &key);
            transition::append(self.ledger.as_ref(), e.graph_id, id, data, meta(e.graph_id, e), 0, OnConflict::GiveUp)
        });
        for r in futures::future::join_all(skips).await {
            r?;
        }
        Ok(())
    }

    async fn on_cancel(&self, e: &Event) -> Result<(), FrontierError> {
        let reason = match &e.data {
            EventData::GraphCancelRequested { reason } => reason.clone(),
            _ => None,
        };
        let tasks = self.store.graph_tasks(e.graph_id).await?;
        let unfinished = tasks.iter().filter(|t| !t.state.is_terminal()).map(|t| (t.task_id, t.version));
        let cancels = decide::cancels(unfinished, reason.as_deref()).into_iter().map(|(task, version, data)| {
            transition::append(
                self.ledger.as_ref(),
                e.graph_id,
                task,
                data,
                meta(e.graph_id, e),
                version,
                OnConflict::Follow,
            )
        });
        for r in futures::future::join_all(cancels).await {
            r?;
        }
        info!(graph_id = %e.graph_id, "graph cancellation applied to unfinished tasks");
        Ok(())
    }

    /// Appends the graph's terminal event once every task is terminal.
    async fn maybe_end(&self, graph: GraphId, view: Option<&GraphView>) -> Result<(), FrontierError> {
        let Some(view) = view else { return Ok(()) };
        if view.state.is_terminal() || view.tasks_terminal < view.tasks_total {
            return Ok(());
        }
        let failed = if view.tasks_failed > 0 && !view.cancel_requested {
            let tasks = self.store.graph_tasks(graph).await?;
            tasks.into_iter().filter(|t| t.state == TaskState::Failure).map(|t| t.key).collect()
        } else {
            Vec::new()
        };
        let Some(data) = decide::graph_end(false, view.cancel_requested, view.tasks_total, view.tasks_terminal, failed)
        else {
            return Ok(());
        };
        let mut expected = view.version;
        for _ in 0..5 {
            let ev = NewEvent::graph(
                graph,
                data.clone(),
                EventMeta {
                    actor: Some("projector".into()),
                    correlation_id: Some(graph.0),
                    trace_id: Some(aurora_schemas::trace::trace_id(graph)),
                    ..Default::default()
                },
            );
            match self.ledger.append(AppendRequest::new(expected, vec![ev])).await {
                Ok(_) => {
                    info!(graph_id = %graph, event = data.event_type().as_str(), "graph ended");
                    return Ok(());
                }
                Err(err) if err.is_conflict() => {
                    let events = self.ledger.read_stream(&graph.stream(), 1).await?;
                    let state =
                        events.iter().fold(GraphState::Running, |s, e| GraphState::after(e.event_type()).unwrap_or(s));
                    if state.is_terminal() {
                        return Ok(());
                    }
                    if events.iter().any(|e| matches!(e.data, EventData::GraphCancelRequested { .. }))
                        && !matches!(data, EventData::GraphCancelled { .. })
                    {
                        // A cancel request raced the last task; it will be handled when it is processed.
                        return Ok(());
                    }
                    expected = events.len() as u64;
                }
                Err(err) => return Err(err.into()),
            }
        }
        warn!(graph_id = %graph, "could not append the graph's terminal event after retries");
        Ok(())
    }
}
