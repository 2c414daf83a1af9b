//! One delivery, start to finish (DESIGN §3.3): claim the attempt at the order's version, run the
//! handler under its timeout while recording the progress it reports and watching whether the task
//! moves on without it (its run was cancelled, or another worker took it over), record the outcome
//! at the next version, tell the handler what became of it, and only then ack.

use crate::attempt_trace::AttemptTrace;
use crate::handlers::{Context, Handler, HandlerError, Progress, Registry, Settled, StopReason};
use aurora_broker::Delivery;
use aurora_ledger::{AppendRequest, Ledger};
use aurora_schemas::decide::attempt::{self as decide, Failure, RetryPolicy};
use aurora_schemas::event::{EventData, FailureKind};
use aurora_schemas::trace::trace_id_of;
use aurora_schemas::{EventMeta, NewEvent, TaskOrder, TaskState, TypedValue};
use chrono::Utc;
use rand::Rng;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::{Instrument, debug, info, warn};

/// How often a running attempt reads its task's stream to learn whether the task moved on
/// without it (cancelled, taken over); the handler is then stopped.
pub const MOVED_ON_CHECK: Duration = Duration::from_secs(1);

/// At most one `TaskProgress` per task in this interval; the latest report waits for the next.
pub const PROGRESS_INTERVAL: Duration = Duration::from_secs(1);

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
    /// The attempt could not finish here (its remote worker went away): nothing recorded, the
    /// delivery goes back, and the task is taken over as a new attempt.
    Abandoned,
}

/// How an attempt's run ended, before anything is recorded.
enum Ran {
    /// The handler returned: record its outcome.
    Finished(Result<Vec<TypedValue>, Failure>),
    /// The attempt ran out of time: record the timeout (not the handler's outcome).
    TimedOut(Failure),
    /// The task moved on without the attempt: record nothing.
    MovedOn,
    /// Hand the delivery back without recording.
    Abandoned(String),
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
            Ok(Outcome::Abandoned) => {
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
        let trace = AttemptTrace::start(&order, &self.worker_id, attempt, order.takeover || redelivered);
        let mut ctx = Context::new(order.task_id, order.graph_id, attempt);
        ctx.key.clone_from(&order.key);
        let timer = crate::metrics::DURATION.with_label_values(&[&order.queue.handler]).start_timer();
        let (ran, version) = self.execute(&order, handler.as_ref(), ctx.clone(), version).await;
        timer.observe_duration();
        let (outcome, own) = match ran {
            Ran::Finished(outcome) => (outcome, true),
            Ran::TimedOut(failure) => (Err(failure), false),
            Ran::MovedOn => {
                info!(task_id = %order.task_id, attempt, "the task moved on while running (cancelled or taken over); handler stopped");
                handler
                    .settled(
                        &ctx,
                        Settled::Superseded(
                            "the task moved on: its run was cancelled, or another attempt took it over".into(),
                        ),
                    )
                    .await;
                trace.end("superseded", None);
                return Ok(Outcome::Superseded);
            }
            Ran::Abandoned(why) => {
                info!(task_id = %order.task_id, attempt, why, "attempt abandoned; handing the delivery back for a takeover");
                trace.end("abandoned", Some(&why));
                return Ok(Outcome::Abandoned);
            }
        };
        let rejected = match &outcome {
            Err(Failure::Final { error, kind: FailureKind::BadResults }) => Some(error.clone()),
            _ => None,
        };
        let policy = RetryPolicy { retry_count: order.retry_count, retry_backoff_ms: order.retry_backoff_ms };
        let jitter = rand::thread_rng().gen_range(0.8..1.2);
        let data = decide::outcome(attempt, outcome, policy, ctx.traceback(), Utc::now(), jitter);
        let state = TaskState::after(data.event_type()).unwrap_or(TaskState::Failure);
        let mut backoff = aurora_schemas::backoff::Backoff::new(Duration::from_millis(20), Duration::from_secs(2));
        for _ in 0..8 {
            match self.ledger.append(AppendRequest::new(version, vec![self.event(&order, data.clone())])).await {
                Ok(_) => {
                    info!(task_id = %order.task_id, attempt, state = %state, "attempt recorded");
                    crate::metrics::TRANSITIONS.with_label_values(&[&order.queue.handler, state.as_str()]).inc();
                    let settled = match (rejected, own) {
                        (_, false) => Settled::Superseded("the attempt timed out; its timeout was recorded".into()),
                        (Some(m), true) => Settled::Rejected(m),
                        (None, true) => Settled::Recorded(state),
                    };
                    handler.settled(&ctx, settled).await;
                    trace.recorded(&data, state.as_str());
                    return Ok(Outcome::Recorded(state));
                }
                Err(e) if e.is_conflict() => {
                    info!(task_id = %order.task_id, attempt, "task moved on while running (cancelled or taken over)");
                    handler.settled(&ctx, Settled::Superseded("the task moved on while the attempt ran".into())).await;
                    trace.end("superseded", None);
                    return Ok(Outcome::Superseded);
                }
                Err(e) => {
                    warn!(error = %e, task_id = %order.task_id, "recording failed; retrying");
                    tokio::time::sleep(backoff.next_delay()).await;
                }
            }
        }
        trace.end("unrecorded", Some("the outcome could not be recorded; the order runs again"));
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
        let Some((at, attempt)) = decide::takeover(takeover, &stream) else { return Ok(None) };
        match self.ledger.append(AppendRequest::new(at, events(attempt))).await {
            Ok(_) => {
                info!(task_id = %order.task_id, attempt, "took over an interrupted attempt");
                Ok(Some((at + 2, attempt)))
            }
            Err(e) if e.is_conflict() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Runs the handler until it returns, its timeout elapses, or its task moves on without it;
    /// in the last two cases the handler is told to stop and given its grace to clean up.
    /// Meanwhile the progress it reports is recorded (at most one event per second). Returns how
    /// the run ended and the task's version after what was recorded meanwhile.
    async fn execute(&self, order: &TaskOrder, handler: &dyn Handler, ctx: Context, claimed: u64) -> (Ran, u64) {
        let timeout = match (order.timeout_ms, handler.default_timeout()) {
            (Some(ms), _) => Some((Duration::from_millis(ms), "timeoutMs")),
            (None, Some(d)) => Some((d, "the handler's timeout_ms")),
            (None, None) => None,
        };
        let deadline = timeout.and_then(|(d, _)| chrono::Duration::from_std(d).ok()).map(|d| Utc::now() + d);
        let (progress_tx, mut progress) = mpsc::unbounded_channel();
        let ctx = ctx.run_by(deadline, progress_tx);
        let mut version = claimed;
        let call = handler.call(ctx.clone(), order.args.clone());
        tokio::pin!(call);
        let far = Instant::now() + Duration::from_secs(365 * 24 * 3600);
        let timed_out = tokio::time::sleep_until(timeout.map(|(d, _)| Instant::now() + d).unwrap_or(far));
        tokio::pin!(timed_out);
        let mut check = tokio::time::interval_at(Instant::now() + MOVED_ON_CHECK, MOVED_ON_CHECK);
        let mut held: Option<Progress> = None;
        let mut last_progress: Option<Instant> = None;
        let flush = tokio::time::sleep_until(far);
        tokio::pin!(flush);
        let reason = loop {
            tokio::select! {
                result = &mut call => {
                    return match result {
                        Err(HandlerError::Abandon(why)) => (Ran::Abandoned(why), version),
                        other => (Ran::Finished(other.map_err(failure)), version),
                    };
                }
                () = &mut timed_out => break StopReason::TimedOut { after: timeout.map(|(d, _)| d).unwrap_or_default() },
                _ = check.tick() => {
                    if self.moved_on(order, version).await {
                        break StopReason::Cancelled;
                    }
                }
                Some(p) = progress.recv() => {
                    let due = last_progress.map_or(Instant::now(), |t| t + PROGRESS_INTERVAL);
                    held = Some(p);
                    flush.as_mut().reset(due);
                }
                () = &mut flush, if held.is_some() => {
                    let Some(p) = held.take() else { continue };
                    let event = EventData::TaskProgress { attempt: ctx.attempt, fraction: p.fraction, message: p.message };
                    match self.ledger.append(AppendRequest::new(version, vec![self.event(order, event)])).await {
                        Ok(_) => {
                            version += 1;
                            last_progress = Some(Instant::now());
                        }
                        Err(e) if e.is_conflict() => break StopReason::Cancelled,
                        Err(e) => debug!(error = %e, task_id = %order.task_id, "could not record progress; a later report may"),
                    }
                    flush.as_mut().reset(far);
                }
            }
        };
        ctx.stop(reason);
        let late = tokio::time::timeout(handler.stop_grace(), &mut call).await.ok();
        match (reason, timeout) {
            (StopReason::TimedOut { after }, Some((_, source))) => {
                let detail = match late {
                    Some(Err(e)) => format!("; {e}"),
                    _ => String::new(),
                };
                let error =
                    format!("attempt {} timed out after {} ms ({source}){detail}", ctx.attempt, after.as_millis());
                (Ran::TimedOut(Failure::Retryable { error, kind: FailureKind::Timeout }), version)
            }
            _ => (Ran::MovedOn, version),
        }
    }

    /// Whether the task's stream has events after `version` that this attempt did not write: the
    /// projector cancelled the run, or a worker took the task over.
    async fn moved_on(&self, order: &TaskOrder, version: u64) -> bool {
        match self.ledger.read_stream(&order.task_id.stream(), version + 1).await {
            Ok(later) => !later.is_empty(),
            Err(e) => {
                debug!(error = %e, task_id = %order.task_id, "could not check whether the task moved on");
                false
            }
        }
    }
}

fn failure(e: HandlerError) -> Failure {
    match e {
        HandlerError::Retryable(error) => Failure::Retryable { error, kind: FailureKind::HandlerError },
        HandlerError::BadArgs(error) => Failure::Final { error, kind: FailureKind::BadArgs },
        HandlerError::Final(error) => Failure::Final { error, kind: FailureKind::HandlerError },
        HandlerError::BadResults(error) => Failure::Final { error, kind: FailureKind::BadResults },
        // Handled by the caller before it gets here; as a failure it is one worth retrying.
        HandlerError::Abandon(error) => Failure::Retryable { error, kind: FailureKind::HandlerError },
    }
}
