//! A handler a remote worker offers, as the worker role runs it: the attempt is claimed, timed and
//! recorded by the usual runner (`aurora_worker::attempt`); this handler only sends the `task`,
//! relays a `cancel` when the attempt must stop, hands back the worker's outcome, and acks it once
//! the runner has settled it.

use super::link::{Link, Reported};
use super::messages;
use async_trait::async_trait;
use aurora_schemas::{HandlerInfo, TypedValue};
use aurora_worker::{Context, Handler, HandlerError, Settled, StopReason};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

/// How long an attempt that must stop waits for the worker's outcome before it lets go.
pub const STOP_GRACE: Duration = Duration::from_secs(5);

/// One declared handler of one connection.
pub struct Remote {
    /// As declared in `hello`.
    pub info: HandlerInfo,
    /// The connection.
    pub link: Arc<Link>,
}

/// Forgets the attempt when the handler stops waiting for it (dropped after its stop grace).
struct Waiting<'a>(&'a Link, &'a str);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.forget(self.1);
    }
}

#[async_trait]
impl Handler for Remote {
    fn info(&self) -> HandlerInfo {
        self.info.clone()
    }

    async fn call(&self, ctx: Context, args: Vec<TypedValue>) -> Result<Vec<TypedValue>, HandlerError> {
        let id = messages::attempt_id(ctx.task_id, ctx.attempt);
        let gone = || HandlerError::Abandon("the remote worker's connection closed".into());
        let Some(reported) = self.link.expect(&id, ctx.clone()) else { return Err(gone()) };
        let _waiting = Waiting(&self.link, &id);
        self.link.send(
            json!({
                "type": "task",
                "attempt_id": id,
                "task_id": ctx.task_id,
                "graph_id": ctx.graph_id,
                "key": ctx.key,
                "handler": self.info.name,
                "args": args,
                "attempt": ctx.attempt,
                "deadline": ctx.deadline,
                "trace_id": aurora_schemas::trace::trace_id(ctx.graph_id),
            })
            .to_string(),
        );
        tokio::pin!(reported);
        let outcome = tokio::select! {
            r = &mut reported => r,
            reason = ctx.stopped() => {
                let why = match reason {
                    StopReason::TimedOut { .. } => "timed_out",
                    StopReason::Cancelled => "cancelled",
                };
                self.link.send(messages::cancel(&id, why));
                reported.await
            }
        };
        match outcome.map_err(|_| gone())? {
            Reported::Result(results) => match super::resend::check_results(Some(&self.info), &results) {
                Ok(()) => Ok(results.into_iter().map(TypedValue::normalized).collect()),
                Err(m) => Err(HandlerError::BadResults(m)),
            },
            Reported::Failure { error, retry, traceback } => {
                if let Some(t) = traceback {
                    ctx.set_traceback(t);
                }
                Err(if retry { HandlerError::Retryable(error) } else { HandlerError::Final(error) })
            }
        }
    }

    fn stop_grace(&self) -> Duration {
        STOP_GRACE
    }

    async fn settled(&self, ctx: &Context, settled: Settled) {
        let id = messages::attempt_id(ctx.task_id, ctx.attempt);
        let ack = match &settled {
            Settled::Recorded(_) => messages::ack(&id, "recorded", None),
            Settled::Rejected(m) => messages::ack(&id, "rejected", Some(m)),
            Settled::Superseded(m) => messages::ack(&id, "superseded", Some(m)),
        };
        self.link.send(ack);
    }
}
