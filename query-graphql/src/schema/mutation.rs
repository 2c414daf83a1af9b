//! Mutations: login/logout and the commands.

use super::history::TaskOverride;
use super::types::{GraphInput, GraphRun, GraphState, LoginPayload};
use super::{principal, state, writer};
use crate::auth::LoginError;
use crate::errors::{Kind, command, error, unavailable};
use async_graphql::{Context, ErrorExtensions, ID, Object};
use aurora_schemas::{EdgeSpec, GraphId, GraphSpec, LabelSelector, TaskSpec, TypedValue};
use serde_json::Value;
use std::time::Duration;

/// The root mutation.
pub struct Mutation;

pub(super) fn selector(
    v: Option<async_graphql::Json<Value>>,
    what: &str,
) -> async_graphql::Result<Option<LabelSelector>> {
    match v.map(|j| j.0) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(map)) => map
            .into_iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k, s)),
                other => Err(error(Kind::BadInput, format!("{what}: label `{k}` must be a string, got {other}"))),
            })
            .collect::<Result<LabelSelector, _>>()
            .map(Some),
        Some(other) => Err(error(Kind::BadInput, format!("{what} must be an object of string labels, got {other}"))),
    }
}

fn non_negative(v: Option<i32>, what: &str) -> async_graphql::Result<Option<u64>> {
    match v {
        Some(n) if n < 0 => Err(error(Kind::BadInput, format!("{what} must not be negative, got {n}"))),
        other => Ok(other.map(|n| n as u64)),
    }
}

/// Translates the GraphQL input into the domain spec (shape checks only; the command validates).
fn to_spec(input: GraphInput) -> async_graphql::Result<GraphSpec> {
    let mut tasks = Vec::with_capacity(input.tasks.len());
    for t in input.tasks {
        let what = format!("task `{}`", t.key);
        tasks.push(TaskSpec {
            label_selector: selector(t.label_selector, &format!("{what}: labelSelector"))?,
            retry_count: non_negative(t.retry_count, &format!("{what}: retryCount"))?.unwrap_or(0) as u32,
            retry_backoff_ms: non_negative(t.retry_backoff_ms, &format!("{what}: retryBackoffMs"))?,
            timeout_ms: non_negative(t.timeout_ms, &format!("{what}: timeoutMs"))?,
            pass_results: t.pass_results.unwrap_or(false),
            not_before: t.not_before,
            priority: match t.priority {
                None => 0,
                Some(p) if (0..=i32::from(aurora_schemas::spec::MAX_PRIORITY)).contains(&p) => p as u8,
                Some(p) => {
                    return Err(error(
                        Kind::BadInput,
                        format!("{what}: priority must be 0 to {}, got {p}", aurora_schemas::spec::MAX_PRIORITY),
                    ));
                }
            },
            args: t.args.unwrap_or_default().into_iter().map(|a| TypedValue::new(a.ty, a.value.0)).collect(),
            key: t.key,
            name: t.name,
        });
    }
    Ok(GraphSpec {
        name: input.name,
        tasks,
        edges: input.edges.unwrap_or_default().into_iter().map(|e| EdgeSpec { from: e.from, to: e.to }).collect(),
        label_selector: selector(input.label_selector, "labelSelector")?,
        idempotency_key: input.idempotency_key,
    })
}

/// The run as the read model shows it, waiting briefly for the projector to catch up with a
/// submission just written. If it has not caught up, the run is reported as what it certainly
/// is: accepted and RUNNING (its tasks appear once the projector gets to them).
async fn run_after_submit(
    ctx: &Context<'_>,
    id: GraphId,
    submitter: &str,
    name: Option<String>,
) -> async_graphql::Result<GraphRun> {
    let store = &state(ctx).store;
    // The projector usually catches up within a millisecond or two: look again soon, then less
    // often (1, 2, 4, 8, then every 10 ms), for about a second in all.
    let mut waited = Duration::ZERO;
    let mut backoff = aurora_schemas::backoff::Backoff::new(Duration::from_millis(1), Duration::from_millis(10));
    while waited < Duration::from_secs(1) {
        if let Some(view) = store.graph(id).await.map_err(unavailable)? {
            return Ok(view.into());
        }
        let pause = backoff.next_delay();
        tokio::time::sleep(pause).await;
        waited += pause;
    }
    Ok(GraphRun {
        id: ID(id.to_string()),
        name,
        state: GraphState::Running,
        submitted_by: submitter.to_string(),
        submitted_at: chrono::Utc::now(),
        finished_at: None,
        cancel_requested: false,
        seq: 0,
        forked_from: None,
        as_of: None,
        snapshot: None,
    })
}

#[Object]
impl Mutation {
    /// Exchanges a username and password for a bearer token.
    async fn login(
        &self,
        ctx: &Context<'_>,
        username: String,
        password: String,
    ) -> async_graphql::Result<LoginPayload> {
        // Each `login` of a request counts, aliases included: 100 of them are 100 guesses.
        let client = ctx.data_opt::<crate::http::ClientAddr>().map(|c| c.0);
        match state(ctx).auth.login(&username, &password, client).await {
            Ok((token, expires_at)) => Ok(LoginPayload { token, expires_at }),
            Err(LoginError::BadCredentials) => Err(error(Kind::Unauthenticated, "wrong username or password")),
            Err(LoginError::Throttled(refused)) => {
                let secs = refused.retry_after.as_secs().max(1);
                let message = LoginError::Throttled(refused).to_string();
                Err(error(Kind::RateLimited, message).extend_with(|_, x| x.set("retryAfterSecs", secs)))
            }
            Err(LoginError::Unavailable(e)) => Err(unavailable(e)),
        }
    }

    /// Revokes the token used for this request.
    async fn logout(&self, ctx: &Context<'_>) -> async_graphql::Result<bool> {
        let p = principal(ctx)?;
        state(ctx).auth.logout(p).await.map_err(unavailable)?;
        Ok(true)
    }

    /// Validates and starts a graph run.
    async fn submit_graph(&self, ctx: &Context<'_>, input: GraphInput) -> async_graphql::Result<GraphRun> {
        let p = writer(ctx)?;
        let spec = to_spec(input)?;
        let name = spec.name.clone();
        let submitted = state(ctx).command.submit(spec, &p.user).await.map_err(command)?;
        if let Some(w) = ctx.data_opt::<super::Warnings>() {
            w.add(submitted.warnings.iter().cloned());
        }
        run_after_submit(ctx, submitted.graph_id, &p.user, name).await
    }

    /// Reruns a run that ended, as a new run of the same spec with `overrides` applied: the tasks
    /// in `from`, the overridden ones, those that did not succeed and all their descendants run
    /// again; every other task is reused (`TaskReused`: its results are taken from the source
    /// run, it is not executed). The new run's `forkedFrom` names the source.
    async fn rerun_graph(
        &self,
        ctx: &Context<'_>,
        id: ID,
        from: Option<Vec<String>>,
        overrides: Option<Vec<TaskOverride>>,
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<GraphRun> {
        let p = writer(ctx)?;
        let source: GraphId =
            id.parse().map_err(|_| error(Kind::BadInput, format!("`{}` is not a graph id (a UUID)", id.as_str())))?;
        let request = aurora_command::rerun::Request {
            from: from.unwrap_or_default(),
            overrides: overrides
                .unwrap_or_default()
                .into_iter()
                .map(TaskOverride::into_domain)
                .collect::<Result<_, _>>()?,
        };
        let st = state(ctx);
        let submitted = st.command.rerun(source, &request, idempotency_key, &p.user).await.map_err(command)?;
        if let Some(w) = ctx.data_opt::<super::Warnings>() {
            w.add(submitted.warnings.iter().cloned());
        }
        let name = st.store.graph(source).await.map_err(unavailable)?.and_then(|g| g.name);
        run_after_submit(ctx, submitted.graph_id, &p.user, name).await
    }

    /// Appends a whole run exported from another Aurora (`aurora export`: its events' `line`s),
    /// unchanged, after verifying every hash chain; a run that exists here or an event that does
    /// not verify is refused, naming stream and version, and nothing is written.
    /// Only an admin may: the history is appended as its exporter recorded it (submitters,
    /// workers, times), which no hash can vouch for.
    async fn import_run(&self, ctx: &Context<'_>, lines: Vec<String>) -> async_graphql::Result<GraphRun> {
        let p = writer(ctx)?;
        if p.role != "admin" {
            return Err(error(Kind::Forbidden, format!("role `{}` may not import runs; an admin may", p.role)));
        }
        let mut events = Vec::with_capacity(lines.len());
        for (i, line) in lines.iter().enumerate() {
            let e = aurora_schemas::portable::from_line(line)
                .map_err(|e| error(Kind::BadInput, format!("line {}: {e}; nothing was imported", i + 1)))?;
            events.push(e);
        }
        let graph = state(ctx).command.import(events, &p.user).await.map_err(command)?;
        run_after_submit(ctx, graph, &p.user, None).await
    }

    /// Cancels a running graph: unfinished tasks end CANCELLED, then the graph does.
    async fn cancel_graph(&self, ctx: &Context<'_>, id: ID, reason: Option<String>) -> async_graphql::Result<GraphRun> {
        let p = writer(ctx)?;
        let graph: GraphId =
            id.parse().map_err(|_| error(Kind::BadInput, format!("`{}` is not a graph id (a UUID)", id.as_str())))?;
        state(ctx).command.cancel(graph, &p.user, reason).await.map_err(command)?;
        // The request is recorded; the run turns CANCELLED as the projector applies it. The answer
        // is the run as it stands, with the recorded request.
        let view = state(ctx).store.graph(graph).await.map_err(unavailable)?;
        let mut run: GraphRun = view
            .map(Into::into)
            .ok_or_else(|| error(Kind::Unavailable, format!("graph {graph} is not in the read model yet")))?;
        run.cancel_requested = run.state == GraphState::Running || run.cancel_requested;
        Ok(run)
    }
}
