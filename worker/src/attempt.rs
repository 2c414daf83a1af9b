//! One delivery, start to finish (DESIGN §3.3): claim the attempt at the order's version, run the
//! handler under its timeout while watching whether the task moves on without it (its run was
//! cancelled, or another worker took it over), record the outcome at the next version, and only
//! then ack.

use crate::handlers::{Context, Handler, HandlerError, Registry, StopReason};
use aurora_broker::Delivery;
use aurora_ledger::{AppendRequest, Ledger};
use aurora_schemas::event::{EventData, FailureKind};
use aurora_schemas::trace::trace_id_of;
use aurora_schemas::{EventMeta, NewEvent, TaskOrder, TaskSpec, TaskState};
use chrono::Utc;
use rand::Rng;
use std::sync::Arc;
use std::time::Duration;
use tracing::{Instrument, debug, info, warn};

/// How often a running attempt reads its task's stream to learn whether the task moved on
/// without it (cancelled, taken over); the handler is then stopped.
pub const MOVED_ON_CHECK: Duration = Duration::from_secs(1);

/// What the worker needs to run attempts.
#[derive(Clone)]
pub struct Runner {
    /// Where transitions are recorded.
    pub ledger: Arc<dyn Ledger>,
    /// What can be run.
    pub handlers: Arc<Registry>,
    /// This worker's id.
    pub worker_id: String,
}

/// How an attempt ended, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The claim lost: another copy of the order was claimed, or the task moved on.
    Duplicate,
    /// The attempt's outcome was recorded.
    Recorded(TaskState),
    /// The outcome could not be recorded (the task was cancelled meanwhile, or taken over).
    Superseded,
    /// This worker no longer has the handler (it was withdrawn): the delivery goes back to the
    /// queue for a worker that has it, unclaimed.
    HandedBack,
}

impl Runner {
    fn meta(&self, order: &TaskOrder) -> EventMeta {
        EventMeta {
            actor: Some(format!("worker:{}", self.worker_id)),
            correlation_id: Some(order.graph_id.0),
            worker_id: Some(self.worker_id.clone()),
            trace_id: order.traceparent.as_deref().and_then(trace_id_of).map(str::to_string),
            ..Default::default()
        }
    }

    fn event(&self, order: &TaskOrder, data: EventData) -> NewEvent {
        NewEvent::task(order.graph_id, order.task_id, data, self.meta(order))
    }

    /// Handles one delivery and settles it. Ledger outages are retried; if the outcome still
    /// cannot be recorded, the delivery is handed back (nack with requeue) to run again.
    pub async fn handle(&self, delivery: Delivery) {
        // Every log line of the attempt carries the run's trace id (W3C trace context).
        let trace_id = delivery.order.traceparent.as_deref().and_then(trace_id_of).unwrap_or_default().to_string();
        let span = tracing::info_span!("attempt", task_id = %delivery.order.task_id, trace_id);
        self.settle(delivery).instrument(span).await
    }

    async fn settle(&self, delivery: Delivery) {
        let redelivered = delivery.redelivered;
        let order = delivery.order.clone();
        match self.run(order, redelivered).await {
            Ok(Outcome::HandedBack) => {
                // Not too eagerly: this worker stops consuming the queue once it sees the change.
                tokio::time::sleep(Duration::from_millis(100)).await;
                let _ = delivery.nack(true).await;
            }
            Ok(outcome) => {
                debug!(?outcome, "attempt settled");
                if let Err(e) = delivery.ack().await {
                    warn!(error = %e, "ack failed; the broker will redeliver and the claim will dedupe it");
                }
            }
            Err(e) => {
                warn!(error = %e, "could not record the attempt; handing the delivery back");
                let _ = delivery.nack(true).await;
            }
        }
    }

    /// Claims, runs and records one order.
    pub async fn run(&self, order: TaskOrder, redelivered: bool) -> Result<Outcome, aurora_ledger::Error> {
        let Some(handler) = self.handlers.get(&order.queue.handler) else {
            info!(task_id = %order.task_id, handler = %order.queue.handler, "handler withdrawn; handing the order back");
            return Ok(Outcome::HandedBack);
        };
        let Some((version, attempt)) = self.claim(&order, redelivered).await? else {
            debug!(task_id = %order.task_id, version = order.version, "duplicate order dropped");
            crate::metrics::DUPLICATES.with_label_values(&[&order.queue.handler]).inc();
            return Ok(Outcome::Duplicate);
        };
        let ctx = Context::new(order.task_id, order.graph_id, attempt);
        let timer = crate::metrics::DURATION.with_label_values(&[&order.queue.handler]).start_timer();
        let outcome = self.execute(&order, handler.as_ref(), ctx, version).await;
        timer.observe_duration();
        let Some(outcome) = outcome else {
            info!(task_id = %order.task_id, attempt, "the task moved on while running (cancelled or taken over); handler stopped");
            return Ok(Outcome::Superseded);
        };
        let data = self.decide(&order, attempt, outcome);
        let state = TaskState::after(data.event_type()).unwrap_or(TaskState::Failure);
        let mut delay = Duration::from_millis(20);
        for _ in 0..8 {
            match self.ledger.append(AppendRequest::new(version, vec![self.event(&order, data.clone())])).await {
                Ok(_) => {
                    info!(task_id = %order.task_id, attempt, state = %state, "attempt recorded");
                    crate::metrics::TRANSITIONS.with_label_values(&[&order.queue.handler, state.as_str()]).inc();
                    return Ok(Outcome::Recorded(state));
                }
                Err(e) if e.is_conflict() => {
                    info!(task_id = %order.task_id, attempt, "task moved on while running (cancelled or taken over)");
                    return Ok(Outcome::Superseded);
                }
                Err(e) => {
                    warn!(error = %e, task_id = %order.task_id, "recording failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(2));
                }
            }
        }
        Err(aurora_ledger::Error::Unavailable(format!("could not record the outcome of task {}", order.task_id)))
    }

    /// Appends `TaskReceived` + `TaskStarted` at the order's version. Returns the version after
    /// the claim and the attempt number, or `None` if this order lost.
    async fn claim(&self, order: &TaskOrder, redelivered: bool) -> Result<Option<(u64, u32)>, aurora_ledger::Error> {
        let takeover = order.takeover || redelivered;
        let events = |attempt: u32| {
            vec![
                self.event(order, EventData::TaskReceived { attempt, worker_id: self.worker_id.clone(), takeover }),
                self.event(order, EventData::TaskStarted { attempt }),
            ]
        };
        match self.ledger.append(AppendRequest::new(order.version, events(order.attempt))).await {
            Ok(_) => return Ok(Some((order.version + 2, order.attempt))),
            Err(e) if !e.is_conflict() => return Err(e),
            Err(_) if !takeover => return Ok(None),
            Err(_) => {}
        }
        // A redelivered order whose attempt was claimed by a holder that vanished: take over as a
        // new attempt, but only if that attempt is still open (RECEIVED or STARTED).
        let stream = self.ledger.read_stream(&order.task_id.stream(), 1).await?;
        let state = TaskState::of_stream(&stream);
        if !matches!(state, TaskState::Received | TaskState::Started) {
            return Ok(None);
        }
        let last_attempt = stream
            .iter()
            .filter_map(|e| match e.data {
                EventData::TaskReceived { attempt, .. } => Some(attempt),
                _ => None,
            })
            .max()
            .unwrap_or(0);
        let attempt = last_attempt + 1;
        let at = stream.len() as u64;
        match self.ledger.append(AppendRequest::new(at, events(attempt))).await {
            Ok(_) => {
                info!(task_id = %order.task_id, attempt, "took over an interrupted attempt");
                Ok(Some((at + 2, attempt)))
            }
            Err(e) if e.is_conflict() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Runs the handler until it returns, its timeout elapses, or its task moves on without it
    /// (`None`: nothing is to be recorded); in the last two cases the handler is told to stop and
    /// given its grace to clean up.
    async fn execute(
        &self,
        order: &TaskOrder,
        handler: &dyn Handler,
        ctx: Context,
        claimed: u64,
    ) -> Option<Result<Vec<aurora_schemas::TypedValue>, Failure>> {
        let timeout = match (order.timeout_ms, handler.default_timeout()) {
            (Some(ms), _) => Some((Duration::from_millis(ms), "timeoutMs")),
            (None, Some(d)) => Some((d, "the handler's timeout_ms")),
            (None, None) => None,
        };
        let call = handler.call(ctx.clone(), order.args.clone());
        tokio::pin!(call);
        let deadline = async {
            match timeout {
                Some((d, _)) => tokio::time::sleep(d).await,
                None => std::future::pending().await,
            }
        };
        let reason = tokio::select! {
            result = &mut call => return Some(result.map_err(Failure::from)),
            () = deadline => StopReason::TimedOut { after: timeout.map(|(d, _)| d).unwrap_or_default() },
            () = self.moved_on(order, claimed) => StopReason::Cancelled,
        };
        ctx.stop(reason);
        let late = tokio::time::timeout(handler.stop_grace(), &mut call).await.ok();
        match (reason, timeout) {
            (StopReason::TimedOut { after }, Some((_, source))) => {
                let detail = match late {
                    Some(Err(e)) => format!("; {e}"),
                    _ => String::new(),
                };
                Some(Err(Failure::Retryable(
                    format!("attempt {} timed out after {} ms ({source}){detail}", ctx.attempt, after.as_millis()),
                    FailureKind::Timeout,
                )))
            }
            _ => None,
        }
    }

    /// Resolves once the task's stream has events after the claim at `claimed`: someone else (the
    /// projector cancelling the run, a worker taking the task over) moved it on.
    async fn moved_on(&self, order: &TaskOrder, claimed: u64) {
        let stream = order.task_id.stream();
        let mut check = tokio::time::interval_at(tokio::time::Instant::now() + MOVED_ON_CHECK, MOVED_ON_CHECK);
        loop {
            check.tick().await;
            match self.ledger.read_stream(&stream, claimed + 1).await {
                Ok(later) if !later.is_empty() => return,
                Ok(_) => {}
                Err(e) => debug!(error = %e, task_id = %order.task_id, "could not check whether the task moved on"),
            }
        }
    }

    fn decide(
        &self,
        order: &TaskOrder,
        attempt: u32,
        outcome: Result<Vec<aurora_schemas::TypedValue>, Failure>,
    ) -> EventData {
        match outcome {
            Ok(results) => EventData::TaskSucceeded { attempt, results },
            Err(Failure::Retryable(error, _)) if attempt <= order.retry_count => {
                let spec = TaskSpec { retry_backoff_ms: Some(order.retry_backoff_ms), ..Default::default() };
                let base = spec.backoff_ms(attempt + 1) as f64;
                let jittered = (base * rand::thread_rng().gen_range(0.8..1.2)).min(60_000.0);
                let retry_at = Utc::now() + chrono::Duration::milliseconds(jittered as i64);
                EventData::TaskRetry { attempt, error, retry_at }
            }
            Err(Failure::Retryable(error, kind) | Failure::Final(error, kind)) => {
                EventData::TaskFailed { attempt: Some(attempt), error, kind }
            }
        }
    }
}

enum Failure {
    Retryable(String, FailureKind),
    Final(String, FailureKind),
}

impl From<HandlerError> for Failure {
    fn from(e: HandlerError) -> Self {
        match e {
            HandlerError::Retryable(m) => Failure::Retryable(m, FailureKind::HandlerError),
            HandlerError::BadArgs(m) => Failure::Final(m, FailureKind::BadArgs),
            HandlerError::Final(m) => Failure::Final(m, FailureKind::HandlerError),
        }
    }
}
