//! Appends: group commit without a cluster-wide serialisation point.
//!
//! A process gathers the appends waiting at the moment into a group, and for the group:
//! 1. knows each stream's head — from its cache of heads it wrote or read when the cached version
//!    is the one expected, without a read when the stream is expected not to exist (version 0),
//!    else by one read for all the group's other streams;
//! 2. refuses the requests that are not at their expected version (a conflict; nothing reserved);
//! 3. reserves the positions of the rest with one `$inc` on the counter, **outside** any
//!    transaction: concurrent reservations queue on the document for a moment, they never abort;
//! 4. writes an append of one event without a fence as a plain document (one unordered insert for
//!    all of them: a document is atomic, and the unique `(stream, version)` index refuses a racing
//!    one), and the others (several events, several streams, or a fence) in one transaction, which
//!    conflicts with another only where both write the same document — the same stream version, or
//!    the same lease's fence — never on the counter;
//! 5. marks skipped the positions it reserved but did not write (see `horizon.rs`), and tries the
//!    failed appends again. An append whose outcome is unknown (a timeout, a lost connection, a
//!    position a reader marked skipped) is settled by the next round, which looks its events up
//!    by id: there, it was written (by the earlier try); not there, it is written again with the
//!    same events, so a late copy of the earlier try collides on the event ids (or it meets a
//!    conflict, if its stream moved meanwhile).
//!
//! One group of a process is in flight at a time ([`IN_FLIGHT`]).

use super::docs::{from_doc, to_doc};
use super::horizon::Horizon;
use super::write::{Inserted, insert_unordered};
use super::{bounded, read_all, unavailable};
use crate::{AppendRequest, Error};
use aurora_schemas::Event;
use chrono::Utc;
use mongodb::bson::{Document, doc};
use mongodb::options::ReturnDocument;
use mongodb::{Client, Collection};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{Semaphore, mpsc, oneshot};
use tracing::warn;

/// The most appends in one group.
const MAX_GROUP: usize = 512;

/// Groups of one process in flight at once. One: appends that arrive while a group commits wait
/// and form the next group, so a busy process sends fewer, larger groups. Measured on distributed
/// W2 (quick): 4 in flight gave 362 tasks/s at 5.7 MongoDB commands per task, 1 gave 594 tasks/s
/// at 3.2 (the server's CPU per command is what bounds it).
const IN_FLIGHT: usize = 1;

/// How long a group keeps trying appends whose failure was transient before they fail.
const RETRY_FOR: Duration = Duration::from_secs(10);

/// The heads cached per process (a cache, cleared when it grows past this).
const CACHED_HEADS: usize = 100_000;

/// Where an append's result goes.
pub type Reply = oneshot::Sender<Result<Vec<Event>, Error>>;

/// A stream's last event, as far as an append needs it.
#[derive(Debug, Clone)]
struct Head {
    version: u64,
    hash: String,
}

impl Head {
    const NONE: Head = Head { version: 0, hash: String::new() };
}

/// The collections an append writes, and what it remembers between groups.
pub struct Appender {
    pub client: Client,
    pub events: Collection<Document>,
    /// The position counter.
    pub counters: Collection<Document>,
    /// The greatest fencing token seen per lease.
    pub fences: Collection<Document>,
    pub horizon: Arc<Horizon>,
    heads: Mutex<HashMap<String, Head>>,
}

/// One `append_all` call: all of its requests are written, or none.
struct Item {
    requests: Vec<AppendRequest>,
    /// The events, sealed once (the same ids and hashes on every try), per request.
    sealed: Option<Vec<Vec<Event>>>,
    /// Written or not, not known yet.
    unsure: bool,
    /// Found not written after being unsure: its heads are read from the store, not the cache
    /// (which may hold a head that another process has since moved past).
    reread: bool,
    done: Option<Result<Vec<Event>, Error>>,
}

impl Item {
    fn new(requests: Vec<AppendRequest>) -> Self {
        let mut item = Self { requests, sealed: None, unsure: false, reread: false, done: None };
        if let Err(e) = item.check() {
            item.done = Some(Err(e));
        }
        item
    }

    fn check(&self) -> Result<(), Error> {
        for req in &self.requests {
            if req.events.is_empty() {
                return Err(Error::Invalid(format!("no events for stream {}", req.stream)));
            }
            if let Some(e) = req.events.iter().find(|e| e.stream() != req.stream) {
                return Err(Error::Invalid(format!("event for {} in an append to {}", e.stream(), req.stream)));
            }
        }
        Ok(())
    }

    /// Written as one document, without a transaction.
    fn is_plain(&self) -> bool {
        matches!(self.requests.as_slice(), [one] if one.events.len() == 1 && one.fence.is_none())
    }

    fn events(&self) -> impl Iterator<Item = &Event> {
        self.sealed.iter().flatten().flatten()
    }

    fn events_mut(&mut self) -> impl Iterator<Item = &mut Event> {
        self.sealed.iter_mut().flatten().flatten()
    }

    /// Each stream's last event after this append.
    fn new_heads(&self) -> Vec<(String, Head)> {
        let sealed = self.sealed.iter().flatten();
        sealed
            .filter_map(|evs| evs.last())
            .map(|e| (e.stream.0.clone(), Head { version: e.version, hash: e.hash.clone() }))
            .collect()
    }
}

/// Gathers appends into groups and commits up to [`IN_FLIGHT`] of them at once.
pub async fn run(appender: Arc<Appender>, mut rx: mpsc::UnboundedReceiver<(Vec<AppendRequest>, Reply)>) {
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    while let Some(first) = rx.recv().await {
        let Ok(slot) = slots.clone().acquire_owned().await else { return };
        // Gathered after a slot is free: while every slot is busy, appends wait and join one group.
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(next) => group.push(next),
                Err(_) => break,
            }
        }
        let appender = appender.clone();
        tokio::spawn(async move {
            let (requests, replies): (Vec<_>, Vec<_>) = group.into_iter().unzip();
            let timer = crate::metrics::COMMIT_SECONDS.start_timer();
            let results = appender.commit(requests).await;
            timer.observe_duration();
            for (reply, result) in replies.into_iter().zip(results) {
                match &result {
                    Ok(events) => crate::metrics::EVENTS.inc_by(events.len() as u64),
                    Err(e) if e.is_conflict() => crate::metrics::CONFLICTS.inc(),
                    Err(_) => {}
                }
                let _ = reply.send(result);
            }
            drop(slot);
        });
    }
}

impl Appender {
    /// An appender over these collections.
    pub fn new(
        client: Client,
        events: Collection<Document>,
        counters: Collection<Document>,
        fences: Collection<Document>,
        horizon: Arc<Horizon>,
    ) -> Self {
        Self { client, events, counters, fences, horizon, heads: Mutex::new(HashMap::new()) }
    }

    /// Commits a group; one result per call, in order.
    async fn commit(&self, calls: Vec<Vec<AppendRequest>>) -> Vec<Result<Vec<Event>, Error>> {
        let mut items: Vec<Item> = calls.into_iter().map(Item::new).collect();
        let started = Instant::now();
        let mut backoff = aurora_schemas::backoff::Backoff::new(Duration::from_millis(2), Duration::from_millis(200));
        let mut last_error = None;
        while items.iter().any(|i| i.done.is_none()) {
            let open = items.iter().filter(|i| i.done.is_none()).count();
            if let Err(e) = self.round(&mut items).await {
                last_error = Some(e);
            }
            if items.iter().all(|i| i.done.is_some()) {
                break;
            }
            if started.elapsed() >= RETRY_FOR {
                // Unsure appends may have been written after all: look once more before failing them.
                let _ = self.settle_unsure(&mut items).await;
                let e = last_error.take().unwrap_or_else(|| unavailable("the append could not be written in time"));
                for item in items.iter_mut().filter(|i| i.done.is_none()) {
                    item.done = Some(Err(e.clone()));
                }
                break;
            }
            if items.iter().filter(|i| i.done.is_none()).count() < open {
                // Progress (what is left was deferred behind an append to the same stream): go on.
                backoff = aurora_schemas::backoff::Backoff::new(Duration::from_millis(2), Duration::from_millis(200));
                continue;
            }
            tokio::time::sleep(backoff.next_delay()).await;
        }
        items.into_iter().map(|i| i.done.expect("every item is decided")).collect()
    }

    /// One try at every open item.
    async fn round(&self, items: &mut [Item]) -> Result<(), Error> {
        self.settle_unsure(items).await?;
        let heads = self.heads_of(items).await?;
        items.iter_mut().for_each(|i| i.reread = false);
        let now = Utc::now();
        // Two appends of one group to the same stream: the later waits for the next round, where
        // it meets the earlier one's outcome (a conflict if that was written).
        let mut claimed = std::collections::HashSet::new();
        let mut writing = Vec::new();
        for (i, item) in items.iter_mut().enumerate().filter(|(_, i)| i.done.is_none()) {
            if item.requests.iter().any(|r| claimed.contains(&r.stream)) {
                continue;
            }
            claimed.extend(item.requests.iter().map(|r| r.stream.clone()));
            match admit(item, &heads, now) {
                Ok(Admitted::Write) => writing.push(i),
                // Its own earlier try landed late: the next round finds its events by id.
                Ok(Admitted::Written) => item.unsure = true,
                Err(e) => item.done = Some(Err(e)),
            }
        }
        let total: usize = writing.iter().map(|i| items[*i].events().count()).sum();
        if total == 0 {
            return Ok(());
        }
        let end = self.reserve(total as u64).await?;
        let mut unused_early = Vec::new();
        let mut position = end - total as u64;
        for i in &writing {
            for e in items[*i].events_mut() {
                position += 1;
                e.position = position;
            }
        }
        let (plain, mut transacted): (Vec<usize>, Vec<usize>) = writing.into_iter().partition(|i| items[*i].is_plain());
        // A holder fenced out by a greater token of its own lease in this very group.
        for (i, e) in fenced_in_group(items, &transacted) {
            unused_early.extend(items[i].events().map(|e| e.position));
            items[i].done = Some(Err(e));
            transacted.retain(|t| *t != i);
        }
        let plain_docs: Vec<Document> = plain.iter().flat_map(|i| items[*i].events().map(to_doc)).collect();
        let txn_docs: Vec<Document> = transacted.iter().flat_map(|i| items[*i].events().map(to_doc)).collect();
        let fences = fences_of(items, &transacted);
        let (plain_outcome, txn_outcome) =
            tokio::join!(self.write_plain(plain_docs), self.write_transacted(txn_docs, &fences));
        let mut unused = unused_early;
        let mut error = None;
        // Plain items: one document each, in order.
        match plain_outcome {
            Inserted::All => plain.iter().for_each(|i| self.succeeded(&mut items[*i])),
            Inserted::AllBut(failed) => {
                let failed: BTreeMap<usize, i32> = failed.into_iter().collect();
                for (k, i) in plain.iter().enumerate() {
                    if failed.contains_key(&k) {
                        items[*i].unsure = true;
                        unused.extend(items[*i].events().map(|e| e.position));
                    } else {
                        self.succeeded(&mut items[*i]);
                    }
                }
            }
            Inserted::Unknown(e) => {
                for i in &plain {
                    items[*i].unsure = true;
                    unused.extend(items[*i].events().map(|e| e.position));
                }
                error = Some(e);
            }
        }
        match txn_outcome {
            Ok(TxnOutcome::Committed) => transacted.iter().for_each(|i| self.succeeded(&mut items[*i])),
            Ok(TxnOutcome::Fenced(refused)) => {
                for i in &transacted {
                    unused.extend(items[*i].events().map(|e| e.position));
                    if let Some(e) = items[*i].requests.iter().find_map(|r| refused.get(&r.fence.as_ref()?.lease)) {
                        items[*i].done = Some(Err(e.clone()));
                    }
                }
            }
            Err(e) => {
                for i in &transacted {
                    items[*i].unsure = true;
                    unused.extend(items[*i].events().map(|e| e.position));
                }
                error = Some(e);
            }
        }
        if let Err(e) = self.horizon.skip(&unused).await {
            // Readers mark them skipped after a while themselves.
            warn!(error = %e, positions = unused.len(), "could not mark unwritten positions skipped");
        }
        match error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn succeeded(&self, item: &mut Item) {
        let mut heads = self.heads.lock().expect("not poisoned");
        if heads.len() > CACHED_HEADS {
            heads.clear();
        }
        heads.extend(item.new_heads());
        item.done = Some(Ok(item.events().cloned().collect()));
    }

    /// The heads of the streams the open items write, as far as they are needed: read from the
    /// store for unsure items and for streams whose cached head is not the expected version.
    async fn heads_of(&self, items: &[Item]) -> Result<HashMap<String, Head>, Error> {
        let mut known = HashMap::new();
        let mut to_read = Vec::new();
        {
            let cache = self.heads.lock().expect("not poisoned");
            for item in items.iter().filter(|i| i.done.is_none()) {
                for req in &item.requests {
                    let key = req.stream.0.clone();
                    match cache.get(&key) {
                        _ if item.reread => to_read.push(key),
                        Some(head) if head.version == req.expected => {
                            known.insert(key, head.clone());
                        }
                        None if req.expected == 0 => {
                            // It must not exist; if it does, the insert says so.
                            known.entry(key).or_insert(Head::NONE);
                        }
                        _ => to_read.push(key),
                    }
                }
            }
        }
        if to_read.is_empty() {
            return Ok(known);
        }
        to_read.sort();
        to_read.dedup();
        let heads_only = doc! { "_id": 0, "stream": 1, "version": 1, "hash": 1 };
        let docs = read_all(self.events.find(doc! { "stream": { "$in": &to_read } }).projection(heads_only)).await?;
        let mut read: HashMap<String, Head> = to_read.into_iter().map(|k| (k, Head::NONE)).collect();
        for d in &docs {
            let (Ok(stream), Ok(version), Ok(hash)) = (d.get_str("stream"), d.get_i64("version"), d.get_str("hash"))
            else {
                continue;
            };
            let head = read.entry(stream.to_string()).or_insert(Head::NONE);
            if version as u64 > head.version {
                *head = Head { version: version as u64, hash: hash.to_string() };
            }
        }
        {
            let mut cache = self.heads.lock().expect("not poisoned");
            for (k, h) in &read {
                if h.version > 0 {
                    cache.insert(k.clone(), h.clone());
                } else {
                    cache.remove(k);
                }
            }
        }
        known.extend(read);
        Ok(known)
    }

    /// Decides the unsure items by looking for their events (by id): all there, it was written
    /// (by an earlier try; the events are returned as stored, with their positions); none there,
    /// it was not (it is tried again, and meets a conflict in `admit` if its stream moved).
    async fn settle_unsure(&self, items: &mut [Item]) -> Result<(), Error> {
        let ids: Vec<String> = items
            .iter()
            .filter(|i| i.done.is_none() && i.unsure)
            .flat_map(|i| i.events().map(|e| e.id.to_string()))
            .collect();
        if ids.is_empty() {
            return Ok(());
        }
        let docs = read_all(self.events.find(doc! { "_id": { "$in": &ids } })).await?;
        let mut stored: HashMap<String, Event> = HashMap::new();
        for d in &docs {
            if let Some(e) = from_doc(d)? {
                stored.insert(e.id.to_string(), e);
            }
        }
        for item in items.iter_mut().filter(|i| i.done.is_none() && i.unsure) {
            item.unsure = false;
            let (total, found) =
                (item.events().count(), item.events().filter(|e| stored.contains_key(&e.id.to_string())).count());
            if found == 0 {
                item.reread = true;
                continue;
            }
            if found < total {
                item.done = Some(Err(Error::Corrupt(format!(
                    "an append of {total} events was written only in part ({found})"
                ))));
                continue;
            }
            for e in item.events_mut() {
                e.position = stored[&e.id.to_string()].position;
            }
            self.succeeded(item);
        }
        Ok(())
    }

    /// Reserves `n` positions; returns the last.
    async fn reserve(&self, n: u64) -> Result<u64, Error> {
        let counter = bounded("a MongoDB write", async {
            self.counters
                .find_one_and_update(doc! { "_id": "position" }, doc! { "$inc": { "value": n as i64 } })
                .upsert(true)
                .return_document(ReturnDocument::After)
                .await
                .map_err(unavailable)
        })
        .await?;
        counter
            .and_then(|d| d.get_i64("value").ok())
            .map(|v| v as u64)
            .ok_or_else(|| unavailable("the position counter is missing"))
    }

    async fn write_plain(&self, docs: Vec<Document>) -> Inserted {
        if docs.is_empty() {
            return Inserted::All;
        }
        insert_unordered(&self.events, docs).await
    }

    /// Writes `docs` in one transaction that first raises every lease's fence (refusing the
    /// leases whose store token is greater). Every fenced transaction writes its lease's document,
    /// so two holders of one lease never commit side by side: the later one conflicts and, tried
    /// again, sees the greater token.
    async fn write_transacted(&self, docs: Vec<Document>, fences: &BTreeMap<String, u64>) -> Result<TxnOutcome, Error> {
        if docs.is_empty() {
            return Ok(TxnOutcome::Committed);
        }
        bounded("a MongoDB transaction", async {
            let mut session = self.client.start_session().await.map_err(unavailable)?;
            session.start_transaction().await.map_err(unavailable)?;
            let mut refused = HashMap::new();
            for (lease, token) in fences {
                let before = self
                    .fences
                    .find_one_and_update(
                        doc! { "_id": lease },
                        doc! { "$max": { "token": *token as i64 }, "$inc": { "writes": 1_i64 } },
                    )
                    .upsert(true)
                    .return_document(ReturnDocument::Before)
                    .session(&mut session)
                    .await
                    .map_err(unavailable)?
                    .and_then(|d| d.get_i64("token").ok())
                    .map(|t| t as u64);
                let fence = crate::Fence { lease: lease.clone(), token: *token };
                if let Err(e) = fence.admit(before) {
                    refused.insert(lease.clone(), e);
                }
            }
            if !refused.is_empty() {
                let _ = session.abort_transaction().await;
                return Ok(TxnOutcome::Fenced(refused));
            }
            self.events.insert_many(docs).session(&mut session).await.map_err(unavailable)?;
            session.commit_transaction().await.map_err(unavailable)?;
            Ok(TxnOutcome::Committed)
        })
        .await
    }
}

enum TxnOutcome {
    Committed,
    /// Nothing written: these leases' holders were fenced out.
    Fenced(HashMap<String, Error>),
}

/// What `admit` found.
#[derive(Debug, PartialEq, Eq)]
enum Admitted {
    /// At its expected versions: write it.
    Write,
    /// An earlier try of it is there already (its last event heads its stream).
    Written,
}

/// Checks an open item against the heads and seals its events (once).
fn admit(item: &mut Item, heads: &HashMap<String, Head>, now: chrono::DateTime<Utc>) -> Result<Admitted, Error> {
    let mut staged: HashMap<String, Head> = HashMap::new();
    let mut sealed = Vec::with_capacity(item.requests.len());
    for (r, req) in item.requests.iter().enumerate() {
        let key = req.stream.0.clone();
        let head = staged.get(&key).or_else(|| heads.get(&key)).cloned().unwrap_or(Head::NONE);
        if head.version != req.expected {
            let ours = item.sealed.as_ref().and_then(|s| s[r].last());
            if ours.is_some_and(|e| e.version == head.version && e.hash == head.hash) {
                return Ok(Admitted::Written);
            }
            return Err(Error::Conflict { stream: req.stream.clone(), expected: req.expected, actual: head.version });
        }
        let events = match item.sealed.as_ref().map(|s| s[r].clone()) {
            // Sealed by an earlier try at this same head: the same events again.
            Some(events) => events,
            None => {
                let mut prev = head.hash.clone();
                req.events
                    .iter()
                    .enumerate()
                    .map(|(j, new)| {
                        let e = new.clone().seal(head.version + 1 + j as u64, now, prev.clone());
                        prev = e.hash.clone();
                        e
                    })
                    .collect::<Vec<_>>()
            }
        };
        let last = events.last().expect("checked: not empty");
        staged.insert(key, Head { version: last.version, hash: last.hash.clone() });
        sealed.push(events);
    }
    item.sealed = Some(sealed);
    Ok(Admitted::Write)
}

/// The items at `indices` whose fence is below the greatest token of the same lease among them
/// (a holder that lost its lease to one whose append is in the same group), with the refusal.
fn fenced_in_group(items: &[Item], indices: &[usize]) -> Vec<(usize, Error)> {
    let greatest = fences_of(items, indices);
    indices
        .iter()
        .filter_map(|i| {
            let stale = items[*i].requests.iter().filter_map(|r| r.fence.as_ref()).find_map(|f| {
                let current = greatest.get(&f.lease).copied().unwrap_or(f.token);
                (f.token < current).then(|| Error::Fenced { lease: f.lease.clone(), token: f.token, current })
            });
            stale.map(|e| (*i, e))
        })
        .collect()
}

/// The greatest token per lease among the items at `indices`.
fn fences_of(items: &[Item], indices: &[usize]) -> BTreeMap<String, u64> {
    let mut fences = BTreeMap::new();
    for i in indices {
        for fence in items[*i].requests.iter().filter_map(|r| r.fence.as_ref()) {
            let token = fences.entry(fence.lease.clone()).or_insert(fence.token);
            *token = (*token).max(fence.token);
        }
    }
    fences
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic is a failed case
mod tests {
    use super::*;
    use crate::Fence;
    use aurora_schemas::event::EventData;
    use aurora_schemas::{EventMeta, GraphId, NewEvent, TaskId};

    fn request(g: GraphId, key: &str, expected: u64, fence: Option<Fence>) -> AppendRequest {
        let event = NewEvent::task(
            g,
            TaskId::derive(g, key),
            EventData::TaskReceived { attempt: 1, worker_id: "w".into(), takeover: false },
            EventMeta::default(),
        );
        AppendRequest { fence, ..AppendRequest::new(expected, vec![event]) }
    }

    fn heads(stream: &str, head: Head) -> HashMap<String, Head> {
        HashMap::from([(stream.to_string(), head)])
    }

    /// An append whose earlier try was judged unwritten but landed later finds its own last event
    /// at the head of its stream: that is its success, not a conflict with itself.
    #[test]
    fn an_earlier_try_that_landed_late_is_recognised_by_its_hash() {
        let g = GraphId::new();
        let mut item = Item::new(vec![request(g, "t", 0, None)]);
        let stream = item.requests[0].stream.0.clone();
        assert_eq!(admit(&mut item, &heads(&stream, Head::NONE), Utc::now()).unwrap(), Admitted::Write);
        let ours = item.events().last().cloned().unwrap();
        let landed = Head { version: ours.version, hash: ours.hash.clone() };
        assert_eq!(admit(&mut item, &heads(&stream, landed), Utc::now()).unwrap(), Admitted::Written);
        let ids: Vec<_> = item.events().map(|e| e.id).collect();
        assert_eq!(ids, vec![ours.id], "the same sealed events, not new ones");
    }

    /// Another writer's event at the version this append expected to take is a conflict, even
    /// when this append was sealed before.
    #[test]
    fn another_writers_event_at_the_head_is_a_conflict() {
        let g = GraphId::new();
        let mut item = Item::new(vec![request(g, "t", 0, None)]);
        let stream = item.requests[0].stream.0.clone();
        admit(&mut item, &heads(&stream, Head::NONE), Utc::now()).unwrap();
        let theirs = Head { version: 1, hash: "someone-else".into() };
        let refused = admit(&mut item, &heads(&stream, theirs), Utc::now()).unwrap_err();
        assert!(refused.is_conflict(), "{refused:?}");
    }

    /// Two holders of one lease whose appends meet in one group: the smaller token is refused
    /// before anything is written, the greater one goes ahead, other leases are not touched.
    #[test]
    fn a_fenced_append_below_its_leases_greatest_token_in_the_same_group_is_refused() {
        let g = GraphId::new();
        let fence = |lease: &str, token| Some(Fence { lease: lease.into(), token });
        let items = vec![
            Item::new(vec![request(g, "a", 0, fence("projector/0", 3))]),
            Item::new(vec![request(g, "b", 0, fence("projector/0", 4))]),
            Item::new(vec![request(g, "c", 0, fence("projector/1", 1))]),
        ];
        let refused = fenced_in_group(&items, &[0, 1, 2]);
        assert_eq!(refused.len(), 1, "{refused:?}");
        let (index, error) = &refused[0];
        assert_eq!(*index, 0);
        assert!(matches!(error, Error::Fenced { lease, token: 3, current: 4 } if lease == "projector/0"), "{error:?}");
        assert!(fenced_in_group(&items, &[0, 2]).is_empty(), "alone in its group, token 3 is for the store to judge");
    }
}
