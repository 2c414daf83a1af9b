//! GraphQL object and input types, and their conversions from the domain.

use super::state;
use crate::errors::{Kind, error, unavailable};
use async_graphql::{ComplexObject, Context, Enum, ID, InputObject, Json, SimpleObject};
use aurora_projector::{GraphView, TaskView};
use aurora_schemas::{Event, GraphState as DomainGraphState, TaskState as DomainTaskState};
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

/// A task's state.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum TaskState {
    Waiting,
    Pending,
    Received,
    Started,
    Retry,
    Success,
    Failure,
    Cancelled,
    Skipped,
}

impl From<DomainTaskState> for TaskState {
    fn from(s: DomainTaskState) -> Self {
        match s {
            DomainTaskState::Waiting => Self::Waiting,
            DomainTaskState::Pending => Self::Pending,
            DomainTaskState::Received => Self::Received,
            DomainTaskState::Started => Self::Started,
            DomainTaskState::Retry => Self::Retry,
            DomainTaskState::Success => Self::Success,
            DomainTaskState::Failure => Self::Failure,
            DomainTaskState::Cancelled => Self::Cancelled,
            DomainTaskState::Skipped => Self::Skipped,
        }
    }
}

/// A graph run's state.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum GraphState {
    Running,
    Success,
    Failure,
    Cancelled,
}

impl From<DomainGraphState> for GraphState {
    fn from(s: DomainGraphState) -> Self {
        match s {
            DomainGraphState::Running => Self::Running,
            DomainGraphState::Success => Self::Success,
            DomainGraphState::Failure => Self::Failure,
            DomainGraphState::Cancelled => Self::Cancelled,
        }
    }
}

impl From<GraphState> for DomainGraphState {
    fn from(s: GraphState) -> Self {
        match s {
            GraphState::Running => Self::Running,
            GraphState::Success => Self::Success,
            GraphState::Failure => Self::Failure,
            GraphState::Cancelled => Self::Cancelled,
        }
    }
}

/// A typed argument.
#[derive(InputObject, Debug)]
pub struct ArgInput {
    #[graphql(name = "type")]
    pub ty: String,
    pub value: Json<Value>,
}

/// One task of a submitted graph.
#[derive(InputObject, Debug)]
pub struct TaskInput {
    pub key: String,
    pub name: String,
    pub args: Option<Vec<ArgInput>>,
    pub label_selector: Option<Json<Value>>,
    pub retry_count: Option<i32>,
    pub retry_backoff_ms: Option<i32>,
    pub timeout_ms: Option<i32>,
    pub pass_results: Option<bool>,
    /// Not before this time: once ready, the task waits (WAITING, with `notBefore`) until then.
    pub not_before: Option<chrono::DateTime<chrono::Utc>>,
    /// 0 (the default) to 9: among ready tasks of one handler and selector, higher runs first.
    pub priority: Option<i32>,
}

/// `to` runs after `from` succeeded.
#[derive(InputObject, Debug)]
pub struct EdgeInput {
    pub from: String,
    pub to: String,
}

/// A graph submission.
#[derive(InputObject, Debug)]
pub struct GraphInput {
    pub name: Option<String>,
    pub tasks: Vec<TaskInput>,
    pub edges: Option<Vec<EdgeInput>>,
    pub label_selector: Option<Json<Value>>,
    pub idempotency_key: Option<String>,
}

/// A value with its type.
#[derive(SimpleObject, Debug, Clone)]
pub struct TypedValue {
    #[graphql(name = "type")]
    pub ty: String,
    pub value: Json<Value>,
}

impl From<aurora_schemas::TypedValue> for TypedValue {
    fn from(v: aurora_schemas::TypedValue) -> Self {
        Self { ty: v.ty, value: Json(v.value) }
    }
}

/// One ledger event.
#[derive(SimpleObject, Debug, Clone)]
#[graphql(complex)]
pub struct LedgerEvent {
    pub id: ID,
    pub stream: String,
    pub version: i32,
    #[graphql(name = "type")]
    pub ty: String,
    pub graph_id: ID,
    pub task_id: Option<ID>,
    pub state: Option<TaskState>,
    pub data: Json<Value>,
    pub actor: Option<String>,
    pub recorded_at: DateTime<Utc>,
    pub hash: String,
    /// The hash of the stream's previous event (empty for version 1): the chain an audit verifies.
    pub prev_hash: String,
    /// The run's W3C trace id (32 hex digits; the graph id), shared by all its events.
    pub trace_id: Option<String>,
    /// The worker that recorded the event, for attempt events.
    pub worker_id: Option<String>,
    /// The projector leader's fencing token, for events a projector appended.
    pub fencing_token: Option<i64>,
    /// The event that caused this one (e.g. the success that made a successor pending).
    pub causation_id: Option<ID>,
    /// The event's place in the ledger's global order (a decimal number that may exceed GraphQL's
    /// 32-bit `Int`): the cursor `history(after:)` takes.
    pub position: String,
    /// The event itself, for `line` (rendered only when asked for).
    #[graphql(skip)]
    pub source: std::sync::Arc<Event>,
}

#[ComplexObject]
impl LedgerEvent {
    /// The whole event as one line of JSON (envelope, payload, hashes): what `aurora export`
    /// writes and `importRun` takes.
    async fn line(&self) -> String {
        aurora_schemas::portable::to_line(&self.source)
    }
}

impl From<&Event> for LedgerEvent {
    fn from(e: &Event) -> Self {
        let (ty, data) = e.data.to_parts();
        Self {
            id: ID(e.id.to_string()),
            stream: e.stream.0.clone(),
            version: e.version as i32,
            ty: ty.to_string(),
            graph_id: ID(e.graph_id.to_string()),
            task_id: e.task_id.map(|t| ID(t.to_string())),
            state: DomainTaskState::after(e.event_type()).map(Into::into),
            data: Json(data),
            actor: e.meta.actor.clone(),
            recorded_at: e.recorded_at,
            hash: e.hash.clone(),
            prev_hash: e.prev_hash.clone(),
            trace_id: e.meta.trace_id.clone(),
            worker_id: e.meta.worker_id.clone(),
            fencing_token: e.meta.fencing_token.map(|t| t as i64),
            causation_id: e.meta.causation_id.map(|c| ID(c.to_string())),
            position: e.position.to_string(),
            source: std::sync::Arc::new(e.clone()),
        }
    }
}

/// How far an attempt is, as its handler last reported (at most one report per second is kept).
#[derive(SimpleObject, Debug, Clone, PartialEq)]
pub struct TaskProgress {
    pub attempt: i32,
    /// 0 to 1.
    pub fraction: f64,
    pub message: Option<String>,
    pub recorded_at: DateTime<Utc>,
}

/// One task of a run.
#[derive(SimpleObject, Debug, Clone)]
#[graphql(complex)]
pub struct TaskRun {
    pub id: ID,
    pub key: String,
    pub name: String,
    pub state: TaskState,
    pub args: Vec<TypedValue>,
    pub results: Option<Vec<TypedValue>>,
    pub error: Option<String>,
    pub attempts: i32,
    /// The worker of the current or last attempt.
    pub worker_id: Option<String>,
    /// When the next attempt is due, while in RETRY.
    pub retry_at: Option<DateTime<Utc>>,
    /// The selector it was dispatched with (its own or the graph's).
    pub label_selector: Json<BTreeMap<String, String>>,
    pub retry_count: i32,
    pub retry_backoff_ms: i64,
    pub timeout_ms: Option<i64>,
    /// The last progress the current (or last) attempt reported; null if it reported none.
    pub progress: Option<TaskProgress>,
    /// Not given to a worker before this time (WAITING until then, though dispatched).
    pub not_before: Option<DateTime<Utc>>,
    /// 0 to 9: among ready tasks of one handler and selector, higher runs first.
    pub priority: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// A rerun took this task's results from the run it forked from (it was not executed):
    /// the source event.
    pub reused_from: Option<super::history::SourceEventRef>,
    /// The history, when the graph's resolver read it for all tasks at once.
    #[graphql(skip)]
    pub prefetched_history: Option<Vec<LedgerEvent>>,
}

impl From<TaskView> for TaskRun {
    fn from(v: TaskView) -> Self {
        Self::at(v, Utc::now())
    }
}

impl TaskRun {
    /// The task as it shows at `now` (a delayed task is WAITING until its `notBefore`).
    pub fn at(v: TaskView, now: DateTime<Utc>) -> Self {
        let state = v.shown_state(now);
        Self {
            id: ID(v.task_id.to_string()),
            key: v.key,
            name: v.name,
            state: state.into(),
            args: v.args.unwrap_or(v.spec_args).into_iter().map(Into::into).collect(),
            results: v.results.map(|r| r.into_iter().map(Into::into).collect()),
            error: v.error,
            attempts: v.attempts as i32,
            worker_id: v.worker_id,
            retry_at: v.retry_at,
            label_selector: Json(v.label_selector.into_iter().collect()),
            retry_count: v.retry_count as i32,
            retry_backoff_ms: v.retry_backoff_ms as i64,
            timeout_ms: v.timeout_ms.map(|t| t as i64),
            progress: v.progress.map(|p| TaskProgress {
                attempt: p.attempt as i32,
                fraction: p.fraction,
                message: p.message,
                recorded_at: p.recorded_at,
            }),
            not_before: v.not_before,
            priority: i32::from(v.priority),
            created_at: v.created_at,
            updated_at: v.updated_at,
            reused_from: v.reused_from.map(Into::into),
            prefetched_history: None,
        }
    }
}

/// The most, and the default number of, events one page of a task's history holds.
pub const TASK_HISTORY_PAGE: (i32, i32) = (1_000, 100);
/// The most, and the default number of, events one page of a run's history holds.
pub const GRAPH_HISTORY_PAGE: (i32, i32) = (10_000, 1_000);
/// What a run's task list counts as in a query's complexity (runs are of any size; the response
/// budget bounds what a big one costs).
pub const TASKS_COMPLEXITY: usize = 100;

/// `first` checked against `(max, default)`.
fn page_size(first: Option<i32>, (max, default): (i32, i32), what: &str, cursor: &str) -> async_graphql::Result<usize> {
    let first = first.unwrap_or(default);
    if (1..=max).contains(&first) {
        Ok(first as usize)
    } else {
        Err(error(
            Kind::BadInput,
            format!("{what}: `first` must be between 1 and {max}, got {first}; page with `after` ({cursor})"),
        ))
    }
}

#[ComplexObject]
impl TaskRun {
    /// The task's events, oldest first: `first` of them (default 100, at most 1,000) after version
    /// `after` (0: from the start).
    #[graphql(complexity = "first.unwrap_or(TASK_HISTORY_PAGE.1).max(1) as usize * child_complexity")]
    async fn history(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<i32>,
    ) -> async_graphql::Result<Vec<LedgerEvent>> {
        let first = page_size(first, TASK_HISTORY_PAGE, "history", "the last event's version")?;
        let after = u64::try_from(after.unwrap_or(0))
            .map_err(|_| error(Kind::BadInput, "history: `after` is a version and must not be negative"))?;
        if let Some(events) = &self.prefetched_history {
            return Ok(events.iter().filter(|e| e.version as u64 > after).take(first).cloned().collect());
        }
        let id: aurora_schemas::TaskId = self.id.parse().map_err(|_| error(Kind::BadInput, "bad task id"))?;
        let events = state(ctx).ledger.read_stream(&id.stream(), after + 1).await.map_err(unavailable)?;
        Ok(events.iter().take(first).map(LedgerEvent::from).collect())
    }
}

/// How many of a run's tasks are in each state.
#[derive(SimpleObject, Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskCounts {
    pub total: i32,
    pub waiting: i32,
    pub pending: i32,
    pub received: i32,
    pub started: i32,
    pub retry: i32,
    pub success: i32,
    pub failure: i32,
    pub cancelled: i32,
    pub skipped: i32,
}

impl TaskCounts {
    fn of(states: impl IntoIterator<Item = DomainTaskState>) -> Self {
        let mut c = Self::default();
        for s in states {
            c.total += 1;
            *match s {
                DomainTaskState::Waiting => &mut c.waiting,
                DomainTaskState::Pending => &mut c.pending,
                DomainTaskState::Received => &mut c.received,
                DomainTaskState::Started => &mut c.started,
                DomainTaskState::Retry => &mut c.retry,
                DomainTaskState::Success => &mut c.success,
                DomainTaskState::Failure => &mut c.failure,
                DomainTaskState::Cancelled => &mut c.cancelled,
                DomainTaskState::Skipped => &mut c.skipped,
            } += 1;
        }
        c
    }
}

/// An edge between task keys.
#[derive(SimpleObject, Debug, Clone)]
pub struct Edge {
    pub from: String,
    pub to: String,
}

/// One graph run.
#[derive(SimpleObject, Debug, Clone)]
#[graphql(complex)]
pub struct GraphRun {
    pub id: ID,
    pub name: Option<String>,
    pub state: GraphState,
    pub submitted_by: String,
    pub submitted_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Someone asked to cancel the run; its tasks are being cancelled.
    pub cancel_requested: bool,
    /// The moment this view is of (`graph(id, asOf)`); null for the live view.
    pub as_of: Option<DateTime<Utc>>,
    #[graphql(skip)]
    pub seq: u64,
    #[graphql(skip)]
    pub forked_from: Option<aurora_schemas::event::ForkedFrom>,
    /// The run rebuilt from the ledger at `as_of`, when it is an as-of view.
    #[graphql(skip)]
    pub snapshot: Option<std::sync::Arc<super::history::Snapshot>>,
}

impl From<GraphView> for GraphRun {
    fn from(v: GraphView) -> Self {
        Self {
            id: ID(v.graph_id.to_string()),
            name: v.name,
            state: v.state.into(),
            submitted_by: v.submitted_by,
            submitted_at: v.submitted_at,
            finished_at: v.finished_at,
            cancel_requested: v.cancel_requested,
            as_of: None,
            seq: v.seq,
            forked_from: v.forked_from,
            snapshot: None,
        }
    }
}

impl GraphRun {
    fn graph_id(&self) -> async_graphql::Result<aurora_schemas::GraphId> {
        self.id.parse().map_err(|_| error(Kind::BadInput, "bad graph id"))
    }
}

#[ComplexObject]
impl GraphRun {
    /// The tasks, in the order they were submitted.
    #[graphql(complexity = "TASKS_COMPLEXITY * child_complexity")]
    async fn tasks(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<TaskRun>> {
        if let Some(snapshot) = &self.snapshot {
            return Ok(snapshot.task_runs());
        }
        let g = self.graph_id()?;
        let st = state(ctx);
        let mut views = st.store.graph_tasks(g).await.map_err(unavailable)?;
        if let Some(spec) = st.store.graph_spec(g).await.map_err(unavailable)? {
            let order: BTreeMap<&str, usize> =
                spec.tasks.iter().enumerate().map(|(i, t)| (t.key.as_str(), i)).collect();
            views.sort_by_key(|v| order.get(v.key.as_str()).copied().unwrap_or(usize::MAX));
        }
        let mut tasks: Vec<TaskRun> = views.into_iter().map(Into::into).collect();
        // Asked for every task's history: one read of the run's events, not one per task.
        if ctx.look_ahead().field("history").exists() {
            let mut by_task: HashMap<String, Vec<LedgerEvent>> = HashMap::new();
            for e in st.ledger.read_graph(g).await.map_err(unavailable)? {
                if let Some(t) = e.task_id {
                    by_task.entry(t.to_string()).or_default().push(LedgerEvent::from(&e));
                }
            }
            for t in &mut tasks {
                t.prefetched_history = Some(by_task.remove(t.id.as_str()).unwrap_or_default());
            }
        }
        Ok(tasks)
    }

    /// How many tasks are in each state (tasks not dispatched yet are WAITING).
    async fn task_counts(&self, ctx: &Context<'_>) -> async_graphql::Result<TaskCounts> {
        if let Some(s) = &self.snapshot {
            let waiting = s.spec.tasks.len().saturating_sub(s.tasks.len());
            let states = s.tasks.iter().map(|v| v.shown_state(s.at));
            return Ok(TaskCounts::of(states.chain(std::iter::repeat_n(DomainTaskState::Waiting, waiting))));
        }
        let g = self.graph_id()?;
        let st = state(ctx);
        let views = st.store.graph_tasks(g).await.map_err(unavailable)?;
        let total = st.store.graph_spec(g).await.map_err(unavailable)?.map(|s| s.tasks.len()).unwrap_or(views.len());
        let waiting = total.saturating_sub(views.len());
        Ok(TaskCounts::of(
            views.into_iter().map(|v| v.state).chain(std::iter::repeat_n(DomainTaskState::Waiting, waiting)),
        ))
    }

    /// The edges, as submitted.
    async fn edges(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Edge>> {
        let spec = match &self.snapshot {
            Some(s) => Some(s.spec.clone()),
            None => state(ctx).store.graph_spec(self.graph_id()?).await.map_err(unavailable)?,
        };
        Ok(spec.map(|s| s.edges.into_iter().map(|e| Edge { from: e.from, to: e.to }).collect()).unwrap_or_default())
    }

    /// The run's events (graph and tasks) in ledger order: `first` of them (default 1,000, at most
    /// 10,000) after the event at `position` `after` (the last one of the previous page).
    #[graphql(complexity = "first.unwrap_or(GRAPH_HISTORY_PAGE.1).max(1) as usize * child_complexity")]
    async fn history(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Vec<LedgerEvent>> {
        let first = page_size(first, GRAPH_HISTORY_PAGE, "history", "the last event's `position`")?;
        let after = match after {
            None => 0,
            Some(a) => a.parse::<u64>().map_err(|_| {
                error(Kind::BadInput, format!("history: `after` must be an event's `position`, not `{a:.40}`"))
            })?,
        };
        if let Some(s) = &self.snapshot {
            return Ok(s.events.iter().filter(|e| e.position > after).take(first).map(LedgerEvent::from).collect());
        }
        let events = state(ctx).ledger.read_graph_after(self.graph_id()?, after, first).await.map_err(unavailable)?;
        Ok(events.iter().map(LedgerEvent::from).collect())
    }

    /// The run this one reruns (`rerunGraph`), and the source's ledger position it was planned
    /// from; null for a run submitted afresh.
    async fn forked_from(&self) -> Option<super::history::RunFork> {
        self.forked_from
            .as_ref()
            .map(|f| super::history::RunFork { graph_id: ID(f.graph.to_string()), position: f.position.to_string() })
    }

    /// The reruns of this run, newest first (at most 100; with `asOf`, those submitted by then).
    #[graphql(complexity = "TASKS_COMPLEXITY * child_complexity")]
    async fn forks(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<GraphRun>> {
        let filter = aurora_projector::GraphFilter { forked_from: Some(self.graph_id()?), ..Default::default() };
        let views = state(ctx).store.graphs(&filter, 100, None).await.map_err(unavailable)?;
        let by = self.as_of;
        Ok(views.into_iter().filter(|v| by.is_none_or(|at| v.submitted_at <= at)).map(Into::into).collect())
    }
}

/// Pagination state.
#[derive(SimpleObject, Debug, Clone)]
pub struct PageInfo {
    pub has_next_page: bool,
    pub end_cursor: Option<String>,
}

/// A page of runs.
#[derive(SimpleObject, Debug, Clone)]
pub struct GraphRunConnection {
    pub nodes: Vec<GraphRun>,
    pub page_info: PageInfo,
}

/// A handler some live worker offers.
#[derive(SimpleObject, Debug, Clone)]
pub struct Handler {
    pub name: String,
    pub usage: String,
    pub arg_types: Vec<String>,
    pub result_types: Vec<String>,
}

/// A function a configured FaaS provider offers (the seed's `/api/faas/list`).
#[derive(SimpleObject, Debug, Clone)]
pub struct FaasFunction {
    /// The provider's handler name: the task name that invokes it (e.g. `openfaas_driver`).
    pub provider: String,
    /// `openfaas` or `aliyunfc`.
    pub driver: String,
    /// The provider's id of the function.
    pub id: String,
    /// The function's name: a task's first arg.
    pub name: String,
    /// What the provider says about it.
    pub description: String,
}

/// A live worker.
#[derive(SimpleObject, Debug, Clone)]
pub struct Worker {
    pub id: ID,
    pub labels: Json<BTreeMap<String, String>>,
    pub handlers: Vec<String>,
    pub last_seen_at: DateTime<Utc>,
}

/// A login's result.
#[derive(SimpleObject, Debug, Clone)]
pub struct LoginPayload {
    pub token: String,
    pub expires_at: DateTime<Utc>,
}
