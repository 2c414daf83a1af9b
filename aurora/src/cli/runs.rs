//! `aurora runs` (the run list) and `aurora cancel`.

use super::{ClientArgs, client, explain};
use crate::render;
use anyhow::bail;
use serde_json::{Value, json};
use std::process::ExitCode;

const STATES: [&str; 4] = ["RUNNING", "SUCCESS", "FAILURE", "CANCELLED"];

/// `aurora runs`.
pub async fn list(
    args: &ClientArgs,
    state: Option<String>,
    name: Option<String>,
    limit: usize,
) -> anyhow::Result<ExitCode> {
    let state = state.map(|s| s.to_ascii_uppercase());
    if let Some(s) = &state
        && !STATES.contains(&s.as_str())
    {
        bail!("--state `{s}` must be one of {}", STATES.join(", "));
    }
    if limit == 0 {
        bail!("--limit must be at least 1");
    }
    let c = client(args)?;
    let q = "query($state: GraphState, $name: String, $first: Int, $after: String) {
        graphs(state: $state, name: $name, first: $first, after: $after) {
          nodes { id name state submittedBy submittedAt finishedAt taskCounts { total success failure } }
          pageInfo { hasNextPage endCursor } } }";
    let mut runs: Vec<Value> = Vec::new();
    let mut after: Option<String> = None;
    while runs.len() < limit {
        let first = (limit - runs.len()).min(200);
        let vars = json!({ "state": state, "name": name, "first": first, "after": after });
        let data = c.query(q, vars).await.map_err(|e| explain(c.server(), e))?;
        let page = &data["graphs"];
        runs.extend(page["nodes"].as_array().cloned().unwrap_or_default());
        after = page["pageInfo"]["endCursor"].as_str().map(str::to_string);
        if page["pageInfo"]["hasNextPage"] != true {
            break;
        }
    }
    if runs.is_empty() {
        eprintln!("no runs");
        return Ok(ExitCode::SUCCESS);
    }
    println!("{:<36}  {:<9}  {:>13}  {:<23}  {:<10}  NAME", "ID", "STATE", "TASKS OK/ALL", "SUBMITTED", "BY");
    for r in runs {
        let counts = &r["taskCounts"];
        let failed = counts["failure"].as_i64().unwrap_or(0);
        let tasks = format!(
            "{}/{}{}",
            counts["success"],
            counts["total"],
            if failed > 0 { format!(" ({failed}✗)") } else { String::new() }
        );
        println!(
            "{:<36}  {:<9}  {:>13}  {:<23}  {:<10}  {}",
            r["id"].as_str().unwrap_or("?"),
            r["state"].as_str().unwrap_or("?"),
            tasks,
            render::time(r["submittedAt"].as_str().unwrap_or(""), args.utc),
            r["submittedBy"].as_str().unwrap_or("?"),
            r["name"].as_str().unwrap_or("")
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `aurora cancel`.
pub async fn cancel(args: &ClientArgs, id: &str, reason: Option<String>) -> anyhow::Result<ExitCode> {
    let c = client(args)?;
    let q =
        "mutation($id: ID!, $reason: String) { cancelGraph(id: $id, reason: $reason) { id state cancelRequested } }";
    let data = c.query(q, json!({ "id": id, "reason": reason })).await.map_err(|e| explain(c.server(), e))?;
    let run = &data["cancelGraph"];
    if run["state"] == "RUNNING" {
        eprintln!(
            "cancellation of {id} recorded: its unfinished tasks are being cancelled and running handlers stopped"
        );
    } else {
        eprintln!("{id} is {}", run["state"].as_str().unwrap_or("?"));
    }
    Ok(ExitCode::SUCCESS)
}
