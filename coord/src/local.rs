//! In-process coordination for `aurora dev`: leases, registry and sessions in memory.
//! Lease and heartbeat expiry use tokio's clock, so tests can pause and advance time.

use crate::{Error, Lease, Leases, Registry, Session, Sessions, WorkerInfo};
use async_trait::async_trait;
use aurora_schemas::QueueKey;
use chrono::Utc;
use std::collections::{BTreeSet, HashMap};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::broadcast;
use tokio::time::Instant;

#[derive(Default)]
struct State {
    leases: HashMap<String, (Lease, Instant)>,
    tokens: HashMap<String, u64>,
    workers: HashMap<String, (WorkerInfo, Instant)>,
    queues: BTreeSet<QueueKey>,
    sessions: HashMap<String, Session>,
}

/// In-process leases, registry and sessions.
pub struct LocalCoord {
    state: Mutex<State>,
    queue_added: broadcast::Sender<QueueKey>,
}

impl Default for LocalCoord {
    fn default() -> Self {
        Self { state: Mutex::default(), queue_added: broadcast::channel(256).0 }
    }
}

impl LocalCoord {
    /// Empty coordination state.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl Leases for LocalCoord {
    async fn acquire(&self, name: &str, holder: &str, ttl: Duration) -> Result<Option<Lease>, Error> {
        let mut s = self.lock();
        let now = Instant::now();
        if let Some((held, until)) = s.leases.get(name)
            && *until > now
            && held.holder != holder
        {
            return Ok(None);
        }
        if let Some((held, until)) = s.leases.get_mut(name)
            && held.holder == holder
            && *until > now
        {
            *until = now + ttl;
            return Ok(Some(held.clone()));
        }
        let token = s.tokens.entry(name.to_string()).or_insert(0);
        *token += 1;
        let lease = Lease { name: name.to_string(), holder: holder.to_string(), token: *token };
        s.leases.insert(name.to_string(), (lease.clone(), now + ttl));
        Ok(Some(lease))
    }

    async fn renew(&self, lease: &Lease, ttl: Duration) -> Result<bool, Error> {
        let mut s = self.lock();
        let now = Instant::now();
        match s.leases.get_mut(&lease.name) {
            Some((held, until)) if held == lease && *until > now => {
                *until = now + ttl;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn release(&self, lease: &Lease) -> Result<(), Error> {
        let mut s = self.lock();
        if s.leases.get(&lease.name).is_some_and(|(held, _)| held == lease) {
            s.leases.remove(&lease.name);
        }
        Ok(())
    }
}

#[async_trait]
impl Registry for LocalCoord {
    async fn heartbeat(&self, mut worker: WorkerInfo, ttl: Duration) -> Result<(), Error> {
        worker.last_seen_at = Utc::now();
        self.lock().workers.insert(worker.id.clone(), (worker, Instant::now() + ttl));
        Ok(())
    }

    async fn deregister(&self, worker_id: &str) -> Result<(), Error> {
        self.lock().workers.remove(worker_id);
        Ok(())
    }

    async fn workers(&self) -> Result<Vec<WorkerInfo>, Error> {
        let now = Instant::now();
        let mut s = self.lock();
        s.workers.retain(|_, (_, until)| *until > now);
        let mut out: Vec<WorkerInfo> = s.workers.values().map(|(w, _)| w.clone()).collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    async fn add_queue(&self, queue: &QueueKey) -> Result<(), Error> {
        let added = self.lock().queues.insert(queue.clone());
        if added {
            let _ = self.queue_added.send(queue.clone());
        }
        Ok(())
    }

    async fn queues(&self) -> Result<Vec<QueueKey>, Error> {
        Ok(self.lock().queues.iter().cloned().collect())
    }

    fn queue_added(&self) -> broadcast::Receiver<QueueKey> {
        self.queue_added.subscribe()
    }
}

#[async_trait]
impl Sessions for LocalCoord {
    async fn put(&self, token_hash: &str, session: Session) -> Result<(), Error> {
        self.lock().sessions.insert(token_hash.to_string(), session);
        Ok(())
    }

    async fn get(&self, token_hash: &str) -> Result<Option<Session>, Error> {
        let mut s = self.lock();
        match s.sessions.get(token_hash) {
            Some(session) if session.expires_at > Utc::now() => Ok(Some(session.clone())),
            Some(_) => {
                s.sessions.remove(token_hash);
                Ok(None)
            }
            None => Ok(None),
        }
    }

    async fn revoke(&self, token_hash: &str) -> Result<(), Error> {
        self.lock().sessions.remove(token_hash);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    #[tokio::test(start_paused = true)]
    async fn local_coord_passes_the_conformance_suite() {
        crate::conformance::run(|| async { Arc::new(super::LocalCoord::new()) }).await;
    }
}
