//! The GraphQL WebSocket endpoint (`/graphql/ws`, `graphql-transport-ws` and the older
//! `graphql-ws`), with the bounds and close codes clients are written against: a socket must
//! send `connection_init` with a valid token within `limits.connection_init_timeout_secs` (4408
//! otherwise; 4403 with the reason for a missing or invalid token; 4401 for a subscribe before
//! it), a token holds at most `limits.max_sockets_per_token` sockets (4429), and a socket is closed
//! with 4401 when its token expires or is revoked, ending its subscriptions.

use crate::auth::{Auth, Principal};
use crate::guard::Guard;
use crate::live::{Live, What};
use crate::schema::{AppSchema, State};
use async_graphql::http::{WebSocketProtocols as Protocols, WsMessage};
use async_graphql::{Data, Executor, Request, Response};
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use chrono::Utc;
use futures::stream::BoxStream;
use futures::{FutureExt, SinkExt, StreamExt};
use std::sync::Arc;
use std::time::Duration;
use tracing::{debug, info};

/// How often an open socket checks that its token was not revoked.
const REVOCATION_CHECK: Duration = Duration::from_secs(2);

/// The most messages written to a socket at once: those ready when the first is sent (a
/// subscriber that is behind gets many events in one write instead of a write each).
const FRAMES_PER_WRITE: usize = 64;

/// What a socket's operations run on: a subscription on the schema without the guard's
/// per-field extension, with the guard's depth and field count checked first and its wording of
/// errors applied to what it sends; queries and mutations on the guarded schema (with the same
/// wording of errors: over a socket, async-graphql does not call the guard's request hook).
#[derive(Clone)]
pub struct Operations {
    guarded: AppSchema,
    subscriptions: AppSchema,
    guard: Guard,
}

impl Operations {
    /// Over `guarded` (the schema HTTP serves) and a subscription schema built from `state`.
    pub fn new(guarded: AppSchema, state: &State) -> Self {
        let guard = crate::schema::guard_of(&state.limits);
        Self { guarded, subscriptions: crate::schema::build_subscription_schema(state.clone()), guard }
    }
}

impl Executor for Operations {
    fn execute(&self, request: Request) -> impl Future<Output = Response> + Send {
        Executor::execute(&self.guarded, request)
    }

    fn execute_stream(&self, request: Request, session_data: Option<Arc<Data>>) -> BoxStream<'static, Response> {
        let guard = self.guard;
        let polished = move |mut response: Response| {
            guard.polish(&mut response);
            response
        };
        let doc = match async_graphql::parser::parse_query(&request.query) {
            Ok(doc) if selects_a_subscription(&doc, request.operation_name.as_deref()) => doc,
            // Not a subscription, or not valid: the guarded schema runs it (or says why not).
            _ => return Executor::execute_stream(&self.guarded, request, session_data).map(polished).boxed(),
        };
        if let Err(refused) = self.guard.check_fields(&doc) {
            return futures::stream::once(async move { Response::from_errors(vec![refused]) }).boxed();
        }
        Executor::execute_stream(&self.subscriptions, request, session_data).map(polished).boxed()
    }
}

/// Whether the operation a request runs (the one named, or the only one) is a subscription.
fn selects_a_subscription(doc: &async_graphql::parser::types::ExecutableDocument, name: Option<&str>) -> bool {
    use async_graphql::parser::types::{DocumentOperations, OperationType};
    let ty = match (&doc.operations, name) {
        (DocumentOperations::Single(op), _) => Some(op.node.ty),
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name).map(|op| op.node.ty),
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => ops.values().next().map(|op| op.node.ty),
        (DocumentOperations::Multiple(_), None) => None,
    };
    ty == Some(OperationType::Subscription)
}

/// What one socket needs.
pub struct Socket {
    /// What it executes.
    pub operations: Operations,
    /// The protocol the client asked for.
    pub protocol: Protocols,
    /// Token checks.
    pub auth: Auth,
    /// Open sockets and subscriptions.
    pub live: Arc<Live>,
    /// The limits.
    pub limits: aurora_config::Limits,
}

/// The protocol named by a `Sec-WebSocket-Protocol` header (several may be offered).
pub fn protocol(header: Option<&str>) -> Option<Protocols> {
    header?.split(',').map(str::trim).find_map(|p| p.parse().ok())
}

/// Closes `ws` with `code` and `reason` (for the older protocol, first as a `connection_error`).
async fn close(ws: &mut WebSocket, protocol: Protocols, code: u16, reason: &str) {
    if protocol == Protocols::SubscriptionsTransportWS {
        let error = serde_json::json!({ "type": "connection_error", "payload": { "message": reason } });
        let _ = ws.send(Message::Text(error.to_string().into())).await;
    }
    // A close reason is at most 123 bytes.
    let mut reason = reason.to_string();
    while reason.len() > 123 {
        reason.pop();
    }
    let _ = ws.send(Message::Close(Some(CloseFrame { code, reason: reason.into() }))).await;
}

impl Socket {
    /// Serves `ws` until either side closes it.
    pub async fn serve(self, mut ws: WebSocket) {
        let protocol = self.protocol;
        let init_timeout = Duration::from_secs(self.limits.connection_init_timeout_secs);
        let first = tokio::time::timeout(init_timeout, next_text(&mut ws)).await;
        let init = match first {
            Err(_) => return close(&mut ws, protocol, 4408, "Connection initialisation timeout").await,
            Ok(None) => return,
            Ok(Some(text)) => text,
        };
        let parsed: serde_json::Value = serde_json::from_str(&init).unwrap_or_default();
        if parsed["type"] != "connection_init" {
            let reason = "Unauthorized: send connection_init with {\"Authorization\": \"Bearer <token>\"} first";
            return close(&mut ws, protocol, 4401, reason).await;
        }
        let header = ["Authorization", "authorization"].iter().find_map(|k| parsed["payload"][k].as_str());
        let principal = match self.auth.resolve(header).await {
            Ok(Some(p)) => p,
            Ok(None) => {
                let reason =
                    "Forbidden: a valid token is required in connection_init: {\"Authorization\": \"Bearer <token>\"}";
                return close(&mut ws, protocol, 4403, reason).await;
            }
            Err(e) => {
                debug!(error = %e, "session store unavailable");
                return close(&mut ws, protocol, 1011, "the session store is unavailable; retry shortly").await;
            }
        };
        let slot = self.live.take(
            What::Socket,
            &principal.token_hash,
            self.limits.max_sockets_per_token,
            self.limits.max_connections,
        );
        let _slot = match slot {
            Ok(s) => s,
            Err(full) => {
                let reason = format!("Too many connections: {full} sockets (limits.max_sockets_per_token); close some");
                return close(&mut ws, protocol, 4429, &reason).await;
            }
        };
        self.run(ws, init, principal).await;
    }

    async fn run(self, ws: WebSocket, init: String, principal: Principal) {
        let protocol = self.protocol;
        let (mut sink, stream) = ws.split();
        let incoming = stream.filter_map(|m| async move {
            match m {
                Ok(Message::Text(t)) => Some(t.as_str().as_bytes().to_vec()),
                Ok(Message::Binary(b)) => Some(b.to_vec()),
                _ => None,
            }
        });
        let incoming = futures::stream::once(async move { init.into_bytes() }).chain(incoming);
        let mut data = Data::default();
        data.insert(principal.clone());
        let incoming = Box::pin(incoming);
        let gql = async_graphql::http::WebSocket::new(self.operations.clone(), incoming, protocol)
            .connection_data(data)
            .on_connection_init(|_| async { Ok(Data::default()) });
        tokio::pin!(gql);
        let ended = token_end(&self.auth, &principal);
        tokio::pin!(ended);
        loop {
            tokio::select! {
                reason = &mut ended => {
                    info!(user = %principal.user, reason, "closing a socket: its token is no longer valid");
                    let reason = format!("Unauthorized: the token {reason}; log in again");
                    let _ = sink.send(Message::Close(Some(CloseFrame { code: 4401, reason: reason.into() }))).await;
                    return;
                }
                out = gql.next() => {
                    // What else is ready goes out with it, in one write (up to FRAMES_PER_WRITE).
                    let (mut out, mut fed) = (out, 0);
                    loop {
                        match out {
                            Some(WsMessage::Text(t)) => {
                                if sink.feed(Message::Text(t.into())).await.is_err() {
                                    return;
                                }
                            }
                            Some(WsMessage::Close(code, reason)) => {
                                let _ = sink.send(Message::Close(Some(CloseFrame { code, reason: reason.into() }))).await;
                                return;
                            }
                            None => {
                                let _ = sink.flush().await;
                                return;
                            }
                        }
                        fed += 1;
                        if fed == FRAMES_PER_WRITE {
                            break;
                        }
                        match gql.next().now_or_never() {
                            Some(next) => out = next,
                            None => break,
                        }
                    }
                    if sink.flush().await.is_err() {
                        return;
                    }
                }
            }
        }
    }
}

/// The next text message, or `None` if the socket closed first.
async fn next_text(ws: &mut WebSocket) -> Option<String> {
    while let Some(m) = ws.recv().await {
        match m {
            Ok(Message::Text(t)) => return Some(t.to_string()),
            Ok(Message::Binary(b)) => return Some(String::from_utf8_lossy(&b).into_owned()),
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => {}
        }
    }
    None
}

/// Resolves when `principal`'s token expires (`"expired"`) or is revoked (`"was revoked"`).
pub(crate) async fn token_end(auth: &Auth, principal: &Principal) -> &'static str {
    loop {
        let left = (principal.expires_at - Utc::now()).to_std().unwrap_or_default();
        if left.is_zero() {
            return "expired";
        }
        tokio::time::sleep(left.min(REVOCATION_CHECK)).await;
        if principal.expires_at <= Utc::now() {
            return "expired";
        }
        if let Ok(false) = auth.still_valid(principal).await {
            return "was revoked";
        }
    }
}
