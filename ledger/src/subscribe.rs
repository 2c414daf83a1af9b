//! Catch-up-then-live subscriptions on any [`Ledger`], with no gap and no duplicate between the
//! two phases.
//!
//! The trick: listen for live batches *before* reading history, then skip every live event whose
//! position was already delivered. Anything committed while history was being read arrives in
//! both and is delivered once. A listener that lags behind the live channel, or is told the live
//! feed was interrupted, falls back to reading the store again from where it was; and while no
//! announcement arrives it checks the store's head every second, so even a feed that died
//! silently costs at most a second of delay, never an event.
//!
//! While the store is unreachable a subscription waits and retries (with backoff, logged) from
//! where it was, so an outage of the database delays subscribers but never ends or skips them.

use crate::{Committed, Error, Ledger};
use aurora_schemas::{Event, GraphId};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;

const PAGE: usize = 2_000;

/// Which events a subscription delivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Every event of the ledger.
    All,
    /// The events of one graph (its graph stream and its task streams).
    Graph(GraphId),
}

/// An ordered stream of events: history first, then live ones.
pub struct Subscription {
    ledger: Arc<dyn Ledger>,
    scope: Scope,
    live: broadcast::Receiver<Committed>,
    last: u64,
    catching_up: bool,
    buffer: VecDeque<Event>,
    /// The store's head when it was last checked while idle.
    checked_head: u64,
    /// The current retry delay while the store is unavailable (zero when it is not).
    outage: Duration,
}

const MIN_RETRY: Duration = Duration::from_millis(100);
const MAX_RETRY: Duration = Duration::from_secs(5);

/// How long a subscription waits for an announcement before it asks the store whether anything
/// was committed that it was not told about (a live feed that died without an error).
const IDLE_CHECK: Duration = Duration::from_secs(1);

/// Subscribes to events with position `> after` (0 for everything) in `scope`.
pub fn subscribe(ledger: Arc<dyn Ledger>, scope: Scope, after: u64) -> Subscription {
    let live = ledger.watch();
    Subscription {
        ledger,
        scope,
        live,
        last: after,
        catching_up: true,
        buffer: VecDeque::new(),
        checked_head: 0,
        outage: Duration::ZERO,
    }
}

impl Subscription {
    /// The next event. History is delivered in position order, then live events as committed.
    pub async fn next(&mut self) -> Result<Event, Error> {
        loop {
            if let Some(e) = self.buffer.pop_front() {
                self.last = e.position;
                return Ok(e);
            }
            if self.catching_up {
                let page = match self.read_history().await {
                    Ok(page) => page,
                    Err(e) => {
                        self.wait_out(e).await?;
                        continue;
                    }
                };
                self.outage = Duration::ZERO;
                if page.is_empty() {
                    self.catching_up = false;
                }
                self.buffer.extend(page);
                continue;
            }
            let Ok(received) = tokio::time::timeout(IDLE_CHECK, self.live.recv()).await else {
                let head = match self.ledger.head().await {
                    Ok(head) => head,
                    Err(e) => {
                        self.wait_out(e).await?;
                        continue;
                    }
                };
                if head > self.checked_head.max(self.last) {
                    self.catching_up = true;
                }
                self.checked_head = head;
                continue;
            };
            match received {
                Ok(batch) if batch.is_empty() => {
                    // The store's live feed was interrupted: events may have been missed.
                    self.catching_up = true;
                }
                Ok(batch) => {
                    let last = self.last;
                    let scope = self.scope;
                    self.buffer.extend(batch.iter().filter(|e| e.position > last && in_scope(scope, e)).cloned());
                }
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::debug!(missed, last = self.last, "subscription lagged; re-reading the store");
                    self.catching_up = true;
                }
                Err(broadcast::error::RecvError::Closed) => {
                    return Err(Error::Unavailable("the ledger has shut down".into()));
                }
            }
        }
    }

    /// The next event if one is available without waiting for a new commit (live phase only).
    pub fn try_next(&mut self) -> Option<Event> {
        loop {
            if let Some(e) = self.buffer.pop_front() {
                self.last = e.position;
                return Some(e);
            }
            if self.catching_up {
                return None;
            }
            match self.live.try_recv() {
                Ok(batch) if batch.is_empty() => {
                    self.catching_up = true;
                    return None;
                }
                Ok(batch) => {
                    let (last, scope) = (self.last, self.scope);
                    self.buffer.extend(batch.iter().filter(|e| e.position > last && in_scope(scope, e)).cloned());
                }
                Err(broadcast::error::TryRecvError::Lagged(_)) => {
                    self.catching_up = true;
                    return None;
                }
                Err(_) => return None,
            }
        }
    }

    /// Waits before retrying after `e` if the store is only unavailable; returns other errors.
    async fn wait_out(&mut self, e: Error) -> Result<(), Error> {
        if !matches!(e, Error::Unavailable(_)) {
            return Err(e);
        }
        self.outage = (self.outage * 2).clamp(MIN_RETRY, MAX_RETRY);
        tracing::warn!(error = %e, last = self.last, retry_in = ?self.outage, "ledger unavailable; subscription waits");
        tokio::time::sleep(self.outage).await;
        Ok(())
    }

    /// The position of the last event delivered.
    pub fn position(&self) -> u64 {
        self.last
    }

    async fn read_history(&self) -> Result<Vec<Event>, Error> {
        match self.scope {
            Scope::All => self.ledger.read_from(self.last, PAGE).await,
            Scope::Graph(g) => self.ledger.read_graph_after(g, self.last, PAGE).await,
        }
    }
}

fn in_scope(scope: Scope, e: &Event) -> bool {
    match scope {
        Scope::All => true,
        Scope::Graph(g) => e.graph_id == g,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AppendRequest, SqliteLedger};
    use async_trait::async_trait;
    use aurora_schemas::event::EventData;
    use aurora_schemas::{EventMeta, NewEvent, StreamId, TaskId};
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A ledger whose reads fail as "unavailable" until `failures` reads have been refused.
    struct Outage {
        inner: Arc<SqliteLedger>,
        failures: AtomicUsize,
    }

    impl Outage {
        fn refuse(&self) -> Result<(), Error> {
            match self.failures.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)) {
                Ok(_) => Err(Error::Unavailable("connection refused".into())),
                Err(_) => Ok(()),
            }
        }
    }

    #[async_trait]
    impl Ledger for Outage {
        async fn append_all(&self, requests: Vec<AppendRequest>) -> Result<Vec<Event>, Error> {
            self.inner.append_all(requests).await
        }
        async fn read_stream(&self, stream: &StreamId, from: u64) -> Result<Vec<Event>, Error> {
            self.refuse()?;
            self.inner.read_stream(stream, from).await
        }
        async fn read_graph_after(&self, graph: GraphId, after: u64, limit: usize) -> Result<Vec<Event>, Error> {
            self.refuse()?;
            self.inner.read_graph_after(graph, after, limit).await
        }
        async fn read_from(&self, after: u64, limit: usize) -> Result<Vec<Event>, Error> {
            self.refuse()?;
            self.inner.read_from(after, limit).await
        }
        async fn head(&self) -> Result<u64, Error> {
            self.refuse()?;
            self.inner.head().await
        }
        fn watch(&self) -> broadcast::Receiver<Committed> {
            self.inner.watch()
        }
    }

    /// An outage of the store delays a subscriber; it neither ends it nor loses an event.
    #[tokio::test(start_paused = true)]
    async fn a_subscription_waits_out_an_outage_and_misses_nothing() {
        let inner = Arc::new(SqliteLedger::scratch().expect("scratch ledger"));
        let g = GraphId::new();
        let pending = |key: &str| {
            let t = TaskId::derive(g, key);
            AppendRequest::new(
                0,
                vec![NewEvent::task(
                    g,
                    t,
                    EventData::TaskReceived { attempt: 1, worker_id: "w".into(), takeover: false },
                    EventMeta::default(),
                )],
            )
        };
        for key in ["a", "b", "c"] {
            inner.append(pending(key)).await.expect("append");
        }
        let ledger = Arc::new(Outage { inner: inner.clone(), failures: AtomicUsize::new(6) });
        let mut sub = subscribe(ledger.clone(), Scope::All, 0);
        let mut seen = Vec::new();
        for _ in 0..3 {
            seen.push(sub.next().await.expect("waits out the outage").position);
        }
        assert_eq!(ledger.failures.load(Ordering::SeqCst), 0, "the subscription retried through every refusal");
        inner.append(pending("d")).await.expect("append");
        seen.push(sub.next().await.expect("live after the outage").position);
        assert_eq!(seen, vec![1, 2, 3, 4], "every event once, in order");
    }
}
