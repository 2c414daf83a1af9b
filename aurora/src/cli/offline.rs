//! The operator tools that need no server: `aurora replay` (audit a data directory), `aurora
//! anchor` (what a later audit proves nothing was removed against) and `aurora hash-password`.

use crate::data_dir::DataDir;
use anyhow::{Context as _, bail};
use aurora_config::{Config, LedgerLocation};
use std::path::Path;
use std::process::ExitCode;

/// `aurora anchor`: the ledger's position and every stream's head, sealed by one hash, as JSON
/// (to `output`, or stdout) for the operator to keep outside Aurora.
pub async fn anchor(config: &Config, output: Option<&Path>) -> anyhow::Result<ExitCode> {
    existing_ledger(config)?;
    let (ledger, _) = crate::backends::stores(config).await?;
    let anchor = aurora_projector::replay::anchor(ledger.as_ref()).await?;
    let text = serde_json::to_string_pretty(&anchor)? + "\n";
    match output {
        Some(path) => std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?,
        None => print!("{text}"),
    }
    eprintln!(
        "anchor: position {}, {} streams, heads hash {}; keep it outside Aurora and check with `aurora replay --anchor FILE`",
        anchor.position, anchor.streams, anchor.heads_hash
    );
    Ok(ExitCode::SUCCESS)
}

/// Refuses a data directory without a ledger: opening would create an empty one, which audits clean.
fn existing_ledger(config: &Config) -> anyhow::Result<()> {
    if let LedgerLocation::Sqlite(path) = config.ledger_location()
        && !path.is_file()
    {
        bail!("no ledger at {}: is --data-dir the directory `aurora dev` ran on?", path.display());
    }
    Ok(())
}

/// `aurora replay [--anchor FILE]`.
pub async fn replay(config: &Config, anchor: Option<&Path>) -> anyhow::Result<ExitCode> {
    let anchor: Option<aurora_projector::anchor::Anchor> = match anchor {
        Some(path) => {
            let text =
                std::fs::read_to_string(path).with_context(|| format!("reading the anchor {}", path.display()))?;
            Some(
                serde_json::from_str(&text)
                    .with_context(|| format!("{} is not an anchor from `aurora anchor`", path.display()))?,
            )
        }
        None => None,
    };
    existing_ledger(config)?;
    if let LedgerLocation::Sqlite(path) = config.ledger_location()
        && let Some(pid) = path.parent().and_then(DataDir::holder)
    {
        eprintln!(
            "warning: an Aurora (pid {pid}) is running on {}; the read models may move while they are compared — \
             stop it for an exact audit",
            config.data_dir.display()
        );
    }
    let (ledger, store) = crate::backends::stores(config).await?;
    let report = aurora_projector::replay::verify(ledger.as_ref(), store.as_ref(), anchor.as_ref()).await?;
    println!(
        "verified {} events in {} streams; compared {} task and {} graph read models",
        report.events, report.streams, report.tasks, report.graphs
    );
    for b in &report.chain_breaks {
        println!("HASH CHAIN BROKEN: {b}");
    }
    for d in &report.differences {
        println!("READ MODEL DIFFERS: {d}");
    }
    for p in &report.anchor_problems {
        println!("ANCHOR NOT MET: {p}");
    }
    if let Some(a) = &anchor
        && report.anchor_problems.is_empty()
    {
        println!("anchor: all {} stream heads at position {} are in the ledger, unchanged", a.streams, a.position);
    }
    if report.is_clean() {
        println!("replay: read models are identical to a rebuild; every hash chain verifies");
        Ok(ExitCode::SUCCESS)
    } else {
        let problems = report.chain_breaks.len() + report.differences.len() + report.anchor_problems.len();
        println!("replay: {problems} problem(s) found");
        Ok(ExitCode::FAILURE)
    }
}

/// `aurora hash-password`.
pub fn hash_password() -> anyhow::Result<ExitCode> {
    let pw = super::session::read_secret("password: ")?;
    if pw.is_empty() {
        bail!("the password is empty");
    }
    println!("{}", aurora_query_graphql::auth::hash_password(&pw));
    Ok(ExitCode::SUCCESS)
}
