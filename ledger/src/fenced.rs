//! A ledger seen through a lease: every append carries the holder's fence and stamps its token
//! on the events' `meta`, so whatever a lease holder appends is refused once a successor has
//! appended with a greater token.

use crate::{AppendRequest, Committed, Error, Fence, Ledger};
use async_trait::async_trait;
use aurora_schemas::{Event, GraphId, StreamId};
use std::sync::Arc;
use tokio::sync::broadcast;

/// `inner`, with every append fenced by `fence`.
pub struct FencedLedger {
    inner: Arc<dyn Ledger>,
    fence: Fence,
}

impl FencedLedger {
    /// Wraps `inner` for the holder of `fence`.
    pub fn new(inner: Arc<dyn Ledger>, fence: Fence) -> Self {
        Self { inner, fence }
    }
}

#[async_trait]
impl Ledger for FencedLedger {
    async fn append_all(&self, mut requests: Vec<AppendRequest>) -> Result<Vec<Event>, Error> {
        for req in &mut requests {
            req.fence = Some(self.fence.clone());
            for e in &mut req.events {
                e.meta.fencing_token = Some(self.fence.token);
            }
        }
        self.inner.append_all(requests).await
    }

    async fn read_stream(&self, stream: &StreamId, from_version: u64) -> Result<Vec<Event>, Error> {
        self.inner.read_stream(stream, from_version).await
    }

    async fn read_graph_after(&self, graph: GraphId, after: u64, limit: usize) -> Result<Vec<Event>, Error> {
        self.inner.read_graph_after(graph, after, limit).await
    }

    async fn read_from(&self, after: u64, limit: usize) -> Result<Vec<Event>, Error> {
        self.inner.read_from(after, limit).await
    }

    async fn head(&self) -> Result<u64, Error> {
        self.inner.head().await
    }

    fn watch(&self) -> broadcast::Receiver<Committed> {
        self.inner.watch()
    }
}
