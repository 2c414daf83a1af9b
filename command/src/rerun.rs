//! Planning a rerun (`rerunGraph`), as a pure function of the source run's events: which tasks
//! run again, which are reused (with the results and the event they come from), which are ready
//! at once, and the new run's spec with the overrides applied. The service only reads the source
//! run, validates the planned spec like any submission, and appends the plan.
//!
//! A task runs again when it is named in `from`, overridden, did not succeed in the source run,
//! or descends from one that runs again (its inputs may change); every other task succeeded and is
//! reused. A task that runs again is ready at once when none of its predecessors runs again; its
//! args then get the reused predecessors' results when it passes results, in edge order, as the
//! frontier would have given them.

use aurora_schemas::decide::frontier;
use aurora_schemas::decide::shape::Topology;
use aurora_schemas::event::{EventData, SourceEvent};
use aurora_schemas::{Event, GraphId, GraphSpec, GraphState, LabelSelector, TaskId, TypedValue};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// A change to one task of the rerun's spec (`TaskOverride`); unset fields keep the source's.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TaskOverride {
    /// The task's key.
    pub key: String,
    /// Another handler.
    pub name: Option<String>,
    /// Other args.
    pub args: Option<Vec<TypedValue>>,
    /// Another selector.
    pub label_selector: Option<LabelSelector>,
    /// Other retries.
    pub retry_count: Option<u32>,
    /// Another backoff.
    pub retry_backoff_ms: Option<u64>,
    /// Another timeout.
    pub timeout_ms: Option<u64>,
}

/// What to rerun.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Request {
    /// Run these tasks (and their descendants) again even if they succeeded.
    pub from: Vec<String>,
    /// Changes to tasks; an overridden task runs again.
    pub overrides: Vec<TaskOverride>,
}

/// A task the rerun takes from the source run instead of running it.
#[derive(Debug, Clone, PartialEq)]
pub struct Reuse {
    /// The task's key.
    pub key: String,
    /// Its handler (not called).
    pub name: String,
    /// The source run's results.
    pub results: Vec<TypedValue>,
    /// The source event they come from.
    pub source: SourceEvent,
}

/// The new run.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Its spec: the source's with the overrides applied.
    pub spec: GraphSpec,
    /// The ledger position of the last source event the plan is based on.
    pub position: u64,
    /// Tasks reused, in spec order.
    pub reused: Vec<Reuse>,
    /// Tasks that run again and are ready at once, with their final args, in spec order.
    pub ready: Vec<(String, Vec<TypedValue>)>,
    /// Every task that runs again (ready or later), in spec order.
    pub rerun: Vec<String>,
}

/// Plans a rerun of the run whose events (graph and task streams, in ledger order) are `events`;
/// an error says what is wrong with the request (nothing may be written).
pub fn plan(source: GraphId, events: &[Event], request: &Request) -> Result<Plan, String> {
    let Some(spec) = aurora_schemas::event::submitted_spec(events).cloned() else {
        return Err(format!("run {source} has no submission in the ledger"));
    };
    let graph_state = events
        .iter()
        .filter(|e| e.task_id.is_none())
        .fold(GraphState::Running, |s, e| GraphState::after(e.event_type()).unwrap_or(s));
    if !graph_state.is_terminal() {
        return Err(format!(
            "run {source} is still running; rerun it once it has ended (or cancel it first), so that what it reuses is final"
        ));
    }
    let keys: BTreeSet<&str> = spec.tasks.iter().map(|t| t.key.as_str()).collect();
    let unknown = |what: &str, key: &str| {
        let known: Vec<&str> = keys.iter().copied().take(20).collect();
        format!("{what}: run {source} has no task `{key:.100}`; its tasks are {}", known.join(", "))
    };
    for key in &request.from {
        if !keys.contains(key.as_str()) {
            return Err(unknown("from", key));
        }
    }
    let mut overridden = BTreeSet::new();
    for o in &request.overrides {
        if !keys.contains(o.key.as_str()) {
            return Err(unknown("overrides", &o.key));
        }
        if !overridden.insert(o.key.as_str()) {
            return Err(format!("overrides: task `{}` is overridden twice; merge the two into one", o.key));
        }
    }

    let successes = successes(source, events);
    let mut seeds: BTreeSet<&str> = request.from.iter().map(String::as_str).chain(overridden.iter().copied()).collect();
    seeds.extend(spec.tasks.iter().map(|t| t.key.as_str()).filter(|k| !successes.contains_key(*k)));
    let shape = Topology::new(spec.clone());
    let rerun: BTreeSet<&str> =
        shape.with_descendants(seeds.iter().copied()).into_iter().map(|t| t.key.as_str()).collect();
    if rerun.is_empty() {
        return Err(format!(
            "every task of run {source} succeeded and none is named in `from` or `overrides`: nothing would run again; \
             name the tasks to rerun with `from`"
        ));
    }

    let mut new_spec = spec.clone();
    new_spec.idempotency_key = None;
    for o in &request.overrides {
        if let Some(task) = new_spec.tasks.iter_mut().find(|t| t.key == o.key) {
            apply(task, o);
        }
    }
    let reused: Vec<Reuse> = spec
        .tasks
        .iter()
        .filter(|t| !rerun.contains(t.key.as_str()))
        .filter_map(|t| successes.get(t.key.as_str()).map(|(results, source)| (t, results, source)))
        .map(|(t, results, source)| Reuse {
            key: t.key.clone(),
            name: t.name.clone(),
            results: results.clone(),
            source: source.clone(),
        })
        .collect();
    // Dispatched as the frontier would: the same decision, with the reused predecessors' results.
    let topo = Topology::new(new_spec.clone());
    let results: HashMap<String, Vec<TypedValue>> = reused.iter().map(|r| (r.key.clone(), r.results.clone())).collect();
    let mut ready = Vec::new();
    for (i, task) in new_spec.tasks.iter().enumerate().filter(|(_, t)| rerun.contains(t.key.as_str())) {
        if topo.predecessors_of(i).any(|p| rerun.contains(p.key.as_str())) {
            continue;
        }
        ready.push((task.key.clone(), frontier::pending_args(&topo, i, &results)));
    }
    let position = events.iter().map(|e| e.position).max().unwrap_or(0);
    let rerun = new_spec.tasks.iter().filter(|t| rerun.contains(t.key.as_str())).map(|t| t.key.clone()).collect();
    Ok(Plan { spec: new_spec, position, reused, ready, rerun })
}

/// Each task that ended SUCCESS in the source run: its results and the event that recorded them
/// (`TaskSucceeded`, or `TaskReused` when the source is itself a rerun).
fn successes(source: GraphId, events: &[Event]) -> BTreeMap<String, (Vec<TypedValue>, SourceEvent)> {
    let mut keys: BTreeMap<TaskId, String> = BTreeMap::new();
    for e in events {
        if let EventData::GraphSubmitted { spec, .. } = &e.data {
            keys.extend(spec.tasks.iter().map(|t| (TaskId::derive(source, &t.key), t.key.clone())));
        }
    }
    let mut out = BTreeMap::new();
    for e in events {
        let results = match &e.data {
            EventData::TaskSucceeded { results, .. } | EventData::TaskReused { results, .. } => results,
            _ => continue,
        };
        let Some(key) = e.task_id.and_then(|t| keys.get(&t)) else { continue };
        let source = SourceEvent {
            graph: source,
            stream: e.stream.clone(),
            version: e.version,
            event_id: e.id,
            hash: e.hash.clone(),
        };
        out.insert(key.clone(), (results.clone(), source));
    }
    out
}

fn apply(task: &mut aurora_schemas::TaskSpec, o: &TaskOverride) {
    if let Some(name) = &o.name {
        task.name.clone_from(name);
    }
    if let Some(args) = &o.args {
        task.args.clone_from(args);
    }
    if let Some(selector) = &o.label_selector {
        task.label_selector = Some(selector.clone());
    }
    if let Some(n) = o.retry_count {
        task.retry_count = n;
    }
    if let Some(ms) = o.retry_backoff_ms {
        task.retry_backoff_ms = Some(ms);
    }
    if let Some(ms) = o.timeout_ms {
        task.timeout_ms = Some(ms);
    }
}

#[cfg(test)]
mod tests;
