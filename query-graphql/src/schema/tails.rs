//! One tail of a run's events per gateway process, shared by all of that run's `graphEvents`
//! subscribers: the ledger is followed once per run however many watch it, each event is turned
//! into its GraphQL shape once, and a subscriber that falls a little behind catches up from the
//! tail's memory instead of reading the database again.
//!
//! A tail lives while someone holds it: the first subscriber of a run starts it (from that
//! subscriber's `after`), the last one to leave stops it, and its events go with it. It keeps at
//! most [`KEPT`] events, dropping the oldest: a subscriber that needs an event the tail no longer
//! keeps (one that fell far behind, or one that resumes from before the tail's start) reads the
//! ledger on its own, as every subscriber did before tails, and joins the tail again once it has
//! caught up with what the tail keeps. A tail that saw the run's terminal event stops following
//! the ledger; a tail that failed is not handed to new subscribers.

use super::types::LedgerEvent;
use aurora_ledger::{Ledger, Scope, Subscription, subscribe};
use aurora_schemas::GraphId;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// The most events one tail keeps (the oldest are dropped): the memory one watched run may take.
pub const KEPT: usize = 10_000;

/// The tails of the runs being watched through this process.
pub struct Tails {
    ledger: Arc<dyn Ledger>,
    open: Mutex<HashMap<GraphId, Weak<Tail>>>,
    kept: usize,
}

/// One run's latest events, in ledger order, and how the tail ended (if it did).
pub(crate) struct Tail {
    ledger: Arc<dyn Ledger>,
    graph: GraphId,
    inner: Mutex<Inner>,
    /// Told after every change of `inner`.
    changed: watch::Sender<()>,
    /// Cancelled when the last holder drops the tail: its feed stops.
    stop: CancellationToken,
}

struct Inner {
    /// Every event of the run after this position that the feed has read is in `events` (or was
    /// dropped from its front, which moves this position past it).
    covers_after: u64,
    /// How many events were dropped from the front: `events[0]` is event number `dropped`.
    dropped: usize,
    /// Each kept event with its position.
    events: VecDeque<(u64, Arc<LedgerEvent>)>,
    /// The most events kept.
    kept: usize,
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
        Self::keeping(ledger, KEPT)
    }

    /// Tails that keep at most `kept` events each.
    pub fn keeping(ledger: Arc<dyn Ledger>, kept: usize) -> Self {
        Self { ledger, open: Mutex::default(), kept: kept.max(1) }
    }

    /// A reader of `graph`'s events after position `after` (0 for all), on the tail already
    /// followed by this process or on a new one.
    pub(crate) fn read_after(&self, graph: GraphId, after: u64) -> Reader {
        self.follow(graph, after).read_after(after)
    }

    fn follow(&self, graph: GraphId, after: u64) -> Arc<Tail> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let live = open.get(&graph).and_then(Weak::upgrade);
        if let Some(tail) = live.filter(|t| !matches!(t.lock().end, Some(End::Failed(_)))) {
            return tail;
        }
        open.retain(|_, tail| tail.strong_count() > 0);
        let tail = Arc::new(Tail {
            ledger: self.ledger.clone(),
            graph,
            inner: Mutex::new(Inner {
                covers_after: after,
                dropped: 0,
                events: VecDeque::new(),
                kept: self.kept,
                end: None,
            }),
            changed: watch::channel(()).0,
            stop: CancellationToken::new(),
        });
        tokio::spawn(feed(self.ledger.clone(), graph, after, Arc::downgrade(&tail), tail.stop.clone()));
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
        inner.events.push_back((position, Arc::new(event)));
        if inner.events.len() > inner.kept
            && let Some((oldest, _)) = inner.events.pop_front()
        {
            inner.dropped += 1;
            inner.covers_after = oldest;
        }
        inner.end = end;
        drop(inner);
        self.changed.send_replace(());
    }

    fn end(&self, end: End) {
        self.lock().end = Some(end);
        self.changed.send_replace(());
    }

    fn read_after(self: Arc<Self>, after: u64) -> Reader {
        let changed = self.changed.subscribe();
        let mut reader = Reader { tail: self, next: 0, after, own: None, changed, finished: false, told: false };
        reader.join_or_read_alone();
        reader
    }
}

impl Drop for Tail {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// One subscriber's place: in the tail, or in the ledger while it is behind what the tail keeps.
pub(crate) struct Reader {
    tail: Arc<Tail>,
    /// The number (counted from the tail's first event, dropped ones included) of the next event
    /// to look at in the tail.
    next: usize,
    /// The position of the last event delivered (or the one to resume after).
    after: u64,
    /// Its own subscription to the ledger, while the tail does not keep what it needs next.
    own: Option<Subscription>,
    changed: watch::Receiver<()>,
    /// The run's terminal event was delivered.
    finished: bool,
    /// A failure was delivered.
    told: bool,
}

impl Reader {
    /// Reads from the tail if it keeps every event after `after`, else from the ledger alone.
    fn join_or_read_alone(&mut self) {
        let inner = self.tail.lock();
        if self.after >= inner.covers_after {
            let skipped = inner.events.partition_point(|(position, _)| *position <= self.after);
            self.next = inner.dropped + skipped;
            self.own = None;
        } else if self.own.is_none() {
            self.own = Some(subscribe(self.tail.ledger.clone(), Scope::Graph(self.tail.graph), self.after));
        }
    }

    /// The next event; `None` after the run's terminal event (or after an error).
    pub(crate) async fn next(&mut self) -> Option<Result<Arc<LedgerEvent>, aurora_ledger::Error>> {
        if self.finished || self.told {
            return None;
        }
        loop {
            if let Some(own) = &mut self.own {
                let event = match own.next().await {
                    Ok(event) => event,
                    Err(e) => {
                        self.told = true;
                        return Some(Err(e));
                    }
                };
                self.after = event.position;
                self.finished = event.event_type().ends_graph();
                self.join_or_read_alone();
                return Some(Ok(Arc::new(LedgerEvent::from(&event))));
            }
            {
                let inner = self.tail.lock();
                if self.next < inner.dropped {
                    // Fell behind what the tail keeps: the ledger, on its own, until caught up.
                    drop(inner);
                    self.join_or_read_alone();
                    continue;
                }
                if let Some((position, event)) = inner.events.get(self.next - inner.dropped) {
                    self.next += 1;
                    self.after = *position;
                    return Some(Ok(event.clone()));
                }
                match &inner.end {
                    Some(End::Finished) => return None,
                    Some(End::Failed(e)) => {
                        self.told = true;
                        return Some(Err(e.clone()));
                    }
                    None => {}
                }
            }
            if self.changed.changed().await.is_err() {
                return None;
            }
        }
    }
}

/// Follows `graph`'s events after `after` into `tail` until the run's terminal event, a failure,
/// or `stop`.
async fn feed(ledger: Arc<dyn Ledger>, graph: GraphId, after: u64, tail: Weak<Tail>, stop: CancellationToken) {
    let mut sub = subscribe(ledger, Scope::Graph(graph), after);
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
