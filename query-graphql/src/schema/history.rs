//! Working with history: a run as it stood at a moment (`graph(id, asOf)`, `task(id, asOf)`),
//! reruns (`rerunGraph`'s `TaskOverride`, `GraphRun.forkedFrom` and `forks`) and how two runs
//! differ (`graphDiff`). Everything here is rebuilt from the ledger by the projector's pure
//! functions (`views::as_of`, `diff::diff`); nothing reads a read model it could get wrong.

use super::state;
use super::types::{ArgInput, Edge, GraphRun, TaskRun};
use crate::errors::{Kind, error, unavailable};
use async_graphql::{ComplexObject, Context, ID, InputObject, Json, SimpleObject};
use aurora_projector::TaskView;
use aurora_projector::views::{as_of, recorded_by};
use aurora_schemas::event::SourceEvent;
use aurora_schemas::{Event, GraphId, GraphSpec, TaskId, TypedValue};
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::sync::Arc;

/// A change to one task of a rerun; unset fields keep the source run's.
#[derive(InputObject, Debug)]
pub struct TaskOverride {
    pub key: String,
    pub name: Option<String>,
    pub args: Option<Vec<ArgInput>>,
    pub label_selector: Option<Json<Value>>,
    pub retry_count: Option<i32>,
    pub retry_backoff_ms: Option<i32>,
    pub timeout_ms: Option<i32>,
}

impl TaskOverride {
    /// The command's override (shape checks only; the command validates the resulting spec).
    pub fn into_domain(self) -> async_graphql::Result<aurora_command::rerun::TaskOverride> {
        let what = format!("overrides: task `{}`", self.key);
        let count = |v: Option<i32>, field: &str| match v {
            Some(n) if n < 0 => Err(error(Kind::BadInput, format!("{what}: {field} must not be negative, got {n}"))),
            other => Ok(other.map(|n| n as u64)),
        };
        Ok(aurora_command::rerun::TaskOverride {
            label_selector: super::mutation::selector(self.label_selector, &format!("{what}: labelSelector"))?,
            retry_count: count(self.retry_count, "retryCount")?.map(|n| n as u32),
            retry_backoff_ms: count(self.retry_backoff_ms, "retryBackoffMs")?,
            timeout_ms: count(self.timeout_ms, "timeoutMs")?,
            args: self.args.map(|a| a.into_iter().map(|a| TypedValue::new(a.ty, a.value.0)).collect()),
            name: self.name,
            key: self.key,
        })
    }
}

/// Where a rerun came from.
#[derive(SimpleObject, Debug, Clone)]
#[graphql(complex)]
pub struct RunFork {
    /// The source run's id.
    pub graph_id: ID,
    /// The ledger position of the last source-run event the rerun was planned from (a decimal).
    pub position: String,
}

#[ComplexObject]
impl RunFork {
    /// The source run; null if it is not in this Aurora (e.g. the rerun was imported alone).
    async fn graph(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<GraphRun>> {
        let id: GraphId = self.graph_id.parse().map_err(|_| error(Kind::BadInput, "bad graph id"))?;
        Ok(state(ctx).store.graph(id).await.map_err(unavailable)?.map(Into::into))
    }
}

/// The source event a reused task's results were taken from.
#[derive(SimpleObject, Debug, Clone, PartialEq)]
pub struct SourceEventRef {
    /// The run it belongs to.
    pub graph_id: ID,
    pub stream: String,
    pub version: i32,
    pub event_id: ID,
    /// Its hash: what an audit compares.
    pub hash: String,
}

impl From<SourceEvent> for SourceEventRef {
    fn from(s: SourceEvent) -> Self {
        Self {
            graph_id: ID(s.graph.to_string()),
            stream: s.stream.0,
            version: s.version as i32,
            event_id: ID(s.event_id.to_string()),
            hash: s.hash,
        }
    }
}

/// A run rebuilt from its events up to a moment: what `graph(id, asOf)` resolves from.
#[derive(Debug)]
pub struct Snapshot {
    /// The moment.
    pub at: DateTime<Utc>,
    /// The spec.
    pub spec: GraphSpec,
    /// The task rows at that moment that exist, in spec order.
    pub tasks: Vec<TaskView>,
    /// The events recorded up to it, in ledger order.
    pub events: Vec<Event>,
}

impl Snapshot {
    /// The run `graph` at `at` from its events; `None` if it was not submitted by then.
    pub fn of(graph: GraphId, events: Vec<Event>, at: DateTime<Utc>) -> Option<(aurora_projector::GraphView, Self)> {
        let events = recorded_by(&events, Some(at)).to_vec();
        let model = as_of(&events, None);
        let view = model.graphs.get(&graph)?.clone();
        let spec = aurora_schemas::event::submitted_spec(&events)?.clone();
        let tasks: Vec<TaskView> =
            spec.tasks.iter().filter_map(|t| model.tasks.get(&TaskId::derive(graph, &t.key)).cloned()).collect();
        Some((view, Self { at, spec, tasks, events }))
    }

    /// The rows as `TaskRun`s as they showed at the moment, each with its history up to it.
    pub fn task_runs(&self) -> Vec<TaskRun> {
        let mut by_task: std::collections::HashMap<TaskId, Vec<super::types::LedgerEvent>> =
            std::collections::HashMap::new();
        for e in &self.events {
            if let Some(t) = e.task_id {
                by_task.entry(t).or_default().push(super::types::LedgerEvent::from(e));
            }
        }
        self.tasks
            .iter()
            .map(|v| {
                let mut run = TaskRun::at(v.clone(), self.at);
                run.prefetched_history = Some(by_task.remove(&v.task_id).unwrap_or_default());
                run
            })
            .collect()
    }
}

/// `graph(id, asOf)`: the run as it stood at `at`, or `None` if it had not been submitted.
pub async fn graph_as_of(
    ctx: &Context<'_>,
    graph: GraphId,
    at: DateTime<Utc>,
) -> async_graphql::Result<Option<GraphRun>> {
    let events = state(ctx).ledger.read_graph(graph).await.map_err(unavailable)?;
    Ok(Snapshot::of(graph, events, at).map(|(view, snapshot)| {
        let mut run = GraphRun::from(view);
        run.as_of = Some(at);
        run.snapshot = Some(Arc::new(snapshot));
        run
    }))
}

/// `task(id, asOf)`: the task as it stood at `at`, or `None` if its run had not been submitted.
pub async fn task_as_of(ctx: &Context<'_>, task: TaskId, at: DateTime<Utc>) -> async_graphql::Result<Option<TaskRun>> {
    let st = state(ctx);
    let graph = match st.store.task(task).await.map_err(unavailable)? {
        Some(v) => v.graph_id,
        None => match st.ledger.read_stream(&task.stream(), 1).await.map_err(unavailable)?.first() {
            Some(e) => e.graph_id,
            None => return Ok(None),
        },
    };
    let Some(run) = graph_as_of(ctx, graph, at).await? else { return Ok(None) };
    let tasks = run.snapshot.as_ref().map(|s| s.task_runs()).unwrap_or_default();
    Ok(tasks.into_iter().find(|t| t.id.as_str() == task.to_string()))
}

/// What differs for one task key of two runs.
#[derive(SimpleObject, Debug, Clone)]
pub struct TaskDiff {
    pub key: String,
    /// What differs: `state`, `attempts`, `args`, `results`, `error`, `handler`, `duration`, or
    /// `added` / `removed` when only one run has the task; empty when nothing does. A task a
    /// rerun reused is compared by its results (its execution is the source run's).
    pub changed: Vec<String>,
    /// The task in the first run (null when it has no row there).
    pub before: Option<TaskRun>,
    /// The task in the second run.
    pub after: Option<TaskRun>,
}

/// How run `b` differs from run `a`.
#[derive(SimpleObject, Debug, Clone)]
pub struct GraphDiff {
    pub a: ID,
    pub b: ID,
    /// Every task key of either run: `a`'s in spec order, then those only `b` has.
    pub tasks: Vec<TaskDiff>,
    /// Edges only `b` has.
    pub edges_added: Vec<Edge>,
    /// Edges only `a` has.
    pub edges_removed: Vec<Edge>,
}

/// `graphDiff(a, b)`.
pub async fn graph_diff(
    ctx: &Context<'_>,
    a: GraphId,
    b: GraphId,
    tolerance: std::time::Duration,
) -> async_graphql::Result<GraphDiff> {
    let ledger = &state(ctx).ledger;
    let read = |g: GraphId| async move {
        let events = ledger.read_graph(g).await.map_err(unavailable)?;
        aurora_projector::diff::Run::of(g, &events)
            .ok_or_else(|| error(Kind::NotFound, format!("no graph with id {g}")))
    };
    let (ra, rb) = (read(a).await?, read(b).await?);
    let d = aurora_projector::diff::diff(&ra, &rb, tolerance);
    let edge = |(from, to): (String, String)| Edge { from, to };
    let now = Utc::now();
    Ok(GraphDiff {
        a: ID(a.to_string()),
        b: ID(b.to_string()),
        tasks: d
            .tasks
            .into_iter()
            .map(|t| TaskDiff {
                key: t.key,
                changed: t.changed.into_iter().map(str::to_string).collect(),
                before: t.before.map(|v| TaskRun::at(v, now)),
                after: t.after.map(|v| TaskRun::at(v, now)),
            })
            .collect(),
        edges_added: d.edges_added.into_iter().map(edge).collect(),
        edges_removed: d.edges_removed.into_iter().map(edge).collect(),
    })
}
