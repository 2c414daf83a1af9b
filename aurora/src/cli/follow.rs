//! `aurora submit`, `aurora watch` and `aurora events`: a run followed to its end as a progress
//! bar with counts by state and a summary (or every event with `--events`), resuming after a
//! lost connection from the last event seen, so that nothing is printed twice or skipped.

use super::{ClientArgs, client, explain};
use crate::client::{Client, Error as ClientError};
use crate::render::{self, Tally};
use anyhow::{Context as _, bail};
use aurora_schemas::seed;
use serde_json::Value;
use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// How a run is followed.
#[derive(Debug, Clone, Copy)]
pub struct Mode {
    /// Every event, instead of a progress bar.
    pub events: bool,
    /// Times in UTC.
    pub utc: bool,
}

/// Prints one line; `false` when stdout was closed (`aurora events ID | head`), which is not an error.
fn emit(line: &str) -> std::io::Result<bool> {
    match writeln!(std::io::stdout().lock(), "{line}") {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(e),
    }
}

/// The `GraphInput` a file holds: as is, or converted from the original Aurora's request format.
fn graph_input(text: &str, source: &str) -> anyhow::Result<Value> {
    let doc: Value = serde_json::from_str(text).with_context(|| format!("{source} is not valid JSON"))?;
    if !seed::Request::looks_like(&doc) {
        return Ok(doc);
    }
    let request: seed::Request = serde_json::from_value(doc).with_context(|| {
        format!("{source} looks like a request of the original Aurora (it has `signatures`), but does not parse as one")
    })?;
    let spec = request.to_graph_spec().map_err(|problems| {
        anyhow::anyhow!(
            "{source} is a request of the original Aurora that cannot be converted:\n  - {}\nA GraphInput lists \
             `tasks` (key, name, args) and `edges` (from, to); see examples/*.json",
            problems.join("\n  - ")
        )
    })?;
    eprintln!(
        "{source}: converted from the original Aurora's `{}` request ({} tasks, {} edges)",
        request.task_type,
        spec.tasks.len(),
        spec.edges.len()
    );
    Ok(serde_json::to_value(&spec)?)
}

/// `aurora submit FILE [--watch]`.
pub async fn submit(args: &ClientArgs, file: &Path, watch: Option<Mode>) -> anyhow::Result<ExitCode> {
    let (text, source) = if file.as_os_str() == "-" {
        (std::io::read_to_string(std::io::stdin())?, "stdin".to_string())
    } else {
        (
            std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?,
            file.display().to_string(),
        )
    };
    let input = graph_input(&text, &source)?;
    let c = client(args)?;
    let (run, warnings) = c.submit_warned(input).await.map_err(|e| explain(c.server(), e))?;
    for w in warnings {
        eprintln!("warning: {w}");
    }
    let id = run["id"].as_str().unwrap_or_default().to_string();
    println!("{id}");
    match watch {
        Some(mode) => self::watch(&c, &id, mode).await,
        None => Ok(ExitCode::SUCCESS),
    }
}

/// How `aurora events` shows a history.
#[derive(Debug, Clone, Default)]
pub struct Replay {
    /// JSON lines instead of a table.
    pub json: bool,
    /// Only the events recorded at or before this RFC 3339 time (the run as it stood then).
    pub as_of: Option<String>,
    /// Replay with the recorded gaps between events, this many times faster.
    pub speed: Option<f64>,
}

/// `aurora events ID`: the whole history (up to `--as-of`), page by page, at `--speed`.
pub async fn events(args: &ClientArgs, id: &str, how: &Replay) -> anyhow::Result<ExitCode> {
    if let Some(t) = &how.as_of {
        t.parse::<chrono::DateTime<chrono::Utc>>().with_context(|| {
            format!("--as-of `{t}` is not an RFC 3339 time such as 2026-12-02T10:15:00Z or 2026-12-02T11:15:00+01:00")
        })?;
    }
    if how.speed.is_some_and(|s| !(s.is_finite() && s > 0.0)) {
        bail!("--speed must be a positive number (2 replays twice as fast as recorded)");
    }
    let c = client(args)?;
    let keys = task_keys(&c, id).await?.0;
    let history = c.history_as_of(id, how.as_of.as_deref()).await.map_err(|e| explain(c.server(), e))?;
    if history.is_empty()
        && let Some(t) = &how.as_of
    {
        bail!("run {id} had not been submitted at {t}");
    }
    let mut previous: Option<chrono::DateTime<chrono::Utc>> = None;
    for e in history {
        let at = e["recordedAt"].as_str().and_then(|t| t.parse::<chrono::DateTime<chrono::Utc>>().ok());
        if let (Some(speed), Some(before), Some(at)) = (how.speed, previous, at) {
            let gap = (at - before).to_std().unwrap_or_default();
            tokio::time::sleep(gap.div_f64(speed)).await;
        }
        previous = at.or(previous);
        let line = if how.json { e.to_string() } else { render::line(&e, &keys, args.utc) };
        if !emit(&line)? {
            break;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The run's task ids → keys, and how many tasks it has.
async fn task_keys(c: &Client, id: &str) -> anyhow::Result<(HashMap<String, String>, usize)> {
    let q = "query($id: ID!) { graph(id: $id) { tasks { id key } } }";
    let data = c.query(q, serde_json::json!({ "id": id })).await.map_err(|e| explain(c.server(), e))?;
    if data["graph"].is_null() {
        bail!("no run with id {id}");
    }
    let keys = render::task_keys(&data["graph"]);
    let total = keys.len();
    Ok((keys, total))
}

/// Follows run `id` to its end; exits 0 on SUCCESS, 2 on FAILURE or CANCELLED.
pub async fn watch(c: &Client, id: &str, mode: Mode) -> anyhow::Result<ExitCode> {
    let (keys, total) = task_keys(c, id).await?;
    let started = Instant::now();
    let mut tally = Tally::new(total);
    let bar = (!mode.events).then(|| progress_bar(total));
    let mut last: Option<String> = None;
    let mut ended: Option<String> = None;
    let mut backoff = aurora_schemas::backoff::Backoff::new(Duration::from_millis(250), Duration::from_secs(5));
    while ended.is_none() {
        let mut stream = match c.graph_events_after(id, last.as_deref()).await {
            Ok(s) => s,
            Err(e) if e.is_unreachable() || matches!(e, ClientError::Transport(_)) => {
                let retry = backoff.next_delay();
                lost(&bar, c.server(), &e, retry);
                tokio::time::sleep(retry).await;
                continue;
            }
            Err(e) => return Err(explain(c.server(), e)),
        };
        while let Some(event) = stream.next().await {
            let event = match event {
                Ok(e) => e,
                Err(ClientError::Transport(_)) => break,
                Err(e) => return Err(explain(c.server(), e)),
            };
            backoff.reset();
            last = event["position"].as_str().map(str::to_string);
            tally.apply(&event, &keys);
            let ty = event["type"].as_str().unwrap_or_default();
            if mode.events {
                if !emit(&render::line(&event, &keys, mode.utc))? {
                    return Ok(ExitCode::SUCCESS);
                }
            } else if let Some(bar) = &bar {
                bar.set_position(tally.ended() as u64);
                bar.set_message(tally.counts());
            }
            if matches!(ty, "GraphSucceeded" | "GraphFailed" | "GraphCancelled") {
                ended = Some(ty.to_string());
            }
        }
        if ended.is_none() && stream.completed() {
            bail!("the subscription ended before the run did");
        }
        if ended.is_none() {
            let retry = backoff.next_delay();
            lost(&bar, c.server(), &ClientError::Transport("the connection closed".into()), retry);
            tokio::time::sleep(retry).await;
        }
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let ended = ended.unwrap_or_default();
    if !mode.events {
        let outcome = match ended.as_str() {
            "GraphSucceeded" => "SUCCESS",
            "GraphFailed" => "FAILURE",
            _ => "CANCELLED",
        };
        emit(&format!("{id} {outcome} after {:.1} s: {}", started.elapsed().as_secs_f64(), tally.counts()))?;
        for line in tally.failures(10) {
            emit(&line)?;
        }
    }
    Ok(if ended == "GraphSucceeded" { ExitCode::SUCCESS } else { ExitCode::from(2) })
}

fn progress_bar(total: usize) -> indicatif::ProgressBar {
    let bar = if std::io::stderr().is_terminal() {
        indicatif::ProgressBar::new(total as u64)
    } else {
        indicatif::ProgressBar::hidden()
    };
    let style = indicatif::ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} ended · {msg}")
        .expect("a valid template")
        .progress_chars("=> ");
    bar.set_style(style);
    bar.set_message("waiting for the first event");
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

fn lost(bar: &Option<indicatif::ProgressBar>, server: &str, e: &ClientError, retry: Duration) {
    let text = format!(
        "lost the connection to {server} ({e}); reconnecting in {} ms, resuming after the last event",
        retry.as_millis()
    );
    match bar {
        Some(b) => b.println(text),
        None => eprintln!("{text}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_request_is_converted_and_a_bad_one_says_how_to_write_a_graph_input() {
        let seed =
            r#"{"task_type":"chain","signatures":[{"name":"add","args":[{"type":"int64","value":1}]},{"name":"add"}]}"#;
        let input = graph_input(seed, "f.json").expect("converted");
        assert_eq!(input["tasks"].as_array().map(Vec::len), Some(2));
        assert_eq!(input["edges"][0], serde_json::json!({ "from": "t0", "to": "t1" }));
        let err = graph_input(r#"{"task_type":"graph","signatures":[{"name":"add"}],"relations":[{"0":3}]}"#, "g.json")
            .unwrap_err()
            .to_string();
        assert!(err.contains("refers to signature 3") && err.contains("A GraphInput lists `tasks`"), "{err}");
        let plain = graph_input(r#"{"tasks":[]}"#, "p.json").expect("a GraphInput is left as it is");
        assert_eq!(plain, serde_json::json!({ "tasks": [] }));
    }
}
