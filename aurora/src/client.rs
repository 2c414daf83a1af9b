//! A small GraphQL client for the client subcommands and the end-to-end tests: queries over HTTP,
//! `graphEvents` over WebSocket (`graphql-transport-ws`).

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

/// The fields of a ledger event the client asks for.
pub const EVENT_FIELDS: &str = "id stream version type graphId taskId state data actor recordedAt hash prevHash traceId workerId fencingToken causationId position";

/// How many events one page of a run's history asks for (the server's maximum).
const HISTORY_PAGE: usize = 10_000;

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server could not be reached or answered something that is not GraphQL.
    #[error("could not talk to the Aurora server: {0}")]
    Transport(String),
    /// The server answered with GraphQL errors.
    #[error("{}", .0.iter().map(|e| e.message.clone()).collect::<Vec<_>>().join("; "))]
    GraphQL(Vec<GqlError>),
}

/// One GraphQL error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GqlError {
    /// What is wrong.
    pub message: String,
    /// `extensions.code`, e.g. `BAD_USER_INPUT`.
    pub code: Option<String>,
}

impl Error {
    /// Whether the server could not be reached at all (nothing listens there, or it went away).
    pub fn is_unreachable(&self) -> bool {
        match self {
            Self::Transport(m) => {
                let m = m.to_ascii_lowercase();
                [
                    "connection refused",
                    "error trying to connect",
                    "connection reset",
                    "broken pipe",
                    "closed the connection",
                ]
                .iter()
                .any(|s| m.contains(s))
            }
            Self::GraphQL(_) => false,
        }
    }

    /// The GraphQL error codes, for tests and exit codes.
    pub fn codes(&self) -> Vec<String> {
        match self {
            Self::GraphQL(errs) => errs.iter().filter_map(|e| e.code.clone()).collect(),
            Self::Transport(_) => vec![],
        }
    }
}

fn transport(e: impl std::fmt::Display) -> Error {
    Error::Transport(e.to_string())
}

/// An error with its causes (`error sending request: … : Connection refused`).
fn chained(e: &(dyn std::error::Error + 'static)) -> Error {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    Error::Transport(text)
}

fn errors_of(v: &Value) -> Option<Vec<GqlError>> {
    let errs = v.get("errors")?.as_array()?;
    if errs.is_empty() {
        return None;
    }
    Some(
        errs.iter()
            .map(|e| GqlError {
                message: e.get("message").and_then(Value::as_str).unwrap_or("unknown error").to_string(),
                code: e.pointer("/extensions/code").and_then(Value::as_str).map(str::to_string),
            })
            .collect(),
    )
}

/// A client of one Aurora server.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Client {
    /// A client of `server` (e.g. `http://127.0.0.1:4332`), authenticating with `token`.
    pub fn new(server: &str, token: Option<String>) -> Self {
        Self { http: reqwest::Client::new(), base: server.trim_end_matches('/').to_string(), token }
    }

    /// The server's base URL.
    pub fn server(&self) -> &str {
        &self.base
    }

    /// The token this client sends, if any.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// The same server with another token.
    pub fn with_token(&self, token: Option<String>) -> Self {
        Self { token, ..self.clone() }
    }

    /// Sends a raw body to `/graphql` and returns the whole response document.
    pub async fn post_raw(&self, body: String) -> Result<Value, Error> {
        let mut req =
            self.http.post(format!("{}/graphql", self.base)).header("content-type", "application/json").body(body);
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.map_err(|e| chained(&e))?;
        let status = resp.status();
        let text = resp.text().await.map_err(|e| chained(&e))?;
        serde_json::from_str(&text).map_err(|_| Error::Transport(format!("HTTP {status}: {text}")))
    }

    /// Runs a query or mutation; returns `data`.
    pub async fn query(&self, query: &str, variables: Value) -> Result<Value, Error> {
        let doc = self.post_raw(json!({ "query": query, "variables": variables }).to_string()).await?;
        if let Some(errs) = errors_of(&doc) {
            return Err(Error::GraphQL(errs));
        }
        Ok(doc.get("data").cloned().unwrap_or(Value::Null))
    }

    /// Logs in; returns the token.
    pub async fn login(&self, username: &str, password: &str) -> Result<String, Error> {
        let data = self
            .query(
                "mutation($u: String!, $p: String!) { login(username: $u, password: $p) { token expiresAt } }",
                json!({ "u": username, "p": password }),
            )
            .await?;
        data.pointer("/login/token").and_then(Value::as_str).map(str::to_string).ok_or_else(|| transport("no token"))
    }

    /// Submits a `GraphInput`; returns the run (`id`, `state`).
    pub async fn submit(&self, input: Value) -> Result<Value, Error> {
        Ok(self.submit_warned(input).await?.0)
    }

    /// Submits a `GraphInput`; returns the run (`id`, `state`) and the server's warnings (e.g.
    /// tasks no live worker can run yet).
    pub async fn submit_warned(&self, input: Value) -> Result<(Value, Vec<String>), Error> {
        let q = "mutation($i: GraphInput!) { submitGraph(input: $i) { id state } }";
        let doc = self.post_raw(json!({ "query": q, "variables": { "i": input } }).to_string()).await?;
        if let Some(errs) = errors_of(&doc) {
            return Err(Error::GraphQL(errs));
        }
        let warnings = doc.pointer("/extensions/warnings").and_then(Value::as_array).cloned().unwrap_or_default();
        let warnings = warnings.iter().filter_map(|w| w.as_str().map(str::to_string)).collect();
        Ok((doc["data"]["submitGraph"].clone(), warnings))
    }

    /// A run with its tasks (each with history) and its own whole history, read page by page.
    pub async fn graph(&self, id: &str) -> Result<Value, Error> {
        let q = format!(
            "query($id: ID!) {{ graph(id: $id) {{ id name state submittedBy submittedAt finishedAt edges {{ from to }}
               tasks {{ id key name state attempts error args {{ type value }} results {{ type value }}
                        history {{ {EVENT_FIELDS} }} }} }} }}"
        );
        let mut graph = self.query(&q, json!({ "id": id })).await?["graph"].clone();
        if graph.is_null() {
            return Ok(graph);
        }
        graph["history"] = Value::Array(self.history(id).await?);
        Ok(graph)
    }

    /// A run's whole history (graph and task events in ledger order), page by page.
    pub async fn history(&self, id: &str) -> Result<Vec<Value>, Error> {
        self.history_as_of(id, None).await
    }

    /// A run's history up to `as_of` (an RFC 3339 time; everything when `None`), page by page.
    pub async fn history_as_of(&self, id: &str, as_of: Option<&str>) -> Result<Vec<Value>, Error> {
        self.history_fields(id, as_of, EVENT_FIELDS).await
    }

    /// A run's history with only `fields` of each event, up to `as_of`, page by page.
    pub async fn history_fields(&self, id: &str, as_of: Option<&str>, fields: &str) -> Result<Vec<Value>, Error> {
        let fields = if fields.split_whitespace().any(|f| f == "position") {
            fields.to_string()
        } else {
            format!("{fields} position")
        };
        let q = format!(
            "query($id: ID!, $after: String, $asOf: DateTime) {{ graph(id: $id, asOf: $asOf) {{ history(first: {HISTORY_PAGE}, after: $after) {{ {fields} }} }} }}"
        );
        let mut all = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let data = self.query(&q, json!({ "id": id, "after": after, "asOf": as_of })).await?;
            let page = data["graph"]["history"].as_array().cloned().unwrap_or_default();
            let full = page.len() == HISTORY_PAGE;
            after = page.last().and_then(|e| e["position"].as_str()).map(str::to_string);
            all.extend(page);
            if !full || after.is_none() {
                return Ok(all);
            }
        }
    }

    /// Subscribes to a run's events.
    pub async fn graph_events(&self, id: &str) -> Result<EventStream, Error> {
        self.graph_events_after(id, None).await
    }

    /// Subscribes to a run's events after the one at `after` (a `position`), or all of them.
    pub async fn graph_events_after(&self, id: &str, after: Option<&str>) -> Result<EventStream, Error> {
        let url = format!("{}/graphql/ws", self.base.replacen("http", "ws", 1));
        let mut request = url.into_client_request().map_err(transport)?;
        request.headers_mut().insert("Sec-WebSocket-Protocol", HeaderValue::from_static("graphql-transport-ws"));
        // Without Nagle: `subscribe` right after `connection_init` would otherwise wait for the
        // server's delayed ACK (up to 40 ms).
        // A 16 KiB read buffer: each read zero-fills the whole buffer first (128 KiB by default).
        let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default().read_buffer_size(16 * 1024);
        let (mut ws, _) =
            tokio_tungstenite::connect_async_with_config(request, Some(config), true).await.map_err(|e| chained(&e))?;
        let auth = self.token.as_ref().map(|t| format!("Bearer {t}")).unwrap_or_default();
        let init = json!({ "type": "connection_init", "payload": { "Authorization": auth } });
        ws.send(Message::Text(init.to_string().into())).await.map_err(transport)?;
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(t))) => {
                    let msg: Value = serde_json::from_str(&t).map_err(transport)?;
                    match msg["type"].as_str() {
                        Some("connection_ack") => break,
                        Some("ping") => continue,
                        _ => return Err(Error::Transport(format!("connection refused: {t}"))),
                    }
                }
                Some(Ok(Message::Close(frame))) => {
                    let reason = frame.map(|f| f.reason.to_string()).unwrap_or_default();
                    return Err(Error::GraphQL(vec![GqlError {
                        message: reason,
                        code: Some("UNAUTHENTICATED".into()),
                    }]));
                }
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(transport(e)),
                None => return Err(transport("the server closed the connection")),
            }
        }
        let sub = json!({
            "id": "1",
            "type": "subscribe",
            "payload": {
                "query": format!("subscription($id: ID!, $after: String) {{ graphEvents(id: $id, after: $after) {{ {EVENT_FIELDS} }} }}"),
                "variables": { "id": id, "after": after },
            }
        });
        ws.send(Message::Text(sub.to_string().into())).await.map_err(transport)?;
        Ok(EventStream { ws, completed: false })
    }
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The events of one `graphEvents` subscription.
pub struct EventStream {
    ws: Ws,
    completed: bool,
}

impl EventStream {
    /// Whether the server completed the subscription (the run ended); after `next` returned
    /// `None` without this, the connection was lost.
    pub fn completed(&self) -> bool {
        self.completed
    }

    /// The next event; `None` when the subscription completed or the connection closed.
    pub async fn next(&mut self) -> Option<Result<Value, Error>> {
        loop {
            let msg = match self.ws.next().await? {
                Ok(Message::Text(t)) => t,
                Ok(Message::Close(frame)) => {
                    let code: u16 = frame.as_ref().map(|f| f.code.into()).unwrap_or(1000);
                    if code == 4401 || code == 4403 {
                        let reason = frame.map(|f| f.reason.to_string()).unwrap_or_default();
                        let gone = GqlError { message: reason, code: Some("UNAUTHENTICATED".into()) };
                        return Some(Err(Error::GraphQL(vec![gone])));
                    }
                    return None;
                }
                Ok(_) => continue,
                Err(e) => return Some(Err(chained(&e))),
            };
            let v: Value = match serde_json::from_str(&msg) {
                Ok(v) => v,
                Err(e) => return Some(Err(transport(e))),
            };
            match v["type"].as_str() {
                Some("next") => {
                    if let Some(errs) = v.get("payload").and_then(errors_of) {
                        return Some(Err(Error::GraphQL(errs)));
                    }
                    return Some(Ok(v["payload"]["data"]["graphEvents"].clone()));
                }
                Some("error") => {
                    let errs = json!({ "errors": v["payload"] });
                    return Some(Err(Error::GraphQL(errors_of(&errs).unwrap_or_default())));
                }
                Some("complete") => {
                    self.completed = true;
                    return None;
                }
                Some("ping") => {
                    let _ = self.ws.send(Message::Text(json!({ "type": "pong" }).to_string().into())).await;
                }
                _ => {}
            }
        }
    }
}
