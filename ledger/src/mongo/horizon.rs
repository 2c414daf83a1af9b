//! The stable horizon: the greatest position up to which every position is resolved.
//!
//! Appends reserve their positions from a counter *before* they write, and do not serialise on
//! it (see `append.rs`), so positions can commit out of order: position 7 may be visible while 6,
//! reserved by a slower append, is not yet. A reader that delivered 7 and moved on would lose 6.
//! So readers deliver only up to the stable horizon: every position at or below it holds an event
//! or is marked skipped. A position that stays missing for [`SKIP_AFTER`] (its append failed,
//! or its process died between reserving and writing) is marked skipped by the first reader that
//! waits on it: the skip takes the position under the unique index, so if the append arrives late
//! it fails on the position, is tried again at a new one, and nothing is lost or delivered twice.
//! The horizon is kept in memory per process and saved (`counters.horizon`, only ever raised) now
//! and then, so a new process does not scan the ledger from the start.

use super::docs::{position_of, skipped_doc};
use super::write::{DUPLICATE_KEY, Inserted, insert_unordered};
use super::{bounded, read_all, unavailable};
use crate::Error;
use mongodb::Collection;
use mongodb::bson::{Document, doc};
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tracing::warn;

/// How long a position may stay missing below present ones (as one reader sees it) before that
/// reader marks it skipped. Appends write right after reserving, but a large transaction (a
/// submission of thousands of tasks) on a busy server can take seconds; a position missing this
/// long most likely belongs to an append that failed or a process that died. Marking one skipped
/// too early costs its append a retry at new positions, never an event.
pub const SKIP_AFTER: Duration = Duration::from_secs(5);

/// Positions read per query while advancing.
const PAGE: i64 = 5_000;

/// The horizon of one process.
pub struct Horizon {
    events: Collection<Document>,
    counters: Collection<Document>,
    stable: AtomicU64,
    /// Missing positions, and when this process first saw each missing.
    missing_since: Mutex<HashMap<u64, Instant>>,
    /// One advance at a time; the others wait for its result instead of repeating its queries.
    advancing: tokio::sync::Mutex<()>,
    /// Advances finished.
    advances: AtomicU64,
    /// The horizon last saved, and when.
    saved: Mutex<(u64, Instant)>,
    skip_after: Duration,
}

impl Horizon {
    /// The horizon saved by any process (0 if none was), as a start.
    pub async fn load(
        events: Collection<Document>,
        counters: Collection<Document>,
        skip_after: Duration,
    ) -> Result<Self, Error> {
        let saved = bounded("a MongoDB read", async {
            counters.find_one(doc! { "_id": "horizon" }).await.map_err(unavailable)
        })
        .await?
        .and_then(|d| d.get_i64("value").ok())
        .unwrap_or(0) as u64;
        Ok(Self {
            events,
            counters,
            stable: AtomicU64::new(saved),
            missing_since: Mutex::new(HashMap::new()),
            advancing: tokio::sync::Mutex::new(()),
            advances: AtomicU64::new(0),
            saved: Mutex::new((saved, Instant::now())),
            skip_after,
        })
    }

    /// The horizon as this process last knew it (no I/O).
    pub fn known(&self) -> u64 {
        self.stable.load(Ordering::Acquire)
    }

    /// Raises the known horizon to `to` (a contiguous run this process saw committed).
    pub fn raise(&self, to: u64) {
        self.stable.fetch_max(to, Ordering::AcqRel);
    }

    /// Advances the horizon as far as the store allows now, marking skipped the positions that
    /// have been missing for too long, and returns it.
    pub async fn advance(&self) -> Result<u64, Error> {
        let entered = self.advances.load(Ordering::Acquire);
        let _one = self.advancing.lock().await;
        if self.advances.load(Ordering::Acquire) >= entered + 2 {
            // An advance started and finished while this one waited: it saw everything committed
            // before this call, so its result serves this call too.
            return Ok(self.known());
        }
        let result = self.advance_now().await;
        self.advances.fetch_add(1, Ordering::AcqRel);
        result
    }

    async fn advance_now(&self) -> Result<u64, Error> {
        let mut h = self.known();
        loop {
            let after = self.events.find(doc! { "position": { "$gt": h as i64 } });
            let docs =
                read_all(after.sort(doc! { "position": 1 }).projection(doc! { "_id": 0, "position": 1 }).limit(PAGE))
                    .await?;
            let full = docs.len() as i64 == PAGE;
            let mut next_present = None;
            for d in &docs {
                let p = position_of(d)?;
                if p == h + 1 {
                    h = p;
                } else if p > h + 1 {
                    next_present = Some(p);
                    break;
                }
            }
            match next_present {
                Some(present) => {
                    // h+1 .. present-1 are missing.
                    let first_seen =
                        *self.missing_since.lock().expect("not poisoned").entry(h + 1).or_insert_with(Instant::now);
                    if first_seen.elapsed() < self.skip_after {
                        break;
                    }
                    let missing: Vec<u64> = (h + 1..present).collect();
                    warn!(from = h + 1, to = present - 1, "positions missing too long; marking them skipped");
                    self.skip(&missing).await?;
                    // Each is now an event or a skip: read on from there.
                }
                None if full => continue,
                None => break,
            }
        }
        self.missing_since.lock().expect("not poisoned").retain(|p, _| *p > h);
        self.raise(h);
        let h = self.known();
        self.save(h).await;
        Ok(h)
    }

    /// Marks `positions` skipped where no event holds them (an event that holds one stays).
    pub async fn skip(&self, positions: &[u64]) -> Result<(), Error> {
        if positions.is_empty() {
            return Ok(());
        }
        crate::metrics::POSITIONS_SKIPPED.inc_by(positions.len() as u64);
        let docs: Vec<Document> = positions.iter().map(|p| skipped_doc(*p)).collect();
        match insert_unordered(&self.events, docs).await {
            // A position taken already (by its event, or by another reader's skip) is resolved
            // too: that is the point of the unique index.
            Inserted::All => Ok(()),
            Inserted::AllBut(failed) if failed.iter().all(|(_, code)| *code == DUPLICATE_KEY) => Ok(()),
            Inserted::AllBut(failed) => Err(unavailable(format!("marking positions skipped failed: {failed:?}"))),
            Inserted::Unknown(e) => Err(e),
        }
    }

    /// Saves the horizon when it moved far or a while ago (best effort: it is only a start).
    async fn save(&self, h: u64) {
        {
            let mut saved = self.saved.lock().expect("not poisoned");
            if h < saved.0 + 1_000 && saved.1.elapsed() < Duration::from_secs(1) || h <= saved.0 {
                return;
            }
            *saved = (h, Instant::now());
        }
        let raise =
            self.counters.update_one(doc! { "_id": "horizon" }, doc! { "$max": { "value": h as i64 } }).upsert(true);
        if let Err(e) = bounded("a MongoDB write", async { raise.await.map_err(unavailable) }).await {
            warn!(error = %e, horizon = h, "could not save the stable horizon");
        }
    }
}
