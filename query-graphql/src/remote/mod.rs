//! Remote workers (`/workers/ws`, `docs/worker-protocol.md`): a process in any language connects,
//! says `hello` with a token and its handlers, and runs the tasks this gateway sends it. Each
//! connection is an ordinary [`aurora_worker::Service`] whose handlers forward to the socket, so
//! claims, timeouts, retries, cancellation and takeover are the built-in worker's, unchanged.

pub mod handler;
pub mod link;
pub mod messages;
pub mod resend;

use crate::auth::Auth;
use aurora_broker::Broker;
use aurora_coord::Registry;
use aurora_ledger::Ledger;
use aurora_schemas::HandlerInfo;
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use link::{Link, Reported};
use messages::{Incoming, Refusal};
use prometheus::IntGauge;
use std::sync::{Arc, LazyLock};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, info, warn};

/// How long a socket may take to send `hello` after the upgrade.
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest message either side may send.
pub const MAX_MESSAGE_BYTES: usize = 16 << 20;

static CONNECTED: LazyLock<IntGauge> = LazyLock::new(|| {
    prometheus::register_int_gauge!("aurora_remote_workers_connected", "Remote workers connected to this gateway")
        .expect("metric names are unique")
});

/// What the endpoint needs: the backends a worker uses, and the gateway's shutdown.
#[derive(Clone)]
pub struct Endpoint {
    /// Where attempts are recorded.
    pub ledger: Arc<dyn Ledger>,
    /// Where deliveries come from.
    pub broker: Arc<dyn Broker>,
    /// Where connected workers are listed.
    pub registry: Arc<dyn Registry>,
    /// The heartbeat period asked of clients (`welcome.heartbeat_ms`); 3 silent periods end a
    /// connection.
    pub heartbeat: Duration,
    /// Closes every connection with 1001 when the gateway stops.
    pub shutdown: CancellationToken,
}

impl Endpoint {
    /// The endpoint over these backends, with the default 5 s heartbeat.
    pub fn new(
        ledger: Arc<dyn Ledger>,
        broker: Arc<dyn Broker>,
        registry: Arc<dyn Registry>,
        shutdown: CancellationToken,
    ) -> Self {
        Self { ledger, broker, registry, heartbeat: Duration::from_secs(5), shutdown }
    }

    /// Serves one upgraded socket until it closes.
    pub async fn serve(self, ws: WebSocket, auth: Auth) {
        let (mut sink, mut stream) = ws.split();
        let connected = match self.greet(&mut stream, &auth).await {
            Ok(c) => c,
            Err(Some(refusal)) => return refuse(&mut sink, &refusal).await,
            Err(None) => return,
        };
        let span = tracing::info_span!("remote_worker", worker_id = %connected.id, user = %connected.principal.user);
        self.run(sink, stream, auth, connected).instrument(span).await;
    }

    /// Reads and checks `hello`: `Err(None)` when the socket closed first.
    async fn greet(&self, ws: &mut Stream, auth: &Auth) -> Result<Connected, Option<Refusal>> {
        let text = match tokio::time::timeout(HELLO_TIMEOUT, next_message(ws)).await {
            Err(_) => {
                let message = format!("no hello within {} s", HELLO_TIMEOUT.as_secs());
                return Err(Some(Refusal { code: 4408, message }));
            }
            Ok(None) => return Err(None),
            Ok(Some(Err(refusal))) => return Err(Some(refusal)),
            Ok(Some(Ok(text))) => text,
        };
        let (hello, raw) = messages::hello(&text)?;
        let principal = match auth.resolve(Some(&format!("Bearer {}", hello.token))).await {
            Ok(Some(p)) if p.expires_at > chrono::Utc::now() => p,
            Ok(_) => {
                let message = "invalid token: it is unknown, expired or revoked; log in again".to_string();
                return Err(Some(Refusal { code: 4401, message }));
            }
            Err(e) => {
                warn!(error = %e, "session store unavailable");
                let message = "the session store is unavailable; retry shortly".to_string();
                return Err(Some(Refusal { code: 1011, message }));
            }
        };
        if !principal.may_run_workers() {
            let message = format!("role {} may not run workers; it needs worker or admin", principal.role);
            return Err(Some(Refusal { code: 4403, message }));
        }
        let hello = messages::declaration(hello, &raw)?;
        let id = format!("remote-{}", &uuid::Uuid::now_v7().simple().to_string()[20..]);
        Ok(Connected { id, hello, principal })
    }

    async fn run(self, mut sink: Sink, mut stream: Stream, auth: Auth, connected: Connected) {
        let Connected { id, hello, principal } = connected;
        let (out, mut outbound) = mpsc::unbounded_channel::<String>();
        let link = Arc::new(Link::new(out));
        let mut handlers = aurora_worker::Registry::new();
        for info in &hello.handlers {
            handlers.register(Arc::new(handler::Remote { info: info.clone(), link: link.clone() }));
        }
        let declared: Arc<Vec<HandlerInfo>> = Arc::new(hello.handlers.clone());
        let options = aurora_worker::Options {
            id: id.clone(),
            labels: hello.labels.clone(),
            slots: hello.concurrency,
            heartbeat: self.heartbeat,
            grace: handler::STOP_GRACE,
        };
        let deps = aurora_worker::Deps {
            ledger: self.ledger.clone(),
            broker: self.broker.clone(),
            registry: self.registry.clone(),
            handlers: Arc::new(handlers),
        };
        let drain = CancellationToken::new();
        let stop = CancellationToken::new();
        let service = aurora_worker::Service::new(options, deps).with_drain(drain.clone());
        if let Err(e) = service.register().await {
            warn!(error = %e, "could not list the worker");
            let message = format!("could not list the worker in the registry ({e}); retry shortly");
            return refuse(&mut sink, &Refusal { code: 1011, message }).await;
        }
        if sink
            .send(Message::Text(
                messages::welcome(
                    &id,
                    self.heartbeat.as_millis() as u64,
                    aurora_worker::user_metrics::process().declared(),
                )
                .into(),
            ))
            .await
            .is_err()
        {
            let _ = self.registry.deregister(&id).await;
            return;
        }
        let handler_names: Vec<&str> = hello.handlers.iter().map(|h| h.name.as_str()).collect();
        info!(name = hello.name.as_deref().unwrap_or(""), labels = ?hello.labels, concurrency = hello.concurrency,
            handlers = ?handler_names, "remote worker connected");
        CONNECTED.inc();
        let running = tokio::spawn(service.run(stop.clone()).in_current_span());
        let silence = self.heartbeat * 3;
        let deadline = tokio::time::sleep(silence);
        tokio::pin!(deadline);
        let token_end = crate::ws::token_end(&auth, &principal);
        tokio::pin!(token_end);
        let ended = loop {
            tokio::select! {
                m = next_message(&mut stream) => {
                    let text = match m {
                        None => break End::Closed,
                        Some(Err(refusal)) => break End::Refused(refusal),
                        Some(Ok(text)) => text,
                    };
                    deadline.as_mut().reset(Instant::now() + silence);
                    match messages::incoming(&text) {
                        Err(refusal) => break End::Refused(refusal),
                        // The client checks updates against the `welcome`'s declarations; one that
                        // does not fit is a client out of step with its server.
                        Ok(Incoming::Metric(update)) => {
                            if let Err(e) = aurora_worker::user_metrics::process().apply_json(update) {
                                break End::Refused(Refusal::protocol(format!("metric: {e}")));
                            }
                        }
                        Ok(message) => self.handle(message, &link, &id, &declared, &drain),
                    }
                }
                Some(text) = outbound.recv() => {
                    if sink.send(Message::Text(text.into())).await.is_err() {
                        break End::Closed;
                    }
                }
                () = &mut deadline => {
                    break End::Refused(Refusal { code: 4408, message: format!("no message for {} s", silence.as_secs()) });
                }
                reason = &mut token_end => {
                    let reason = if reason == "expired" { "token expired" } else { "token revoked" };
                    break End::Refused(Refusal { code: 4401, message: format!("{reason}; log in again and reconnect") });
                }
                () = self.shutdown.cancelled() => break End::GoingAway,
            }
        };
        // Attempts still in flight are abandoned: their deliveries go back and are taken over.
        link.close();
        stop.cancel();
        match &ended {
            End::Closed => info!("remote worker disconnected"),
            End::Refused(r) => {
                info!(code = r.code, reason = %r.message, "closing a remote worker's connection");
                refuse(&mut sink, r).await;
            }
            End::GoingAway => {
                let frame = CloseFrame { code: 1001, reason: "the server is shutting down; reconnect".into() };
                let _ = sink.send(Message::Close(Some(frame))).await;
            }
        }
        CONNECTED.dec();
        if let Ok(Err(e)) = running.await {
            warn!(error = %e, "the remote worker's service ended with an error");
        }
    }

    /// One message after `welcome`.
    fn handle(
        &self,
        message: Incoming,
        link: &Arc<Link>,
        worker_id: &str,
        declared: &Arc<Vec<HandlerInfo>>,
        drain: &CancellationToken,
    ) {
        let (attempt_id, reported) = match message {
            Incoming::Heartbeat => return link.send(messages::heartbeat()),
            Incoming::Drain => {
                info!("the remote worker drains: no more tasks on this connection");
                return drain.cancel();
            }
            Incoming::Progress { attempt_id, fraction, message } => {
                link.progress(&attempt_id, fraction, message);
                return;
            }
            Incoming::Metric(_) => return, // applied where it arrived (`serve`)
            Incoming::Result { attempt_id, results } => (attempt_id, Reported::Result(results)),
            Incoming::Failure { attempt_id, error, retry, traceback } => {
                (attempt_id, Reported::Failure { error, retry, traceback })
            }
        };
        if link.deliver(&attempt_id, reported.clone()) {
            return; // its handler records it and acks once settled
        }
        // Not in flight here: an earlier connection's, or one whose attempt was stopped.
        let Ok((task, attempt)) = messages::attempt_of(&attempt_id) else { return };
        let (ledger, link, worker_id, declared) =
            (self.ledger.clone(), link.clone(), worker_id.to_string(), declared.clone());
        tokio::spawn(
            async move {
                let find = |name: &str| declared.iter().find(|h| h.name == name).cloned();
                let ack = match resend::record(ledger.as_ref(), task, attempt, reported, &worker_id, find).await {
                    Ok((status, message)) => messages::ack(&attempt_id, status, message.as_deref()),
                    Err(e) => {
                        // Not acked: the client keeps the outcome and resends it after reconnecting.
                        warn!(error = %e, attempt_id, "could not record a resent outcome");
                        return;
                    }
                };
                link.send(ack);
            }
            .in_current_span(),
        );
    }
}

struct Connected {
    id: String,
    hello: messages::Hello,
    principal: crate::auth::Principal,
}

enum End {
    /// The client closed, or the connection dropped.
    Closed,
    /// The server closes with this.
    Refused(Refusal),
    /// The gateway stops.
    GoingAway,
}

type Sink = SplitSink<WebSocket, Message>;
type Stream = SplitStream<WebSocket>;

/// The next text message, a refusal for a binary one, or `None` when the socket closed.
async fn next_message(ws: &mut Stream) -> Option<Result<String, Refusal>> {
    while let Some(m) = ws.next().await {
        match m {
            Ok(Message::Text(t)) => return Some(Ok(t.to_string())),
            Ok(Message::Binary(_)) => {
                return Some(Err(Refusal::protocol(
                    "binary frames are not part of the protocol; send JSON text frames",
                )));
            }
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(Message::Ping(_) | Message::Pong(_)) => {}
        }
    }
    None
}

/// Sends `error` and closes with its code.
async fn refuse(sink: &mut Sink, refusal: &Refusal) {
    let _ = sink.send(Message::Text(messages::error(refusal).into())).await;
    let frame = CloseFrame { code: refusal.code, reason: messages::close_reason(&refusal.message).into() };
    let _ = sink.send(Message::Close(Some(frame))).await;
}
