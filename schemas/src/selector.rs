//! Label selectors and the delivery queue they route to (DESIGN §4).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fmt;

/// A worker's labels.
pub type Labels = BTreeMap<String, String>;

/// A task's label selector: a worker matches when its labels contain every pair.
pub type LabelSelector = BTreeMap<String, String>;

/// Whether a worker with `labels` may run a task with `selector`.
pub fn matches(selector: &LabelSelector, labels: &Labels) -> bool {
    selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// The delivery queue of a `(handler, canonical selector)` pair. Every worker that has the handler
/// and satisfies the selector consumes it, so a task never waits in a queue nobody reads.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct QueueKey {
    /// The handler name.
    pub handler: String,
    /// The selector, canonical because the map is ordered.
    pub selector: LabelSelector,
}

impl QueueKey {
    /// The queue of a handler and selector.
    pub fn new(handler: impl Into<String>, selector: LabelSelector) -> Self {
        Self { handler: handler.into(), selector }
    }

    /// A stable queue name: `aurora.<handler>.<first 16 hex of sha256(canonical selector)>`.
    pub fn name(&self) -> String {
        let canonical = serde_json::to_string(&self.selector).expect("a string map always serialises");
        let digest = Sha256::digest(canonical.as_bytes());
        format!("aurora.{}.{}", self.handler, &hex::encode(digest)[..16])
    }

    /// Whether a worker with these labels and this handler set consumes this queue.
    pub fn served_by(&self, labels: &Labels, has_handler: impl Fn(&str) -> bool) -> bool {
        has_handler(&self.handler) && matches(&self.selector, labels)
    }
}

impl fmt::Display for QueueKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn subset_matching() {
        let labels = map(&[("zone", "a"), ("gpu", "true")]);
        assert!(matches(&map(&[]), &labels));
        assert!(matches(&map(&[("zone", "a")]), &labels));
        assert!(!matches(&map(&[("zone", "b")]), &labels));
        assert!(!matches(&map(&[("disk", "ssd")]), &labels));
    }

    #[test]
    fn queue_names_are_canonical() {
        let a = QueueKey::new("add", map(&[("k1", "v1"), ("k2", "v2")]));
        let b = QueueKey::new("add", map(&[("k2", "v2"), ("k1", "v1")]));
        assert_eq!(a.name(), b.name());
        assert_ne!(a.name(), QueueKey::new("add", map(&[])).name());
        assert!(a.name().starts_with("aurora.add."));
    }
}
