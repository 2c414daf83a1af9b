//! The in-process broker of `aurora dev`: queues in memory, the same semantics as RabbitMQ for
//! prefetch, acks and redelivery. Durability across restarts comes from the ledger instead: on
//! start-up the dispatcher re-publishes every non-terminal task (DESIGN §9, Restarts).

use crate::{Acker, Broker, Consumer, Delivery, Error};
use async_trait::async_trait;
use aurora_schemas::{QueueKey, TaskOrder};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

#[derive(Default)]
struct Queue {
    ready: VecDeque<(TaskOrder, bool)>,
    /// tag → (consumer id, order)
    unacked: HashMap<u64, (u64, TaskOrder)>,
    dead: Vec<TaskOrder>,
    notify: Arc<Notify>,
}

#[derive(Default)]
struct Inner {
    queues: Mutex<HashMap<String, Queue>>,
    next_id: AtomicU64,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Queue>> {
        self.queues.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The in-process broker.
#[derive(Clone, Default)]
pub struct LocalBroker {
    inner: Arc<Inner>,
}

impl LocalBroker {
    /// An empty broker.
    pub fn new() -> Self {
        Self::default()
    }

    /// Orders that were dead-lettered from `queue`.
    pub fn dead_letters(&self, queue: &QueueKey) -> Vec<TaskOrder> {
        self.inner.lock().get(&queue.name()).map(|q| q.dead.clone()).unwrap_or_default()
    }
}

#[async_trait]
impl Broker for LocalBroker {
    async fn publish(&self, orders: Vec<TaskOrder>) -> Result<(), Error> {
        let mut queues = self.inner.lock();
        let mut touched = Vec::new();
        for order in orders {
            let q = queues.entry(order.queue.name()).or_default();
            // Higher priority first, first in first out within one (as RabbitMQ's x-max-priority).
            let at = q.ready.iter().position(|(o, _)| o.priority < order.priority).unwrap_or(q.ready.len());
            q.ready.insert(at, (order, false));
            touched.push(q.notify.clone());
        }
        drop(queues);
        for n in touched {
            n.notify_waiters();
        }
        Ok(())
    }

    async fn consume(&self, queue: &QueueKey, prefetch: usize) -> Result<Box<dyn Consumer>, Error> {
        let name = queue.name();
        let notify = self.inner.lock().entry(name.clone()).or_default().notify.clone();
        Ok(Box::new(LocalConsumer {
            inner: self.inner.clone(),
            queue: name,
            id: self.inner.next_id.fetch_add(1, Ordering::Relaxed),
            window: Arc::new(Semaphore::new(prefetch.max(1))),
            notify,
        }))
    }

    async fn depth(&self, queue: &QueueKey) -> Result<usize, Error> {
        Ok(self.inner.lock().get(&queue.name()).map(|q| q.ready.len()).unwrap_or(0))
    }

    fn durable(&self) -> bool {
        false
    }
}

struct LocalConsumer {
    inner: Arc<Inner>,
    queue: String,
    id: u64,
    window: Arc<Semaphore>,
    notify: Arc<Notify>,
}

#[async_trait]
impl Consumer for LocalConsumer {
    async fn next(&mut self) -> Option<Result<Delivery, Error>> {
        let permit = self.window.clone().acquire_owned().await.ok()?;
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut queues = self.inner.lock();
                let q = queues.entry(self.queue.clone()).or_default();
                if let Some((order, redelivered)) = q.ready.pop_front() {
                    let tag = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
                    q.unacked.insert(tag, (self.id, order.clone()));
                    let acker =
                        LocalAcker { inner: self.inner.clone(), queue: self.queue.clone(), tag, _permit: permit };
                    return Some(Ok(Delivery::new(order, redelivered, Box::new(acker))));
                }
            }
            notified.await;
        }
    }
}

impl Drop for LocalConsumer {
    /// Like a closed AMQP channel: everything this consumer held and did not settle goes back.
    fn drop(&mut self) {
        let mut queues = self.inner.lock();
        if let Some(q) = queues.get_mut(&self.queue) {
            let mine: Vec<u64> = q.unacked.iter().filter(|(_, (c, _))| *c == self.id).map(|(t, _)| *t).collect();
            for tag in mine {
                if let Some((_, order)) = q.unacked.remove(&tag) {
                    q.ready.push_front((order, true));
                }
            }
            q.notify.notify_waiters();
        }
    }
}

struct LocalAcker {
    inner: Arc<Inner>,
    queue: String,
    tag: u64,
    _permit: OwnedSemaphorePermit,
}

#[async_trait]
impl Acker for LocalAcker {
    async fn ack(&self) -> Result<(), Error> {
        let mut queues = self.inner.lock();
        if let Some(q) = queues.get_mut(&self.queue) {
            q.unacked.remove(&self.tag);
        }
        Ok(())
    }

    async fn nack(&self, requeue: bool) -> Result<(), Error> {
        let mut queues = self.inner.lock();
        if let Some(q) = queues.get_mut(&self.queue)
            && let Some((_, order)) = q.unacked.remove(&self.tag)
        {
            if requeue {
                q.ready.push_back((order, true));
                q.notify.notify_waiters();
            } else {
                q.dead.push(order);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn local_broker_passes_the_conformance_suite() {
        crate::conformance::run(|| async {
            std::sync::Arc::new(super::LocalBroker::new()) as std::sync::Arc<dyn crate::Broker>
        })
        .await;
    }
}
