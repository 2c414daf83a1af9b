//! Anchors: what proves that no event was removed. A stream's hash chain proves its events were
//! not edited, but not that its newest ones are all still there. An anchor is a ledger position
//! and the head (version and hash) of every stream at it, sealed by one hash over them all; an
//! operator keeps it elsewhere (`aurora anchor`), and `aurora replay --anchor FILE` checks that
//! every head it covers is still in the ledger, unchanged.

use aurora_schemas::Event;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// A stream's last event at the anchor's position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Head {
    /// Its version.
    pub version: u64,
    /// Its hash.
    pub hash: String,
}

/// The ledger at a position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Anchor {
    /// The last ledger position covered.
    pub position: u64,
    /// When it was taken.
    pub taken_at: DateTime<Utc>,
    /// How many streams it covers.
    pub streams: u64,
    /// SHA-256 over every head (`stream version hash` lines, in stream order): a damaged or
    /// trimmed anchor file does not match it.
    pub heads_hash: String,
    /// Every stream's head.
    pub heads: BTreeMap<String, Head>,
}

/// The hash sealing `heads`.
pub fn heads_hash(heads: &BTreeMap<String, Head>) -> String {
    let mut hasher = Sha256::new();
    for (stream, head) in heads {
        hasher.update(format!("{stream} {} {}\n", head.version, head.hash).as_bytes());
    }
    hex::encode(hasher.finalize())
}

/// Takes an anchor event by event (a ledger is read page by page).
#[derive(Debug, Default)]
pub struct Builder {
    heads: BTreeMap<String, Head>,
    position: u64,
}

impl Builder {
    /// Takes `e` into account (any order).
    pub fn add(&mut self, e: &Event) {
        self.position = self.position.max(e.position);
        let head = self.heads.entry(e.stream.0.clone()).or_insert(Head { version: 0, hash: String::new() });
        if e.version > head.version {
            *head = Head { version: e.version, hash: e.hash.clone() };
        }
    }

    /// The anchor: every stream's last event, at the greatest position seen.
    pub fn finish(self, taken_at: DateTime<Utc>) -> Anchor {
        let Self { heads, position } = self;
        Anchor { position, taken_at, streams: heads.len() as u64, heads_hash: heads_hash(&heads), heads }
    }
}

/// The anchor of `events`.
pub fn of_events<'a>(events: impl IntoIterator<Item = &'a Event>, taken_at: DateTime<Utc>) -> Anchor {
    let mut b = Builder::default();
    for e in events {
        b.add(e);
    }
    b.finish(taken_at)
}

/// What the ledger's `streams` (each in version order) lack or changed of what `anchor` covers;
/// empty when everything is still there. Each problem names its stream.
pub fn check(anchor: &Anchor, streams: &BTreeMap<String, Vec<Event>>) -> Vec<String> {
    let mut out = Vec::new();
    if heads_hash(&anchor.heads) != anchor.heads_hash || anchor.heads.len() as u64 != anchor.streams {
        out.push("the anchor file does not match its own heads_hash: it was damaged or edited".to_string());
        return out;
    }
    for (stream, head) in &anchor.heads {
        let events = streams.get(stream).map(Vec::as_slice).unwrap_or_default();
        match events.iter().find(|e| e.version == head.version) {
            Some(e) if e.hash == head.hash => {}
            Some(e) => out.push(format!(
                "stream {stream}: version {} has hash {} but the anchor recorded {}: the event was replaced",
                head.version, e.hash, head.hash
            )),
            None => {
                let last = events.last().map_or(0, |e| e.version);
                out.push(format!(
                    "stream {stream}: the anchor covers version {} but the ledger ends at version {last}: {} event(s) were removed",
                    head.version,
                    head.version.saturating_sub(last)
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use aurora_schemas::event::EventData;
    use aurora_schemas::{EventMeta, GraphId, NewEvent, TaskId};

    fn stream(t: TaskId, g: GraphId, n: u64, first_position: u64) -> Vec<Event> {
        let mut prev = String::new();
        (1..=n)
            .map(|v| {
                let mut e = NewEvent::task(g, t, EventData::TaskStarted { attempt: v as u32 }, EventMeta::default())
                    .seal(v, Utc::now(), prev.clone());
                e.position = first_position + v;
                prev = e.hash.clone();
                e
            })
            .collect()
    }

    fn by_stream(events: &[Event]) -> BTreeMap<String, Vec<Event>> {
        let mut m: BTreeMap<String, Vec<Event>> = BTreeMap::new();
        for e in events {
            m.entry(e.stream.0.clone()).or_default().push(e.clone());
        }
        m
    }

    #[test]
    fn an_untouched_or_grown_ledger_passes_and_a_removed_or_replaced_head_is_named() {
        let g = GraphId::new();
        let (a, b) = (TaskId::derive(g, "a"), TaskId::derive(g, "b"));
        let a_full = stream(a, g, 5, 0);
        let b_events = stream(b, g, 2, 10);
        let mut events = a_full[..3].to_vec();
        events.extend(b_events.clone());
        let anchor = of_events(&events, Utc::now());
        assert_eq!((anchor.position, anchor.streams), (12, 2));
        assert!(check(&anchor, &by_stream(&events)).is_empty());
        // Growing afterwards is fine: the anchor covers what it covers.
        let mut more = a_full.clone();
        more.extend(b_events);
        assert!(check(&anchor, &by_stream(&more)).is_empty());

        let mut removed = events.clone();
        removed.remove(2); // a's version 3, its last
        let problems = check(&anchor, &by_stream(&removed));
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains(&a.stream().0) && problems[0].contains("removed"), "{problems:?}");

        let mut replaced = events.clone();
        replaced[4].hash = "0".repeat(64);
        let problems = check(&anchor, &by_stream(&replaced));
        assert!(problems[0].contains(&b.stream().0) && problems[0].contains("replaced"), "{problems:?}");

        let mut forged = anchor.clone();
        forged.heads.remove(&a.stream().0);
        forged.streams = 1;
        assert!(check(&forged, &by_stream(&removed))[0].contains("does not match its own heads_hash"));
    }
}
