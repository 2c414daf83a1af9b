//! The seed's REST API (`aurora-inventory.md` §1–2): `/auth/login|logout|info`,
//! `/api/task/send|touch|simple/touch`, `/api/worker/list`, `/api/faas/list`, in the seed's
//! envelope and shapes, and its OpenAPI document at `/api/openapi.json`. A thin layer over the
//! command and read-model code GraphQL uses: it translates, and `send` waits; it decides nothing.

pub mod envelope;
pub mod openapi;
pub mod shapes;

use crate::auth::{LoginError, Principal};
use crate::errors::Kind;
use crate::live::What;
use crate::schema::State;
use aurora_ledger::Scope;
use aurora_projector::TaskView;
use aurora_schemas::seed::Request;
use aurora_schemas::{GraphId, TaskId};
use axum::Router;
use axum::body::Body;
use axum::extract::State as AxumState;
use axum::http::{Extensions, HeaderMap, Method, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use envelope::{Refusal, ok, unavailable};
use serde::de::DeserializeOwned;
use shapes::{Answered, CenterResponse, Placement};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// The REST routes over `state`.
pub fn router(state: State) -> Router {
    Router::new()
        .route("/auth/login", post(login))
        .route("/auth/logout", post(logout).delete(logout))
        .route("/auth/info", get(info))
        .route("/api/task/send", post(send))
        .route("/api/task/touch", post(touch))
        .route("/api/task/simple/touch", post(simple_touch))
        .route("/api/worker/list", get(workers).post(workers))
        .route("/api/faas/list", get(faas).post(faas))
        .route("/api/openapi.json", get(openapi::document))
        .route("/api", any(no_route))
        .route("/api/{*rest}", any(no_route))
        .with_state(Arc::new(state))
}

type Shared = AxumState<Arc<State>>;

/// Unknown `/api/...` paths: a 404 in the envelope (the seed answered them with its `index.html`).
async fn no_route(method: Method, uri: Uri) -> Response {
    Refusal::new(
        Kind::NotFound,
        format!("there is no route {method} {}; the REST routes are listed in /api/openapi.json", uri.path()),
    )
    .into_response()
}

/// The body as `T`, with the caller if the request carries a valid token (`Authorization: <token>`,
/// as the seed's clients send it, or `Bearer <token>`). Bodies are bounded as for GraphQL.
async fn read<T: DeserializeOwned>(
    st: &State,
    headers: &HeaderMap,
    body: Body,
    what: &str,
) -> Result<(Option<Principal>, T), Refusal> {
    let (principal, bytes) = crate::http::read_body(st, headers, body, true).await?;
    let value = serde_json::from_slice(&bytes)
        .map_err(|e| Refusal::bad(format!("the body is not {what}: {e}; see /api/openapi.json for its fields")))?;
    Ok((principal, value))
}

fn require(principal: Option<Principal>) -> Result<Principal, Refusal> {
    principal.ok_or_else(|| {
        Refusal::new(
            Kind::Unauthenticated,
            "a valid token is required: log in with POST /auth/login and send `Authorization: <token>`",
        )
    })
}

fn require_writer(principal: Option<Principal>) -> Result<Principal, Refusal> {
    let p = require(principal)?;
    if p.may_write() {
        Ok(p)
    } else {
        Err(Refusal::new(Kind::Forbidden, format!("role `{}` may read but not send tasks", p.role)))
    }
}

async fn caller(st: &State, headers: &HeaderMap) -> Result<Principal, Refusal> {
    let header = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    require(st.auth.resolve_seed(header).await.map_err(unavailable)?)
}

fn answer(r: Result<Response, Refusal>) -> Response {
    r.unwrap_or_else(IntoResponse::into_response)
}

/// `POST /auth/login` `{username, password}` → `{user, token, expires_at}`.
#[utoipa::path(post, path = "/auth/login", tag = "auth", request_body = shapes::LoginRequest, responses(
    (status = 200, description = "logged in; `data` is a LoginData", body = shapes::LoginData),
    (status = 400, description = "the body is not {username, password}", body = envelope::Envelope),
    (status = 401, description = "wrong username or password", body = envelope::Envelope),
    (status = 429, description = "too many attempts; the message says when to retry", body = envelope::Envelope)))]
async fn login(AxumState(st): Shared, headers: HeaderMap, extensions: Extensions, body: Body) -> Response {
    answer(
        async {
            let (_, req): (_, shapes::LoginRequest) =
                read(&st, &headers, body, "a login ({username, password})").await?;
            let client = crate::serve::peer(&extensions).map(|a| a.ip());
            match st.auth.login(&req.username, &req.password, client).await {
                Ok((token, expires_at)) => {
                    let role = st.auth.role_of(&req.username).unwrap_or_default();
                    Ok(ok(
                        "",
                        shapes::LoginData {
                            user: shapes::user_meta(&req.username, &role, chrono::Utc::now()),
                            token,
                            expires_at: expires_at.to_rfc3339(),
                        },
                    ))
                }
                Err(LoginError::BadCredentials) => {
                    Err(Refusal::new(Kind::Unauthenticated, "wrong username or password"))
                }
                Err(e @ LoginError::Throttled(_)) => Err(Refusal::new(Kind::RateLimited, e.to_string())),
                Err(LoginError::Unavailable(e)) => Err(unavailable(e)),
            }
        }
        .await,
    )
}

/// `DELETE /auth/logout` (or POST): revokes the token used, everywhere.
#[utoipa::path(delete, path = "/auth/logout", tag = "auth", security(("token" = [])), responses(
    (status = 200, description = "the token is revoked everywhere", body = envelope::Envelope),
    (status = 401, description = "no valid token", body = envelope::Envelope)))]
async fn logout(AxumState(st): Shared, headers: HeaderMap) -> Response {
    answer(
        async {
            let p = caller(&st, &headers).await?;
            st.auth.logout(&p).await.map_err(unavailable)?;
            Ok(ok("logged out", ""))
        }
        .await,
    )
}

/// `GET /auth/info`: who the token belongs to.
#[utoipa::path(get, path = "/auth/info", tag = "auth", security(("token" = [])), responses(
    (status = 200, description = "`data` is the token's UserMeta", body = shapes::UserMeta),
    (status = 401, description = "no valid token", body = envelope::Envelope)))]
async fn info(AxumState(st): Shared, headers: HeaderMap) -> Response {
    answer(
        async {
            let p = caller(&st, &headers).await?;
            Ok(ok("", shapes::user_meta(&p.user, &p.role, chrono::Utc::now())))
        }
        .await,
    )
}

/// The checks the seed made on every `CenterRequest` (its `validate` tags), with messages.
fn check_request(r: &Request) -> Result<(), Refusal> {
    if r.timestamp.unwrap_or(0) == 0 {
        return Err(Refusal::bad(
            "`timestamp` is required: the client's clock as Unix seconds, e.g. \"timestamp\": 1680752792",
        ));
    }
    Ok(())
}

/// The session's id in answers: stable for one token, and not the token.
fn session_uuid(p: &Principal) -> String {
    uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, p.token_hash.as_bytes()).to_string()
}

/// The ids of the request's tasks in `graph`, signatures then the callback: the request's keys,
/// derived as the command derives them.
fn task_ids(r: &Request, graph: GraphId) -> Vec<TaskId> {
    r.keys().iter().map(|k| TaskId::derive(graph, k)).collect()
}

/// The read model's views of `ids`, by task id (a task not in it yet is absent).
async fn views_of(st: &State, ids: &[TaskId]) -> Result<BTreeMap<TaskId, TaskView>, Refusal> {
    Ok(st.store.tasks(ids.to_vec()).await.map_err(unavailable)?.into_iter().map(|v| (v.task_id, v)).collect())
}

/// What `send` and `touch` answer about `ids`.
fn respond(
    p: &Principal,
    r: &Request,
    graph: GraphId,
    ids: &[TaskId],
    views: &BTreeMap<TaskId, TaskView>,
    batch_id: String,
    task_uuid: Option<String>,
) -> Response {
    let answered =
        Answered { request: r, at: Placement { kind: &r.task_type, graph, members: r.signatures.len() }, ids, views };
    let body = CenterResponse {
        uuid: session_uuid(p),
        user: p.user.clone(),
        batch_id,
        timestamp: chrono::Utc::now().timestamp(),
        task_type: r.task_type.clone(),
        task_uuid,
        task_responses: answered.task_responses(),
    };
    ok(answered.message(), body)
}

/// The id `send` answers with: what `simple/touch` takes for this kind.
fn touch_id(r: &Request, graph: GraphId, ids: &[TaskId]) -> String {
    match r.task_type.as_str() {
        "group" | "graph" => shapes::run_uuid(&r.task_type, graph),
        "chord" => shapes::task_uuid(ids[r.signatures.len()]),
        "chain" => shapes::task_uuid(ids[r.signatures.len() - 1]),
        _ => shapes::task_uuid(ids[0]),
    }
}

/// `POST /api/task/send`: compiles the request into one graph, submits it like `submitGraph`,
/// then waits for the run to end — at most `timeout_duration` ms (0: until it ends), and never
/// more than `http.send_max_wait_secs` — and answers with what it has (`"continue"` if unfinished).
/// The wait holds no lock and no thread: other requests are served meanwhile.
#[utoipa::path(post, path = "/api/task/send", tag = "tasks", security(("token" = [])), request_body = Request, responses(
    (status = 200, description = "submitted; `data` is a CenterResponse; `message` is \"\" (all succeeded), \"continue\" (not finished when the wait ended) or says which task failed", body = CenterResponse),
    (status = 400, description = "the request is wrong (the message says what); nothing was written", body = envelope::Envelope),
    (status = 401, description = "no valid token", body = envelope::Envelope),
    (status = 403, description = "the token's role may not send", body = envelope::Envelope),
    (status = 429, description = "too many waiting sends for this token", body = envelope::Envelope)))]
async fn send(AxumState(st): Shared, headers: HeaderMap, body: Body) -> Response {
    answer(
        async {
            let (p, r): (_, Request) = read(&st, &headers, body, "a CenterRequest").await?;
            let p = require_writer(p)?;
            check_request(&r)?;
            let spec = r.to_graph_spec().map_err(|problems| Refusal::bad(problems.join("; ")))?;
            let _slot = st
                .live
                .take(What::Subscription, &p.token_hash, st.limits.max_subscriptions_per_token, st.limits.max_subscriptions)
                .map_err(|full| {
                    Refusal::new(
                        Kind::RateLimited,
                        format!("too many waiting sends and subscriptions: {full} (limits.max_subscriptions_per_token, limits.max_subscriptions); wait for some to end, or touch later"),
                    )
                })?;
            let submitted = st.command.submit(spec, &p.user).await?;
            for w in &submitted.warnings {
                tracing::info!(graph = %submitted.graph_id, warning = %w, "send: a task may not run yet");
            }
            let graph = submitted.graph_id;
            let max = Duration::from_secs(st.http.send_max_wait_secs);
            let wait = match r.timeout_duration {
                0 => max,
                ms => Duration::from_millis(ms).min(max),
            };
            wait_for_end(&st, graph, Instant::now() + wait).await?;
            let ids = task_ids(&r, graph);
            let id = touch_id(&r, graph, &ids);
            let views = views_of(&st, &ids).await?;
            Ok(respond(&p, &r, graph, &ids, &views, uuid::Uuid::new_v4().to_string(), Some(id)))
        }
        .await,
    )
}

/// Waits until `graph` has ended and the read model shows it, or `until`, or shutdown.
async fn wait_for_end(st: &State, graph: GraphId, until: Instant) -> Result<(), Refusal> {
    let mut events = aurora_ledger::subscribe(st.ledger.clone(), Scope::Graph(graph), 0);
    loop {
        tokio::select! {
            next = tokio::time::timeout_at(until, events.next()) => match next {
                Err(_) => return Ok(()),
                Ok(Err(e)) => return Err(unavailable(e)),
                Ok(Ok(event)) if event.event_type().ends_graph() => break,
                Ok(Ok(_)) => {}
            },
            () = st.shutdown.cancelled() => return Ok(()),
        }
    }
    // The read model follows the ledger within milliseconds; look again soon, then less often.
    let mut backoff = aurora_schemas::backoff::Backoff::new(Duration::from_millis(1), Duration::from_millis(50));
    while Instant::now() < until {
        if st.store.graph(graph).await.map_err(unavailable)?.is_some_and(|g| g.state.is_terminal()) {
            return Ok(());
        }
        tokio::time::sleep(backoff.next_delay().min(until.saturating_duration_since(Instant::now()))).await;
    }
    Ok(())
}

/// The run the request's signatures belong to (every `uuid` must be a task of one run), their
/// ids, and their views.
async fn run_of(st: &State, r: &Request) -> Result<(GraphId, Vec<TaskId>, BTreeMap<TaskId, TaskView>), Refusal> {
    let mut ids = Vec::new();
    for (i, s) in r.signatures.iter().chain(r.call_back.iter()).enumerate() {
        let what = if i < r.signatures.len() { format!("signature {i}") } else { "`callBack`".to_string() };
        let raw = s.uuid.as_deref().unwrap_or_default();
        if raw.is_empty() {
            return Err(Refusal::bad(format!(
                "{what} has no `uuid`: touch takes the signatures `send` answered with (their `uuid` is task_<id>)"
            )));
        }
        let id = shapes::parse_uuid(raw, "task")
            .map(TaskId)
            .ok_or_else(|| Refusal::bad(format!("{what}: `uuid` `{raw:.60}` is not a task id (task_<uuid>)")))?;
        ids.push(id);
    }
    // Just after a `send` answered, the projector may not have applied its run yet (a loaded
    // distributed deployment lags by a few hundred milliseconds): give it a moment before a 404.
    let mut views = views_of(st, &ids).await?;
    let mut backoff = aurora_schemas::backoff::Backoff::new(Duration::from_millis(5), Duration::from_millis(100));
    let until = Instant::now() + Duration::from_secs(2);
    while ids.iter().any(|id| !views.contains_key(id)) && Instant::now() < until {
        tokio::time::sleep(backoff.next_delay()).await;
        views = views_of(st, &ids).await?;
    }
    if let Some(missing) = ids.iter().find(|id| !views.contains_key(id)) {
        return Err(Refusal::new(Kind::NotFound, format!("no task {}", shapes::task_uuid(*missing))));
    }
    let graphs: std::collections::BTreeSet<GraphId> = views.values().map(|v| v.graph_id).collect();
    match graphs.into_iter().collect::<Vec<_>>()[..] {
        [graph] => Ok((graph, ids, views)),
        _ => Err(Refusal::bad("the signatures belong to different runs; touch one run at a time")),
    }
}

/// `POST /api/task/touch`: the state and results of the signatures a `send` answered with.
#[utoipa::path(post, path = "/api/task/touch", tag = "tasks", security(("token" = [])), request_body = Request, responses(
    (status = 200, description = "`data` is a CenterResponse for the signatures sent (their `uuid`s as `send` answered)", body = CenterResponse),
    (status = 400, description = "the request is wrong", body = envelope::Envelope),
    (status = 401, description = "no valid token", body = envelope::Envelope),
    (status = 404, description = "no such task", body = envelope::Envelope)))]
async fn touch(AxumState(st): Shared, headers: HeaderMap, body: Body) -> Response {
    answer(
        async {
            let (p, r): (_, Request) = read(&st, &headers, body, "a CenterRequest").await?;
            let p = require(p)?;
            check_request(&r)?;
            // The same shape checks as `send` (kind, signatures, callBack), nothing submitted.
            r.to_graph_spec().map_err(|problems| Refusal::bad(problems.join("; ")))?;
            let (graph, ids, views) = run_of(&st, &r).await?;
            Ok(respond(&p, &r, graph, &ids, &views, r.batch_id.clone().unwrap_or_default(), None))
        }
        .await,
    )
}

/// `POST /api/task/simple/touch` `{task_type, task_uuid}`: the stored state of a task (`task`,
/// `chain`, `chord`: one row) or of every task of a run (`group`, `graph`: a list, in the
/// submission's order), with the seed's PascalCase keys.
#[utoipa::path(post, path = "/api/task/simple/touch", tag = "tasks", security(("token" = [])), request_body = shapes::SimpleTouch, responses(
    (status = 200, description = "`data` is one StateRow (task, chain, chord) or a list of them in submission order (group, graph)", body = Vec<shapes::StateRow>),
    (status = 400, description = "unknown task_type or malformed id", body = envelope::Envelope),
    (status = 401, description = "no valid token", body = envelope::Envelope),
    (status = 404, description = "no such task or run", body = envelope::Envelope)))]
async fn simple_touch(AxumState(st): Shared, headers: HeaderMap, body: Body) -> Response {
    answer(
        async {
            let (p, q): (_, shapes::SimpleTouch) =
                read(&st, &headers, body, "a simple touch ({task_type, task_uuid})").await?;
            require(p)?;
            match q.task_type.as_str() {
                "task" | "chain" | "chord" => {
                    let id = shapes::parse_uuid(&q.task_uuid, "task")
                        .map(TaskId)
                        .ok_or_else(|| Refusal::bad(format!("`{:.60}` is not a task id (task_<uuid>)", q.task_uuid)))?;
                    let view =
                        st.store.task(id).await.map_err(unavailable)?.ok_or_else(|| {
                            Refusal::new(Kind::NotFound, format!("no task {}", shapes::task_uuid(id)))
                        })?;
                    Ok(ok(shapes::verdict(&[Some(&view)]), shapes::state_row(&view)))
                }
                kind @ ("group" | "graph") => {
                    let graph = shapes::parse_uuid(&q.task_uuid, kind).map(GraphId).ok_or_else(|| {
                        Refusal::bad(format!("`{:.60}` is not a {kind} id ({kind}_<uuid>)", q.task_uuid))
                    })?;
                    let spec = st.store.graph_spec(graph).await.map_err(unavailable)?.ok_or_else(|| {
                        Refusal::new(Kind::NotFound, format!("no {kind} {}", shapes::run_uuid(kind, graph)))
                    })?;
                    let ids: Vec<TaskId> = spec.tasks.iter().map(|t| TaskId::derive(graph, &t.key)).collect();
                    let mut views = views_of(&st, &ids).await?;
                    let ordered: Vec<_> = ids.iter().map(|id| views.remove(id)).collect();
                    let message = shapes::verdict(&ordered.iter().map(Option::as_ref).collect::<Vec<_>>());
                    let rows: Vec<Option<shapes::StateRow>> =
                        ordered.iter().map(|v| v.as_ref().map(shapes::state_row)).collect();
                    Ok(ok(message, rows))
                }
                other => {
                    Err(Refusal::bad(format!("task_type `{other:.40}` is not one of task, group, chain, chord, graph")))
                }
            }
        }
        .await,
    )
}

/// `GET|POST /api/worker/list`: live workers with their labels and handlers.
#[utoipa::path(get, path = "/api/worker/list", tag = "workers", security(("token" = [])), responses(
    (status = 200, description = "`data` lists the live workers (GET or POST)", body = Vec<shapes::WorkerResponse>),
    (status = 401, description = "no valid token", body = envelope::Envelope)))]
async fn workers(AxumState(st): Shared, headers: HeaderMap) -> Response {
    answer(
        async {
            caller(&st, &headers).await?;
            let workers = st.registry.workers().await.map_err(unavailable)?;
            Ok(ok("", workers.iter().map(shapes::worker_response).collect::<Vec<_>>()))
        }
        .await,
    )
}

/// `GET|POST /api/faas/list`: the configured FaaS providers' functions. A provider that cannot be
/// listed is named in the message; the others' functions are still listed.
#[utoipa::path(get, path = "/api/faas/list", tag = "workers", security(("token" = [])), responses(
    (status = 200, description = "`data` lists the configured FaaS providers' functions (GET or POST); `message` names providers that could not be listed", body = Vec<shapes::FaasResponse>),
    (status = 401, description = "no valid token", body = envelope::Envelope)))]
async fn faas(AxumState(st): Shared, headers: HeaderMap) -> Response {
    answer(
        async {
            caller(&st, &headers).await?;
            let now = chrono::Utc::now().timestamp();
            let listings = futures::future::join_all(st.faas.iter().map(|p| p.list())).await;
            let (mut functions, mut failed) = (Vec::new(), Vec::new());
            for listed in listings {
                match listed {
                    Ok(fs) => functions.extend(fs.into_iter().map(|f| shapes::FaasResponse {
                        function_id: f.id,
                        driver: f.driver,
                        function_name: f.name,
                        description: f.description,
                        timestamp: now,
                    })),
                    Err(e) => failed.push(e),
                }
            }
            let message = if failed.is_empty() {
                String::new()
            } else {
                format!("could not list every provider: {}", failed.join("; "))
            };
            Ok(ok(message, functions))
        }
        .await,
    )
}
