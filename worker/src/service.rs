//! The worker process: registers itself, learns of delivery queues it can serve, consumes them
//! within its slot budget, and runs each delivery through [`Runner`]. When its handlers change (a
//! handlers directory gained or lost an executable) it advertises the new set at once, starts
//! consuming the queues it can now serve and stops consuming those it no longer can.

use crate::attempt::Runner;
use crate::handlers::Registry as Handlers;
use aurora_broker::Broker;
use aurora_coord::{Registry, WorkerInfo};
use aurora_ledger::Ledger;
use aurora_schemas::{Labels, QueueKey};
use chrono::Utc;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, instrument, warn};

/// Worker settings.
#[derive(Debug, Clone)]
pub struct Options {
    /// Unique id of this worker process.
    pub id: String,
    /// Labels that selectors match against.
    pub labels: Labels,
    /// How many attempts run at once.
    pub slots: usize,
    /// Heartbeat period; the registry forgets the worker after three missed ones.
    pub heartbeat: Duration,
    /// How long in-flight attempts may finish after shutdown before they are handed back.
    pub grace: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            id: format!("worker-{}", &uuid::Uuid::now_v7().simple().to_string()[20..]),
            labels: Labels::new(),
            slots: 16,
            heartbeat: Duration::from_secs(5),
            grace: Duration::from_secs(10),
        }
    }
}

/// Everything a worker talks to.
#[derive(Clone)]
pub struct Deps {
    /// Where transitions are recorded.
    pub ledger: Arc<dyn Ledger>,
    /// Where deliveries come from.
    pub broker: Arc<dyn Broker>,
    /// Worker and queue registry.
    pub registry: Arc<dyn Registry>,
    /// What this worker can run.
    pub handlers: Arc<Handlers>,
}

/// The worker.
pub struct Service {
    options: Options,
    deps: Deps,
    drain: CancellationToken,
}

impl Service {
    /// A worker with `options` over `deps`.
    pub fn new(options: Options, deps: Deps) -> Self {
        Self { options, deps, drain: CancellationToken::new() }
    }

    /// Cancelling `drain` stops the worker taking deliveries while it stays registered and its
    /// running attempts finish (a remote worker's `drain`); shutdown still ends it.
    pub fn with_drain(mut self, drain: CancellationToken) -> Self {
        self.drain = drain;
        self
    }

    /// Registers the worker before it runs, so submissions see its handlers at once.
    pub async fn register(&self) -> Result<(), aurora_coord::Error> {
        self.deps.registry.heartbeat(self.info(), self.options.heartbeat * 3).await
    }

    fn info(&self) -> WorkerInfo {
        WorkerInfo {
            id: self.options.id.clone(),
            labels: self.options.labels.clone(),
            handlers: self.deps.handlers.infos(),
            last_seen_at: Utc::now(),
        }
    }

    /// Runs until `shutdown`: then stops taking deliveries, lets in-flight attempts finish within
    /// the grace period, hands back the rest, and deregisters.
    #[instrument(skip_all, fields(worker_id = %self.options.id))]
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), aurora_coord::Error> {
        self.register().await?;
        let runner = Runner {
            ledger: self.deps.ledger.clone(),
            handlers: self.deps.handlers.clone(),
            worker_id: self.options.id.clone(),
        };
        let slots = Arc::new(Semaphore::new(self.options.slots));
        let consumers = TaskTracker::new();
        let attempts = TaskTracker::new();
        let stop_taking = shutdown.child_token();
        let mut serving: HashMap<QueueKey, CancellationToken> = HashMap::new();
        let mut added = self.deps.registry.queue_added();
        let mut handlers_changed = self.deps.handlers.changes();
        let mut heartbeat = tokio::time::interval(self.options.heartbeat);
        let mut rescan = tokio::time::interval(Duration::from_secs(2));
        crate::metrics::register(self.options.slots);
        info!(labels = ?self.options.labels, slots = self.options.slots, "worker started");
        let mut drained = false;
        loop {
            let mut candidates = Vec::new();
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = self.drain.cancelled(), if !drained => {
                    info!("draining: taking no more deliveries");
                    drained = true;
                    stop_taking.cancel();
                }
                _ = heartbeat.tick() => {
                    if let Err(e) = self.register().await {
                        warn!(error = %e, "heartbeat failed");
                    }
                }
                _ = rescan.tick() => match self.deps.registry.queues().await {
                    Ok(qs) => candidates = qs,
                    Err(e) => warn!(error = %e, "could not list queues"),
                },
                q = added.recv() => if let Ok(q) = q { candidates.push(q) },
                changed = handlers_changed.changed() => {
                    if changed.is_err() {
                        continue; // the registry went away: nothing will change any more
                    }
                    let offered: Vec<String> = self.deps.handlers.infos().into_iter().map(|h| h.name).collect();
                    info!(handlers = ?offered, "handlers changed; advertising them");
                    if let Err(e) = self.register().await {
                        warn!(error = %e, "could not advertise the new handlers; the next heartbeat will");
                    }
                    serving.retain(|q, stop| {
                        let keep = self.deps.handlers.contains(&q.handler);
                        if !keep {
                            info!(queue = %q, handler = %q.handler, "handler withdrawn; no longer consuming its queue");
                            stop.cancel();
                        }
                        keep
                    });
                    match self.deps.registry.queues().await {
                        Ok(qs) => candidates = qs,
                        Err(e) => warn!(error = %e, "could not list queues"),
                    }
                }
            }
            for q in candidates {
                if drained
                    || serving.contains_key(&q)
                    || !q.served_by(&self.options.labels, |h| self.deps.handlers.contains(h))
                {
                    continue;
                }
                let stop = stop_taking.child_token();
                serving.insert(q.clone(), stop.clone());
                info!(queue = %q, handler = %q.handler, "consuming queue");
                consumers.spawn(consume(
                    q,
                    self.deps.broker.clone(),
                    runner.clone(),
                    slots.clone(),
                    attempts.clone(),
                    stop,
                    self.options.slots,
                ));
            }
        }
        stop_taking.cancel();
        consumers.close();
        consumers.wait().await;
        attempts.close();
        if !attempts.is_empty() {
            info!(
                running = attempts.len(),
                grace_secs = self.options.grace.as_secs(),
                "stopping: waiting for running attempts to finish"
            );
        }
        if tokio::time::timeout(self.options.grace, attempts.wait()).await.is_err() {
            warn!("in-flight attempts did not finish within the grace period; they are handed back");
        }
        let _ = self.deps.registry.deregister(&self.options.id).await;
        crate::metrics::SLOTS.sub(self.options.slots as i64);
        info!("worker stopped");
        Ok(())
    }
}

async fn consume(
    queue: QueueKey,
    broker: Arc<dyn Broker>,
    runner: Runner,
    slots: Arc<Semaphore>,
    attempts: TaskTracker,
    stop: CancellationToken,
    prefetch: usize,
) {
    let mut backoff = aurora_schemas::backoff::Backoff::new(Duration::from_millis(100), Duration::from_secs(10));
    while !stop.is_cancelled() {
        let mut consumer = match broker.consume(&queue, prefetch).await {
            Ok(c) => c,
            Err(e) => {
                warn!(error = %e, queue = %queue, "could not consume; retrying");
                tokio::select! { _ = stop.cancelled() => return, _ = tokio::time::sleep(backoff.next_delay()) => {} }
                continue;
            }
        };
        loop {
            // Take the delivery first, then a slot: a consume loop waiting on an empty queue must
            // not hold a slot that another queue's delivery could use.
            let delivery = tokio::select! {
                _ = stop.cancelled() => return,
                d = consumer.next() => d,
            };
            match delivery {
                Some(Ok(d)) => {
                    let permit = tokio::select! {
                        _ = stop.cancelled() => return, // the unsettled delivery goes back to the queue
                        p = slots.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => return },
                    };
                    let runner = runner.clone();
                    attempts.spawn(async move {
                        crate::metrics::RUNNING.inc();
                        runner.handle(d).await;
                        crate::metrics::RUNNING.dec();
                        drop(permit);
                    });
                }
                Some(Err(e)) => warn!(error = %e, queue = %queue, "bad delivery"),
                None => break,
            }
        }
    }
}
