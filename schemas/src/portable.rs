//! A run's events as JSON lines (`aurora export`, `aurora import`): one event per line with its
//! whole envelope, its payload and its hashes, so another Aurora can verify every chain before it
//! appends anything. The ledger position is carried for reference only: an importing ledger gives
//! the events positions of its own (positions are not hashed).

use crate::event::{Event, EventData, EventMeta};
use crate::hash::{format_time, verify_chain};
use crate::ids::{GraphId, StreamId, TaskId};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// One event as a line of JSON.
pub fn to_line(e: &Event) -> String {
    let (ty, data) = e.data.to_parts();
    json!({
        "id": e.id.to_string(),
        "stream": e.stream.as_str(),
        "version": e.version,
        "graph_id": e.graph_id.to_string(),
        "task_id": e.task_id.map(|t| t.to_string()),
        "type": ty,
        "schema_version": e.schema_version,
        "data": data,
        "meta": serde_json::to_value(&e.meta).expect("meta always serialises"),
        "recorded_at": format_time(&e.recorded_at),
        "prev_hash": e.prev_hash,
        "hash": e.hash,
        "position": e.position,
    })
    .to_string()
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

/// Checks that `events` are exactly one whole run: every event of one graph, each stream gapless
/// from version 1 and correctly hash-chained, the graph stream starting with its submission.
/// Returns the run's id; the error names the stream and version that does not verify.
pub fn check_run(events: &[Event]) -> Result<GraphId, String> {
    let Some(first) = events.first() else { return Err("the file holds no events".into()) };
    let graph = first.graph_id;
    if let Some(other) = events.iter().find(|e| e.graph_id != graph) {
        return Err(format!(
            "stream {} version {} belongs to run {}, not {graph}: a file holds one run",
            other.stream, other.version, other.graph_id
        ));
    }
    let mut streams: BTreeMap<&StreamId, Vec<Event>> = BTreeMap::new();
    for e in events {
        let expected = match e.task_id {
            Some(t) => t.stream(),
            None => graph.stream(),
        };
        if e.stream != expected {
            return Err(format!(
                "stream {} version {}: the stream does not match the event's ids",
                e.stream, e.version
            ));
        }
        streams.entry(&e.stream).or_default().push(e.clone());
    }
    for stream in streams.values_mut() {
        stream.sort_by_key(|e| e.version);
        verify_chain(stream).map_err(|b| b.to_string())?;
    }
    match streams.get(&graph.stream()).and_then(|s| s.first()) {
        Some(e) if matches!(e.data, EventData::GraphSubmitted { .. }) => Ok(graph),
        _ => Err(format!(
            "stream {} has no GraphSubmitted at version 1: the run's submission is missing",
            graph.stream()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::NewEvent;
    use crate::spec::{GraphSpec, TaskSpec};

    fn run() -> Vec<Event> {
        let g = GraphId::new();
        let spec = GraphSpec {
            tasks: vec![TaskSpec { key: "a".into(), name: "noop".into(), ..Default::default() }],
            ..Default::default()
        };
        let submitted = EventData::GraphSubmitted {
            spec: spec.clone(),
            spec_hash: "h".into(),
            submitter: "alice".into(),
            idempotency_key: None,
            forked_from: None,
        };
        let mut out = vec![NewEvent::graph(g, submitted, EventMeta::default()).seal(1, Utc::now(), String::new())];
        let t = TaskId::derive(g, "a");
        let pending = NewEvent::task(g, t, EventData::pending(&spec.tasks[0], vec![]), EventMeta::default()).seal(
            1,
            Utc::now(),
            String::new(),
        );
        let started = NewEvent::task(g, t, EventData::TaskStarted { attempt: 1 }, EventMeta::default()).seal(
            2,
            Utc::now(),
            pending.hash.clone(),
        );
        out.extend([pending, started]);
        out
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
        let line = to_line(&events[2]).replace("\"attempt\":1", "\"attempt\":2");
        events[2] = from_line(&line).expect("still parses");
        let err = check_run(&events).unwrap_err();
        assert!(err.contains("version 2") && err.contains("does not match"), "{err}");
        let mut events = run();
        events.remove(1);
        let err = check_run(&events).unwrap_err();
        assert!(err.contains("expected version 1"), "{err}");
        let events = run();
        assert!(check_run(&events[1..]).unwrap_err().contains("no GraphSubmitted"));
        assert!(from_line("{}").unwrap_err().contains("`type`"));
    }

    #[test]
    fn a_carried_over_event_seals_to_the_same_hash() {
        let events = run();
        let again = NewEvent::carried_over(&events[2]).seal(2, Utc::now(), events[1].hash.clone());
        assert_eq!(again.hash, events[2].hash);
        assert_eq!(again.recorded_at, events[2].recorded_at);
    }
}
