//! Coordination on Redis for distributed mode: leases with fencing tokens (Lua, so each check and
//! change is atomic), the worker registry with TTL heartbeats, the queue registry with pub/sub
//! announcements, and session tokens with absolute expiry. Every key lives under a prefix.

use crate::{Error, Lease, Leases, Registry, Session, Sessions, WorkerInfo};
use async_trait::async_trait;
use aurora_schemas::QueueKey;
use futures::StreamExt;
use redis::aio::ConnectionManager;
use std::time::Duration;
use tokio::sync::broadcast;
use tracing::warn;

const ACQUIRE: &str = r"
local cur = redis.call('GET', KEYS[1])
if cur then
  local holder, token = string.match(cur, '^(.*)|(%d+)$')
  if holder == ARGV[1] then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return tonumber(token)
  end
  return -1
end
local token = redis.call('INCR', KEYS[2])
if token < tonumber(ARGV[3]) then
  redis.call('SET', KEYS[2], ARGV[3])
  token = tonumber(ARGV[3])
end
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. token, 'PX', ARGV[2])
return token
";

const RENEW: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
";

const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
";

/// Leases, registry and sessions in Redis.
#[derive(Clone)]
pub struct RedisCoord {
    conn: ConnectionManager,
    prefix: String,
    queue_added: broadcast::Sender<QueueKey>,
}

fn unavailable(e: impl std::fmt::Display) -> Error {
    Error::Unavailable(e.to_string())
}

impl RedisCoord {
    /// Connects to `url` (`redis://host:port/db`); every key starts with `prefix`.
    pub async fn connect(url: &str, prefix: &str) -> Result<Self, Error> {
        let client = redis::Client::open(url).map_err(unavailable)?;
        let conn = client.get_connection_manager().await.map_err(unavailable)?;
        let (queue_added, _) = broadcast::channel(256);
        let me = Self { conn, prefix: prefix.to_string(), queue_added };
        let (subscribed, ready) = tokio::sync::oneshot::channel();
        tokio::spawn(listen_for_queues(client, me.key("queue-added"), me.queue_added.downgrade(), subscribed));
        // Announcements made after `connect` returns must reach this process's listeners.
        tokio::time::timeout(Duration::from_secs(10), ready)
            .await
            .map_err(|_| unavailable("could not subscribe to queue announcements within 10 s"))?
            .map_err(|_| unavailable("the announcement listener stopped"))?;
        Ok(me)
    }

    fn key(&self, rest: &str) -> String {
        format!("{}:{rest}", self.prefix)
    }

    fn conn(&self) -> ConnectionManager {
        self.conn.clone()
    }
}

/// Forwards queue announcements from Redis pub/sub, reconnecting after failures. Announcements
/// sent while disconnected are missed; workers re-read the queue set periodically for that.
async fn listen_for_queues(
    client: redis::Client,
    channel: String,
    tx: broadcast::WeakSender<QueueKey>,
    subscribed: tokio::sync::oneshot::Sender<()>,
) {
    let mut subscribed = Some(subscribed);
    let mut backoff = aurora_schemas::backoff::Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
    loop {
        match client.get_async_pubsub().await {
            Ok(mut pubsub) => {
                if let Err(e) = pubsub.subscribe(&channel).await {
                    warn!(error = %e, "could not subscribe to queue announcements");
                } else {
                    backoff.reset();
                    if let Some(s) = subscribed.take() {
                        let _ = s.send(());
                    }
                    let mut messages = pubsub.on_message();
                    while let Some(msg) = messages.next().await {
                        let Ok(payload) = msg.get_payload::<String>() else {
                            continue;
                        };
                        let Some(tx) = tx.upgrade() else { return }; // every handle was dropped
                        if let Ok(q) = serde_json::from_str::<QueueKey>(&payload) {
                            let _ = tx.send(q);
                        }
                    }
                }
            }
            Err(e) => warn!(error = %e, "redis pub/sub unavailable; retrying"),
        }
        if tx.upgrade().is_none() {
            return;
        }
        tokio::time::sleep(backoff.next_delay()).await;
    }
}

fn ms(d: Duration) -> u64 {
    d.as_millis().max(1) as u64
}

#[async_trait]
impl Leases for RedisCoord {
    async fn acquire(&self, name: &str, holder: &str, ttl: Duration) -> Result<Option<Lease>, Error> {
        // Tokens never go below the clock in milliseconds: if Redis loses its counter (a restart
        // without persistence), the next leader still gets a token greater than the last one the
        // ledger's fence has seen, instead of being fenced out until the counter catches up.
        let floor = chrono::Utc::now().timestamp_millis().max(1);
        let token: i64 = redis::Script::new(ACQUIRE)
            .key(self.key(&format!("lease:{name}")))
            .key(self.key(&format!("lease-token:{name}")))
            .arg(holder)
            .arg(ms(ttl))
            .arg(floor)
            .invoke_async(&mut self.conn())
            .await
            .map_err(unavailable)?;
        Ok((token > 0).then(|| Lease { name: name.to_string(), holder: holder.to_string(), token: token as u64 }))
    }

    async fn renew(&self, lease: &Lease, ttl: Duration) -> Result<bool, Error> {
        let renewed: i64 = redis::Script::new(RENEW)
            .key(self.key(&format!("lease:{}", lease.name)))
            .arg(format!("{}|{}", lease.holder, lease.token))
            .arg(ms(ttl))
            .invoke_async(&mut self.conn())
            .await
            .map_err(unavailable)?;
        Ok(renewed == 1)
    }

    async fn release(&self, lease: &Lease) -> Result<(), Error> {
        let _: i64 = redis::Script::new(RELEASE)
            .key(self.key(&format!("lease:{}", lease.name)))
            .arg(format!("{}|{}", lease.holder, lease.token))
            .invoke_async(&mut self.conn())
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}

#[async_trait]
impl Registry for RedisCoord {
    async fn heartbeat(&self, mut worker: WorkerInfo, ttl: Duration) -> Result<(), Error> {
        worker.last_seen_at = chrono::Utc::now();
        let json = serde_json::to_string(&worker).map_err(unavailable)?;
        redis::pipe()
            .cmd("SET")
            .arg(self.key(&format!("worker:{}", worker.id)))
            .arg(json)
            .arg("PX")
            .arg(ms(ttl))
            .ignore()
            .cmd("SADD")
            .arg(self.key("workers"))
            .arg(&worker.id)
            .ignore()
            .query_async::<()>(&mut self.conn())
            .await
            .map_err(unavailable)
    }

    async fn deregister(&self, worker_id: &str) -> Result<(), Error> {
        redis::pipe()
            .cmd("DEL")
            .arg(self.key(&format!("worker:{worker_id}")))
            .ignore()
            .cmd("SREM")
            .arg(self.key("workers"))
            .arg(worker_id)
            .ignore()
            .query_async::<()>(&mut self.conn())
            .await
            .map_err(unavailable)
    }

    async fn workers(&self) -> Result<Vec<WorkerInfo>, Error> {
        let mut conn = self.conn();
        let ids: Vec<String> =
            redis::cmd("SMEMBERS").arg(self.key("workers")).query_async(&mut conn).await.map_err(unavailable)?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = ids.iter().map(|id| self.key(&format!("worker:{id}"))).collect();
        let docs: Vec<Option<String>> =
            redis::cmd("MGET").arg(&keys).query_async(&mut conn).await.map_err(unavailable)?;
        let mut out = Vec::new();
        let mut gone = Vec::new();
        for (id, doc) in ids.into_iter().zip(docs) {
            match doc.and_then(|d| serde_json::from_str::<WorkerInfo>(&d).ok()) {
                Some(w) => out.push(w),
                None => gone.push(id),
            }
        }
        if !gone.is_empty() {
            let _: Result<(), _> = redis::cmd("SREM").arg(self.key("workers")).arg(&gone).query_async(&mut conn).await;
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    async fn add_queue(&self, queue: &QueueKey) -> Result<(), Error> {
        let json = serde_json::to_string(queue).map_err(unavailable)?;
        let mut conn = self.conn();
        let added: i64 =
            redis::cmd("SADD").arg(self.key("queues")).arg(&json).query_async(&mut conn).await.map_err(unavailable)?;
        if added == 1 {
            let _: i64 = redis::cmd("PUBLISH")
                .arg(self.key("queue-added"))
                .arg(&json)
                .query_async(&mut conn)
                .await
                .map_err(unavailable)?;
        }
        Ok(())
    }

    async fn queues(&self) -> Result<Vec<QueueKey>, Error> {
        let docs: Vec<String> =
            redis::cmd("SMEMBERS").arg(self.key("queues")).query_async(&mut self.conn()).await.map_err(unavailable)?;
        let mut out: Vec<QueueKey> = docs.iter().filter_map(|d| serde_json::from_str(d).ok()).collect();
        out.sort();
        Ok(out)
    }

    fn queue_added(&self) -> broadcast::Receiver<QueueKey> {
        self.queue_added.subscribe()
    }
}

#[async_trait]
impl Sessions for RedisCoord {
    async fn put(&self, token_hash: &str, session: Session) -> Result<(), Error> {
        let json = serde_json::to_string(&session).map_err(unavailable)?;
        let at = session.expires_at.timestamp_millis().max(1);
        redis::cmd("SET")
            .arg(self.key(&format!("session:{token_hash}")))
            .arg(json)
            .arg("PXAT")
            .arg(at)
            .query_async::<()>(&mut self.conn())
            .await
            .map_err(unavailable)
    }

    async fn get(&self, token_hash: &str) -> Result<Option<Session>, Error> {
        let doc: Option<String> = redis::cmd("GET")
            .arg(self.key(&format!("session:{token_hash}")))
            .query_async(&mut self.conn())
            .await
            .map_err(unavailable)?;
        Ok(doc.and_then(|d| serde_json::from_str::<Session>(&d).ok()).filter(|s| s.expires_at > chrono::Utc::now()))
    }

    async fn revoke(&self, token_hash: &str) -> Result<(), Error> {
        redis::cmd("DEL")
            .arg(self.key(&format!("session:{token_hash}")))
            .query_async::<()>(&mut self.conn())
            .await
            .map_err(unavailable)
    }
}

#[cfg(all(test, feature = "service-tests"))]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn url() -> String {
        std::env::var("AURORA_TEST_REDIS_URL").expect("service tests need AURORA_TEST_REDIS_URL (scripts/test sets it)")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn redis_coord_passes_the_conformance_suite() {
        crate::conformance::run(|| async {
            let prefix = format!("aurora-test-{}", uuid::Uuid::now_v7().simple());
            Arc::new(RedisCoord::connect(&url(), &prefix).await.expect("redis reachable"))
        })
        .await;
    }

    /// Redis without persistence forgets the token counter when it restarts; tokens must still
    /// grow, or the ledger's fence would refuse every new leader.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn lease_tokens_keep_growing_when_redis_forgets_the_counter() {
        let prefix = format!("aurora-test-{}", uuid::Uuid::now_v7().simple());
        let c = RedisCoord::connect(&url(), &prefix).await.expect("redis");
        let ttl = Duration::from_secs(5);
        let first = c.acquire("projector/0", "a", ttl).await.expect("up").expect("free");
        c.release(&first).await.expect("release");
        let second = c.acquire("projector/0", "b", ttl).await.expect("up").expect("free");
        assert!(second.token > first.token);
        c.release(&second).await.expect("release");
        tokio::time::sleep(Duration::from_millis(5)).await;
        let _: () = redis::cmd("DEL")
            .arg(c.key("lease-token:projector/0"))
            .query_async(&mut c.conn())
            .await
            .expect("forget the counter, as a restart without persistence does");
        let third = c.acquire("projector/0", "c", ttl).await.expect("up").expect("free");
        assert!(third.token > second.token, "{} after {}", third.token, second.token);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sessions_are_shared_between_connections() {
        let prefix = format!("aurora-test-{}", uuid::Uuid::now_v7().simple());
        let a = RedisCoord::connect(&url(), &prefix).await.expect("redis");
        let b = RedisCoord::connect(&url(), &prefix).await.expect("redis");
        let s = Session {
            user: "u".into(),
            role: "admin".into(),
            expires_at: chrono::Utc::now() + chrono::Duration::hours(1),
        };
        a.put("h", s.clone()).await.expect("put");
        assert_eq!(b.get("h").await.expect("get"), Some(s), "a token from one gateway works on another");
        b.revoke("h").await.expect("revoke");
        assert_eq!(a.get("h").await.expect("get"), None, "logout revokes it everywhere");
    }
}
