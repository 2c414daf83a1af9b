//! A run's events as JSON lines (`aurora export`, `aurora import`): one event per line with its
//! whole envelope, its payload and its hashes, so another Aurora can verify every chain before it
//! appends anything. The ledger position is carried for reference only: an importing ledger gives
//! the events positions of its own (positions are not hashed).

use crate::event::{Event, EventData, EventMeta};
use crate::hash::{hashed_document, verify_chain};
use crate::ids::{GraphId, StreamId, TaskId};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// One event as a line of JSON: the document its hash covers, plus the chain and the position.
pub fn to_line(e: &Event) -> String {
    let mut doc = hashed_document(e);
    if let Value::Object(fields) = &mut doc {
        fields.insert("prev_hash".into(), json!(e.prev_hash));
        fields.insert("hash".into(), json!(e.hash));
        fields.insert("position".into(), json!(e.position));
    }
    doc.to_string()
}

/// An event read back from a line of [`to_line`]; the error names what is missing or malformed.
pub fn from_line(line: &str) -> Result<Event, String> {
    let v: Value = serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
    let text = |k: &str| v[k].as_str().ok_or_else(|| format!("`{k}` is missing or not a string"));
    let number = |k: &str| v[k].as_u64().ok_or_else(|| format!("`{k}` is missing or not a number"));
    let uuid = |k: &str| text(k)?.parse::<uuid::Uuid>().map_err(|e| format!("`{k}`: {e}"));
    let task_id = match &v["task_id"] {
        Value::Null => None,
        Value::String(s) => Some(TaskId(s.parse().map_err(|e| format!("`task_id`: {e}"))?)),
        other => return Err(format!("`task_id` must be a string or null, got {other}")),
    };
    let data = EventData::from_parts(text("type")?, v["data"].clone()).map_err(|e| format!("`data`: {e}"))?;
    let meta: EventMeta = serde_json::from_value(v["meta"].clone()).map_err(|e| format!("`meta`: {e}"))?;
    let recorded_at: DateTime<Utc> =
        text("recorded_at")?.parse().map_err(|e| format!("`recorded_at` is not an RFC 3339 time: {e}"))?;
    Ok(Event {
        id: uuid("id")?,
        position: number("position").unwrap_or(0),
        stream: StreamId(text("stream")?.to_string()),
        version: number("version")?,
        graph_id: GraphId(uuid("graph_id")?),
        task_id,
        schema_version: u32::try_from(number("schema_version")?).map_err(|_| "`schema_version` is too large")?,
        data,
        meta,
        recorded_at,
        prev_hash: text("prev_hash")?.to_string(),
        hash: text("hash")?.to_string(),
    })
}

/// Checks that `events` are exactly one whole run that has ended, as Aurora would have written
/// it: every event of one graph and of this Aurora's schema version; the graph stream starting
/// with its submission (whose id fits its idempotency key, if any) and ending with the run's end;
/// every task stream one of the spec's tasks (its id derived from graph and key) and a legal
/// sequence of the task state machine; each stream gapless from version 1 and correctly
/// hash-chained. Returns the run's id; the error names the stream and version at fault.
///
/// This proves the file is internally consistent and unedited since it was sealed; it cannot
/// prove who wrote it (hashes carry no secret), which is why importing is an admin's act.
pub fn check_run(events: &[Event]) -> Result<GraphId, String> {
    let Some(first) = events.first() else { return Err("the file holds no events".into()) };
    let graph = first.graph_id;
    let at = |e: &Event| format!("stream {} version {}", e.stream, e.version);
    let mut streams: BTreeMap<&StreamId, Vec<Event>> = BTreeMap::new();
    for e in events {
        if e.graph_id != graph {
            return Err(format!("{} belongs to run {}, not {graph}: a file holds one run", at(e), e.graph_id));
        }
        if e.schema_version != crate::event::SCHEMA_VERSION {
            return Err(format!(
                "{}: payload schema version {} is not this Aurora's ({}); import it into an Aurora of the version that exported it",
                at(e),
                e.schema_version,
                crate::event::SCHEMA_VERSION
            ));
        }
        let expected = match e.task_id {
            Some(t) => t.stream(),
            None => graph.stream(),
        };
        if e.stream != expected {
            return Err(format!("{}: the stream does not match the event's ids", at(e)));
        }
        streams.entry(&e.stream).or_default().push(e.clone());
    }
    for stream in streams.values_mut() {
        stream.sort_by_key(|e| e.version);
        verify_chain(stream).map_err(|b| b.to_string())?;
    }
    let graph_events = streams.get(&graph.stream()).map(Vec::as_slice).unwrap_or_default();
    let Some(EventData::GraphSubmitted { spec, submitter, idempotency_key, .. }) =
        graph_events.first().map(|e| &e.data)
    else {
        return Err(format!(
            "stream {} has no GraphSubmitted at version 1: the run's submission is missing",
            graph.stream()
        ));
    };
    if let Some(key) = idempotency_key
        && GraphId::for_idempotency_key(submitter, key) != graph
    {
        return Err(format!(
            "run {graph}: its id is not the one its idempotency key `{key}` gives; the file was forged"
        ));
    }
    let ended = graph_events.iter().any(|e| e.event_type().ends_graph());
    if !ended {
        return Err(format!("run {graph} has not ended: export it once it has (a run cannot go on in two places)"));
    }
    let tasks: std::collections::BTreeSet<TaskId> = spec.tasks.iter().map(|t| TaskId::derive(graph, &t.key)).collect();
    for (stream, list) in &streams {
        let Some(task) = list.first().and_then(|e| e.task_id) else { continue };
        if !tasks.contains(&task) {
            return Err(format!("stream {stream}: not a task of run {graph}'s spec"));
        }
        let mut state = crate::TaskState::Waiting;
        for e in list {
            state = state.check(&e.data).map_err(|illegal| format!("{}: {illegal}", at(e)))?;
        }
    }
    Ok(graph)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::NewEvent;
    use crate::spec::{GraphSpec, TaskSpec};

    fn seal_stream(items: Vec<NewEvent>) -> Vec<Event> {
        let mut prev = String::new();
        items
            .into_iter()
            .enumerate()
            .map(|(i, ne)| {
                let e = ne.seal(i as u64 + 1, Utc::now(), prev.clone());
                prev = e.hash.clone();
                e
            })
            .collect()
    }

    /// A finished run of one task `a`, with `a`'s stream made of `steps`.
    fn run_with(g: GraphId, key: Option<&str>, steps: Vec<EventData>) -> Vec<Event> {
        let spec = GraphSpec {
            tasks: vec![TaskSpec { key: "a".into(), name: "noop".into(), ..Default::default() }],
            idempotency_key: key.map(str::to_string),
            ..Default::default()
        };
        let submitted = EventData::GraphSubmitted {
            spec,
            spec_hash: "h".into(),
            submitter: "alice".into(),
            idempotency_key: key.map(str::to_string),
            forked_from: None,
        };
        let graph = seal_stream(vec![
            NewEvent::graph(g, submitted, EventMeta::default()),
            NewEvent::graph(g, EventData::GraphSucceeded {}, EventMeta::default()),
        ]);
        let t = TaskId::derive(g, "a");
        let task = seal_stream(steps.into_iter().map(|d| NewEvent::task(g, t, d, EventMeta::default())).collect());
        // Ledger order: submission, the task's events, the end.
        let mut out = vec![graph[0].clone()];
        out.extend(task);
        out.push(graph[1].clone());
        out
    }

    fn steps() -> Vec<EventData> {
        let a = TaskSpec { key: "a".into(), name: "noop".into(), ..Default::default() };
        vec![
            EventData::pending(&a, vec![]),
            EventData::TaskReceived { attempt: 1, worker_id: "w".into(), takeover: false },
            EventData::TaskStarted { attempt: 1 },
            EventData::TaskSucceeded { attempt: 1, results: vec![] },
        ]
    }

    fn run() -> Vec<Event> {
        run_with(GraphId::new(), None, steps())
    }

    #[test]
    fn a_run_round_trips_through_lines_and_verifies() {
        let events = run();
        let back: Vec<Event> = events.iter().map(|e| from_line(&to_line(e)).expect("parses")).collect();
        assert_eq!(back, events);
        assert_eq!(check_run(&back), Ok(events[0].graph_id));
    }

    #[test]
    fn an_edited_value_or_a_missing_event_is_named() {
        let mut events = run();
        let line = to_line(&events[3]).replace("\"attempt\":1", "\"attempt\":2");
        events[3] = from_line(&line).expect("still parses");
        let err = check_run(&events).unwrap_err();
        assert!(err.contains("version 3") && err.contains("does not match"), "{err}");
        let mut events = run();
        events.remove(1);
        let err = check_run(&events).unwrap_err();
        assert!(err.contains("expected version 1"), "{err}");
        let events = run();
        let tasks_only: Vec<Event> = events.iter().filter(|e| e.task_id.is_some()).cloned().collect();
        assert!(check_run(&tasks_only).unwrap_err().contains("no GraphSubmitted"));
        assert!(from_line("{}").unwrap_err().contains("`type`"));
    }

    #[test]
    fn only_a_finished_legal_run_of_its_own_tasks_is_accepted() {
        let events = run();
        let unfinished = &events[..events.len() - 1];
        assert!(check_run(unfinished).unwrap_err().contains("has not ended"));

        // A stream that is not one of the spec's tasks (here: another run's task id).
        let g = events[0].graph_id;
        let stranger = TaskId::derive(GraphId::new(), "a");
        let mut foreign = events.clone();
        foreign.extend(seal_stream(vec![NewEvent::task(
            g,
            stranger,
            EventData::TaskSkipped { upstream: "x".into() },
            EventMeta::default(),
        )]));
        assert!(check_run(&foreign).unwrap_err().contains("not a task of run"), "{:?}", check_run(&foreign));

        // Two terminal events, chained correctly: the state machine refuses the second.
        let mut twice = steps();
        twice.push(EventData::TaskSucceeded { attempt: 1, results: vec![] });
        let err = check_run(&run_with(GraphId::new(), None, twice)).unwrap_err();
        assert!(err.contains("version 5"), "{err}");

        // An id its idempotency key does not give.
        let err = check_run(&run_with(GraphId::new(), Some("nightly"), steps())).unwrap_err();
        assert!(err.contains("idempotency key `nightly`"), "{err}");
        let fair = GraphId::for_idempotency_key("alice", "nightly");
        assert_eq!(check_run(&run_with(fair, Some("nightly"), steps())), Ok(fair));

        let mut other_version = run();
        other_version[1].schema_version = 2;
        assert!(check_run(&other_version).unwrap_err().contains("schema version 2"));

        let mut mixed = run();
        mixed.extend(run());
        assert!(check_run(&mixed).unwrap_err().contains("a file holds one run"));
    }

    #[test]
    fn a_carried_over_event_seals_to_the_same_hash() {
        let events = run();
        let again = NewEvent::carried_over(&events[2]).seal(2, Utc::now(), events[1].hash.clone());
        assert_eq!(again.hash, events[2].hash);
        assert_eq!(again.recorded_at, events[2].recorded_at);
    }
}
