//! The HTTP surface: GraphQL over POST, GraphiQL on GET, subscriptions over WebSocket
//! (`graphql-transport-ws` and `graphql-ws`), remote workers, the seed's REST API (`rest`), the
//! web UI, health, readiness and Prometheus metrics.

use crate::schema::{AppSchema, State};
use async_graphql::http::{ALL_WEBSOCKET_PROTOCOLS, GraphiQLSource};
use async_graphql_axum::GraphQLResponse;
use aurora_coord::Registry;
use aurora_ledger::Ledger;
use axum::Router;
use axum::extract::{State as AxumState, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::info;

/// The read buffer of a `/graphql/ws` socket.
const READ_BUFFER_BYTES: usize = 4 * 1024;

#[derive(Clone)]
struct Http {
    schema: AppSchema,
    /// What `/graphql/ws` runs: subscriptions without the per-field guard, the rest with it.
    operations: crate::ws::Operations,
    state: State,
}

/// The router for `schema` over `state`.
/// Cross-origin requests are answered as `http.cors_origins` allows, on every route.
pub fn router(schema: AppSchema, state: State) -> Router {
    let ops = operations_router(state.ledger.clone(), state.registry.clone());
    let rest = crate::rest::router(state.clone());
    let cors = crate::cors::Cors::new(state.http.cors_origins.clone());
    Router::new()
        .route("/graphql", get(graphiql).post(graphql))
        .route("/graphql/ws", get(subscriptions))
        .route("/workers/ws", get(remote_workers))
        .fallback(get(ui))
        .with_state(Arc::new(Http { operations: crate::ws::Operations::new(schema.clone(), &state), schema, state }))
        .merge(ops)
        .merge(rest)
        .layer(axum::middleware::from_fn_with_state(cors, crate::cors::layer))
}

#[derive(Clone)]
struct Deps {
    ledger: Arc<dyn Ledger>,
    registry: Arc<dyn Registry>,
}

/// `/health` (liveness), `/ready` (the ledger and the coordination store answer) and `/metrics`,
/// served by every process.
pub fn operations_router(ledger: Arc<dyn Ledger>, registry: Arc<dyn Registry>) -> Router {
    crate::process_metrics::register();
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .with_state(Deps { ledger, registry })
}

/// The client's address, for per-client limits (login attempts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub std::net::IpAddr);

/// Requests in one batch.
const MAX_BATCH: usize = 20;

/// A GraphQL error document with `status`: what every refusal of this surface looks like.
pub fn refusal(status: StatusCode, kind: crate::errors::Kind, message: &str) -> Response {
    let body = serde_json::json!({
        "data": null,
        "errors": [{ "message": crate::guard::truncated(message, crate::guard::MAX_ERROR_CHARS), "extensions": { "code": kind.code() } }],
    });
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

/// Why a request was refused before its body was parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// The HTTP status.
    pub status: StatusCode,
    /// The kind of error.
    pub kind: crate::errors::Kind,
    /// What is wrong and what to do.
    pub message: String,
}

/// The caller and the body of a request. Before anything is read, the token is checked (also the
/// bare `Authorization: <token>` of the seed's clients when `bare_token`); then the body is read
/// only up to the limit that applies (small without a token), within a timeout.
pub async fn read_body(
    state: &State,
    headers: &HeaderMap,
    body: axum::body::Body,
    bare_token: bool,
) -> Result<(Option<crate::auth::Principal>, axum::body::Bytes), Refused> {
    use crate::errors::Kind;
    let refused = |status, kind, message: String| Refused { status, kind, message };
    let limits = &state.limits;
    let auth_header = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    let resolved =
        if bare_token { state.auth.resolve_seed(auth_header).await } else { state.auth.resolve(auth_header).await };
    let principal = resolved.map_err(|e| {
        tracing::warn!(error = %e, "session store unavailable");
        refused(
            StatusCode::SERVICE_UNAVAILABLE,
            Kind::Unavailable,
            "the session store is unavailable; retry shortly".into(),
        )
    })?;
    let (limit, which) = if principal.is_some() {
        (limits.max_body_bytes, "limits.max_body_bytes")
    } else {
        (limits.anonymous_max_body_bytes, "limits.anonymous_max_body_bytes, for requests without a token")
    };
    let too_large = || {
        refused(
            StatusCode::PAYLOAD_TOO_LARGE,
            Kind::BadInput,
            format!("the request body is larger than {limit} bytes ({which}); send less, or log in first"),
        )
    };
    let declared =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let read =
        tokio::time::timeout(Duration::from_secs(limits.body_read_timeout_secs), axum::body::to_bytes(body, limit))
            .await;
    match read {
        Err(_) => Err(refused(
            StatusCode::REQUEST_TIMEOUT,
            Kind::BadInput,
            format!(
                "the request body did not arrive within {} s (limits.body_read_timeout_secs)",
                limits.body_read_timeout_secs
            ),
        )),
        Ok(Err(e)) if std::error::Error::source(&e).is_some_and(|s| s.is::<http_body_util::LengthLimitError>()) => {
            Err(too_large())
        }
        Ok(Err(e)) => {
            Err(refused(StatusCode::BAD_REQUEST, Kind::BadInput, format!("could not read the request body: {e}")))
        }
        Ok(Ok(b)) => Ok((principal, b)),
    }
}

/// POST /graphql. The token and the body as [`read_body`] checks them; then the request runs
/// under the request timeout. Every refusal is a GraphQL error document with a status that fits.
async fn graphql(
    AxumState(h): AxumState<Arc<Http>>,
    headers: HeaderMap,
    extensions: axum::http::Extensions,
    body: axum::body::Body,
) -> Response {
    use crate::errors::Kind;
    let limits = &h.state.limits;
    let (principal, bytes) = match read_body(&h.state, &headers, body, false).await {
        Ok(read) => read,
        Err(r) => return refusal(r.status, r.kind, &r.message),
    };
    let batch: async_graphql::BatchRequest = match serde_json::from_slice(&bytes) {
        Ok(b) => b,
        Err(e) => {
            return refusal(
                StatusCode::BAD_REQUEST,
                Kind::BadInput,
                &format!(
                    "the request body is not a GraphQL request (a JSON object with `query` and optional `variables`): {e}"
                ),
            );
        }
    };
    if let async_graphql::BatchRequest::Batch(requests) = &batch
        && requests.len() > MAX_BATCH
    {
        return refusal(
            StatusCode::BAD_REQUEST,
            Kind::BadInput,
            &format!("a batch may hold at most {MAX_BATCH} requests, not {}; send them in several", requests.len()),
        );
    }
    let warnings = crate::schema::Warnings::default();
    let mut batch = batch.data(warnings.clone());
    if let Some(p) = principal {
        batch = batch.data(p);
    }
    if let Some(addr) = crate::serve::peer(&extensions) {
        batch = batch.data(ClientAddr(addr.ip()));
    }
    let timeout = Duration::from_secs(limits.request_timeout_secs);
    match tokio::time::timeout(timeout, h.schema.execute_batch(batch)).await {
        Ok(mut response) => {
            let raised = warnings.take();
            if let (false, async_graphql::BatchResponse::Single(r)) = (raised.is_empty(), &mut response) {
                let list = raised.into_iter().map(async_graphql::Value::from).collect();
                r.extensions.insert("warnings".to_string(), async_graphql::Value::List(list));
            }
            GraphQLResponse::from(response).into_response()
        }
        Err(_) => refusal(
            StatusCode::SERVICE_UNAVAILABLE,
            Kind::Unavailable,
            &format!(
                "the request took longer than {} s (limits.request_timeout_secs) and was stopped; ask for less",
                timeout.as_secs()
            ),
        ),
    }
}

/// GraphiQL from the UI bundle (no CDN), or async-graphql's page when the bundle has none.
async fn graphiql(AxumState(h): AxumState<Arc<Http>>) -> Response {
    h.state.web.graphiql().unwrap_or_else(|| {
        Html(GraphiQLSource::build().endpoint("/graphql").subscription_endpoint("/graphql/ws").title("Aurora").finish())
            .into_response()
    })
}

/// The browser UI: its files, and its page for every client-side route.
async fn ui(AxumState(h): AxumState<Arc<Http>>, uri: axum::http::Uri) -> Response {
    h.state.web.respond(uri.path())
}

async fn subscriptions(AxumState(h): AxumState<Arc<Http>>, headers: HeaderMap, upgrade: WebSocketUpgrade) -> Response {
    let offered = headers.get(header::SEC_WEBSOCKET_PROTOCOL).and_then(|v| v.to_str().ok());
    let protocol = crate::ws::protocol(offered).unwrap_or(async_graphql::http::WebSocketProtocols::GraphQLWS);
    let socket = crate::ws::Socket {
        operations: h.operations.clone(),
        protocol,
        auth: h.state.auth.clone(),
        live: h.state.live.clone(),
        limits: h.state.limits.clone(),
    };
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        // What clients send here is small (subscribe, ping); every read attempt zero-fills the
        // whole read buffer first, and one is made each time a socket's operations are polled,
        // so the default 128 KiB cost more than sending the events (a fifth of the gateway's CPU
        // under W7). A larger message still arrives: the buffer grows for it.
        .read_buffer_size(READ_BUFFER_BYTES)
        .on_upgrade(move |ws| socket.serve(ws))
}

/// `/workers/ws`: a remote worker (`docs/worker-protocol.md`); authentication is in its `hello`.
async fn remote_workers(AxumState(h): AxumState<Arc<Http>>, upgrade: WebSocketUpgrade) -> Response {
    let (endpoint, auth) = (h.state.remote.clone(), h.state.auth.clone());
    upgrade
        .protocols([crate::remote::messages::SUBPROTOCOL])
        .max_message_size(crate::remote::MAX_MESSAGE_BYTES)
        .max_frame_size(crate::remote::MAX_MESSAGE_BYTES)
        .on_upgrade(move |ws| endpoint.serve(ws, auth))
}

async fn health() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], r#"{"status":"ok"}"#)
}

async fn ready(AxumState(d): AxumState<Deps>) -> Response {
    let ledger = d.ledger.head().await.map(|_| ()).map_err(|e| e.to_string());
    let registry = d.registry.workers().await.map(|_| ()).map_err(|e| e.to_string());
    let body = serde_json::json!({
        "ledger": ledger.as_ref().err().map(String::as_str).unwrap_or("ok"),
        "coord": registry.as_ref().err().map(String::as_str).unwrap_or("ok"),
    });
    let status = if ledger.is_ok() && registry.is_ok() { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

async fn metrics() -> Response {
    let mut out = String::new();
    match prometheus::TextEncoder::new().encode_utf8(&prometheus::gather(), &mut out) {
        Ok(()) => ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

/// The gateway role: serves the router on an already-bound listener until shutdown.
pub struct Service {
    router: Router,
    bounds: crate::serve::Bounds,
}

impl Service {
    /// A gateway serving `schema` over `state`.
    pub fn new(schema: AppSchema, state: State) -> Self {
        let bounds = crate::serve::Bounds {
            max_connections: state.limits.max_connections,
            header_read_timeout: Duration::from_secs(state.limits.header_read_timeout_secs),
            ..Default::default()
        };
        Self { router: router(schema, state), bounds }
    }

    /// Serves until `shutdown`, then drains open requests.
    pub async fn run(self, listener: TcpListener, shutdown: CancellationToken) -> std::io::Result<()> {
        info!(addr = %listener.local_addr()?, "gateway listening");
        let served = crate::serve::serve(listener, self.router, self.bounds, shutdown).await;
        info!("gateway stopped");
        served
    }
}

/// The listener with `TCP_NODELAY` on every accepted connection. With Nagle's algorithm on, a small
/// write that follows another one (a WebSocket message after the last, a response after its
/// headers) waits for the peer's delayed ACK, up to 40 ms: a subscriber saw each event that late.
pub fn without_nagle(listener: TcpListener) -> axum::serve::TapIo<TcpListener, fn(&mut tokio::net::TcpStream)> {
    use axum::serve::ListenerExt as _;
    fn nodelay(tcp: &mut tokio::net::TcpStream) {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY on a connection; serving it anyway");
        }
    }
    listener.tap_io(nodelay as fn(&mut tokio::net::TcpStream))
}
