//! Replay and audit: rebuild every read model from the ledger into a scratch store, compare with
//! the live one, and verify every stream's hash chain.

use crate::anchor::Anchor;
use crate::store::sqlite::SqliteStore;
use crate::store::{Error as StoreError, ReadStore};
use crate::views::Model;
use aurora_ledger::Ledger;
use aurora_schemas::Event;
use aurora_schemas::hash::{ChainBreak, verify_chain};
use std::collections::BTreeMap;

/// What `aurora replay` found.
#[derive(Debug, Default)]
pub struct Report {
    /// Events read.
    pub events: u64,
    /// Streams verified.
    pub streams: u64,
    /// Task views compared.
    pub tasks: u64,
    /// Graph views compared.
    pub graphs: u64,
    /// Streams whose hash chain does not verify.
    pub chain_breaks: Vec<ChainBreak>,
    /// Rows that differ between the rebuild and the live store.
    pub differences: Vec<String>,
    /// What the ledger lacks or changed of what the given anchor covers.
    pub anchor_problems: Vec<String>,
}

impl Report {
    /// Whether everything verified and matched.
    pub fn is_clean(&self) -> bool {
        self.chain_breaks.is_empty() && self.differences.is_empty() && self.anchor_problems.is_empty()
    }
}

/// The anchor of the whole ledger as it stands (`aurora anchor`).
pub async fn anchor(ledger: &dyn Ledger) -> Result<Anchor, Error> {
    let mut anchor = crate::anchor::Builder::default();
    let mut after = 0;
    loop {
        let page = ledger.read_from(after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.position;
        page.iter().for_each(|e| anchor.add(e));
    }
    Ok(anchor.finish(chrono::Utc::now()))
}

/// Replay errors.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading the ledger failed.
    #[error(transparent)]
    Ledger(#[from] aurora_ledger::Error),
    /// A store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

const PAGE: usize = 5_000;

/// Brings `live` up to the ledger's head (what a restarted projector would do first), rebuilds a
/// scratch copy from the whole ledger, compares both, verifies every hash chain, and, given an
/// `anchor` taken earlier, checks that everything it covers is still there.
pub async fn verify(ledger: &dyn Ledger, live: &dyn ReadStore, anchor: Option<&Anchor>) -> Result<Report, Error> {
    let scratch = SqliteStore::in_memory()?;
    let mut report = Report::default();
    let mut streams: BTreeMap<String, Vec<Event>> = BTreeMap::new();
    let mut after = 0;
    loop {
        let page = ledger.read_from(after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.position;
        report.events += page.len() as u64;
        for e in &page {
            streams.entry(e.stream.0.clone()).or_default().push(e.clone());
        }
        scratch.apply(page.clone()).await?;
        live.apply(page).await?;
    }
    report.streams = streams.len() as u64;
    for events in streams.values() {
        if let Err(b) = verify_chain(events) {
            report.chain_breaks.push(b);
        }
    }
    if let Some(anchor) = anchor {
        report.anchor_problems = crate::anchor::check(anchor, &streams);
    }
    let (rebuilt, current) = (scratch.dump().await?, live.dump().await?);
    report.tasks = rebuilt.tasks.len() as u64;
    report.graphs = rebuilt.graphs.len() as u64;
    report.differences = compare(&rebuilt, &current);
    Ok(report)
}

fn compare(rebuilt: &Model, live: &Model) -> Vec<String> {
    let mut out = Vec::new();
    for (id, row) in &rebuilt.tasks {
        match live.tasks.get(id) {
            None => out.push(format!("task {id}: missing from the live read model")),
            Some(l) if l != row => out.push(format!(
                "task {id} ({}): live {} v{} differs from rebuilt {} v{}",
                row.key, l.state, l.version, row.state, row.version
            )),
            _ => {}
        }
    }
    out.extend(
        live.tasks.keys().filter(|k| !rebuilt.tasks.contains_key(k)).map(|k| format!("task {k}: not in the ledger")),
    );
    for (id, row) in &rebuilt.graphs {
        match live.graphs.get(id) {
            None => out.push(format!("graph {id}: missing from the live read model")),
            Some(l) if l != row => out.push(format!(
                "graph {id}: live {} v{} differs from rebuilt {} v{}",
                l.state.as_str(),
                l.version,
                row.state.as_str(),
                row.version
            )),
            _ => {}
        }
    }
    out.extend(
        live.graphs.keys().filter(|k| !rebuilt.graphs.contains_key(k)).map(|k| format!("graph {k}: not in the ledger")),
    );
    out
}
