//! `aurora rerun`, `aurora diff`, `aurora export` and `aurora import`: working with what runs
//! did (the ledger keeps it all).

use super::{ClientArgs, client, explain};
use anyhow::{Context as _, bail};
use serde_json::{Value, json};
use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;

/// `aurora export ID [--output FILE]`: the run's events as JSON lines (stdout by default).
pub async fn export(args: &ClientArgs, id: &str, output: Option<&Path>) -> anyhow::Result<ExitCode> {
    let c = client(args)?;
    let events = c.history_fields(id, None, "line").await.map_err(|e| explain(c.server(), e))?;
    if events.is_empty() {
        bail!("no run with id {id}");
    }
    let mut text = String::new();
    for e in &events {
        text.push_str(e["line"].as_str().unwrap_or_default());
        text.push('\n');
    }
    match output {
        Some(path) => {
            std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
            eprintln!("exported {} events of run {id} to {}", events.len(), path.display());
        }
        None => std::io::stdout().lock().write_all(text.as_bytes())?,
    }
    Ok(ExitCode::SUCCESS)
}

/// `aurora import FILE`: appends the exported run to the server, which verifies every chain
/// first and writes nothing if anything does not verify or the run exists there.
pub async fn import(args: &ClientArgs, file: &Path) -> anyhow::Result<ExitCode> {
    let text = if file == Path::new("-") {
        std::io::read_to_string(std::io::stdin()).context("reading stdin")?
    } else {
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?
    };
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let c = client(args)?;
    let q = "mutation($lines: [String!]!) { importRun(lines: $lines) { id state } }";
    let data = c.query(q, json!({ "lines": lines })).await.map_err(|e| explain(c.server(), e))?;
    let run = &data["importRun"];
    println!("{}", run["id"].as_str().unwrap_or_default());
    eprintln!(
        "imported {} events: run {} ({})",
        lines.len(),
        run["id"].as_str().unwrap_or("?"),
        run["state"].as_str().unwrap_or("?")
    );
    Ok(ExitCode::SUCCESS)
}

/// `aurora rerun ID [--from KEY,...]`: submits the rerun and prints its id (stdout) and what it
/// reuses and runs again (stderr). Returns the new run's id.
pub async fn rerun(args: &ClientArgs, id: &str, from: Vec<String>) -> anyhow::Result<String> {
    let c = client(args)?;
    let q = "mutation($id: ID!, $from: [String!]) { rerunGraph(id: $id, from: $from) {
               id tasks { key state reusedFrom { graphId } } } }";
    let from = (!from.is_empty()).then_some(from);
    let data = c.query(q, json!({ "id": id, "from": from })).await.map_err(|e| explain(c.server(), e))?;
    let run = &data["rerunGraph"];
    let new = run["id"].as_str().unwrap_or_default().to_string();
    println!("{new}");
    let tasks = run["tasks"].as_array().cloned().unwrap_or_default();
    let (reused, again): (Vec<&Value>, Vec<&Value>) = tasks.iter().partition(|t| !t["reusedFrom"].is_null());
    let keys = |ts: &[&Value]| ts.iter().filter_map(|t| t["key"].as_str()).collect::<Vec<_>>().join(", ");
    if !tasks.is_empty() {
        eprintln!(
            "rerun of {id}: reuses {} task(s) [{}], runs {} again [{}]",
            reused.len(),
            keys(&reused),
            again.len(),
            keys(&again)
        );
    }
    Ok(new)
}

/// `aurora diff A B`: one line per task with what changed, then the spec's differences. Exits 1
/// when the runs differ (like diff(1)), 0 when they do not.
pub async fn diff(args: &ClientArgs, a: &str, b: &str, tolerance_ms: u32) -> anyhow::Result<ExitCode> {
    let c = client(args)?;
    let q = "query($a: ID!, $b: ID!, $t: Int) { graphDiff(a: $a, b: $b, durationToleranceMs: $t) {
               tasks { key changed before { state attempts reusedFrom { graphId } } after { state attempts reusedFrom { graphId } } }
               edgesAdded { from to } edgesRemoved { from to } } }";
    let data = c.query(q, json!({ "a": a, "b": b, "t": tolerance_ms })).await.map_err(|e| explain(c.server(), e))?;
    let d = &data["graphDiff"];
    let tasks = d["tasks"].as_array().cloned().unwrap_or_default();
    let width = tasks.iter().filter_map(|t| t["key"].as_str()).map(str::len).max().unwrap_or(4).max(4);
    println!("{:<width$}  {:<24}  {:<24}  changed", "task", "in A", "in B");
    let side = |t: &Value| -> String {
        if t.is_null() {
            return "-".into();
        }
        let state = t["state"].as_str().unwrap_or("?");
        if t["reusedFrom"].is_null() {
            format!("{state} ({} attempts)", t["attempts"])
        } else {
            format!("{state} (reused)")
        }
    };
    let mut differs = false;
    for t in &tasks {
        let changed: Vec<&str> = t["changed"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
        differs |= !changed.is_empty();
        let shown = if changed.is_empty() { "-".to_string() } else { changed.join(", ") };
        println!(
            "{:<width$}  {:<24}  {:<24}  {shown}",
            t["key"].as_str().unwrap_or("?"),
            side(&t["before"]),
            side(&t["after"])
        );
    }
    for (what, sign) in [("edgesAdded", "+"), ("edgesRemoved", "-")] {
        for e in d[what].as_array().into_iter().flatten() {
            differs = true;
            println!("{sign} edge {} -> {}", e["from"].as_str().unwrap_or("?"), e["to"].as_str().unwrap_or("?"));
        }
    }
    Ok(if differs { ExitCode::from(1) } else { ExitCode::SUCCESS })
}
