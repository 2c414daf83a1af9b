//! The MongoDB store of distributed mode.
//!
//! * `events` holds one document per event, with a unique index on `(stream, version)` (the
//!   conditional append) and on `position` (the global order), and an index on
//!   `(graph_id, position)`; `docs.rs` says how an event is stored.
//! * Appends (`append.rs`) reserve positions from a counter outside any transaction and write
//!   plain documents where one document is the whole append, a transaction only where an append
//!   spans several documents or carries a fence: processes never serialise on one document, and
//!   the unique indexes decide every race. Each process gathers concurrent appends into groups
//!   (group commit), one group in flight at a time.
//! * Positions may therefore commit out of order; readers see only up to the **stable horizon**
//!   (`horizon.rs`), below which every position holds an event or is marked skipped, so reading
//!   by position never passes an event that commits later.
//! * Live announcements come from one change stream per process on `events` (`watch.rs`), put
//!   back into position order, opened when the process first watches (a projector or gateway
//!   does; a worker, which only appends, never makes the server feed it every insert).

mod append;
pub mod docs;
mod horizon;
mod watch;
mod write;

use crate::{AppendRequest, Committed, Error, Ledger};
use append::{Appender, Reply};
use async_trait::async_trait;
use aurora_schemas::{Event, GraphId, StreamId};
use docs::from_doc;
use futures::TryStreamExt;
use horizon::Horizon;
use mongodb::bson::{Document, doc};
use mongodb::options::IndexOptions;
use mongodb::{Client, Collection, IndexModel};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, oneshot};

pub use horizon::SKIP_AFTER;

/// The longest one transaction or one read may take. The driver has no socket timeout: after a
/// server restart an operation on a connection the server forgot can wait forever, which would
/// stall every append of the process behind it. Past this bound the operation counts as failed
/// (an append is retried; a reader retries).
const OPERATION_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs `op` within [`OPERATION_TIMEOUT`].
async fn bounded<T, E: From<Error>>(what: &str, op: impl Future<Output = Result<T, E>>) -> Result<T, E> {
    match tokio::time::timeout(OPERATION_TIMEOUT, op).await {
        Ok(result) => result,
        Err(_) => Err(unavailable(format!("{what} did not finish within {OPERATION_TIMEOUT:?}")).into()),
    }
}

/// Runs a `find` within [`OPERATION_TIMEOUT`] and collects its documents.
async fn read_all<F>(find: F) -> Result<Vec<Document>, Error>
where
    F: IntoFuture<Output = mongodb::error::Result<mongodb::Cursor<Document>>>,
{
    bounded("a MongoDB read", async { find.await.map_err(unavailable)?.try_collect().await.map_err(unavailable) }).await
}

/// The MongoDB ledger.
pub struct MongoLedger {
    events: Collection<Document>,
    horizon: Arc<Horizon>,
    writer: mpsc::UnboundedSender<(Vec<AppendRequest>, Reply)>,
    live: broadcast::Sender<Committed>,
    /// Set once the change stream has been started (on the first `watch`).
    watching: std::sync::Once,
    runtime: tokio::runtime::Handle,
}

fn unavailable(e: impl std::fmt::Display) -> Error {
    Error::Unavailable(e.to_string())
}

/// A client whose writes are acknowledged only once a majority has them in its journal (unless
/// the URI asks for another write concern): an append that returned is on disk, so a worker may
/// ack its delivery and a projector may act on it (DESIGN §3.3). Every command it sends is counted
/// in `aurora_mongodb_commands_total`.
pub async fn durable_client(uri: &str) -> Result<Client, Error> {
    let mut options = mongodb::options::ClientOptions::parse(uri).await.map_err(unavailable)?;
    if options.write_concern.is_none() {
        options.write_concern = Some(
            mongodb::options::WriteConcern::builder()
                .w(mongodb::options::Acknowledgment::Majority)
                .journal(true)
                .build(),
        );
    }
    options.command_event_handler = Some(mongodb::event::EventHandler::callback(|event| {
        if let mongodb::event::command::CommandEvent::Started(started) = event {
            crate::metrics::MONGODB_COMMANDS.with_label_values(&[started.command_name.as_str()]).inc();
        }
    }));
    Client::with_options(options).map_err(unavailable)
}

/// `uri` without its password.
fn redacted(uri: &str) -> String {
    match (uri.find("://"), uri.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => format!("{}://…@{}", &uri[..scheme], &uri[at + 1..]),
        _ => uri.to_string(),
    }
}

/// The first operation on a new client: while the driver looks for a server (up to its selection
/// timeout) the wait is logged every few seconds, and a failure names the likely cause.
async fn first_contact<T>(uri: &str, op: impl Future<Output = Result<T, Error>>) -> Result<T, Error> {
    let shown = redacted(uri);
    tokio::pin!(op);
    let mut waited = 0;
    let result = loop {
        tokio::select! {
            r = &mut op => break r,
            () = tokio::time::sleep(std::time::Duration::from_secs(5)) => {
                waited += 5;
                tracing::warn!(uri = %shown, waited_secs = waited, "still waiting for MongoDB to answer");
            }
        }
    };
    result.map_err(|e| {
        let hint = if uri.contains("replicaSet=") {
            "; the URI names a replica set (replicaSet=…): if the server is not a member of a replica set of that \
             name (a standalone server, or the secantusd-rs stand-in), remove replicaSet= from ledger.uri or fix the name"
        } else {
            "; is the server running, and is ledger.uri right?"
        };
        Error::Unavailable(format!("MongoDB at {shown} did not answer: {e}{hint}"))
    })
}

impl MongoLedger {
    /// Connects to `uri`, uses database `database`, creates the indexes, and starts the writer.
    /// The server must be a replica set (transactions, change streams): a server that cannot open
    /// a change stream is refused here, though the process's stream is opened by the first
    /// [`Ledger::watch`].
    pub async fn connect(uri: &str, database: &str) -> Result<Arc<Self>, Error> {
        Self::connect_with(uri, database, SKIP_AFTER).await
    }

    /// As [`MongoLedger::connect`], with positions missing for `skip_after` marked skipped (tests
    /// shorten it).
    pub async fn connect_with(uri: &str, database: &str, skip_after: Duration) -> Result<Arc<Self>, Error> {
        let client = durable_client(uri).await?;
        let db = client.database(database);
        let events: Collection<Document> = db.collection("events");
        let counters: Collection<Document> = db.collection("counters");
        let fences: Collection<Document> = db.collection("fences");
        let unique = |keys: Document| {
            IndexModel::builder().keys(keys).options(IndexOptions::builder().unique(true).build()).build()
        };
        first_contact(uri, async {
            events.create_index(unique(doc! { "stream": 1, "version": 1 })).await.map_err(unavailable)
        })
        .await?;
        events.create_index(unique(doc! { "position": 1 })).await.map_err(unavailable)?;
        events
            .create_index(IndexModel::builder().keys(doc! { "graph_id": 1, "position": 1 }).build())
            .await
            .map_err(unavailable)?;
        // The counter exists before the first reservation: two upserts racing on a missing
        // document may leave one of them without the value it reserved.
        if let Err(e) = counters.insert_one(doc! { "_id": "position", "value": 0_i64 }).await
            && !e.to_string().contains("11000")
        {
            return Err(unavailable(e));
        }
        // Refuse a server without change streams (not a replica set) now, not at the first watch:
        // open one and close it again.
        let probe = events.watch().await.map_err(|e| {
            unavailable(format!("the MongoDB server cannot open a change stream (it must be a replica set): {e}"))
        })?;
        drop(probe);
        let horizon = Arc::new(Horizon::load(events.clone(), counters.clone(), skip_after).await?);
        let (live, _) = broadcast::channel(1024);
        let (writer, rx) = mpsc::unbounded_channel();
        let appender = Appender::new(client, events.clone(), counters, fences, horizon.clone());
        tokio::spawn(append::run(Arc::new(appender), rx));
        let runtime = tokio::runtime::Handle::current();
        Ok(Arc::new(Self { events, horizon, writer, live, watching: std::sync::Once::new(), runtime }))
    }

    /// Events matching `filter` in position order, up to `limit` documents (skipped positions
    /// count towards it but are not returned).
    async fn find(&self, filter: Document, limit: Option<i64>) -> Result<(Vec<Event>, usize, Option<u64>), Error> {
        let mut find = self.events.find(filter).sort(doc! { "position": 1 });
        if let Some(l) = limit {
            find = find.limit(l);
        }
        let docs = read_all(find).await?;
        let last = docs.last().map(docs::position_of).transpose()?;
        let mut events = Vec::with_capacity(docs.len());
        for d in &docs {
            events.extend(from_doc(d)?);
        }
        Ok((events, docs.len(), last))
    }

    /// Up to `limit` events after `after` and up to the stable horizon matching `filter`, stepping
    /// over pages of nothing but skipped positions.
    async fn read_stable(&self, filter: Document, after: u64, limit: usize) -> Result<Vec<Event>, Error> {
        let stable = self.horizon.advance().await?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX).max(1);
        let mut after = after;
        loop {
            if after >= stable {
                return Ok(Vec::new());
            }
            let mut page = filter.clone();
            page.insert("position", doc! { "$gt": after as i64, "$lte": stable as i64 });
            let (events, docs, last) = self.find(page, Some(limit)).await?;
            match last {
                Some(last) if events.is_empty() && docs as i64 == limit => after = last,
                _ => return Ok(events),
            }
        }
    }
}

#[async_trait]
impl Ledger for MongoLedger {
    async fn append_all(&self, requests: Vec<AppendRequest>) -> Result<Vec<Event>, Error> {
        if requests.is_empty() {
            return Ok(Vec::new());
        }
        let (tx, rx) = oneshot::channel();
        self.writer.send((requests, tx)).map_err(|_| unavailable("the ledger writer has stopped"))?;
        rx.await.map_err(|_| unavailable("the ledger writer has stopped"))?
    }

    /// Versions are written in order (an append reads its stream's head first), so a stream has
    /// no hole and needs no horizon.
    async fn read_stream(&self, stream: &StreamId, from_version: u64) -> Result<Vec<Event>, Error> {
        let filter = doc! { "stream": stream.as_str(), "version": { "$gte": from_version as i64 } };
        let docs = read_all(self.events.find(filter).sort(doc! { "version": 1 })).await?;
        let mut events = Vec::with_capacity(docs.len());
        for d in &docs {
            events.extend(from_doc(d)?);
        }
        Ok(events)
    }

    async fn read_graph_after(&self, graph: GraphId, after: u64, limit: usize) -> Result<Vec<Event>, Error> {
        self.read_stable(doc! { "graph_id": graph.to_string() }, after, limit).await
    }

    async fn read_from(&self, after: u64, limit: usize) -> Result<Vec<Event>, Error> {
        self.read_stable(doc! {}, after, limit).await
    }

    /// The last event at or below the stable horizon (the horizon itself may be a skipped
    /// position, which no reader is ever handed: comparing it with a delivered position would
    /// never find a reader caught up).
    async fn head(&self) -> Result<u64, Error> {
        let stable = self.horizon.advance().await?;
        let at_or_below = doc! { "position": { "$lte": stable as i64 }, "type": { "$ne": docs::SKIPPED } };
        let last = self.events.find(at_or_below).sort(doc! { "position": -1 }).limit(1);
        let last = read_all(last.projection(doc! { "_id": 0, "position": 1 })).await?;
        Ok(last.first().map(docs::position_of).transpose()?.unwrap_or(0))
    }

    fn watch(&self) -> broadcast::Receiver<Committed> {
        // Subscribe first: the stream's opening announcement must reach this receiver.
        let receiver = self.live.subscribe();
        self.watching.call_once(|| {
            self.runtime.spawn(watch::watch_loop(self.events.clone(), self.horizon.clone(), self.live.downgrade()));
        });
        receiver
    }
}

#[cfg(test)]
mod connect_tests {
    use super::*;

    #[tokio::test]
    async fn a_server_that_does_not_answer_is_named_with_the_likely_cause() {
        // Nothing listens on port 9; the driver gives up after the selection timeout.
        let uri = "mongodb://user:secret@127.0.0.1:9/?replicaSet=rs0&serverSelectionTimeoutMS=300";
        let err = MongoLedger::connect(uri, "aurora").await.err().expect("refused").to_string();
        assert!(err.contains("MongoDB at mongodb://…@127.0.0.1:9/"), "{err}");
        assert!(!err.contains("secret"), "the password is not shown: {err}");
        assert!(err.contains("remove replicaSet= from ledger.uri or fix the name"), "{err}");
    }
}

#[cfg(all(test, feature = "service-tests"))]
mod tests;
