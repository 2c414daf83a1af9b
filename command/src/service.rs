//! `submit` and `cancel`.

use crate::Error;
use crate::rerun;
use aurora_coord::Registry;
use aurora_ledger::{AppendRequest, Ledger};
use aurora_schemas::event::{EventData, ForkedFrom};
use aurora_schemas::validate::{Limits, problems};
use aurora_schemas::{Catalog, EventMeta, GraphId, GraphSpec, GraphState, HandlerInfo, NewEvent, TaskId, hash};
use std::collections::HashSet;
use std::sync::Arc;
use tracing::{info, instrument};

/// The outcome of a submission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submitted {
    /// The run.
    pub graph_id: GraphId,
    /// An earlier submission with the same idempotency key already created it.
    pub duplicate: bool,
    /// What the submitter should know: e.g. tasks that no live worker can run yet (they wait for
    /// one, then fail after the schedule-to-start timeout).
    pub warnings: Vec<String>,
}

/// A warning for every (handler, selector) of `spec` that no live worker both offers and matches.
fn unmatched_selectors(spec: &GraphSpec, workers: &[aurora_coord::WorkerInfo]) -> Vec<String> {
    use std::collections::BTreeMap;
    let mut unmatched: BTreeMap<(String, String), Vec<&str>> = BTreeMap::new();
    for task in &spec.tasks {
        let selector = task.label_selector.clone().unwrap_or_default();
        let served = workers.iter().any(|w| {
            w.handlers.iter().any(|h| h.name == task.name) && aurora_schemas::selector::matches(&selector, &w.labels)
        });
        if !served {
            let shown = selector.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",");
            unmatched.entry((task.name.clone(), shown)).or_default().push(&task.key);
        }
    }
    let labels: Vec<String> = workers
        .iter()
        .map(|w| format!("{{{}}}", w.labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")))
        .collect();
    unmatched
        .into_iter()
        .map(|((handler, selector), keys)| {
            let some: Vec<String> = keys.iter().take(3).map(|k| format!("`{k}`")).collect();
            let more = if keys.len() > 3 { format!(" and {} more", keys.len() - 3) } else { String::new() };
            format!(
                "no live worker offers `{handler}` with labels matching {{{selector}}} (task {}{more}): it waits for \
                 one, and fails after projector.schedule_to_start_secs; the live workers' labels are {}",
                some.join(", "),
                if labels.is_empty() { "none (no worker is running)".to_string() } else { labels.join(", ") }
            )
        })
        .collect()
}

/// The command service.
#[derive(Clone)]
pub struct Service {
    ledger: Arc<dyn Ledger>,
    registry: Arc<dyn Registry>,
    limits: Limits,
}

fn meta(actor: &str, graph: GraphId) -> EventMeta {
    EventMeta {
        actor: Some(actor.to_string()),
        correlation_id: Some(graph.0),
        trace_id: Some(aurora_schemas::trace::trace_id(graph)),
        ..Default::default()
    }
}

impl Service {
    /// A command service appending to `ledger`, knowing handlers from `registry`.
    pub fn new(ledger: Arc<dyn Ledger>, registry: Arc<dyn Registry>, limits: Limits) -> Self {
        Self { ledger, registry, limits }
    }

    /// Validates `spec` and appends `GraphSubmitted` with the roots' `TaskPending`, atomically.
    #[instrument(skip_all, fields(actor, tasks = spec.tasks.len()))]
    pub async fn submit(&self, spec: GraphSpec, actor: &str) -> Result<Submitted, Error> {
        let started = chrono::Utc::now();
        let (spec, warnings) = self.validated(spec, &[]).await?;
        let has_predecessor: HashSet<&str> = spec.edges.iter().map(|e| e.to.as_str()).collect();
        let roots: Vec<(String, EventData)> = spec
            .tasks
            .iter()
            .filter(|t| !has_predecessor.contains(t.key.as_str()))
            .map(|t| (t.key.clone(), EventData::pending(t, t.args.clone())))
            .collect();
        self.create(spec, roots, None, actor, warnings, started).await
    }

    /// Submits a new run of `source`'s spec with `request`'s overrides, reusing what succeeded
    /// there (`TaskReused`) and running the rest (see [`crate::rerun`]), atomically.
    #[instrument(skip_all, fields(source = %source, actor))]
    pub async fn rerun(
        &self,
        source: GraphId,
        request: &rerun::Request,
        idempotency_key: Option<String>,
        actor: &str,
    ) -> Result<Submitted, Error> {
        let started = chrono::Utc::now();
        let events = self.ledger.read_graph(source).await?;
        if events.is_empty() {
            return Err(Error::NotFound(source.to_string()));
        }
        let plan = rerun::plan(source, &events, request).map_err(Error::Rejected)?;
        let mut spec = plan.spec;
        spec.idempotency_key = idempotency_key;
        // A reused task is never run: its handler need not be offered any more, unless a task
        // that runs again uses it too.
        let rerun_names: HashSet<&str> =
            spec.tasks.iter().filter(|t| plan.rerun.contains(&t.key)).map(|t| t.name.as_str()).collect();
        let reused: Vec<&str> =
            plan.reused.iter().map(|r| r.name.as_str()).filter(|n| !rerun_names.contains(n)).collect();
        let (spec, warnings) = self.validated(spec, &reused).await?;
        let mut first = Vec::with_capacity(plan.reused.len() + plan.ready.len());
        for r in plan.reused {
            let data = EventData::TaskReused { key: r.key.clone(), name: r.name, results: r.results, source: r.source };
            first.push((r.key, data));
        }
        for (key, args) in plan.ready {
            let task = spec.task(&key).expect("the plan's tasks are the spec's");
            first.push((key.clone(), EventData::pending(task, args)));
        }
        let forked_from = ForkedFrom { graph: source, position: plan.position };
        let submitted = self.create(spec, first, Some(forked_from), actor, warnings, started).await?;
        info!(graph_id = %submitted.graph_id, source = %source, "rerun submitted");
        Ok(submitted)
    }

    /// Appends a whole run exported from another Aurora (`aurora import`), unchanged: every chain
    /// verified first, every stream new here, all in one atomic append. A run that exists here,
    /// or any event that does not verify, is refused (naming stream and version) and nothing is
    /// written.
    #[instrument(skip_all, fields(actor, events = events.len()))]
    pub async fn import(&self, events: Vec<aurora_schemas::Event>, actor: &str) -> Result<GraphId, Error> {
        let graph = aurora_schemas::portable::check_run(&events).map_err(Error::Rejected)?;
        let exists = || Error::Rejected(format!("run {graph} already exists here; nothing was imported"));
        if !self.ledger.read_stream(&graph.stream(), 1).await?.is_empty() {
            return Err(exists());
        }
        let mut streams: std::collections::BTreeMap<aurora_schemas::StreamId, Vec<aurora_schemas::Event>> =
            std::collections::BTreeMap::new();
        for e in events {
            streams.entry(e.stream.clone()).or_default().push(e);
        }
        // The graph stream first, as a submission is appended (readers see the spec first).
        let mut requests: Vec<AppendRequest> = Vec::with_capacity(streams.len());
        for (stream, mut list) in streams {
            list.sort_by_key(|e| e.version);
            let request = AppendRequest::new(0, list.iter().map(NewEvent::carried_over).collect());
            if stream == graph.stream() { requests.insert(0, request) } else { requests.push(request) }
        }
        match self.ledger.append_all(requests).await {
            Ok(appended) => {
                info!(graph_id = %graph, actor, events = appended.len(), "run imported");
                Ok(graph)
            }
            Err(e) if e.is_conflict() => Err(exists()),
            Err(e) => Err(e.into()),
        }
    }

    /// Checks `spec` against the limits and the live workers' handlers (`unneeded` handlers need
    /// not be offered), and normalizes it; returns it with the warnings for the submitter.
    async fn validated(&self, spec: GraphSpec, unneeded: &[&str]) -> Result<(GraphSpec, Vec<String>), Error> {
        let workers = self.registry.workers().await?;
        let offered = workers.iter().flat_map(|w| w.handlers.iter().cloned());
        let stand_ins = unneeded.iter().map(|name| HandlerInfo {
            name: (*name).to_string(),
            usage: "reused: not run".into(),
            arg_types: vec!["...any".into()],
            result_types: vec!["...any".into()],
        });
        // `unneeded` names no task that runs uses, so a permissive stand-in can only ever admit a
        // reused task (which is never run), never a task's args.
        let catalog: Catalog = offered.chain(stand_ins).collect();
        let found = problems(&spec, &self.limits, &catalog);
        if !found.is_empty() {
            return Err(Error::Rejected(found.join("; ")));
        }
        let spec = spec.with_backoff_at_least(self.limits.min_retry_backoff_ms).normalized();
        let warnings = unmatched_selectors(&spec, &workers);
        Ok((spec, warnings))
    }

    /// Appends the run's `GraphSubmitted` and the first event of each task in `first` (each at
    /// expected version 0) in one atomic append; an idempotency key already used returns that run.
    async fn create(
        &self,
        spec: GraphSpec,
        first: Vec<(String, EventData)>,
        forked_from: Option<ForkedFrom>,
        actor: &str,
        warnings: Vec<String>,
        started: chrono::DateTime<chrono::Utc>,
    ) -> Result<Submitted, Error> {
        let spec_hash = hash::sha256_hex(&serde_json::to_value(&spec).expect("specs always serialise"));
        let graph_id = match &spec.idempotency_key {
            Some(key) => GraphId::for_idempotency_key(actor, key),
            None => GraphId::new(),
        };
        let mut requests = Vec::with_capacity(1 + first.len());
        let source = forked_from.as_ref().map(|f| f.graph);
        let submitted = EventData::GraphSubmitted {
            spec: spec.clone(),
            spec_hash: spec_hash.clone(),
            submitter: actor.to_string(),
            idempotency_key: spec.idempotency_key.clone(),
            forked_from,
        };
        requests.push(AppendRequest::new(0, vec![NewEvent::graph(graph_id, submitted, meta(actor, graph_id))]));
        for (key, data) in first {
            let id = TaskId::derive(graph_id, &key);
            requests.push(AppendRequest::new(0, vec![NewEvent::task(graph_id, id, data, meta(actor, graph_id))]));
        }
        match self.ledger.append_all(requests).await {
            Ok(_) => {
                info!(graph_id = %graph_id, actor, tasks = spec.tasks.len(), "graph submitted");
                if aurora_telemetry::enabled() {
                    let root = aurora_telemetry::span::run_span(graph_id);
                    aurora_telemetry::Span::between(
                        graph_id,
                        Some(root),
                        "submit",
                        aurora_telemetry::Kind::Server,
                        started,
                        started,
                    )
                    .attr("aurora.submitter", actor)
                    .attr("aurora.tasks", spec.tasks.len())
                    .attr("aurora.edges", spec.edges.len())
                    .finish();
                }
                Ok(Submitted { graph_id, duplicate: false, warnings })
            }
            Err(e) if e.is_conflict() && spec.idempotency_key.is_some() => {
                let key = spec.idempotency_key.as_deref().unwrap_or_default();
                self.existing(graph_id, &spec_hash, source, key).await.map(|s| Submitted { warnings, ..s })
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The run an idempotency key already made: the same if it has the same spec and the same
    /// source (a rerun's key never answers with a fresh submission, or a rerun of another run).
    async fn existing(
        &self,
        graph_id: GraphId,
        spec_hash: &str,
        source: Option<GraphId>,
        key: &str,
    ) -> Result<Submitted, Error> {
        let first = self.ledger.read_stream(&graph_id.stream(), 1).await?;
        match first.first().map(|e| &e.data) {
            Some(EventData::GraphSubmitted { spec_hash: h, forked_from, .. })
                if h == spec_hash && forked_from.as_ref().map(|f| f.graph) == source =>
            {
                Ok(Submitted { graph_id, duplicate: true, warnings: Vec::new() })
            }
            Some(_) => Err(Error::Rejected(format!(
                "idempotency key `{key}` was already used for a different graph ({graph_id}); use a new key"
            ))),
            None => Err(Error::Unavailable("the ledger reported a conflict on an empty stream".into())),
        }
    }

    /// Appends `GraphCancelRequested`; the projector then cancels every unfinished task.
    /// Cancelling a run whose cancellation is already requested is a no-op.
    #[instrument(skip_all, fields(graph_id = %graph_id, actor))]
    pub async fn cancel(&self, graph_id: GraphId, actor: &str, reason: Option<String>) -> Result<(), Error> {
        for _ in 0..5 {
            let events = self.ledger.read_stream(&graph_id.stream(), 1).await?;
            if events.is_empty() {
                return Err(Error::NotFound(graph_id.to_string()));
            }
            let state =
                events.iter().fold(GraphState::Running, |st, e| GraphState::after(e.event_type()).unwrap_or(st));
            let requested = events.iter().any(|e| matches!(e.data, EventData::GraphCancelRequested { .. }));
            if state == GraphState::Cancelled || (requested && state == GraphState::Running) {
                return Ok(()); // already cancelled or being cancelled: repeating is a no-op
            }
            if state.is_terminal() {
                return Err(Error::Rejected(format!(
                    "graph {graph_id} already ended {}; only a running graph can be cancelled",
                    state.as_str()
                )));
            }
            let event = NewEvent::graph(
                graph_id,
                EventData::GraphCancelRequested { reason: reason.clone() },
                meta(actor, graph_id),
            );
            match self.ledger.append(AppendRequest::new(events.len() as u64, vec![event])).await {
                Ok(_) => {
                    info!(graph_id = %graph_id, actor, "graph cancellation requested");
                    return Ok(());
                }
                Err(e) if e.is_conflict() => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::Unavailable(format!("graph {graph_id} kept changing; try again")))
    }
}

#[cfg(test)]
mod tests;
