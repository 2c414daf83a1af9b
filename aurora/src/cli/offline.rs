//! The operator tools that need no server: `aurora replay` (audit a data directory) and
//! `aurora hash-password`.

use crate::data_dir::DataDir;
use anyhow::bail;
use aurora_config::{Config, LedgerLocation};
use std::process::ExitCode;

/// `aurora replay`.
pub async fn replay(config: &Config) -> anyhow::Result<ExitCode> {
    if let LedgerLocation::Sqlite(path) = config.ledger_location() {
        // Opening would create an empty ledger, and an empty ledger audits clean: say what is there.
        if !path.is_file() {
            bail!("no ledger at {}: is --data-dir the directory `aurora dev` ran on?", path.display());
        }
        if let Some(pid) = path.parent().and_then(DataDir::holder) {
            eprintln!(
                "warning: an Aurora (pid {pid}) is running on {}; the read models may move while they are compared — \
                 stop it for an exact audit",
                config.data_dir.display()
            );
        }
    }
    let (ledger, store) = crate::backends::stores(config).await?;
    let report = aurora_projector::replay::verify(ledger.as_ref(), store.as_ref()).await?;
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
    if report.is_clean() {
        println!("replay: read models are identical to a rebuild; every hash chain verifies");
        Ok(ExitCode::SUCCESS)
    } else {
        println!("replay: {} problem(s) found", report.chain_breaks.len() + report.differences.len());
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
