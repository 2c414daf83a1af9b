//! The projector process: tails the ledger from its checkpoint, applies events to the read
//! models, then lets the frontier and the dispatcher react, then commits the checkpoint.
//!
//! Crash-safety: the checkpoint is saved only after a batch's reactions are done (when the
//! projector runs out of events, and under load every 250 ms), so a crash re-processes what
//! came after it; views ignore what they already reflect and every reaction is
//! idempotent (DESIGN §2, invariant 5).

use crate::dispatcher::Dispatcher;
use crate::frontier::Frontier;
use crate::store::{Batch, ReadStore};
use aurora_broker::Broker;
use aurora_coord::Registry;
use aurora_ledger::{Fence, FencedLedger, Ledger, Scope, subscribe};
use aurora_schemas::Event;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, instrument, warn};

/// How often a projector that never runs out of events saves its checkpoint.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);

/// Projector settings.
#[derive(Debug, Clone)]
pub struct Options {
    /// The checkpoint's name (one per partition).
    pub name: String,
    /// Which graphs this projector owns: those with `graph_id.partition(count) == index`.
    pub partition: Partition,
    /// The most events processed as one batch.
    pub batch_max: usize,
    /// How long a task may wait for a capable worker before it fails.
    pub schedule_to_start: Duration,
    /// The leadership lease and its fencing token: every append carries it, and the ledger
    /// refuses them once a successor has appended with a greater token.
    pub fence: Option<Fence>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            name: "projector".into(),
            partition: Partition::WHOLE,
            batch_max: 1_000,
            schedule_to_start: Duration::from_secs(300),
            fence: None,
        }
    }
}

/// One partition of the graphs: `index` of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Partition {
    /// This partition, `0..count`.
    pub index: u32,
    /// How many partitions there are.
    pub count: u32,
}

impl Partition {
    /// Every graph (one partition).
    pub const WHOLE: Partition = Partition { index: 0, count: 1 };

    /// Whether `graph` belongs to this partition.
    pub fn owns(&self, graph: aurora_schemas::GraphId) -> bool {
        self.count <= 1 || graph.partition(self.count) == self.index
    }
}

/// Everything the projector talks to.
#[derive(Clone)]
pub struct Deps {
    /// The ledger.
    pub ledger: Arc<dyn Ledger>,
    /// The read models.
    pub store: Arc<dyn ReadStore>,
    /// Where orders go.
    pub broker: Arc<dyn Broker>,
    /// Worker and queue registry.
    pub registry: Arc<dyn Registry>,
}

/// Projector failures that stop it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The ledger failed.
    #[error(transparent)]
    Ledger(#[from] aurora_ledger::Error),
    /// The read store failed.
    #[error(transparent)]
    Store(#[from] crate::store::Error),
    /// A frontier step failed.
    #[error(transparent)]
    Frontier(#[from] crate::frontier::FrontierError),
    /// Dispatching failed.
    #[error(transparent)]
    Dispatch(#[from] crate::dispatcher::DispatchError),
}

impl Error {
    /// Whether a ledger append was refused because a newer leader holds the lease.
    pub fn is_fenced(&self) -> bool {
        match self {
            Self::Ledger(e) | Self::Frontier(crate::frontier::FrontierError::Ledger(e)) => e.is_fenced(),
            _ => false,
        }
    }
}

/// The projector.
pub struct Service {
    options: Options,
    deps: Deps,
}

impl Service {
    /// A projector with `options` over `deps`.
    pub fn new(options: Options, deps: Deps) -> Self {
        Self { options, deps }
    }

    /// Runs until `shutdown`; retries failed batches with backoff, never skipping one.
    #[instrument(skip_all, fields(name = %self.options.name))]
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), Error> {
        let Deps { ledger, store, broker, registry } = self.deps.clone();
        let ledger: Arc<dyn Ledger> = match &self.options.fence {
            Some(fence) => Arc::new(FencedLedger::new(ledger, fence.clone())),
            None => ledger,
        };
        let frontier = Frontier::new(ledger.clone(), store.clone());
        let dispatcher = Arc::new(Dispatcher::new(
            ledger.clone(),
            broker,
            registry,
            self.options.schedule_to_start,
            shutdown.child_token(),
        ));
        store.begin_writing();
        let start = store.checkpoint(&self.options.name).await?;
        let head = ledger.head().await?;
        info!(checkpoint = start, head, "projector starting");
        let mut sub = subscribe(ledger.clone(), Scope::All, start);
        let mut redelivered = start >= head;
        let mut lag_checked = std::time::Instant::now();
        let part = self.options.partition;
        if redelivered {
            let n = dispatcher.redeliver(self.unfinished(store.as_ref()).await?).await?;
            info!(unfinished = n, "re-ordered unfinished tasks");
        }
        // The checkpoint is saved when the projector runs out of events, and under load at most
        // every CHECKPOINT_EVERY: a crash re-processes what came after it, which is harmless
        // (invariant 5), and a busy projector saves one write per batch.
        let (mut saved, mut saved_at, mut processed) = (start, std::time::Instant::now(), start);
        let mut carried: Option<Event> = None;
        loop {
            let first = match carried.take() {
                // Under steady load an event is always carried: shutdown is checked here too.
                Some(_) if shutdown.is_cancelled() => break,
                Some(e) => e,
                None => tokio::select! {
                    _ = shutdown.cancelled() => break,
                    e = sub.next() => e?,
                },
            };
            let mut batch = vec![first];
            while batch.len() < self.options.batch_max {
                match sub.try_next() {
                    Some(e) => batch.push(e),
                    None => break,
                }
            }
            let last = batch.last().map(|e| e.position).unwrap_or(start);
            // Other partitions' events are theirs; the checkpoint still moves past them.
            batch.retain(|e| part.owns(e.graph_id));
            let mut backoff = aurora_schemas::backoff::Backoff::new(Duration::from_millis(50), Duration::from_secs(5));
            // A batch of other partitions' events only moves the checkpoint.
            while !batch.is_empty() {
                match self.process(&batch, &frontier, &dispatcher).await {
                    Ok(()) => break,
                    Err(e) if e.is_fenced() => {
                        warn!(error = %e, "fenced out by a newer leader; stepping down");
                        dispatcher.close().await;
                        return Err(e);
                    }
                    Err(e) => {
                        error!(error = %e, first = ?batch.first().map(|e| e.position), last, "batch failed; retrying");
                        tokio::select! {
                            _ = shutdown.cancelled() => { dispatcher.close().await; return Err(e) }
                            _ = tokio::time::sleep(backoff.next_delay()) => {}
                        }
                    }
                }
            }
            processed = last;
            carried = sub.try_next();
            if checkpoint_due(carried.is_some(), saved_at.elapsed()) {
                store.save_checkpoint(&self.options.name, last).await?;
                (saved, saved_at) = (last, std::time::Instant::now());
            }
            crate::metrics::EVENTS.inc_by(batch.len() as u64);
            crate::metrics::count_graphs(&batch);
            if let Some(first) = batch.first() {
                let age = (chrono::Utc::now() - first.recorded_at).to_std().unwrap_or_default();
                crate::metrics::LAG_SECONDS.observe(age.as_secs_f64());
            }
            // The lag gauge costs a ledger round trip: refresh it once a second, not once a batch.
            if lag_checked.elapsed() >= Duration::from_secs(1) {
                lag_checked = std::time::Instant::now();
                if let Ok(head) = ledger.head().await {
                    crate::metrics::LAG_EVENTS.set(head.saturating_sub(last) as i64);
                }
            }
            if !redelivered && last >= head {
                redelivered = true;
                let n = dispatcher.redeliver(self.unfinished(store.as_ref()).await?).await?;
                info!(unfinished = n, "caught up; re-ordered unfinished tasks");
            }
        }
        if processed > saved {
            store.save_checkpoint(&self.options.name, processed).await?;
        }
        dispatcher.close().await;
        info!("projector stopped");
        Ok(())
    }

    /// The unfinished tasks of this projector's partition.
    async fn unfinished(&self, store: &dyn ReadStore) -> Result<Vec<crate::TaskView>, Error> {
        let part = self.options.partition;
        Ok(store.unfinished_tasks().await?.into_iter().filter(|t| part.owns(t.graph_id)).collect())
    }

    async fn process(&self, batch: &[Event], frontier: &Frontier, dispatcher: &Arc<Dispatcher>) -> Result<(), Error> {
        let started = chrono::Utc::now();
        let outcome = self.apply_filling_gaps(batch.to_vec()).await?;
        frontier.react(batch, &outcome.rows).await?;
        dispatcher.react(batch, &outcome.rows).await?;
        if aurora_telemetry::enabled() {
            for span in crate::traces::batch_spans(batch, &outcome.rows, started, chrono::Utc::now()) {
                aurora_telemetry::record(span);
            }
        }
        Ok(())
    }

    /// Applies events; where a stream has a gap, reads the missing events from the ledger first.
    async fn apply_filling_gaps(&self, events: Vec<Event>) -> Result<Batch, Error> {
        let mut outcome = self.deps.store.apply(events).await?;
        for _ in 0..3 {
            if outcome.gaps.is_empty() {
                return Ok(outcome);
            }
            let mut missing = Vec::new();
            for gap in &outcome.gaps {
                warn!(stream = %gap.stream, from = gap.from_version, "gap in stream; reading it from the ledger");
                let events = self.deps.ledger.read_stream(&gap.stream, gap.from_version).await?;
                missing.extend(events.into_iter().filter(|e| e.version <= gap.event.version));
            }
            let refill = self.deps.store.apply(missing).await?;
            outcome.rows.tasks.extend(refill.rows.tasks);
            outcome.rows.graphs.extend(refill.rows.graphs);
            outcome.gaps = refill.gaps;
        }
        Ok(outcome)
    }
}

/// Whether the checkpoint is saved after a batch: when nothing more is waiting (the projector
/// runs out of events), and under load once [`CHECKPOINT_EVERY`] has passed since the last save.
fn checkpoint_due(more_waiting: bool, since_saved: Duration) -> bool {
    !more_waiting || since_saved >= CHECKPOINT_EVERY
}

#[cfg(test)]
mod under_load;

#[cfg(test)]
mod tests {
    use super::{CHECKPOINT_EVERY, Partition, checkpoint_due};
    use std::time::Duration;

    /// Idle: saved after every batch. Busy: not after every batch, but never later than the cadence.
    #[test]
    fn the_checkpoint_is_saved_when_idle_and_under_load_at_the_cadence() {
        assert!(checkpoint_due(false, Duration::ZERO));
        assert!(!checkpoint_due(true, Duration::ZERO));
        assert!(!checkpoint_due(true, CHECKPOINT_EVERY - Duration::from_millis(1)));
        assert!(checkpoint_due(true, CHECKPOINT_EVERY));
    }
    use aurora_schemas::GraphId;

    /// Every graph belongs to exactly one partition, and the partitions all get some graphs.
    #[test]
    fn each_graph_has_exactly_one_owner() {
        let count = 4;
        let parts: Vec<Partition> = (0..count).map(|index| Partition { index, count }).collect();
        let mut per_partition = vec![0; count as usize];
        for _ in 0..400 {
            let g = GraphId::new();
            let owners: Vec<u32> = parts.iter().filter(|p| p.owns(g)).map(|p| p.index).collect();
            assert_eq!(owners.len(), 1, "{g}: {owners:?}");
            per_partition[owners[0] as usize] += 1;
        }
        assert!(per_partition.iter().all(|&n| n > 50), "spread over all partitions: {per_partition:?}");
        assert!(Partition::WHOLE.owns(GraphId::new()));
    }
}
