//! Database round trips per task, from the processes' own counters: each Aurora process counts
//! the commands it sends to MongoDB (`aurora_mongodb_commands_total{command}` on `/metrics`), since
//! the stand-in server keeps no operation counters. Summed over every process of a deployment,
//! before and after a workload, divided by its tasks.

use crate::Figures;
use anyhow::Context as _;
use aurora_e2e::Server;
use std::collections::BTreeMap;

/// Commands sent so far by every process of `server`, by command name.
pub async fn commands(server: &Server) -> anyhow::Result<BTreeMap<String, f64>> {
    let http = reqwest::Client::new();
    let mut total = BTreeMap::new();
    for url in server.process_urls() {
        let text = http
            .get(format!("{url}/metrics"))
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .with_context(|| format!("reading {url}/metrics"))?
            .text()
            .await
            .with_context(|| format!("reading {url}/metrics"))?;
        for (command, n) in parse(&text) {
            *total.entry(command).or_default() += n;
        }
    }
    Ok(total)
}

/// The `aurora_mongodb_commands_total` samples of a Prometheus text exposition.
fn parse(text: &str) -> Vec<(String, f64)> {
    text.lines()
        .filter_map(|line| line.strip_prefix("aurora_mongodb_commands_total{command=\""))
        .filter_map(|rest| rest.split_once("\"} "))
        .filter_map(|(command, n)| Some((command.to_string(), n.trim().parse().ok()?)))
        .collect()
}

/// Per task, between `before` and `after`: every command (`db_commands_per_task`), reads (find,
/// getMore, aggregate), writes (insert, update, findAndModify, delete: each a durable write
/// outside a transaction, a statement inside one), transaction commits, and each command on its
/// own (`db_<command>_per_task`).
pub fn per_task(before: &BTreeMap<String, f64>, after: &BTreeMap<String, f64>, tasks: f64) -> Figures {
    let delta = |names: &[&str]| -> f64 {
        after
            .iter()
            .filter(|(c, _)| names.is_empty() || names.contains(&c.as_str()))
            .map(|(c, n)| n - before.get(c).copied().unwrap_or(0.0))
            .sum::<f64>()
            / tasks
    };
    let mut figures: Figures = after.keys().map(|c| (format!("db_{c}_per_task"), delta(&[c.as_str()]))).collect();
    figures.extend([
        ("db_commands_per_task".into(), delta(&[])),
        ("db_reads_per_task".into(), delta(&["find", "getMore", "aggregate"])),
        ("db_writes_per_task".into(), delta(&["insert", "update", "findAndModify", "delete"])),
        ("db_commits_per_task".into(), delta(&["commitTransaction"])),
    ]);
    figures
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_read_from_the_exposition_and_divided_by_tasks() {
        let before = parse("# HELP x\naurora_mongodb_commands_total{command=\"insert\"} 10\n");
        let after = parse(
            "aurora_mongodb_commands_total{command=\"insert\"} 30\n\
             aurora_mongodb_commands_total{command=\"find\"} 20\n\
             aurora_mongodb_commands_total{command=\"commitTransaction\"} 5\n\
             aurora_other_total 99\n",
        );
        let (before, after): (BTreeMap<_, _>, BTreeMap<_, _>) =
            (before.into_iter().collect(), after.into_iter().collect());
        let f = per_task(&before, &after, 10.0);
        assert_eq!(f["db_commands_per_task"], 4.5);
        assert_eq!(f["db_writes_per_task"], 2.0);
        assert_eq!(f["db_reads_per_task"], 2.0);
        assert_eq!(f["db_commits_per_task"], 0.5);
        assert_eq!(f["db_insert_per_task"], 2.0);
    }
}
