//! Coordination state that is not durable truth: leases with fencing tokens, the worker and queue
//! registry, session tokens. The in-process implementation serves `aurora dev`; the Redis one
//! serves distributed mode. Both pass [`conformance`].
//!
//! Nothing here may be needed to reconstruct history: losing all of it costs a re-election, a
//! re-registration and a re-login, never an event.

pub mod conformance;
pub mod local;
pub mod redis;
pub mod sqlite;

pub use local::LocalCoord;
pub use redis::RedisCoord;
pub use sqlite::SqliteSessions;

use async_trait::async_trait;
use aurora_schemas::{HandlerInfo, Labels, QueueKey};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tokio::sync::broadcast;

/// What went wrong with a coordination call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The coordination store could not be reached; retryable.
    #[error("coordination store unavailable: {0}")]
    Unavailable(String),
}

/// A held lease. `token` grows with every new holder, so a write carrying an older token can be
/// recognised as coming from a fenced-out holder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// The lease's name, e.g. `projector/0`.
    pub name: String,
    /// Who holds it.
    pub holder: String,
    /// The fencing token.
    pub token: u64,
}

/// Named leases with fencing tokens.
///
/// Contract: at most one holder per name at a time; a lease not renewed within its TTL expires
/// and may be acquired by another holder with a strictly greater token; `renew` by a holder whose
/// lease expired or was taken fails.
#[async_trait]
pub trait Leases: Send + Sync + 'static {
    /// Takes the lease if it is free or expired; `None` if someone else holds it.
    async fn acquire(&self, name: &str, holder: &str, ttl: Duration) -> Result<Option<Lease>, Error>;
    /// Extends a held lease; `false` if it is no longer ours.
    async fn renew(&self, lease: &Lease, ttl: Duration) -> Result<bool, Error>;
    /// Gives the lease up.
    async fn release(&self, lease: &Lease) -> Result<(), Error>;
}

/// A live worker as the registry knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerInfo {
    /// Unique per worker process.
    pub id: String,
    /// The worker's labels.
    pub labels: Labels,
    /// The handlers it runs.
    pub handlers: Vec<HandlerInfo>,
    /// When it last sent a heartbeat.
    pub last_seen_at: DateTime<Utc>,
}

/// The worker registry and the registry of delivery queues.
///
/// Contract: a worker is listed while its last heartbeat is younger than the TTL it gave; a queue,
/// once added, is listed forever and announced to every `queue_added` listener.
#[async_trait]
pub trait Registry: Send + Sync + 'static {
    /// Registers or refreshes a worker.
    async fn heartbeat(&self, worker: WorkerInfo, ttl: Duration) -> Result<(), Error>;
    /// Removes a worker (graceful shutdown).
    async fn deregister(&self, worker_id: &str) -> Result<(), Error>;
    /// Live workers.
    async fn workers(&self) -> Result<Vec<WorkerInfo>, Error>;
    /// Records that a delivery queue exists, so workers that serve it start consuming it.
    async fn add_queue(&self, queue: &QueueKey) -> Result<(), Error>;
    /// Every queue ever added.
    async fn queues(&self) -> Result<Vec<QueueKey>, Error>;
    /// Announcements of newly added queues (listeners also re-read [`Registry::queues`]
    /// periodically, since announcements may be missed across reconnects).
    fn queue_added(&self) -> broadcast::Receiver<QueueKey>;
}

/// A logged-in user's session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// The user name.
    pub user: String,
    /// The user's role (`admin`, `operator`, `viewer`).
    pub role: String,
    /// When the token stops working.
    pub expires_at: DateTime<Utc>,
}

/// Session tokens, stored by the SHA-256 of the token so a leaked store does not leak tokens.
#[async_trait]
pub trait Sessions: Send + Sync + 'static {
    /// Stores a session until its `expires_at`.
    async fn put(&self, token_hash: &str, session: Session) -> Result<(), Error>;
    /// The session, if the token exists, was not revoked and has not expired.
    async fn get(&self, token_hash: &str) -> Result<Option<Session>, Error>;
    /// Revokes the token everywhere.
    async fn revoke(&self, token_hash: &str) -> Result<(), Error>;
}
