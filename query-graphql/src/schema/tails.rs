//! One tail of a run's events per gateway process, shared by all of that run's `graphEvents`
//! subscribers: the ledger is followed once per run however many watch it, each event is turned
//! into its GraphQL shape once, and a subscriber that falls behind catches up from the tail's
//! memory instead of reading the database again.
//!
//! A tail lives while someone holds it: the first subscriber of a run starts it (reading the run's
//! history, then its live events, through one ledger subscription), the last one to leave stops
//! it, and its events are dropped with it. A tail that saw the run's terminal event is complete
//! and stops following the ledger; later subscribers of the run still read it while it is held.

use super::types::LedgerEvent;
use aurora_ledger::{Ledger, Scope, subscribe};
use aurora_schemas::GraphId;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// The tails of the runs being watched through this process.
pub struct Tails {
    ledger: Arc<dyn Ledger>,
    open: Mutex<HashMap<GraphId, Weak<Tail>>>,
}

/// One run's events so far, in ledger order, and how the tail ended (if it did).
pub(crate) struct Tail {
    inner: Mutex<Inner>,
    /// Told after every change of `inner`.
    changed: watch::Sender<()>,
    /// Cancelled when the last holder drops the tail: its feed stops.
    stop: CancellationToken,
}

#[derive(Default)]
struct Inner {
    /// Each event with its position.
    events: Vec<(u64, Arc<LedgerEvent>)>,
    end: Option<End>,
}

/// Why a tail has no more events.
#[derive(Debug, Clone)]
enum End {
    /// The run's terminal event is its last.
    Finished,
    /// Following the ledger failed (not only unavailable: that is waited out).
    Failed(aurora_ledger::Error),
}

impl Tails {
    /// No tails yet, over `ledger`.
    pub fn new(ledger: Arc<dyn Ledger>) -> Self {
        Self { ledger, open: Mutex::default() }
    }

    /// The tail of `graph`: the one already followed by this process, or a new one.
    pub(crate) fn follow(&self, graph: GraphId) -> Arc<Tail> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(tail) = open.get(&graph).and_then(Weak::upgrade) {
            return tail;
        }
        open.retain(|_, tail| tail.strong_count() > 0);
        let tail =
            Arc::new(Tail { inner: Mutex::default(), changed: watch::channel(()).0, stop: CancellationToken::new() });
        tokio::spawn(feed(self.ledger.clone(), graph, Arc::downgrade(&tail), tail.stop.clone()));
        open.insert(graph, Arc::downgrade(&tail));
        tail
    }

    /// How many runs have a tail followed by this process now.
    pub fn open(&self) -> usize {
        let open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.values().filter(|tail| tail.strong_count() > 0).count()
    }
}

impl Tail {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn push(&self, position: u64, event: LedgerEvent, end: Option<End>) {
        let mut inner = self.lock();
        inner.events.push((position, Arc::new(event)));
        inner.end = end;
        drop(inner);
        self.changed.send_replace(());
    }

    fn end(&self, end: End) {
        self.lock().end = Some(end);
        self.changed.send_replace(());
    }

    /// A reader of this tail's events after `after` (a position; 0 for all).
    pub(crate) fn read_after(self: Arc<Self>, after: u64) -> Reader {
        let changed = self.changed.subscribe();
        Reader { tail: self, next: 0, after, changed, told: false }
    }
}

impl Drop for Tail {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// One subscriber's place in a tail.
pub(crate) struct Reader {
    tail: Arc<Tail>,
    /// The index of the next event to look at.
    next: usize,
    /// Events at or before this position are not delivered.
    after: u64,
    changed: watch::Receiver<()>,
    /// Whether the tail's failure was delivered.
    told: bool,
}

impl Reader {
    /// The next event; `None` after the run's terminal event (or after an error).
    pub(crate) async fn next(&mut self) -> Option<Result<Arc<LedgerEvent>, aurora_ledger::Error>> {
        loop {
            {
                let inner = self.tail.lock();
                while let Some((position, event)) = inner.events.get(self.next) {
                    self.next += 1;
                    if *position > self.after {
                        return Some(Ok(event.clone()));
                    }
                }
                match &inner.end {
                    Some(End::Finished) => return None,
                    // Said once; the next call ends the stream.
                    Some(End::Failed(e)) => return (!std::mem::replace(&mut self.told, true)).then(|| Err(e.clone())),
                    None => {}
                }
            }
            if self.changed.changed().await.is_err() {
                return None;
            }
        }
    }
}

/// Follows `graph`'s events into `tail` until the run's terminal event, a failure, or `stop`.
async fn feed(ledger: Arc<dyn Ledger>, graph: GraphId, tail: Weak<Tail>, stop: CancellationToken) {
    let mut sub = subscribe(ledger, Scope::Graph(graph), 0);
    loop {
        let next = tokio::select! {
            _ = stop.cancelled() => return,
            next = sub.next() => next,
        };
        let Some(tail) = tail.upgrade() else { return };
        match next {
            Ok(event) => {
                let finished = event.event_type().ends_graph();
                tail.push(event.position, LedgerEvent::from(&event), finished.then_some(End::Finished));
                if finished {
                    return;
                }
            }
            Err(e) => {
                tracing::warn!(graph = %graph, error = %e, "following a run's events failed");
                tail.end(End::Failed(e));
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests;
