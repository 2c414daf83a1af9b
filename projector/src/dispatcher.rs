//! The dispatcher (DESIGN §3.2): the ledger is the outbox. `TaskPending` and due `TaskRetry`
//! events become orders on the broker; after a restart every unfinished task is ordered again.
//! Duplicate orders are harmless: a worker claims an order at its version, and only one claim
//! per version can succeed.
//!
//! It also enforces the schedule-to-start timeout: a task that no live worker can take within
//! the timeout ends FAILURE with that reason instead of waiting forever (invariant 2).

use crate::views::{Model, TaskView};
use aurora_broker::Broker;
use aurora_coord::Registry;
use aurora_ledger::Ledger;
use aurora_schemas::event::{EventData, FailureKind};
use aurora_schemas::selector::matches;
use aurora_schemas::{Event, EventMeta, QueueKey, TaskOrder, TaskState};
use chrono::Utc;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, warn};

/// Dispatcher errors.
#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    /// The broker refused or could not be reached.
    #[error(transparent)]
    Broker(#[from] aurora_broker::Error),
    /// The registry could not be reached.
    #[error(transparent)]
    Coord(#[from] aurora_coord::Error),
}

/// Turns dispatch events into broker orders.
pub struct Dispatcher {
    ledger: Arc<dyn Ledger>,
    broker: Arc<dyn Broker>,
    registry: Arc<dyn Registry>,
    schedule_to_start: Duration,
    timers: TaskTracker,
    shutdown: CancellationToken,
}

/// The order that runs the next attempt of `view` at its current version.
pub fn order_for(view: &TaskView, takeover: bool) -> TaskOrder {
    TaskOrder {
        task_id: view.task_id,
        graph_id: view.graph_id,
        key: view.key.clone(),
        version: view.version,
        attempt: view.attempts + 1,
        queue: QueueKey::new(view.name.clone(), view.label_selector.clone()),
        args: view.args.clone().unwrap_or_else(|| view.spec_args.clone()),
        retry_count: view.retry_count,
        retry_backoff_ms: view.retry_backoff_ms,
        timeout_ms: view.timeout_ms,
        priority: view.priority,
        takeover,
        traceparent: Some(aurora_schemas::trace::traceparent(view.graph_id, view.task_id, view.version)),
    }
}

impl Dispatcher {
    /// A dispatcher publishing to `broker` and registering queues in `registry`.
    pub fn new(
        ledger: Arc<dyn Ledger>,
        broker: Arc<dyn Broker>,
        registry: Arc<dyn Registry>,
        schedule_to_start: Duration,
        shutdown: CancellationToken,
    ) -> Self {
        Self { ledger, broker, registry, schedule_to_start, timers: TaskTracker::new(), shutdown }
    }

    /// Orders for a batch: each `TaskPending` whose task is still at that version, and a timer for
    /// each `TaskRetry` that is still current.
    pub async fn react(self: &Arc<Self>, events: &[Event], rows: &Model) -> Result<(), DispatchError> {
        let mut now = Vec::new();
        for e in events {
            let Some(view) = e.task_id.and_then(|t| rows.tasks.get(&t)) else {
                continue;
            };
            if view.version != e.version {
                continue; // the task moved on within this batch or since; its order is stale
            }
            match &e.data {
                EventData::TaskPending { not_before: Some(at), .. } if *at > Utc::now() => {
                    self.schedule(order_for(view, false), *at);
                }
                EventData::TaskPending { .. } => now.push(order_for(view, false)),
                EventData::TaskRetry { retry_at, .. } => self.schedule(order_for(view, false), *retry_at),
                _ => {}
            }
        }
        self.publish_traced(now).await
    }

    /// After a restart or a change of leader: order every pending task again, and schedule due
    /// retries. With a non-durable broker, attempts that were running when the process died are
    /// taken over as new attempts; a durable broker redelivers those itself, so live workers'
    /// attempts are left alone.
    pub async fn redeliver(self: &Arc<Self>, unfinished: Vec<TaskView>) -> Result<usize, DispatchError> {
        let mut now = Vec::new();
        let mut takeovers = Vec::new();
        let count = unfinished.len();
        for view in unfinished {
            match view.state {
                TaskState::Pending => match view.not_before {
                    Some(at) if at > Utc::now() => self.schedule(order_for(&view, false), at),
                    _ => now.push(order_for(&view, false)),
                },
                TaskState::Retry => {
                    let at = view.retry_at.unwrap_or_else(Utc::now);
                    self.schedule(order_for(&view, false), at);
                }
                TaskState::Received | TaskState::Started if !self.broker.durable() => {
                    takeovers.push(order_for(&view, true))
                }
                _ => {}
            }
        }
        self.publish(now).await?;
        // A takeover's order is new (made at the attempt's version): its dispatch span is too.
        self.publish_traced(takeovers).await?;
        Ok(count)
    }

    fn schedule(self: &Arc<Self>, order: TaskOrder, at: chrono::DateTime<Utc>) {
        let me = self.clone();
        let delay = (at - Utc::now()).to_std().unwrap_or_default();
        self.timers.spawn(async move {
            tokio::select! {
                _ = me.shutdown.cancelled() => {}
                _ = tokio::time::sleep(delay) => {
                    if let Err(e) = me.publish_traced(vec![order]).await {
                        warn!(error = %e, "could not publish a due order (a retry or a delayed task); it is re-ordered on restart");
                    }
                }
            }
        });
    }

    /// Publishes first orders (and takeovers) and records their dispatch spans, the parents their
    /// attempts name; a plain re-order after a restart has the span id of the first and records
    /// none. (A batch re-processed after a crash records its spans again, with the same ids.)
    async fn publish_traced(self: &Arc<Self>, orders: Vec<TaskOrder>) -> Result<(), DispatchError> {
        if !aurora_telemetry::enabled() || orders.is_empty() {
            return self.publish(orders).await;
        }
        let started = Utc::now();
        let spans: Vec<_> = orders.iter().map(|o| crate::traces::dispatch_span(o, started, started)).collect();
        self.publish(orders).await?;
        let ended = Utc::now();
        for mut span in spans {
            span.end = ended;
            aurora_telemetry::record(span);
        }
        Ok(())
    }

    async fn publish(self: &Arc<Self>, orders: Vec<TaskOrder>) -> Result<(), DispatchError> {
        if orders.is_empty() {
            return Ok(());
        }
        // Every batch re-registers its queues (one idempotent call per distinct queue): the registry
        // is not durable truth, and a coordination store that lost its data must learn them again.
        let queues: BTreeSet<QueueKey> = orders.iter().map(|o| o.queue.clone()).collect();
        for q in &queues {
            self.registry.add_queue(q).await?;
        }
        let watch: Vec<TaskOrder> = orders.iter().filter(|o| !o.takeover).cloned().collect();
        debug!(orders = orders.len(), "publishing orders");
        crate::metrics::ORDERS.inc_by(orders.len() as u64);
        self.broker.publish(orders).await?;
        for order in watch {
            self.watch_schedule_to_start(order);
        }
        Ok(())
    }

    /// Fails the task if it is still unclaimed after the timeout and no live worker serves its
    /// queue; re-arms while some worker could take it (it is only busy).
    fn watch_schedule_to_start(self: &Arc<Self>, order: TaskOrder) {
        let me = self.clone();
        self.timers.spawn(async move {
            loop {
                tokio::select! {
                    _ = me.shutdown.cancelled() => return,
                    _ = tokio::time::sleep(me.schedule_to_start) => {}
                }
                let Ok(events) = me.ledger.read_stream(&order.task_id.stream(), order.version + 1).await else { return };
                if !events.is_empty() {
                    return; // claimed, cancelled or otherwise moved on
                }
                let Ok(workers) = me.registry.workers().await else { continue };
                let served = workers.iter().any(|w| {
                    w.handlers.iter().any(|h| h.name == order.queue.handler) && matches(&order.queue.selector, &w.labels)
                });
                if served {
                    continue;
                }
                let error = format!(
                    "no live worker offers handler `{}` with labels matching {} within the schedule-to-start timeout of {} s",
                    order.queue.handler,
                    serde_json::to_string(&order.queue.selector).unwrap_or_default(),
                    me.schedule_to_start.as_secs_f64()
                );
                let data = EventData::TaskFailed { attempt: None, error, kind: FailureKind::ScheduleToStartTimeout, traceback: None };
                let meta = EventMeta {
                    actor: Some("dispatcher".into()),
                    correlation_id: Some(order.graph_id.0),
                    trace_id: Some(aurora_schemas::trace::trace_id(order.graph_id)),
                    ..Default::default()
                };
                let _ = crate::transition::append(
                    me.ledger.as_ref(),
                    order.graph_id,
                    order.task_id,
                    data,
                    meta,
                    order.version,
                    crate::transition::OnConflict::GiveUp,
                )
                .await;
                return;
            }
        });
    }

    /// Waits for timers to stop after shutdown.
    pub async fn close(&self) {
        self.timers.close();
        self.timers.wait().await;
    }
}
