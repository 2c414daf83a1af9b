//! How the client subcommands print what they get: one aligned line per event, times with their
//! date in local time (or UTC), and a run's progress as counts by state.

use chrono::{DateTime, Local, Utc};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

/// An RFC 3339 time as the CLI shows it: `2026-12-01 22:26:34.864` in local time, or
/// `2026-12-01T22:26:34.864Z` in UTC.
pub fn time(rfc3339: &str, utc: bool) -> String {
    match rfc3339.parse::<DateTime<Utc>>() {
        Ok(t) if utc => t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        Ok(t) => t.with_timezone(&Local).format("%Y-%m-%d %H:%M:%S%.3f").to_string(),
        Err(_) => rfc3339.to_string(),
    }
}

/// Task ids → keys, from a `graph` query result.
pub fn task_keys(graph: &Value) -> HashMap<String, String> {
    graph["tasks"]
        .as_array()
        .map(|ts| {
            ts.iter().filter_map(|t| Some((t["id"].as_str()?.to_string(), t["key"].as_str()?.to_string()))).collect()
        })
        .unwrap_or_default()
}

fn values(v: &Value) -> String {
    v.as_array()
        .map(|vs| {
            vs.iter()
                .map(|x| format!("{} {}", x["type"].as_str().unwrap_or("?"), x["value"]))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

fn detail(ty: &str, data: &Value) -> String {
    match ty {
        "GraphSubmitted" => {
            let by = format!(
                "by {}, {} tasks",
                data["submitter"].as_str().unwrap_or("?"),
                data["spec"]["tasks"].as_array().map_or(0, Vec::len)
            );
            match data["forked_from"]["graph"].as_str() {
                Some(source) => format!("{by}, a rerun of {source} as of position {}", data["forked_from"]["position"]),
                None => by,
            }
        }
        "TaskPending" => format!("{}({})", data["name"].as_str().unwrap_or("?"), values(&data["args"])),
        "TaskReceived" => format!("attempt {} on {}", data["attempt"], data["worker_id"].as_str().unwrap_or("?")),
        "TaskStarted" => format!("attempt {}", data["attempt"]),
        "TaskProgress" => {
            let percent = (data["fraction"].as_f64().unwrap_or(0.0) * 100.0).round();
            match data["message"].as_str() {
                Some(m) => format!("attempt {} at {percent}%: {m}", data["attempt"]),
                None => format!("attempt {} at {percent}%", data["attempt"]),
            }
        }
        "TaskRetry" => format!(
            "attempt {} failed: {}; retry at {}",
            data["attempt"],
            data["error"].as_str().unwrap_or(""),
            data["retry_at"].as_str().unwrap_or("?")
        ),
        "TaskSucceeded" => format!("-> {}", values(&data["results"])),
        "TaskReused" => format!(
            "-> {} (reused from run {}, not run)",
            values(&data["results"]),
            data["source"]["graph"].as_str().unwrap_or("?")
        ),
        "TaskFailed" => format!("{} ({})", data["error"].as_str().unwrap_or(""), data["kind"].as_str().unwrap_or("")),
        "TaskSkipped" => format!("upstream `{}` failed", data["upstream"].as_str().unwrap_or("?")),
        "TaskCancelled" | "GraphCancelRequested" | "GraphCancelled" => {
            data["reason"].as_str().unwrap_or("").to_string()
        }
        "GraphFailed" => format!("failed: {}", data["failed"]),
        _ => String::new(),
    }
}

/// One line for one event.
pub fn line(event: &Value, keys: &HashMap<String, String>, utc: bool) -> String {
    let time = time(event["recordedAt"].as_str().unwrap_or(""), utc);
    let who = match event["taskId"].as_str() {
        Some(id) => keys.get(id).cloned().unwrap_or_else(|| id[..8.min(id.len())].to_string()),
        None => "graph".to_string(),
    };
    let ty = event["type"].as_str().unwrap_or("?");
    let state = event["state"].as_str().unwrap_or("");
    format!("{time}  {who:<12} {ty:<21} {state:<9} v{:<3} {}", event["version"], detail(ty, &event["data"]))
        .trim_end()
        .to_string()
}

/// A run's progress, from its events: every task's state, and the errors of those that failed.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    total: usize,
    states: HashMap<String, String>,
    errors: BTreeMap<String, String>,
}

impl Tally {
    /// The progress of a run of `total` tasks, none dispatched yet.
    pub fn new(total: usize) -> Self {
        Self { total, ..Default::default() }
    }

    /// Counts `event`.
    pub fn apply(&mut self, event: &Value, keys: &HashMap<String, String>) {
        let (Some(task), Some(state)) = (event["taskId"].as_str(), event["state"].as_str()) else { return };
        let key = keys.get(task).cloned().unwrap_or_else(|| task.to_string());
        if state == "FAILURE"
            && let Some(e) = event["data"]["error"].as_str()
        {
            self.errors.insert(key.clone(), e.to_string());
        }
        self.states.insert(key, state.to_string());
    }

    fn count(&self, states: &[&str]) -> usize {
        self.states.values().filter(|s| states.contains(&s.as_str())).count()
    }

    /// Tasks that ended (any terminal state).
    pub fn ended(&self) -> usize {
        self.count(&["SUCCESS", "FAILURE", "CANCELLED", "SKIPPED"])
    }

    /// `3 succeeded · 1 running · 2 waiting` (only the states that occur).
    pub fn counts(&self) -> String {
        let running = self.count(&["RECEIVED", "STARTED"]);
        let waiting = self.total.saturating_sub(self.states.len()) + self.count(&["WAITING"]);
        let parts = [
            (self.count(&["SUCCESS"]), "succeeded"),
            (self.count(&["FAILURE"]), "failed"),
            (running, "running"),
            (self.count(&["RETRY"]), "retrying"),
            (self.count(&["PENDING"]), "pending"),
            (waiting, "waiting"),
            (self.count(&["CANCELLED"]), "cancelled"),
            (self.count(&["SKIPPED"]), "skipped"),
        ];
        let shown: Vec<String> = parts.iter().filter(|(n, _)| *n > 0).map(|(n, what)| format!("{n} {what}")).collect();
        if shown.is_empty() { "nothing dispatched yet".into() } else { shown.join(" · ") }
    }

    /// The tasks that failed, with their errors (at most `n`, and how many more).
    pub fn failures(&self, n: usize) -> Vec<String> {
        let mut out: Vec<String> = self.errors.iter().take(n).map(|(k, e)| format!("  {k}: {e}")).collect();
        if self.errors.len() > n {
            out.push(format!("  … and {} more", self.errors.len() - n));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn times_carry_their_date_in_utc_or_local_time() {
        assert_eq!(time("2026-12-01T22:26:34.864123Z", true), "2026-12-01T22:26:34.864Z");
        let local = time("2026-12-01T22:26:34.864123Z", false);
        assert_eq!(local.len(), "2026-12-01 22:26:34.864".len(), "{local}");
        assert!(local.starts_with("2026-12-0"), "{local}");
    }

    #[test]
    fn a_tally_counts_each_task_once_by_its_last_state() {
        let keys: HashMap<String, String> = [("t1".to_string(), "a".to_string())].into();
        let mut t = Tally::new(3);
        for state in ["PENDING", "RECEIVED", "STARTED"] {
            t.apply(&json!({"taskId": "t1", "state": state}), &keys);
        }
        assert_eq!(t.counts(), "1 running · 2 waiting");
        t.apply(&json!({"taskId": "t1", "state": "FAILURE", "data": {"error": "boom"}}), &keys);
        t.apply(&json!({"taskId": "t2", "state": "SKIPPED"}), &keys);
        assert_eq!(t.counts(), "1 failed · 1 waiting · 1 skipped");
        assert_eq!(t.ended(), 2);
        assert_eq!(t.failures(5), ["  a: boom"]);
    }

    #[test]
    fn progress_shows_its_percentage_and_message() {
        let data = json!({"attempt": 2, "fraction": 0.456, "message": "tiles"});
        assert_eq!(detail("TaskProgress", &data), "attempt 2 at 46%: tiles");
        assert_eq!(detail("TaskProgress", &json!({"attempt": 1, "fraction": 1.0})), "attempt 1 at 100%");
    }
}
