//! Read models in MongoDB, for distributed mode: every gateway reads the same rows.
//!
//! A batch is applied with the same pure [`Model::apply`] as the SQLite store: load the rows the
//! batch touches, apply, and write the changed rows back in one transaction (so a task row and
//! its graph's counters never disagree after a crash).
//!
//! The projector is the only writer of its rows while it holds its lease, so the rows it wrote
//! are kept in memory ([`Rows`]) and a batch reads from the database only the rows it has not
//! seen: a busy projector's batch costs its writes, not a read of every row first. The kept rows
//! are dropped when a term begins ([`ReadStore::begin_writing`]), since another leader may have
//! written them meanwhile, and when they grow past [`KEPT_ROWS`].

use super::{Batch, Error, GraphFilter, ReadStore};
use crate::views::{GraphView, Model, TaskView};
use async_trait::async_trait;
use aurora_schemas::{Event, GraphId, GraphSpec, TaskId};
use futures::TryStreamExt;
use mongodb::bson::{Bson, Document, doc};
use mongodb::options::IndexOptions;
use mongodb::{Client, Collection, IndexModel};

/// The MongoDB read-model store.
pub struct MongoStore {
    client: Client,
    db: mongodb::Database,
    tasks: Collection<Document>,
    graphs: Collection<Document>,
    specs: Collection<Document>,
    checkpoints: Collection<Document>,
    kept: std::sync::Mutex<Rows>,
}

/// The most rows kept in memory (then they are all dropped and read again as needed).
const KEPT_ROWS: usize = 200_000;

/// Rows as this process last wrote them.
#[derive(Default)]
struct Rows {
    tasks: std::collections::HashMap<TaskId, TaskView>,
    graphs: std::collections::HashMap<GraphId, GraphView>,
}

fn unavailable(e: impl std::fmt::Display) -> Error {
    Error::Unavailable(e.to_string())
}

fn corrupt(e: impl std::fmt::Display) -> Error {
    Error::Corrupt(e.to_string())
}

/// `text` as a regular expression that matches exactly it.
fn regex_literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if "\\.+*?()|[]{}^$#&-~".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn parse<T: serde::de::DeserializeOwned>(d: &Document) -> Result<T, Error> {
    serde_json::from_str(d.get_str("doc").map_err(corrupt)?).map_err(corrupt)
}

impl MongoStore {
    /// Connects and creates the indexes.
    pub async fn connect(uri: &str, database: &str) -> Result<Self, Error> {
        let client = aurora_ledger::mongo::durable_client(uri).await.map_err(unavailable)?;
        let db = client.database(database);
        let me = Self {
            tasks: db.collection("task_views"),
            graphs: db.collection("graph_views"),
            specs: db.collection("graph_specs"),
            checkpoints: db.collection("checkpoints"),
            db,
            client,
            kept: std::sync::Mutex::new(Rows::default()),
        };
        let index = |keys: Document| IndexModel::builder().keys(keys).options(IndexOptions::builder().build()).build();
        me.tasks.create_index(index(doc! { "graph_id": 1 })).await.map_err(unavailable)?;
        me.tasks.create_index(index(doc! { "state": 1 })).await.map_err(unavailable)?;
        me.graphs.create_index(index(doc! { "seq": -1 })).await.map_err(unavailable)?;
        Ok(me)
    }

    /// Keeps the rows of a committed batch, as written.
    fn keep(&self, model: &Model) {
        let mut kept = self.kept.lock().expect("not poisoned");
        if kept.tasks.len() + kept.graphs.len() > KEPT_ROWS {
            *kept = Rows::default();
        }
        kept.tasks.extend(model.tasks.iter().map(|(k, v)| (*k, v.clone())));
        kept.graphs.extend(model.graphs.iter().map(|(k, v)| (*k, v.clone())));
    }

    async fn find_tasks(&self, filter: Document) -> Result<Vec<TaskView>, Error> {
        let docs: Vec<Document> =
            self.tasks.find(filter).await.map_err(unavailable)?.try_collect().await.map_err(unavailable)?;
        docs.iter().map(parse).collect()
    }
}

/// Statements per `update` command: well under the server's limits (100,000 statements, 48 MB).
const UPSERTS_PER_COMMAND: usize = 500;

/// Replaces (or inserts) each row by its `_id`, inside the batch's transaction, many rows per
/// `update` command: a batch that touches 1,000 tasks costs 2 round trips, not 1,000.
async fn upsert_all(
    db: &mongodb::Database,
    collection: &str,
    rows: Vec<Document>,
    session: &mut mongodb::ClientSession,
) -> Result<(), Error> {
    for chunk in rows.chunks(UPSERTS_PER_COMMAND) {
        let updates = chunk
            .iter()
            .map(|row| {
                let id = row.get("_id").cloned().ok_or_else(|| corrupt("a row without _id"))?;
                Ok(doc! { "q": { "_id": id }, "u": row.clone(), "upsert": true })
            })
            .collect::<Result<Vec<Document>, Error>>()?;
        let reply = db
            .run_command(doc! { "update": collection, "updates": updates, "ordered": true })
            .session(&mut *session)
            .await
            .map_err(unavailable)?;
        if let Ok(errors) = reply.get_array("writeErrors")
            && !errors.is_empty()
        {
            return Err(unavailable(format!("writing {collection}: {errors:?}")));
        }
    }
    Ok(())
}

const UNFINISHED: [&str; 4] = ["PENDING", "RECEIVED", "STARTED", "RETRY"];

#[async_trait]
impl ReadStore for MongoStore {
    async fn apply(&self, events: Vec<Event>) -> Result<Batch, Error> {
        let mut model = Model::default();
        let touched = super::touched(&events);
        {
            let kept = self.kept.lock().expect("not poisoned");
            model.graphs.extend(touched.graphs.iter().filter_map(|g| Some((*g, kept.graphs.get(g)?.clone()))));
            model.tasks.extend(touched.tasks.iter().filter_map(|t| Some((*t, kept.tasks.get(t)?.clone()))));
        }
        let ids: Vec<String> =
            touched.graphs.iter().filter(|g| !model.graphs.contains_key(g)).map(|g| g.to_string()).collect();
        if !ids.is_empty() {
            let docs: Vec<Document> = self
                .graphs
                .find(doc! { "_id": { "$in": &ids } })
                .await
                .map_err(unavailable)?
                .try_collect()
                .await
                .map_err(unavailable)?;
            for d in &docs {
                let v: GraphView = parse(d)?;
                model.graphs.insert(v.graph_id, v);
            }
        }
        // A submitted graph's rows may exist already (the batch is processed again): read them all.
        let submitted: Vec<String> = touched.submitted.iter().map(|g| g.to_string()).collect();
        let task_ids: Vec<String> =
            touched.tasks.iter().filter(|t| !model.tasks.contains_key(t)).map(|t| t.to_string()).collect();
        if !task_ids.is_empty() || !submitted.is_empty() {
            let filter = doc! { "$or": [ { "_id": { "$in": &task_ids } }, { "graph_id": { "$in": &submitted } } ] };
            for v in self.find_tasks(filter).await? {
                model.tasks.entry(v.task_id).or_insert(v);
            }
        }
        let changes = super::apply_events(&mut model, &events);
        let (dirty_tasks, dirty_graphs, new_specs, gaps) = (changes.tasks, changes.graphs, changes.specs, changes.gaps);
        if dirty_tasks.is_empty() && dirty_graphs.is_empty() {
            self.keep(&model);
            return Ok(Batch { rows: model, gaps });
        }
        let mut session = self.client.start_session().await.map_err(unavailable)?;
        session.start_transaction().await.map_err(unavailable)?;
        let mut task_rows = Vec::with_capacity(dirty_tasks.len());
        for id in &dirty_tasks {
            let v = &model.tasks[id];
            task_rows.push(doc! {
                "_id": id.to_string(),
                "graph_id": v.graph_id.to_string(),
                "state": v.state.as_str(),
                "version": v.version as i64,
                "doc": serde_json::to_string(v).map_err(corrupt)?,
            });
        }
        let mut graph_rows = Vec::with_capacity(dirty_graphs.len());
        for id in &dirty_graphs {
            if let Some(v) = model.graphs.get(id) {
                graph_rows.push(doc! {
                    "_id": id.to_string(),
                    "state": v.state.as_str(),
                    "seq": v.seq as i64,
                    "name_lower": v.name.as_deref().unwrap_or_default().to_lowercase(),
                    "forked_from": v.forked_from.as_ref().map(|f| f.graph.to_string()),
                    "version": v.version as i64,
                    "doc": serde_json::to_string(v).map_err(corrupt)?,
                });
            }
        }
        let mut spec_rows = Vec::with_capacity(new_specs.len());
        for (id, spec) in new_specs {
            spec_rows.push(doc! { "_id": id.to_string(), "spec": serde_json::to_string(spec).map_err(corrupt)? });
        }
        upsert_all(&self.db, self.tasks.name(), task_rows, &mut session).await?;
        upsert_all(&self.db, self.graphs.name(), graph_rows, &mut session).await?;
        upsert_all(&self.db, self.specs.name(), spec_rows, &mut session).await?;
        session.commit_transaction().await.map_err(unavailable)?;
        self.keep(&model);
        Ok(Batch { rows: model, gaps })
    }

    async fn task(&self, id: TaskId) -> Result<Option<TaskView>, Error> {
        Ok(self.find_tasks(doc! { "_id": id.to_string() }).await?.pop())
    }

    async fn tasks(&self, ids: Vec<TaskId>) -> Result<Vec<TaskView>, Error> {
        let ids: Vec<String> = ids.iter().map(|t| t.to_string()).collect();
        self.find_tasks(doc! { "_id": { "$in": ids } }).await
    }

    async fn graph_tasks(&self, graph: GraphId) -> Result<Vec<TaskView>, Error> {
        self.find_tasks(doc! { "graph_id": graph.to_string() }).await
    }

    async fn graph(&self, id: GraphId) -> Result<Option<GraphView>, Error> {
        let d = self.graphs.find_one(doc! { "_id": id.to_string() }).await.map_err(unavailable)?;
        d.as_ref().map(parse).transpose()
    }

    async fn graph_spec(&self, id: GraphId) -> Result<Option<GraphSpec>, Error> {
        let d = self.specs.find_one(doc! { "_id": id.to_string() }).await.map_err(unavailable)?;
        d.map(|d| serde_json::from_str(d.get_str("spec").map_err(corrupt)?).map_err(corrupt)).transpose()
    }

    async fn graphs(
        &self,
        which: &GraphFilter,
        first: usize,
        before_seq: Option<u64>,
    ) -> Result<Vec<GraphView>, Error> {
        let mut filter = doc! { "seq": { "$lt": before_seq.map(|s| s as i64).unwrap_or(i64::MAX) } };
        if let Some(s) = which.state {
            filter.insert("state", s.as_str());
        }
        if let Some(name) = &which.name {
            // Rows keep their name lower-cased for this match; the pattern is the literal text.
            filter.insert("name_lower", doc! { "$regex": regex_literal(&name.to_lowercase()) });
        }
        if let Some(source) = which.forked_from {
            filter.insert("forked_from", source.to_string());
        }
        let docs: Vec<Document> = self
            .graphs
            .find(filter)
            .sort(doc! { "seq": -1 })
            .limit(first as i64)
            .await
            .map_err(unavailable)?
            .try_collect()
            .await
            .map_err(unavailable)?;
        docs.iter().map(parse).collect()
    }

    async fn unfinished_tasks(&self) -> Result<Vec<TaskView>, Error> {
        self.find_tasks(doc! { "state": { "$in": UNFINISHED.to_vec() } }).await
    }

    async fn checkpoint(&self, name: &str) -> Result<u64, Error> {
        let d = self.checkpoints.find_one(doc! { "_id": name }).await.map_err(unavailable)?;
        Ok(d.and_then(|d| d.get_i64("position").ok()).unwrap_or(0) as u64)
    }

    async fn save_checkpoint(&self, name: &str, position: u64) -> Result<(), Error> {
        self.checkpoints
            .update_one(doc! { "_id": name }, doc! { "$max": { "position": Bson::Int64(position as i64) } })
            .upsert(true)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    fn begin_writing(&self) {
        *self.kept.lock().expect("not poisoned") = Rows::default();
    }

    async fn dump(&self) -> Result<Model, Error> {
        let mut m = Model::default();
        for v in self.find_tasks(doc! {}).await? {
            m.tasks.insert(v.task_id, v);
        }
        let docs: Vec<Document> =
            self.graphs.find(doc! {}).await.map_err(unavailable)?.try_collect().await.map_err(unavailable)?;
        for d in &docs {
            let v: GraphView = parse(d)?;
            m.graphs.insert(v.graph_id, v);
        }
        Ok(m)
    }
}

#[cfg(all(test, feature = "service-tests"))]
mod tests {
    #![allow(clippy::unwrap_used)] // tests: a panic is a failed case
    use super::ReadStore;

    /// A projector keeps the rows it wrote; when it leads again after another leader wrote them,
    /// it reads them again instead of applying events to its stale copies.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn kept_rows_are_dropped_when_a_term_begins() {
        let uri = std::env::var("AURORA_TEST_MONGODB_URI")
            .expect("service tests need AURORA_TEST_MONGODB_URI (scripts/test sets it)");
        let db = format!("aurora_test_{}", uuid::Uuid::now_v7().simple());
        let (first, second) = (
            super::MongoStore::connect(&uri, &db).await.unwrap(),
            super::MongoStore::connect(&uri, &db).await.unwrap(),
        );
        let (g, events) = super::super::conformance::run(1, &mut 0);
        let t = aurora_schemas::TaskId::derive(g, "t0");
        first.begin_writing();
        first.apply(events[..2].to_vec()).await.unwrap(); // submitted, pending: kept by `first`
        second.begin_writing(); // `second` leads now
        second.apply(events[2..4].to_vec()).await.unwrap(); // received, started
        first.begin_writing(); // `first` leads again
        let batch = first.apply(events[4..].to_vec()).await.unwrap(); // succeeded
        assert!(batch.gaps.is_empty(), "applied to the rows as stored, not to a stale copy: {:?}", batch.gaps);
        let row = first.task(t).await.unwrap().unwrap();
        assert_eq!((row.state.as_str(), row.version), ("SUCCESS", 4));
        let graph = first.graph(g).await.unwrap().unwrap();
        assert_eq!((graph.tasks_total, graph.tasks_terminal), (1, 1), "the graph's counters saw the task's end");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn mongo_store_passes_the_conformance_suite() {
        let uri = std::env::var("AURORA_TEST_MONGODB_URI")
            .expect("service tests need AURORA_TEST_MONGODB_URI (scripts/test sets it)");
        super::super::conformance::run_suite(|| {
            let uri = uri.clone();
            async move {
                let db = format!("aurora_test_{}", uuid::Uuid::now_v7().simple());
                std::sync::Arc::new(super::MongoStore::connect(&uri, &db).await.expect("MongoDB reachable"))
                    as std::sync::Arc<dyn super::ReadStore>
            }
        })
        .await;
    }
}
