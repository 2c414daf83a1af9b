//! The HTTP surface: GraphQL over POST, GraphiQL on GET, subscriptions over WebSocket
//! (`graphql-transport-ws` and `graphql-ws`), health, readiness and Prometheus metrics.

use crate::auth::Auth;
use crate::schema::{AppSchema, State};
use async_graphql::Data;
use async_graphql::http::{ALL_WEBSOCKET_PROTOCOLS, GraphiQLSource};
use async_graphql_axum::{GraphQLProtocol, GraphQLRequest, GraphQLResponse, GraphQLWebSocket};
use aurora_coord::Registry;
use aurora_ledger::Ledger;
use axum::Router;
use axum::extract::{State as AxumState, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::info;

#[derive(Clone)]
struct Http {
    schema: AppSchema,
    state: State,
}

/// The router for `schema` over `state`.
pub fn router(schema: AppSchema, state: State) -> Router {
    let ops = operations_router(state.ledger.clone(), state.registry.clone());
    Router::new()
        .route("/graphql", get(graphiql).post(graphql))
        .route("/graphql/ws", get(subscriptions))
        .fallback(get(ui))
        .with_state(Arc::new(Http { schema, state }))
        .merge(ops)
}

#[derive(Clone)]
struct Deps {
    ledger: Arc<dyn Ledger>,
    registry: Arc<dyn Registry>,
}

/// `/health` (liveness), `/ready` (the ledger and the coordination store answer) and `/metrics`,
/// served by every process.
pub fn operations_router(ledger: Arc<dyn Ledger>, registry: Arc<dyn Registry>) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .with_state(Deps { ledger, registry })
}

async fn graphql(AxumState(h): AxumState<Arc<Http>>, headers: HeaderMap, req: GraphQLRequest) -> Response {
    let auth_header = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    let mut request = req.into_inner();
    match h.state.auth.resolve(auth_header).await {
        Ok(Some(principal)) => request = request.data(principal),
        Ok(None) => {}
        Err(e) => {
            tracing::warn!(error = %e, "session store unavailable");
            return (StatusCode::SERVICE_UNAVAILABLE, "the session store is unavailable; retry shortly")
                .into_response();
        }
    }
    GraphQLResponse::from(h.schema.execute(request).await).into_response()
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

async fn subscriptions(
    AxumState(h): AxumState<Arc<Http>>,
    protocol: GraphQLProtocol,
    upgrade: WebSocketUpgrade,
) -> Response {
    let auth: Auth = h.state.auth.clone();
    let schema = h.schema.clone();
    upgrade.protocols(ALL_WEBSOCKET_PROTOCOLS).on_upgrade(move |socket| {
        GraphQLWebSocket::new(socket, schema, protocol)
            .on_connection_init(move |payload| async move {
                let header = payload
                    .get("Authorization")
                    .or_else(|| payload.get("authorization"))
                    .and_then(|v| v.as_str())
                    .map(str::to_string);
                match auth.resolve(header.as_deref()).await {
                    Ok(Some(principal)) => {
                        let mut data = Data::default();
                        data.insert(principal);
                        Ok(data)
                    }
                    Ok(None) => Err(async_graphql::Error::new(
                        "a valid token is required: send {\"Authorization\": \"Bearer <token>\"} in connection_init",
                    )),
                    Err(e) => Err(async_graphql::Error::new(format!("session store unavailable: {e}"))),
                }
            })
            .serve()
    })
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
}

impl Service {
    /// A gateway serving `schema` over `state`.
    pub fn new(schema: AppSchema, state: State) -> Self {
        Self { router: router(schema, state) }
    }

    /// Serves until `shutdown`, then drains open requests.
    pub async fn run(self, listener: TcpListener, shutdown: CancellationToken) -> std::io::Result<()> {
        info!(addr = %listener.local_addr()?, "gateway listening");
        axum::serve(without_nagle(listener), self.router).with_graceful_shutdown(shutdown.cancelled_owned()).await
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
