//! The conformance suite for [`Leases`], [`Registry`] and [`Sessions`] implementations.
//!
//! Expiry is checked by sleeping past TTLs; run it under `start_paused = true` for in-process
//! implementations, or with real time (short TTLs) for Redis.

#![allow(clippy::unwrap_used)] // a test suite: a panic is a failed case

use crate::{Leases, Registry, Session, Sessions, WorkerInfo};
use aurora_schemas::QueueKey;
use chrono::Utc;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// Runs every case against fresh stores made by `make`.
pub async fn run<C, F, Fut>(make: F)
where
    C: Leases + Registry + Sessions,
    F: Fn() -> Fut,
    Fut: Future<Output = Arc<C>>,
{
    leases_exclude_and_fence(make().await.as_ref()).await;
    workers_expire_without_heartbeats(make().await.as_ref()).await;
    queues_are_announced(make().await.as_ref()).await;
    sessions_expire_and_revoke(make().await.as_ref()).await;
}

fn unique(name: &str) -> String {
    format!("{name}-{}", uuid::Uuid::now_v7())
}

async fn leases_exclude_and_fence(c: &dyn Leases) {
    let name = unique("lease");
    let ttl = Duration::from_millis(500);
    let a = c.acquire(&name, "a", ttl).await.expect("up").expect("free lease");
    assert!(c.acquire(&name, "b", ttl).await.expect("up").is_none(), "held by a");
    assert!(c.renew(&a, ttl).await.expect("up"));
    tokio::time::sleep(Duration::from_millis(700)).await;
    let b = c.acquire(&name, "b", ttl).await.expect("up").expect("expired lease is free");
    assert!(b.token > a.token, "a new holder gets a greater fencing token");
    assert!(!c.renew(&a, ttl).await.expect("up"), "the old holder is fenced out");
    c.release(&a).await.expect("releasing a lost lease is harmless");
    assert!(c.acquire(&name, "a", ttl).await.expect("up").is_none(), "b still holds it");
    c.release(&b).await.expect("release");
    let a2 = c.acquire(&name, "a", ttl).await.expect("up").expect("released lease is free");
    assert!(a2.token > b.token);
}

async fn workers_expire_without_heartbeats(c: &dyn Registry) {
    let id = unique("worker");
    let w = WorkerInfo { id: id.clone(), labels: Default::default(), handlers: vec![], last_seen_at: Utc::now() };
    c.heartbeat(w.clone(), Duration::from_millis(500)).await.expect("up");
    assert!(c.workers().await.expect("up").iter().any(|x| x.id == id));
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(!c.workers().await.expect("up").iter().any(|x| x.id == id), "expired without heartbeat");
    c.heartbeat(w, Duration::from_secs(30)).await.expect("up");
    c.deregister(&id).await.expect("up");
    assert!(!c.workers().await.expect("up").iter().any(|x| x.id == id), "deregistered");
}

async fn queues_are_announced(c: &dyn Registry) {
    let mut rx = c.queue_added();
    let q = QueueKey::new(unique("handler"), Default::default());
    c.add_queue(&q).await.expect("up");
    c.add_queue(&q).await.expect("adding twice is harmless");
    let got = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await.expect("announced").expect("open");
    assert_eq!(got, q);
    assert_eq!(c.queues().await.expect("up").iter().filter(|x| **x == q).count(), 1);
}

/// Sessions: stored until expiry, refused once expired or revoked (for session stores of their own).
pub async fn sessions_expire_and_revoke(c: &dyn Sessions) {
    let (live, short) = (unique("tok"), unique("tok"));
    let session = |secs: i64| Session {
        user: "admin".into(),
        role: "admin".into(),
        expires_at: Utc::now() + chrono::Duration::seconds(secs),
    };
    c.put(&live, session(3600)).await.expect("up");
    c.put(&short, session(-1)).await.expect("up");
    assert_eq!(c.get(&live).await.expect("up").map(|s| s.user), Some("admin".to_string()));
    assert!(c.get(&short).await.expect("up").is_none(), "an expired token is refused");
    c.revoke(&live).await.expect("up");
    assert!(c.get(&live).await.expect("up").is_none(), "a revoked token is refused");
    assert!(c.get("never-issued").await.expect("up").is_none());
}
