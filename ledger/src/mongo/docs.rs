//! How an event, and a skipped position, are stored as a MongoDB document.
//!
//! `data` and `meta` are stored as the JSON text they hash over, so a round trip through BSON
//! cannot change a number's representation and break the hash chain. A **skipped position** (a
//! position reserved by an append that did not write it, see `horizon.rs`) is a document of type
//! [`SKIPPED`] in the same collection: it takes the position under the same unique index, so
//! exactly one of "the event" and "the skip" can ever hold a position. Readers step over it.

use crate::Error;
use aurora_schemas::event::EventData;
use aurora_schemas::hash::format_time;
use aurora_schemas::{Event, EventMeta, GraphId, StreamId, TaskId};
use chrono::{DateTime, Utc};
use mongodb::bson::{Document, doc};

/// The `type` of a skipped position's document.
pub const SKIPPED: &str = "PositionSkipped";

pub fn corrupt(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Corrupt(format!("{what}: {e}"))
}

/// The document of `e`.
pub fn to_doc(e: &Event) -> Document {
    let (ty, data) = e.data.to_parts();
    doc! {
        "_id": e.id.to_string(),
        "position": e.position as i64,
        "stream": e.stream.as_str(),
        "version": e.version as i64,
        "graph_id": e.graph_id.to_string(),
        "task_id": e.task_id.map(|t| t.to_string()),
        "type": ty,
        "schema_version": e.schema_version as i64,
        "data": data.to_string(),
        "meta": serde_json::to_string(&e.meta).expect("meta always serialises"),
        "recorded_at": format_time(&e.recorded_at),
        "prev_hash": e.prev_hash.as_str(),
        "hash": e.hash.as_str(),
    }
}

/// The document that marks `position` as skipped. Its stream is its own (`skipped:<position>`),
/// so the `(stream, version)` index never sees two of them.
pub fn skipped_doc(position: u64) -> Document {
    let name = format!("skipped:{position}");
    doc! { "_id": &name, "position": position as i64, "stream": &name, "version": 0_i64, "type": SKIPPED }
}

/// The event a document holds, or `None` for a skipped position.
pub fn from_doc(d: &Document) -> Result<Option<Event>, Error> {
    let s = |k: &str| d.get_str(k).map_err(|e| corrupt(k, e));
    let n = |k: &str| d.get_i64(k).map_err(|e| corrupt(k, e));
    let ty = s("type")?;
    if ty == SKIPPED {
        return Ok(None);
    }
    let data: serde_json::Value = serde_json::from_str(s("data")?).map_err(|e| corrupt("data", e))?;
    Ok(Some(Event {
        id: s("_id")?.parse().map_err(|e| corrupt("_id", e))?,
        position: n("position")? as u64,
        stream: StreamId(s("stream")?.to_string()),
        version: n("version")? as u64,
        graph_id: s("graph_id")?.parse::<GraphId>().map_err(|e| corrupt("graph_id", e))?,
        task_id: match d.get_str("task_id") {
            Ok(t) => Some(t.parse::<TaskId>().map_err(|e| corrupt("task_id", e))?),
            Err(_) => None,
        },
        schema_version: n("schema_version")? as u32,
        data: EventData::from_parts(ty, data).map_err(|e| corrupt(ty, e))?,
        meta: serde_json::from_str::<EventMeta>(s("meta")?).map_err(|e| corrupt("meta", e))?,
        recorded_at: DateTime::parse_from_rfc3339(s("recorded_at")?)
            .map_err(|e| corrupt("recorded_at", e))?
            .with_timezone(&Utc),
        prev_hash: s("prev_hash")?.to_string(),
        hash: s("hash")?.to_string(),
    }))
}

/// The position a document holds.
pub fn position_of(d: &Document) -> Result<u64, Error> {
    d.get_i64("position").map(|p| p as u64).map_err(|e| corrupt("position", e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aurora_schemas::NewEvent;

    #[test]
    fn an_event_round_trips_and_a_skipped_position_reads_as_none() {
        let g = GraphId::new();
        let mut e =
            NewEvent::task(g, TaskId::derive(g, "t"), EventData::TaskStarted { attempt: 1 }, EventMeta::default())
                .seal(1, Utc::now(), String::new());
        e.position = 42;
        assert_eq!(from_doc(&to_doc(&e)).expect("decodes"), Some(e));
        let skip = skipped_doc(7);
        assert_eq!(from_doc(&skip).expect("decodes"), None);
        assert_eq!(position_of(&skip).expect("position"), 7);
    }
}
