//! The embedded store: one SQLite file in WAL mode.
//!
//! All appends go through one writer thread that drains every request waiting at the moment and
//! commits them in one transaction (group commit), each request inside its own savepoint so that
//! one conflict does not fail its neighbours. Reads use a small pool of read-only connections.

use crate::{AppendRequest, Committed, Error, Ledger};
use async_trait::async_trait;
use aurora_schemas::event::EventData;
use aurora_schemas::hash::format_time;
use aurora_schemas::{Event, EventMeta, GraphId, StreamId, TaskId};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use tokio::sync::{broadcast, oneshot};

/// The most requests one group commit takes.
const MAX_GROUP: usize = 512;
const READERS: usize = 4;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS events (
    position       INTEGER PRIMARY KEY AUTOINCREMENT,
    id             TEXT NOT NULL UNIQUE,
    stream         TEXT NOT NULL,
    version        INTEGER NOT NULL,
    graph_id       TEXT NOT NULL,
    task_id        TEXT,
    type           TEXT NOT NULL,
    schema_version INTEGER NOT NULL,
    data           TEXT NOT NULL,
    meta           TEXT NOT NULL,
    recorded_at    TEXT NOT NULL,
    prev_hash      TEXT NOT NULL,
    hash           TEXT NOT NULL,
    UNIQUE (stream, version)
);
CREATE INDEX IF NOT EXISTS events_by_graph ON events (graph_id, position);
CREATE TABLE IF NOT EXISTS fences (
    lease TEXT PRIMARY KEY,
    token INTEGER NOT NULL
);
CREATE TRIGGER IF NOT EXISTS events_are_immutable BEFORE UPDATE ON events
    BEGIN SELECT RAISE(ABORT, 'ledger events are immutable'); END;
CREATE TRIGGER IF NOT EXISTS events_are_never_deleted BEFORE DELETE ON events
    BEGIN SELECT RAISE(ABORT, 'ledger events are never deleted'); END;
";

type Reply = oneshot::Sender<Result<Vec<Event>, Error>>;

/// The SQLite ledger. Cheap to clone handles are not needed: share it as `Arc<dyn Ledger>`.
pub struct SqliteLedger {
    path: PathBuf,
    writer: mpsc::Sender<(Vec<AppendRequest>, Reply)>,
    readers: Arc<Vec<Mutex<Connection>>>,
    next_reader: AtomicUsize,
    live: broadcast::Sender<Committed>,
    /// Keeps a scratch directory alive for `memory://` ledgers.
    _scratch: Option<tempfile_dir::ScratchDir>,
}

mod tempfile_dir {
    //! A directory removed on drop, for ledgers that live only as long as the process.
    use std::path::PathBuf;

    pub struct ScratchDir(pub PathBuf);

    impl Drop for ScratchDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn open(path: &Path, flags: OpenFlags) -> Result<Connection, Error> {
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(std::time::Duration::from_secs(30))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    Ok(conn)
}

impl SqliteLedger {
    /// Opens (creating if needed) the ledger in the SQLite file at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, Error> {
        Self::open_inner(path.as_ref().to_path_buf(), None)
    }

    /// A ledger in a scratch file that is removed when the ledger is dropped (`memory://`).
    pub fn scratch() -> Result<Self, Error> {
        let dir = std::env::temp_dir().join(format!("aurora-ledger-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).map_err(|e| Error::Unavailable(e.to_string()))?;
        let path = dir.join("ledger.sqlite");
        Self::open_inner(path, Some(tempfile_dir::ScratchDir(dir)))
    }

    fn open_inner(path: PathBuf, scratch: Option<tempfile_dir::ScratchDir>) -> Result<Self, Error> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::Unavailable(format!("{}: {e}", parent.display())))?;
        }
        let write_conn = open(&path, OpenFlags::default())?;
        write_conn.execute_batch(SCHEMA)?;
        let readers = (0..READERS)
            .map(|_| open(&path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX).map(Mutex::new))
            .collect::<Result<Vec<_>, _>>()?;
        let (live, _) = broadcast::channel(1024);
        let (writer, rx) = mpsc::channel();
        let announce = live.clone();
        std::thread::Builder::new()
            .name("aurora-ledger-writer".into())
            .spawn(move || writer_loop(write_conn, rx, announce))
            .map_err(|e| Error::Unavailable(e.to_string()))?;
        Ok(Self { path, writer, readers: Arc::new(readers), next_reader: AtomicUsize::new(0), live, _scratch: scratch })
    }

    /// The SQLite file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, Error> + Send + 'static,
    ) -> Result<T, Error> {
        let i = self.next_reader.fetch_add(1, Ordering::Relaxed) % self.readers.len();
        let readers = self.readers.clone();
        tokio::task::spawn_blocking(move || {
            let guard = readers[i].lock().map_err(|_| Error::Unavailable("reader poisoned".into()))?;
            f(&guard)
        })
        .await
        .map_err(|e| Error::Unavailable(format!("reader task failed: {e}")))?
    }
}

fn writer_loop(
    mut conn: Connection,
    rx: mpsc::Receiver<(Vec<AppendRequest>, Reply)>,
    live: broadcast::Sender<Committed>,
) {
    while let Ok(first) = rx.recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(next) => group.push(next),
                Err(_) => break,
            }
        }
        let timer = crate::metrics::COMMIT_SECONDS.start_timer();
        let outcome = commit_group(&mut conn, &group);
        timer.observe_duration();
        match outcome {
            Ok(results) => {
                let committed: Vec<Event> = results.iter().filter_map(|r| r.as_ref().ok()).flatten().cloned().collect();
                crate::metrics::EVENTS.inc_by(committed.len() as u64);
                let conflicts = results.iter().filter(|r| matches!(r, Err(Error::Conflict { .. }))).count();
                crate::metrics::CONFLICTS.inc_by(conflicts as u64);
                if !committed.is_empty() {
                    let _ = live.send(Arc::new(committed));
                }
                for ((_, reply), result) in group.into_iter().zip(results) {
                    let _ = reply.send(result);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "ledger group commit failed");
                for (_, reply) in group {
                    let _ = reply.send(Err(e.clone()));
                }
            }
        }
    }
}

fn commit_group(
    conn: &mut Connection,
    group: &[(Vec<AppendRequest>, Reply)],
) -> Result<Vec<Result<Vec<Event>, Error>>, Error> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let mut results = Vec::with_capacity(group.len());
    for (requests, _) in group {
        // Each request in its own savepoint: a conflict rolls back that request only.
        tx.execute_batch("SAVEPOINT req")?;
        match append_requests(&tx, requests) {
            Ok(events) => {
                tx.execute_batch("RELEASE req")?;
                results.push(Ok(events));
            }
            Err(e) => {
                tx.execute_batch("ROLLBACK TO req; RELEASE req")?;
                results.push(Err(e));
            }
        }
    }
    tx.commit()?;
    Ok(results)
}

fn append_requests(conn: &Connection, requests: &[AppendRequest]) -> Result<Vec<Event>, Error> {
    let now = Utc::now();
    let mut out = Vec::new();
    for req in requests {
        if req.events.is_empty() {
            return Err(Error::Invalid(format!("no events for stream {}", req.stream)));
        }
        if let Some(e) = req.events.iter().find(|e| e.stream() != req.stream) {
            return Err(Error::Invalid(format!("event for {} in an append to {}", e.stream(), req.stream)));
        }
        if let Some(fence) = &req.fence {
            let seen: Option<u64> = conn
                .prepare_cached("SELECT token FROM fences WHERE lease = ?1")?
                .query_row([fence.lease.as_str()], |r| r.get(0))
                .optional()?;
            fence.admit(seen)?;
            if seen != Some(fence.token) {
                conn.prepare_cached("INSERT OR REPLACE INTO fences (lease, token) VALUES (?1, ?2)")?
                    .execute(params![fence.lease, fence.token])?;
            }
        }
        let head: Option<(u64, String)> = conn
            .prepare_cached("SELECT version, hash FROM events WHERE stream = ?1 ORDER BY version DESC LIMIT 1")?
            .query_row([req.stream.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        let (actual, mut prev_hash) = head.unwrap_or((0, String::new()));
        if actual != req.expected {
            return Err(Error::Conflict { stream: req.stream.clone(), expected: req.expected, actual });
        }
        let mut insert = conn.prepare_cached(
            "INSERT INTO events (id, stream, version, graph_id, task_id, type, schema_version, data, meta,
                                 recorded_at, prev_hash, hash)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        )?;
        for (i, new) in req.events.iter().enumerate() {
            let mut event = new.clone().seal(actual + 1 + i as u64, now, prev_hash);
            let (ty, data) = event.data.to_parts();
            insert.execute(params![
                event.id.to_string(),
                event.stream.as_str(),
                event.version,
                event.graph_id.to_string(),
                event.task_id.map(|t| t.to_string()),
                ty,
                event.schema_version,
                data.to_string(),
                serde_json::to_string(&event.meta).expect("meta always serialises"),
                format_time(&event.recorded_at),
                event.prev_hash,
                event.hash,
            ])?;
            event.position = conn.last_insert_rowid() as u64;
            prev_hash = event.hash.clone();
            out.push(event);
        }
    }
    Ok(out)
}

const COLUMNS: &str =
    "position, id, stream, version, graph_id, task_id, type, schema_version, data, meta, recorded_at, prev_hash, hash";

/// Decodes one `SELECT {COLUMNS}` row.
pub(crate) fn decode(row: &rusqlite::Row<'_>) -> Result<Event, Error> {
    let corrupt = |what: &str, e: &dyn std::fmt::Display| Error::Corrupt(format!("{what}: {e}"));
    let get_s = |i: usize| -> Result<String, Error> { row.get::<_, String>(i).map_err(Error::from) };
    let ty: String = get_s(6)?;
    let data: serde_json::Value = serde_json::from_str(&get_s(8)?).map_err(|e| corrupt("data", &e))?;
    let meta: EventMeta = serde_json::from_str(&get_s(9)?).map_err(|e| corrupt("meta", &e))?;
    let task_id: Option<String> = row.get(5)?;
    Ok(Event {
        position: row.get(0)?,
        id: get_s(1)?.parse().map_err(|e| corrupt("id", &e))?,
        stream: StreamId(get_s(2)?),
        version: row.get(3)?,
        graph_id: get_s(4)?.parse::<GraphId>().map_err(|e| corrupt("graph_id", &e))?,
        task_id: task_id.map(|t| t.parse::<TaskId>()).transpose().map_err(|e| corrupt("task_id", &e))?,
        schema_version: row.get(7)?,
        data: EventData::from_parts(&ty, data).map_err(|e| corrupt(&ty, &e))?,
        meta,
        recorded_at: DateTime::parse_from_rfc3339(&get_s(10)?)
            .map_err(|e| corrupt("recorded_at", &e))?
            .with_timezone(&Utc),
        prev_hash: get_s(11)?,
        hash: get_s(12)?,
    })
}

fn query(conn: &Connection, sql: &str, args: impl rusqlite::Params) -> Result<Vec<Event>, Error> {
    let mut stmt = conn.prepare_cached(sql)?;
    let mut rows = stmt.query(args)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(decode(row)?);
    }
    Ok(out)
}

#[async_trait]
impl Ledger for SqliteLedger {
    async fn append_all(&self, requests: Vec<AppendRequest>) -> Result<Vec<Event>, Error> {
        if requests.is_empty() {
            return Ok(Vec::new());
        }
        let (tx, rx) = oneshot::channel();
        self.writer.send((requests, tx)).map_err(|_| Error::Unavailable("the ledger writer has stopped".into()))?;
        rx.await.map_err(|_| Error::Unavailable("the ledger writer has stopped".into()))?
    }

    async fn read_stream(&self, stream: &StreamId, from_version: u64) -> Result<Vec<Event>, Error> {
        let stream = stream.0.clone();
        self.read(move |c| {
            query(
                c,
                &format!("SELECT {COLUMNS} FROM events WHERE stream = ?1 AND version >= ?2 ORDER BY version"),
                params![stream, from_version],
            )
        })
        .await
    }

    async fn read_graph_after(&self, graph: GraphId, after: u64, limit: usize) -> Result<Vec<Event>, Error> {
        // SQLite reads a negative limit as none.
        let limit = i64::try_from(limit).unwrap_or(-1);
        self.read(move |c| {
            query(
                c,
                &format!(
                    "SELECT {COLUMNS} FROM events WHERE graph_id = ?1 AND position > ?2 ORDER BY position LIMIT ?3"
                ),
                params![graph.to_string(), after, limit],
            )
        })
        .await
    }

    async fn read_from(&self, after: u64, limit: usize) -> Result<Vec<Event>, Error> {
        self.read(move |c| {
            query(
                c,
                &format!("SELECT {COLUMNS} FROM events WHERE position > ?1 ORDER BY position LIMIT ?2"),
                params![after, limit as i64],
            )
        })
        .await
    }

    async fn head(&self) -> Result<u64, Error> {
        self.read(|c| Ok(c.query_row("SELECT COALESCE(MAX(position), 0) FROM events", [], |r| r.get(0))?)).await
    }

    fn watch(&self) -> broadcast::Receiver<Committed> {
        self.live.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite_ledger_passes_the_conformance_suite() {
        crate::conformance::run(|| async {
            Arc::new(SqliteLedger::scratch().expect("scratch ledger")) as Arc<dyn Ledger>
        })
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn events_survive_reopening_and_cannot_be_updated() {
        let dir = std::env::temp_dir().join(format!("aurora-reopen-{}", uuid::Uuid::now_v7()));
        let path = dir.join("l.sqlite");
        let written = {
            let l = SqliteLedger::open(&path).expect("open");
            crate::conformance::append_started(&l, 3).await
        };
        let l = SqliteLedger::open(&path).expect("reopen");
        let read = l.read_stream(&written[0].stream, 1).await.expect("read");
        assert_eq!(read, written);
        let conn = Connection::open(&path).expect("raw");
        let err = conn.execute("UPDATE events SET data = '{}'", []).unwrap_err();
        assert!(err.to_string().contains("immutable"), "{err}");
        let _ = std::fs::remove_dir_all(dir);
    }
}
