//! The live feed of a process: the change stream on `events`, announced in position order and
//! without holes.
//!
//! The change stream carries inserts in commit order, and positions can commit out of order (see
//! `horizon.rs`), so changes go through an [`Order`] that holds back what comes after a missing
//! position until that position arrives (its event, or its skip). While something is held back
//! the watcher also asks the store every [`HOLE_CHECK`]: that advances the horizon (marking
//! positions skipped that have been missing too long) and fetches what committed before the
//! stream opened.

use super::docs::{from_doc, position_of};
use super::horizon::Horizon;
use super::read_all;
use crate::Committed;
use aurora_schemas::Event;
use futures::{FutureExt, TryStreamExt};
use mongodb::Collection;
use mongodb::bson::{Document, doc};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;
use tracing::{error, warn};

/// The most changes taken from the cursor for one announcement.
const ANNOUNCE_MAX: usize = 1_000;

/// How often the store is asked while a position is missing.
const HOLE_CHECK: Duration = Duration::from_millis(50);

/// Events in the order they committed → events in position order, with no position left out.
#[derive(Debug)]
pub struct Order {
    next: u64,
    /// What arrived after a missing position: the event, or `None` for a skipped position.
    held: BTreeMap<u64, Option<Event>>,
}

impl Order {
    /// Announces from the position after `horizon`.
    pub fn after(horizon: u64) -> Self {
        Self { next: horizon + 1, held: BTreeMap::new() }
    }

    /// Takes what arrived at `position` (an event, or `None`: skipped). Positions already passed
    /// are ignored, so arrivals may repeat.
    pub fn add(&mut self, position: u64, event: Option<Event>) {
        if position >= self.next {
            self.held.insert(position, event);
        }
    }

    /// The events that can be announced now, in position order: those up to the first missing
    /// position.
    pub fn drain(&mut self) -> Vec<Event> {
        let mut out = Vec::new();
        while let Some(entry) = self.held.first_entry() {
            if *entry.key() != self.next {
                break;
            }
            out.extend(entry.remove());
            self.next += 1;
        }
        out
    }

    /// Whether something is held back behind a missing position.
    pub fn waiting(&self) -> bool {
        !self.held.is_empty()
    }

    /// The last position passed.
    pub fn passed(&self) -> u64 {
        self.next - 1
    }
}

/// Tails `events` and announces inserted events. Each time the stream (re)opens it announces an
/// empty batch, which tells listeners to re-read the store from where they are: whatever was
/// committed before the stream was open reaches them that way.
pub async fn watch_loop(events: Collection<Document>, horizon: Arc<Horizon>, live: broadcast::WeakSender<Committed>) {
    let mut resume = None;
    loop {
        let mut watch = events.watch().pipeline(vec![doc! { "$match": { "operationType": "insert" } }]);
        if let Some(token) = resume.clone() {
            watch = watch.resume_after(token);
        }
        match watch.await {
            Ok(mut stream) => {
                // The horizon first, then the opening: listeners re-read the store when told of it,
                // up to at least this horizon, and the stream announces what follows it.
                let mut order = match horizon.advance().await {
                    Ok(h) => Order::after(h),
                    Err(e) => {
                        warn!(error = %e, "could not read the ledger's horizon; reopening the change stream");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        continue;
                    }
                };
                let Some(tx) = live.upgrade() else { return };
                let _ = tx.send(Arc::new(Vec::new()));
                drop(tx);
                loop {
                    let check = if order.waiting() { HOLE_CHECK } else { Duration::from_secs(3600) };
                    let mut interrupted = None;
                    tokio::select! {
                        first = stream.try_next() => {
                            // One announcement per wait: the change that ended it and every change
                            // the cursor already holds.
                            let (mut next, mut taken) = (Some(first), 0);
                            while let Some(change) = next.take() {
                                match change {
                                    Ok(Some(change)) => {
                                        resume = Some(change.id.clone());
                                        if let Some(d) = change.full_document.as_ref() {
                                            take(&mut order, d);
                                        }
                                        taken += 1;
                                        if taken < ANNOUNCE_MAX {
                                            next = stream.try_next().now_or_never();
                                        }
                                    }
                                    Ok(None) => interrupted = Some("the change stream ended".to_string()),
                                    Err(e) => interrupted = Some(e.to_string()),
                                }
                            }
                        }
                        () = tokio::time::sleep(check) => {
                            if let Err(e) = fill(&events, &horizon, &mut order).await {
                                warn!(error = %e, "could not read the ledger while a position was missing");
                            }
                        }
                    }
                    let Some(tx) = live.upgrade() else { return };
                    let ready = order.drain();
                    horizon.raise(order.passed());
                    if !ready.is_empty() {
                        let _ = tx.send(Arc::new(ready));
                    }
                    if let Some(why) = interrupted {
                        warn!(error = %why, "change stream interrupted; resuming");
                        break;
                    }
                }
            }
            Err(e) => {
                warn!(error = %e, "could not open the change stream; retrying (the server must be a replica set)");
                // A resume token that aged out of the oplog cannot be used again: listeners
                // re-read the store when they notice they lagged, so start from now.
                resume = None;
            }
        }
        if live.upgrade().is_none() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn take(order: &mut Order, d: &Document) {
    match (position_of(d), from_doc(d)) {
        (Ok(p), Ok(event)) => order.add(p, event),
        (Err(e), _) | (_, Err(e)) => error!(error = %e, "undecodable event in the change stream"),
    }
}

/// Advances the horizon and takes from the store what lies between the missing position and it.
async fn fill(events: &Collection<Document>, horizon: &Horizon, order: &mut Order) -> Result<(), crate::Error> {
    let stable = horizon.advance().await?;
    let from = order.passed() + 1;
    if stable < from {
        return Ok(());
    }
    let between = events.find(doc! { "position": { "$gte": from as i64, "$lte": stable as i64 } });
    let docs = read_all(between.sort(doc! { "position": 1 }).limit(ANNOUNCE_MAX as i64 * 10)).await?;
    for d in &docs {
        take(order, d);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::Order;
    use aurora_schemas::event::EventData;
    use aurora_schemas::{Event, EventMeta, GraphId, NewEvent, TaskId};

    fn at(position: u64) -> Event {
        let g = GraphId::new();
        let mut e =
            NewEvent::task(g, TaskId::derive(g, "t"), EventData::TaskStarted { attempt: 1 }, EventMeta::default())
                .seal(1, chrono::Utc::now(), String::new());
        e.position = position;
        e
    }

    fn positions(events: &[Event]) -> Vec<u64> {
        events.iter().map(|e| e.position).collect()
    }

    /// Commits out of position order come out in position order, held back behind a missing
    /// position until it arrives; a skipped position lets what follows it go; repeats and
    /// positions already passed are ignored.
    #[test]
    fn out_of_order_commits_come_out_in_position_order_without_holes() {
        let mut order = Order::after(10);
        order.add(12, Some(at(12)));
        order.add(13, Some(at(13)));
        assert!(order.drain().is_empty(), "11 is missing: nothing goes");
        assert!(order.waiting());
        order.add(11, Some(at(11)));
        assert_eq!(positions(&order.drain()), vec![11, 12, 13]);
        assert!(!order.waiting());
        order.add(15, Some(at(15)));
        order.add(14, None); // skipped
        order.add(13, Some(at(13))); // passed already
        assert_eq!(positions(&order.drain()), vec![15]);
        assert_eq!(order.passed(), 15);
        order.add(9, Some(at(9)));
        assert!(order.drain().is_empty() && !order.waiting(), "before the start: ignored");
    }
}
