//! How the client subcommands print events: one aligned line per event.

use serde_json::Value;
use std::collections::HashMap;

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
        "GraphSubmitted" => format!(
            "by {}, {} tasks",
            data["submitter"].as_str().unwrap_or("?"),
            data["spec"]["tasks"].as_array().map_or(0, Vec::len)
        ),
        "TaskPending" => format!("{}({})", data["name"].as_str().unwrap_or("?"), values(&data["args"])),
        "TaskReceived" => format!("attempt {} on {}", data["attempt"], data["worker_id"].as_str().unwrap_or("?")),
        "TaskStarted" => format!("attempt {}", data["attempt"]),
        "TaskRetry" => format!(
            "attempt {} failed: {}; retry at {}",
            data["attempt"],
            data["error"].as_str().unwrap_or(""),
            data["retry_at"].as_str().unwrap_or("?")
        ),
        "TaskSucceeded" => format!("-> {}", values(&data["results"])),
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
pub fn line(event: &Value, keys: &HashMap<String, String>) -> String {
    let time = event["recordedAt"].as_str().unwrap_or("");
    let time = time.get(11..23).unwrap_or(time);
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
