//! Queries: read models and the registry.

use super::types::{FaasFunction, GraphRun, GraphRunConnection, GraphState, Handler, PageInfo, TaskRun, Worker};
use super::{principal, state};
use crate::errors::{Kind, error, unavailable};
use async_graphql::{Context, ErrorExtensions, ID, Json, Object};
use std::collections::BTreeMap;

/// The root query.
pub struct Query;

fn parse<T: std::str::FromStr>(id: &ID, what: &str) -> async_graphql::Result<T> {
    id.parse().map_err(|_| error(Kind::BadInput, format!("`{}` is not a {what} id (a UUID)", id.as_str())))
}

#[Object]
impl Query {
    /// One run, or null if there is none with this id. With `asOf`, the run exactly as it stood
    /// at that moment (events recorded at that instant included), rebuilt from the ledger; null
    /// if it had not been submitted by then.
    async fn graph(
        &self,
        ctx: &Context<'_>,
        id: ID,
        as_of: Option<chrono::DateTime<chrono::Utc>>,
    ) -> async_graphql::Result<Option<GraphRun>> {
        principal(ctx)?;
        let graph = parse(&id, "graph")?;
        if let Some(at) = as_of {
            return super::history::graph_as_of(ctx, graph, at).await;
        }
        let view = state(ctx).store.graph(graph).await.map_err(unavailable)?;
        Ok(view.map(Into::into))
    }

    /// How run `b` differs from run `a`, task by task (by key), and in their specs' tasks and
    /// edges. Durations differ when further apart than `durationToleranceMs` (default 1,000).
    async fn graph_diff(
        &self,
        ctx: &Context<'_>,
        a: ID,
        b: ID,
        duration_tolerance_ms: Option<i32>,
    ) -> async_graphql::Result<super::history::GraphDiff> {
        principal(ctx)?;
        let tolerance = match duration_tolerance_ms {
            None => 1_000,
            Some(ms) if ms >= 0 => ms as u64,
            Some(ms) => {
                return Err(error(Kind::BadInput, format!("durationToleranceMs must not be negative, got {ms}")));
            }
        };
        super::history::graph_diff(
            ctx,
            parse(&a, "graph")?,
            parse(&b, "graph")?,
            std::time::Duration::from_millis(tolerance),
        )
        .await
    }

    /// Runs, newest first, optionally only those in `state` or whose name contains `name` (any
    /// case); `first` (default 20, at most 200) of them after `after`, the `endCursor` of the
    /// previous page.
    #[graphql(complexity = "first.unwrap_or(20).max(1) as usize * child_complexity")]
    async fn graphs(
        &self,
        ctx: &Context<'_>,
        #[graphql(name = "state")] state_filter: Option<GraphState>,
        name: Option<String>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<GraphRunConnection> {
        principal(ctx)?;
        let first = first.unwrap_or(20);
        if !(1..=200).contains(&first) {
            return Err(error(Kind::BadInput, "`first` must be between 1 and 200"));
        }
        let before = after
            .map(|c| {
                c.parse::<u64>().map_err(|_| error(Kind::BadInput, format!("`{c}` is not a cursor from this API")))
            })
            .transpose()?;
        let filter = aurora_projector::GraphFilter {
            state: state_filter.map(Into::into),
            name: name.filter(|n| !n.is_empty()),
            forked_from: None,
        };
        let mut views = state(ctx).store.graphs(&filter, first as usize + 1, before).await.map_err(unavailable)?;
        let has_next_page = views.len() > first as usize;
        views.truncate(first as usize);
        let nodes: Vec<GraphRun> = views.into_iter().map(Into::into).collect();
        let end_cursor = nodes.last().map(|g| g.seq.to_string());
        Ok(GraphRunConnection { nodes, page_info: PageInfo { has_next_page, end_cursor } })
    }

    /// One task, or null. With `asOf`, the task as it stood at that moment (see `graph`).
    async fn task(
        &self,
        ctx: &Context<'_>,
        id: ID,
        as_of: Option<chrono::DateTime<chrono::Utc>>,
    ) -> async_graphql::Result<Option<TaskRun>> {
        principal(ctx)?;
        let task = parse(&id, "task")?;
        if let Some(at) = as_of {
            return super::history::task_as_of(ctx, task, at).await;
        }
        let view = state(ctx).store.task(task).await.map_err(unavailable)?;
        Ok(view.map(Into::into))
    }

    /// Every handler some live worker offers.
    async fn handlers(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Handler>> {
        principal(ctx)?;
        let mut by_name = BTreeMap::new();
        for w in state(ctx).registry.workers().await.map_err(unavailable)? {
            for h in w.handlers {
                by_name.entry(h.name.clone()).or_insert(Handler {
                    name: h.name,
                    usage: h.usage,
                    arg_types: h.arg_types,
                    result_types: h.result_types,
                });
            }
        }
        Ok(by_name.into_values().collect())
    }

    /// The functions every configured FaaS provider offers, by provider. A provider that cannot be
    /// listed is reported in `errors` (naming it) while the others are still listed.
    async fn faas_functions(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<FaasFunction>> {
        principal(ctx)?;
        let listings = futures::future::join_all(state(ctx).faas.iter().map(|p| p.list())).await;
        let mut out = Vec::new();
        for listed in listings {
            match listed {
                Ok(functions) => out.extend(functions.into_iter().map(|f| FaasFunction {
                    provider: f.provider,
                    driver: f.driver,
                    id: f.id,
                    name: f.name,
                    description: f.description,
                })),
                // The provider's own words: they name it and say what failed (no secret is in them).
                Err(e) => ctx.add_error(
                    async_graphql::Error::new(e)
                        .extend_with(|_, x| x.set("code", Kind::Unavailable.code()))
                        .into_server_error(ctx.item.pos),
                ),
            }
        }
        Ok(out)
    }

    /// Live workers.
    async fn workers(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Worker>> {
        principal(ctx)?;
        let workers = state(ctx).registry.workers().await.map_err(unavailable)?;
        Ok(workers
            .into_iter()
            .map(|w| Worker {
                id: ID(w.id),
                labels: Json(w.labels),
                handlers: w.handlers.into_iter().map(|h| h.name).collect(),
                last_seen_at: w.last_seen_at,
            })
            .collect())
    }
}
