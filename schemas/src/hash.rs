//! The per-stream hash chain: SHA-256 over the previous hash and the canonical event.
//!
//! Canonical means: a JSON document with sorted keys and no insignificant whitespace, built from
//! the envelope fields that are part of history (not the store-assigned position).

use crate::event::Event;
use chrono::{DateTime, SecondsFormat, Timelike, Utc};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Timestamps are stored with microsecond precision so that they hash the same after a round trip.
pub fn truncate_to_micros(t: DateTime<Utc>) -> DateTime<Utc> {
    let nanos = t.nanosecond();
    t.with_nanosecond(nanos - nanos % 1000).unwrap_or(t)
}

/// The canonical form of a timestamp in hashes and storage.
pub fn format_time(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Writes `v` as JSON with object keys sorted, whatever map order the value was built with.
pub fn canonical_json(v: &Value) -> String {
    let mut out = String::new();
    write_canonical(v, &mut out);
    out
}

fn write_canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String((*k).clone()).to_string());
                out.push(':');
                write_canonical(&map[*k], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// SHA-256 hex of any canonicalised JSON value (used for spec hashes too).
pub fn sha256_hex(v: &Value) -> String {
    hex::encode(Sha256::digest(canonical_json(v).as_bytes()))
}

/// The event's envelope and payload as the hash covers them (every field but the chain and the
/// position); `schemas::portable` writes the same document, plus the chain, to export.
pub fn hashed_document(e: &Event) -> serde_json::Value {
    let (ty, data) = e.data.to_parts();
    serde_json::json!({
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
    })
}

/// The hash an event must carry, given its `prev_hash`.
pub fn event_hash(e: &Event) -> String {
    let doc = hashed_document(e);
    let mut hasher = Sha256::new();
    hasher.update(e.prev_hash.as_bytes());
    hasher.update(b"\n");
    hasher.update(canonical_json(&doc).as_bytes());
    hex::encode(hasher.finalize())
}

/// A break in a stream's chain, found by [`verify_chain`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("stream {stream} version {version}: {problem}")]
pub struct ChainBreak {
    /// The stream.
    pub stream: String,
    /// The first version that does not verify.
    pub version: u64,
    /// What is wrong.
    pub problem: String,
}

/// Checks that `events` (one stream, in order) are gapless from 1 and correctly chained.
pub fn verify_chain(events: &[Event]) -> Result<(), ChainBreak> {
    let mut prev = String::new();
    for (i, e) in events.iter().enumerate() {
        let fail = |problem: String| ChainBreak { stream: e.stream.0.clone(), version: e.version, problem };
        if e.version != i as u64 + 1 {
            return Err(fail(format!("expected version {}", i + 1)));
        }
        if e.prev_hash != prev {
            return Err(fail("prev_hash does not match the previous event's hash".into()));
        }
        if event_hash(e) != e.hash {
            return Err(fail("the stored hash does not match the event's content (edited?)".into()));
        }
        prev = e.hash.clone();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{EventData, EventMeta, NewEvent};
    use crate::ids::{GraphId, TaskId};

    fn chain() -> Vec<Event> {
        let g = GraphId::new();
        let t = TaskId::derive(g, "a");
        let mut prev = String::new();
        (1..=3)
            .map(|v| {
                let e = NewEvent::task(g, t, EventData::TaskStarted { attempt: v as u32 }, EventMeta::default()).seal(
                    v,
                    Utc::now(),
                    prev.clone(),
                );
                prev = e.hash.clone();
                e
            })
            .collect()
    }

    #[test]
    fn a_sealed_chain_verifies_and_an_edit_is_found() {
        let mut events = chain();
        assert_eq!(verify_chain(&events), Ok(()));
        events[1].data = EventData::TaskStarted { attempt: 9 };
        let err = verify_chain(&events).unwrap_err();
        assert_eq!(err.version, 2);
        assert!(err.problem.contains("edited"));
    }

    #[test]
    fn canonical_json_sorts_keys() {
        let v: Value = serde_json::from_str(r#"{"b":1,"a":{"d":[1,{"z":1,"y":2}],"c":"x"}}"#).expect("json");
        assert_eq!(canonical_json(&v), r#"{"a":{"c":"x","d":[1,{"y":2,"z":1}]},"b":1}"#);
    }
}
