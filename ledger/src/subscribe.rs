//! Catch-up-then-live subscriptions on any [`Ledger`], with no gap and no duplicate between the
//! two phases.
//!
//! The trick: listen for live batches *before* reading history, then skip every live event whose
//! position was already delivered. Anything committed while history was being read arrives in
//! both and is delivered once. A listener that lags behind the live channel, or is told the live
//! feed was interrupted, falls back to reading the store again from where it was; and while no
//! announcement arrives it checks the store's head every second, so even a feed that died
//! silently costs at most a second of delay, never an event.

use crate::{Committed, Error, Ledger};
use aurora_schemas::{Event, GraphId};
use std::collections::VecDeque;
use std::sync::Arc;
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
}

/// How long a subscription waits for an announcement before it asks the store whether anything
/// was committed that it was not told about (a live feed that died without an error).
const IDLE_CHECK: std::time::Duration = std::time::Duration::from_secs(1);

/// Subscribes to events with position `> after` (0 for everything) in `scope`.
pub fn subscribe(ledger: Arc<dyn Ledger>, scope: Scope, after: u64) -> Subscription {
    let live = ledger.watch();
    Subscription { ledger, scope, live, last: after, catching_up: true, buffer: VecDeque::new(), checked_head: 0 }
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
                let page = self.read_history().await?;
                if page.is_empty() {
                    self.catching_up = false;
                }
                self.buffer.extend(page);
                continue;
            }
            let Ok(received) = tokio::time::timeout(IDLE_CHECK, self.live.recv()).await else {
                let head = self.ledger.head().await?;
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

    /// The position of the last event delivered.
    pub fn position(&self) -> u64 {
        self.last
    }

    async fn read_history(&self) -> Result<Vec<Event>, Error> {
        match self.scope {
            Scope::All => self.ledger.read_from(self.last, PAGE).await,
            Scope::Graph(g) => {
                let last = self.last;
                let events = self.ledger.read_graph(g).await?;
                Ok(events.into_iter().filter(|e| e.position > last).collect())
            }
        }
    }
}

fn in_scope(scope: Scope, e: &Event) -> bool {
    match scope {
        Scope::All => true,
        Scope::Graph(g) => e.graph_id == g,
    }
}
