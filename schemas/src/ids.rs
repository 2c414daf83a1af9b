//! Identifiers: graphs and tasks are UUIDs, streams are `graph:<uuid>` and `task:<uuid>`.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

/// Namespace for deterministic ids (UUIDv5) derived from a graph id or an idempotency key.
const AURORA_NAMESPACE: Uuid = Uuid::from_u128(0x6a0f_3c1e_8d2b_4b7a_9e55_1f0c_aa17_d3c9);

/// The id of one submitted graph (one run).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct GraphId(pub Uuid);

/// The id of one task of a graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TaskId(pub Uuid);

impl GraphId {
    /// The partition (of `count`) this graph belongs to: a stable hash of the id, the same in every
    /// process. Each partition has its own projector lease and checkpoint.
    pub fn partition(&self, count: u32) -> u32 {
        let (high, low) = self.0.as_u64_pair();
        ((high ^ low) % u64::from(count.max(1))) as u32
    }

    /// A fresh, time-ordered id (UUIDv7).
    pub fn new() -> Self {
        Self(Uuid::now_v7())
    }

    /// The id a submission with this idempotency key always gets, so that a repeated submission
    /// lands on the same graph stream and is detected by the conditional append.
    pub fn for_idempotency_key(submitter: &str, key: &str) -> Self {
        let name = format!("idempotency\u{0}{submitter}\u{0}{key}");
        Self(Uuid::new_v5(&AURORA_NAMESPACE, name.as_bytes()))
    }

    /// The graph's event stream.
    pub fn stream(&self) -> StreamId {
        StreamId(format!("graph:{}", self.0))
    }
}

impl Default for GraphId {
    fn default() -> Self {
        Self::new()
    }
}

impl TaskId {
    /// The id of the task with `key` in `graph`: deterministic, so that every process that knows
    /// the frozen spec agrees on it without a lookup.
    pub fn derive(graph: GraphId, key: &str) -> Self {
        let mut name = graph.0.as_bytes().to_vec();
        name.extend_from_slice(key.as_bytes());
        Self(Uuid::new_v5(&AURORA_NAMESPACE, &name))
    }

    /// The task's event stream.
    pub fn stream(&self) -> StreamId {
        StreamId(format!("task:{}", self.0))
    }
}

macro_rules! uuid_display {
    ($t:ty) => {
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
        impl FromStr for $t {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}
uuid_display!(GraphId);
uuid_display!(TaskId);

/// The name of an event stream: `graph:<uuid>` or `task:<uuid>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct StreamId(pub String);

impl StreamId {
    /// The stream's name as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_ids_are_stable_and_distinct() {
        let g = GraphId::new();
        assert_eq!(TaskId::derive(g, "a"), TaskId::derive(g, "a"));
        assert_ne!(TaskId::derive(g, "a"), TaskId::derive(g, "b"));
        assert_eq!(GraphId::for_idempotency_key("admin", "k"), GraphId::for_idempotency_key("admin", "k"));
        assert_ne!(GraphId::for_idempotency_key("admin", "k"), GraphId::for_idempotency_key("bob", "k"));
        assert!(g.stream().as_str().starts_with("graph:"));
    }
}
