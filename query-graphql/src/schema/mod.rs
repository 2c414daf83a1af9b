//! The GraphQL schema: the contract clients are written against (`schema.graphql`).

mod history;
mod mutation;
mod query;
mod subscription;
pub mod tails;
mod types;

use crate::auth::{Auth, Principal};
use crate::errors::{Kind, error};
use async_graphql::{Context, Schema};
use aurora_coord::Registry;
use aurora_ledger::Ledger;
use aurora_projector::ReadStore;
use std::sync::Arc;

pub use mutation::Mutation;
pub use query::Query;
pub use subscription::Subscription;

/// Warnings a request's resolvers raise for the response's `extensions.warnings` (e.g. a
/// submission no live worker can run yet). The HTTP surface puts one in every request's data.
#[derive(Debug, Clone, Default)]
pub struct Warnings(Arc<std::sync::Mutex<Vec<String>>>);

impl Warnings {
    /// Adds warnings.
    pub fn add(&self, more: impl IntoIterator<Item = String>) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).extend(more);
    }

    /// Every warning raised.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// The schema type.
pub type AppSchema = Schema<Query, Mutation, Subscription>;

/// What resolvers read and call.
#[derive(Clone)]
pub struct State {
    /// The write side.
    pub command: aurora_command::Service,
    /// Read models.
    pub store: Arc<dyn ReadStore>,
    /// Event history.
    pub ledger: Arc<dyn Ledger>,
    /// Workers and handlers.
    pub registry: Arc<dyn Registry>,
    /// Logins and tokens.
    pub auth: Auth,
    /// Bounds on what one client may cost.
    pub limits: aurora_config::Limits,
    /// Open sockets and subscriptions, counted against the limits.
    pub live: Arc<crate::live::Live>,
    /// The runs' event tails that `graphEvents` subscribers share.
    pub tails: Arc<tails::Tails>,
    /// Where the browser UI's files come from.
    pub web: crate::web::Assets,
    /// The configured FaaS providers, for listing their functions.
    pub faas: Vec<Arc<dyn aurora_worker::handlers::faas::Provider>>,
    /// Remote workers' endpoint (`/workers/ws`).
    pub remote: crate::remote::Endpoint,
    /// The HTTP surface's settings (CORS, the REST `send`'s longest wait).
    pub http: aurora_config::Http,
    /// Cancelled when the process stops: long waits (the REST `send`) end then.
    pub shutdown: tokio_util::sync::CancellationToken,
}

/// Builds the schema over `state`. Cost is bounded by complexity (list fields cost their page
/// size times their children), by the number of fields a document selects, and by the response's
/// size (see [`crate::guard`]) — not by depth, which the standard introspection query needs.
pub fn build_schema(state: State) -> AppSchema {
    let guard = guard_of(&state.limits);
    Schema::build(Query, Mutation, Subscription)
        .limit_complexity(state.limits.max_complexity)
        .extension(guard)
        .data(state)
        .finish()
}

/// The schema that runs subscriptions over WebSocket ([`crate::ws::Operations`]): the same, less
/// the guard's extension, whose per-field hook every event of every subscriber would pay for
/// nothing (a subscription's events are not one response, so they have no response budget). The
/// guard's field count and its wording of errors are applied around it instead.
pub fn build_subscription_schema(state: State) -> AppSchema {
    Schema::build(Query, Mutation, Subscription).limit_complexity(state.limits.max_complexity).data(state).finish()
}

/// The guard's limits from the configured ones.
pub fn guard_of(limits: &aurora_config::Limits) -> crate::guard::Guard {
    crate::guard::Guard {
        max_complexity: limits.max_complexity,
        max_fields: limits.max_fields,
        max_response_bytes: limits.max_response_bytes,
    }
}

pub(crate) fn state<'a>(ctx: &Context<'a>) -> &'a State {
    ctx.data_unchecked::<State>()
}

/// The caller, or UNAUTHENTICATED.
pub(crate) fn principal<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a Principal> {
    ctx.data_opt::<Principal>().ok_or_else(|| {
        error(Kind::Unauthenticated, "a valid token is required: log in and send `Authorization: Bearer <token>`")
    })
}

/// The caller if it may write, else UNAUTHENTICATED or FORBIDDEN.
pub(crate) fn writer<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a Principal> {
    let p = principal(ctx)?;
    if p.may_write() {
        Ok(p)
    } else {
        Err(error(Kind::Forbidden, format!("role `{}` may read but not submit or cancel", p.role)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The committed SDL is the contract; this fails when the schema drifts from it.
    /// After an intended change: `UPDATE_SCHEMA=1 cargo test -p aurora-query-graphql sdl`.
    #[test]
    fn sdl_matches_the_committed_schema() {
        let sdl = Schema::build(Query, Mutation, Subscription).finish().sdl();
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schema.graphql");
        if std::env::var_os("UPDATE_SCHEMA").is_some() {
            std::fs::write(&path, &sdl).expect("write schema.graphql");
        }
        let committed = std::fs::read_to_string(&path).expect("schema.graphql is committed");
        assert!(committed == sdl, "the GraphQL schema drifted from query-graphql/schema.graphql; see the test's doc");
    }
}
