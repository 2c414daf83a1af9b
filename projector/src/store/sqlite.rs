//! Read models in a SQLite file of their own (rebuildable from the ledger, so `synchronous=NORMAL`).

use super::{Batch, Error, GraphFilter, ReadStore};
use crate::views::{GraphView, Model, TaskView};
use async_trait::async_trait;
use aurora_schemas::{Event, GraphId, GraphSpec, TaskId, TaskState};
use rusqlite::{Connection, OptionalExtension, params};
use std::path::Path;
use std::sync::{Arc, Mutex};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS tasks (
    task_id  TEXT PRIMARY KEY,
    graph_id TEXT NOT NULL,
    state    TEXT NOT NULL,
    version  INTEGER NOT NULL,
    doc      TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS tasks_by_graph ON tasks (graph_id);
CREATE INDEX IF NOT EXISTS tasks_unfinished ON tasks (state)
    WHERE state IN ('PENDING', 'RECEIVED', 'STARTED', 'RETRY');
CREATE TABLE IF NOT EXISTS graphs (
    graph_id TEXT PRIMARY KEY,
    state    TEXT NOT NULL,
    seq      INTEGER NOT NULL,
    version  INTEGER NOT NULL,
    doc      TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS graphs_by_seq ON graphs (seq);
CREATE TABLE IF NOT EXISTS graph_specs (graph_id TEXT PRIMARY KEY, spec TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS checkpoints (name TEXT PRIMARY KEY, position INTEGER NOT NULL);
";

/// The SQLite read-model store.
#[derive(Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
}

fn corrupt(e: impl std::fmt::Display) -> Error {
    Error::Corrupt(e.to_string())
}

impl SqliteStore {
    /// Opens (creating if needed) the store at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, Error> {
        if let Some(parent) = path.as_ref().parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::Unavailable(e.to_string()))?;
        }
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(30))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.execute_batch(SCHEMA)?;
        Ok(Self { conn: Arc::new(Mutex::new(conn)) })
    }

    /// A store in memory (for rebuilds and tests).
    pub fn in_memory() -> Result<Self, Error> {
        let conn = Connection::open_in_memory()?;
        conn.execute_batch(SCHEMA)?;
        Ok(Self { conn: Arc::new(Mutex::new(conn)) })
    }

    async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, Error> + Send + 'static,
    ) -> Result<T, Error> {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = conn.lock().map_err(|_| Error::Unavailable("store poisoned".into()))?;
            f(&mut guard)
        })
        .await
        .map_err(|e| Error::Unavailable(format!("store task failed: {e}")))?
    }
}

fn load_tasks(conn: &Connection, sql: &str, arg: &str, into: &mut Model) -> Result<(), Error> {
    let mut stmt = conn.prepare_cached(sql)?;
    let mut rows = stmt.query([arg])?;
    while let Some(row) = rows.next()? {
        let doc: String = row.get(0)?;
        let view: TaskView = serde_json::from_str(&doc).map_err(corrupt)?;
        into.tasks.insert(view.task_id, view);
    }
    Ok(())
}

fn load_graph(conn: &Connection, id: GraphId) -> Result<Option<GraphView>, Error> {
    let doc: Option<String> = conn
        .prepare_cached("SELECT doc FROM graphs WHERE graph_id = ?1")?
        .query_row([id.to_string()], |r| r.get(0))
        .optional()?;
    doc.map(|d| serde_json::from_str(&d).map_err(corrupt)).transpose()
}

fn apply_batch(conn: &mut Connection, events: &[Event]) -> Result<Batch, Error> {
    let tx = conn.transaction()?;
    let mut model = Model::default();
    let touched = super::touched(events);
    for g in &touched.graphs {
        if let Some(view) = load_graph(&tx, *g)? {
            model.graphs.insert(*g, view);
        }
    }
    for g in &touched.submitted {
        load_tasks(&tx, "SELECT doc FROM tasks WHERE graph_id = ?1", &g.to_string(), &mut model)?;
    }
    for t in &touched.tasks {
        if !model.tasks.contains_key(t) {
            load_tasks(&tx, "SELECT doc FROM tasks WHERE task_id = ?1", &t.to_string(), &mut model)?;
        }
    }
    let changes = super::apply_events(&mut model, events);
    let (dirty_tasks, dirty_graphs, new_specs, gaps) = (changes.tasks, changes.graphs, changes.specs, changes.gaps);
    {
        let mut put_task = tx.prepare_cached(
            "INSERT OR REPLACE INTO tasks (task_id, graph_id, state, version, doc) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        for id in &dirty_tasks {
            let v = &model.tasks[id];
            let doc = serde_json::to_string(v).map_err(corrupt)?;
            put_task.execute(params![id.to_string(), v.graph_id.to_string(), v.state.as_str(), v.version, doc])?;
        }
        let mut put_graph = tx.prepare_cached(
            "INSERT OR REPLACE INTO graphs (graph_id, state, seq, version, doc) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        for id in &dirty_graphs {
            if let Some(v) = model.graphs.get(id) {
                let doc = serde_json::to_string(v).map_err(corrupt)?;
                put_graph.execute(params![id.to_string(), v.state.as_str(), v.seq, v.version, doc])?;
            }
        }
        let mut put_spec = tx.prepare_cached("INSERT OR IGNORE INTO graph_specs (graph_id, spec) VALUES (?1, ?2)")?;
        for (id, spec) in new_specs {
            put_spec.execute(params![id.to_string(), serde_json::to_string(spec).map_err(corrupt)?])?;
        }
    }
    tx.commit()?;
    Ok(Batch { rows: model, gaps })
}

fn query_tasks(conn: &Connection, sql: &str, args: impl rusqlite::Params) -> Result<Vec<TaskView>, Error> {
    let mut stmt = conn.prepare_cached(sql)?;
    let docs = stmt.query_map(args, |r| r.get::<_, String>(0))?.collect::<Result<Vec<_>, _>>()?;
    docs.iter().map(|d| serde_json::from_str(d).map_err(corrupt)).collect()
}

#[async_trait]
impl ReadStore for SqliteStore {
    async fn apply(&self, events: Vec<Event>) -> Result<Batch, Error> {
        self.with(move |c| apply_batch(c, &events)).await
    }

    async fn task(&self, id: TaskId) -> Result<Option<TaskView>, Error> {
        Ok(self.tasks(vec![id]).await?.pop())
    }

    async fn tasks(&self, ids: Vec<TaskId>) -> Result<Vec<TaskView>, Error> {
        self.with(move |c| {
            let mut out = Vec::with_capacity(ids.len());
            for id in ids {
                out.extend(query_tasks(c, "SELECT doc FROM tasks WHERE task_id = ?1", [id.to_string()])?);
            }
            Ok(out)
        })
        .await
    }

    async fn graph_tasks(&self, graph: GraphId) -> Result<Vec<TaskView>, Error> {
        self.with(move |c| query_tasks(c, "SELECT doc FROM tasks WHERE graph_id = ?1", [graph.to_string()])).await
    }

    async fn graph(&self, id: GraphId) -> Result<Option<GraphView>, Error> {
        self.with(move |c| load_graph(c, id)).await
    }

    async fn graph_spec(&self, id: GraphId) -> Result<Option<GraphSpec>, Error> {
        self.with(move |c| {
            let spec: Option<String> = c
                .prepare_cached("SELECT spec FROM graph_specs WHERE graph_id = ?1")?
                .query_row([id.to_string()], |r| r.get(0))
                .optional()?;
            spec.map(|s| serde_json::from_str(&s).map_err(corrupt)).transpose()
        })
        .await
    }

    async fn graphs(
        &self,
        filter: &GraphFilter,
        first: usize,
        before_seq: Option<u64>,
    ) -> Result<Vec<GraphView>, Error> {
        let (state, name) = (filter.state, filter.name.clone());
        let forked_from = filter.forked_from.map(|g| g.to_string());
        self.with(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT doc FROM graphs WHERE (?1 IS NULL OR state = ?1) AND seq < ?2 \
                 AND (?4 IS NULL OR instr(lower(coalesce(json_extract(doc, '$.name'), '')), lower(?4)) > 0) \
                 AND (?5 IS NULL OR json_extract(doc, '$.forked_from.graph') = ?5) \
                 ORDER BY seq DESC LIMIT ?3",
            )?;
            let before = before_seq.map(|s| s as i64).unwrap_or(i64::MAX);
            let docs = stmt
                .query_map(params![state.map(|s| s.as_str()), before, first as i64, name, forked_from], |r| {
                    r.get::<_, String>(0)
                })?
                .collect::<Result<Vec<_>, _>>()?;
            docs.iter().map(|d| serde_json::from_str(d).map_err(corrupt)).collect()
        })
        .await
    }

    async fn unfinished_tasks(&self) -> Result<Vec<TaskView>, Error> {
        self.with(|c| {
            query_tasks(c, "SELECT doc FROM tasks WHERE state IN ('PENDING', 'RECEIVED', 'STARTED', 'RETRY')", [])
        })
        .await
    }

    async fn checkpoint(&self, name: &str) -> Result<u64, Error> {
        let name = name.to_string();
        self.with(move |c| {
            Ok(c.query_row("SELECT position FROM checkpoints WHERE name = ?1", [name], |r| r.get(0))
                .optional()?
                .unwrap_or(0))
        })
        .await
    }

    async fn save_checkpoint(&self, name: &str, position: u64) -> Result<(), Error> {
        let name = name.to_string();
        self.with(move |c| {
            c.execute(
                "INSERT INTO checkpoints (name, position) VALUES (?1, ?2)
                 ON CONFLICT (name) DO UPDATE SET position = MAX(position, excluded.position)",
                params![name, position],
            )?;
            Ok(())
        })
        .await
    }

    async fn dump(&self) -> Result<Model, Error> {
        self.with(|c| {
            let mut m = Model::default();
            for v in query_tasks(c, "SELECT doc FROM tasks", [])? {
                m.tasks.insert(v.task_id, v);
            }
            let mut stmt = c.prepare("SELECT doc FROM graphs")?;
            for doc in stmt.query_map([], |r| r.get::<_, String>(0))? {
                let v: GraphView = serde_json::from_str(&doc?).map_err(corrupt)?;
                m.graphs.insert(v.graph_id, v);
            }
            Ok(m)
        })
        .await
    }
}

/// Whether a task in this state has been dispatched and not ended.
pub fn is_unfinished(state: TaskState) -> bool {
    matches!(state, TaskState::Pending | TaskState::Received | TaskState::Started | TaskState::Retry)
}

#[cfg(test)]
mod tests {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite_store_passes_the_conformance_suite() {
        super::super::conformance::run_suite(|| async {
            std::sync::Arc::new(super::SqliteStore::in_memory().expect("store")) as std::sync::Arc<dyn super::ReadStore>
        })
        .await;
    }
}
