//! Subscriptions: a run's history, then its live events, until it ends (read from the run's
//! tail in this process, shared by its subscribers: `tails.rs`).

use super::types::LedgerEvent;
use super::{principal, state};
use crate::errors::{Kind, error, unavailable};
use crate::live::What;
use async_graphql::{Context, ID, Subscription as GqlSubscription};
use aurora_schemas::GraphId;
use futures::Stream;
use std::sync::Arc;

/// The root subscription.
pub struct Subscription;

/// Live `graphEvents` subscriptions, in the process-wide Prometheus registry.
static ACTIVE: std::sync::LazyLock<prometheus::IntGauge> = std::sync::LazyLock::new(|| {
    prometheus::register_int_gauge!("aurora_graphql_subscriptions_active", "Open graphEvents subscriptions")
        .expect("metric names are unique")
});

/// Counts one open subscription for as long as it lives.
struct Active;

impl Active {
    fn new() -> Self {
        ACTIVE.inc();
        Self
    }
}

impl Drop for Active {
    fn drop(&mut self) {
        ACTIVE.dec();
    }
}

#[GqlSubscription]
impl Subscription {
    /// The run's whole history so far, then each new event as it is appended; completes after the
    /// graph's terminal event. No event is missed or repeated between history and live events.
    /// With `after` (an event's `position`), only what came after it: a client that lost its
    /// connection resumes where it was.
    async fn graph_events(
        &self,
        ctx: &Context<'_>,
        id: ID,
        after: Option<String>,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<Arc<LedgerEvent>>>> {
        let caller = principal(ctx)?;
        let st = state(ctx);
        if !st.auth.still_valid(caller).await.map_err(unavailable)? {
            return Err(error(Kind::Unauthenticated, "the token expired or was revoked; log in again"));
        }
        let slot = st
            .live
            .take(What::Subscription, &caller.token_hash, st.limits.max_subscriptions_per_token, st.limits.max_subscriptions)
            .map_err(|full| {
                error(
                    Kind::RateLimited,
                    format!("too many live subscriptions: {full} (limits.max_subscriptions_per_token, limits.max_subscriptions); end some first"),
                )
            })?;
        let graph: GraphId =
            id.parse().map_err(|_| error(Kind::BadInput, format!("`{}` is not a graph id (a UUID)", id.as_str())))?;
        let exists = !st.ledger.read_stream(&graph.stream(), 1).await.map_err(unavailable)?.is_empty();
        if !exists {
            return Err(error(Kind::NotFound, format!("no graph with id {graph}")));
        }
        let after = match after {
            None => 0,
            Some(a) => a
                .parse::<u64>()
                .map_err(|_| error(Kind::BadInput, format!("`after` must be an event's `position`, not `{a:.40}`")))?,
        };
        let reader = st.tails.read_after(graph, after);
        Ok(futures::stream::unfold(Some((reader, (Active::new(), slot))), |open| async move {
            let (mut reader, held) = open?;
            match reader.next().await? {
                Ok(event) => Some((Ok(event), Some((reader, held)))),
                Err(e) => Some((Err(unavailable(e)), None)),
            }
        }))
    }
}
