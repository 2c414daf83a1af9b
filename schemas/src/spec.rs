//! What a user submits: a graph of named tasks with typed args and edges between task keys.

use crate::selector::LabelSelector;
use crate::value::TypedValue;
use serde::{Deserialize, Serialize};

/// Default delay before the first retry, in milliseconds.
pub const DEFAULT_RETRY_BACKOFF_MS: u64 = 1000;

/// A graph submission, as the GraphQL `GraphInput` and `aurora submit FILE.json` take it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GraphSpec {
    /// A human name for the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The tasks; keys are unique within the graph.
    pub tasks: Vec<TaskSpec>,
    /// `to` runs after `from` succeeded.
    #[serde(default)]
    pub edges: Vec<EdgeSpec>,
    /// The selector of every task that has none of its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_selector: Option<LabelSelector>,
    /// A repeated submission with the same key by the same user returns the first run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
}

/// One task of a graph.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TaskSpec {
    /// Unique within the graph; edges refer to it.
    pub key: String,
    /// The handler to run.
    pub name: String,
    /// Positional typed arguments.
    #[serde(default)]
    pub args: Vec<TypedValue>,
    /// Which workers may run it; defaults to the graph's selector.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_selector: Option<LabelSelector>,
    /// Retries after the first attempt.
    #[serde(default)]
    pub retry_count: u32,
    /// Delay before the first retry; doubles on each further retry, capped at 60 s, with jitter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_backoff_ms: Option<u64>,
    /// Start-to-close timeout of one attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// Append the predecessors' results to the args, in edge order.
    #[serde(default)]
    pub pass_results: bool,
    /// Not before this time: a ready task waits until then (`WAITING` with `notBefore`), timed by
    /// the projector from the ledger, so it survives restarts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<chrono::DateTime<chrono::Utc>>,
    /// 0 (the default) to [`MAX_PRIORITY`]: among ready tasks of one queue, higher runs first.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub priority: u8,
}

/// The highest task priority.
pub const MAX_PRIORITY: u8 = 9;

fn is_zero(p: &u8) -> bool {
    *p == 0
}

/// An edge between task keys: `to` runs after `from` succeeded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EdgeSpec {
    /// The predecessor's key.
    pub from: String,
    /// The successor's key.
    pub to: String,
}

impl TaskSpec {
    /// The retry delay before attempt `next_attempt` (2, 3, …), without jitter.
    pub fn backoff_ms(&self, next_attempt: u32) -> u64 {
        let base = self.retry_backoff_ms.unwrap_or(DEFAULT_RETRY_BACKOFF_MS);
        let doublings = next_attempt.saturating_sub(2).min(20);
        base.saturating_mul(1u64 << doublings).min(60_000)
    }
}

impl GraphSpec {
    /// The spec with every default made explicit (selectors resolved), as frozen in the ledger.
    pub fn normalized(mut self) -> Self {
        let graph_selector = self.label_selector.clone().unwrap_or_default();
        for task in &mut self.tasks {
            if task.label_selector.is_none() {
                task.label_selector = Some(graph_selector.clone());
            }
            task.retry_backoff_ms.get_or_insert(DEFAULT_RETRY_BACKOFF_MS);
        }
        self
    }

    /// The spec with every retry delay at least `min_ms`, so that no task can retry in a tight
    /// loop (a delay of 0 with many retries would grow the ledger hundreds of events a second).
    pub fn with_backoff_at_least(mut self, min_ms: u64) -> Self {
        for task in &mut self.tasks {
            let backoff = task.retry_backoff_ms.get_or_insert(DEFAULT_RETRY_BACKOFF_MS);
            *backoff = (*backoff).max(min_ms);
        }
        self
    }

    /// The task with `key`.
    pub fn task(&self, key: &str) -> Option<&TaskSpec> {
        self.tasks.iter().find(|t| t.key == key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let t = TaskSpec { retry_backoff_ms: Some(1000), ..Default::default() };
        assert_eq!(t.backoff_ms(2), 1000);
        assert_eq!(t.backoff_ms(3), 2000);
        assert_eq!(t.backoff_ms(4), 4000);
        assert_eq!(t.backoff_ms(30), 60_000);
    }

    #[test]
    fn graph_input_json_round_trips() {
        let json = r#"{"name":"seed","tasks":[{"key":"a","name":"add","args":[{"type":"int64","value":1}],
            "retryCount":2,"passResults":true}],"edges":[],"labelSelector":{"k1":"v1"}}"#;
        let spec: GraphSpec = serde_json::from_str(json).expect("valid");
        assert_eq!(spec.tasks[0].retry_count, 2);
        let norm = spec.clone().normalized();
        assert_eq!(norm.tasks[0].label_selector.as_ref().map(|s| s.len()), Some(1));
        let back: GraphSpec = serde_json::from_str(&serde_json::to_string(&spec).expect("ser")).expect("de");
        assert_eq!(back, spec);
        assert!(serde_json::from_str::<GraphSpec>(r#"{"tasks":[],"bogus":1}"#).is_err());
    }
}
