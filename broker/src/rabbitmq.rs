//! RabbitMQ through lapin, for distributed mode: one durable queue per `(handler, selector)`,
//! persistent messages, publisher confirms awaited per publish batch, manual acks, prefetch, and a
//! dead-letter queue for orders that are malformed or refused.
//!
//! Connections are re-opened on demand after the broker restarts; a consumer whose channel dies
//! ends its stream (`None`), and the worker opens a new one.

use crate::{Acker, Broker, Consumer, Delivery, Error};
use async_trait::async_trait;
use aurora_schemas::{QueueKey, TaskOrder};
use futures::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicPublishOptions, BasicQosOptions, ConfirmSelectOptions,
    QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;
use tracing::{info, warn};

/// Settings of the RabbitMQ broker.
#[derive(Debug, Clone)]
pub struct Options {
    /// `amqp://user:pass@host:port/vhost`
    pub url: String,
    /// Prepended to every queue name (isolates tests and deployments sharing a vhost).
    pub prefix: String,
    /// Delete queues unused for this long (tests); `None` in production.
    pub queue_expires: Option<Duration>,
}

struct Link {
    connection: Arc<Connection>,
    publisher: Channel,
    declared: HashSet<String>,
}

/// The RabbitMQ broker.
pub struct RabbitBroker {
    options: Options,
    link: Mutex<Option<Link>>,
}

fn unavailable(e: impl std::fmt::Display) -> Error {
    Error::Unavailable(e.to_string())
}

impl RabbitBroker {
    /// Connects to RabbitMQ and declares the dead-letter queue.
    pub async fn connect(options: Options) -> Result<Arc<Self>, Error> {
        let me = Arc::new(Self { options, link: Mutex::new(None) });
        me.with_link(|_| Ok(())).await?;
        Ok(me)
    }

    /// The queue orders for `queue` travel on.
    pub fn queue_name(&self, queue: &QueueKey) -> String {
        format!("{}{}", self.options.prefix, queue.name())
    }

    /// Where malformed or refused orders end up.
    pub fn dead_letter_queue(&self) -> String {
        format!("{}aurora.dead-letters", self.options.prefix)
    }

    fn queue_args(&self) -> FieldTable {
        let mut args = FieldTable::default();
        args.insert("x-dead-letter-exchange".into(), AMQPValue::LongString(LongString::from("")));
        args.insert(
            "x-dead-letter-routing-key".into(),
            AMQPValue::LongString(LongString::from(self.dead_letter_queue())),
        );
        args.insert("x-max-priority".into(), AMQPValue::ShortShortUInt(aurora_schemas::spec::MAX_PRIORITY));
        if let Some(exp) = self.options.queue_expires {
            args.insert("x-expires".into(), AMQPValue::LongUInt(exp.as_millis() as u32));
        }
        args
    }

    async fn open(&self) -> Result<Link, Error> {
        let connection =
            Connection::connect(&self.options.url, ConnectionProperties::default()).await.map_err(unavailable)?;
        let publisher = connection.create_channel().await.map_err(unavailable)?;
        publisher.confirm_select(ConfirmSelectOptions::default()).await.map_err(unavailable)?;
        let mut dlq_args = FieldTable::default();
        if let Some(exp) = self.options.queue_expires {
            dlq_args.insert("x-expires".into(), AMQPValue::LongUInt(exp.as_millis() as u32));
        }
        publisher
            .queue_declare(self.dead_letter_queue().into(), QueueDeclareOptions::durable(), dlq_args)
            .await
            .map_err(unavailable)?;
        info!(prefix = %self.options.prefix, "connected to RabbitMQ");
        Ok(Link { connection: Arc::new(connection), publisher, declared: HashSet::new() })
    }

    /// Runs `f` on a live link, opening a new one if there is none or it died.
    async fn with_link<T>(&self, f: impl FnOnce(&mut Link) -> Result<T, Error>) -> Result<T, Error> {
        let mut guard = self.link.lock().await;
        let alive =
            guard.as_ref().is_some_and(|l| l.connection.status().connected() && l.publisher.status().connected());
        if !alive {
            *guard = Some(self.open().await?);
        }
        f(guard.as_mut().expect("a link was just opened"))
    }

    async fn declare(&self, channel: &Channel, name: &str) -> Result<(), Error> {
        channel
            .queue_declare(name.into(), QueueDeclareOptions::durable(), self.queue_args())
            .await
            .map(|_| ())
            .map_err(unavailable)
    }

    async fn publish_once(&self, orders: &[TaskOrder]) -> Result<(), Error> {
        let (channel, undeclared) = self
            .with_link(|l| {
                let names: Vec<String> = orders.iter().map(|o| self.queue_name(&o.queue)).collect();
                let new: Vec<String> = names.into_iter().filter(|n| !l.declared.contains(n)).collect();
                Ok((l.publisher.clone(), new))
            })
            .await?;
        let mut newly = HashSet::new();
        for name in undeclared {
            if newly.insert(name.clone()) {
                self.declare(&channel, &name).await?;
            }
        }
        let mut confirms = Vec::with_capacity(orders.len());
        for order in orders {
            let payload = serde_json::to_vec(order).map_err(unavailable)?;
            let mut props = BasicProperties::default()
                .with_priority(order.priority.min(aurora_schemas::spec::MAX_PRIORITY))
                .with_delivery_mode(2)
                .with_content_type(ShortString::from("application/json"));
            if let Some(tp) = &order.traceparent {
                let mut headers = FieldTable::default();
                headers.insert(TRACEPARENT.into(), AMQPValue::LongString(tp.as_str().into()));
                props = props.with_headers(headers);
            }
            let confirm = channel
                .basic_publish(
                    "".into(),
                    self.queue_name(&order.queue).as_str().into(),
                    BasicPublishOptions::default(),
                    &payload,
                    props,
                )
                .await
                .map_err(unavailable)?;
            confirms.push(confirm);
        }
        for confirm in confirms {
            let c = confirm.await.map_err(unavailable)?;
            if !c.is_ack() {
                return Err(Error::Unavailable("RabbitMQ refused (nacked) a published order".into()));
            }
        }
        self.with_link(|l| {
            l.declared.extend(newly);
            Ok(())
        })
        .await
    }
}

#[async_trait]
impl Broker for RabbitBroker {
    fn durable(&self) -> bool {
        true
    }

    async fn publish(&self, orders: Vec<TaskOrder>) -> Result<(), Error> {
        if orders.is_empty() {
            return Ok(());
        }
        // One retry on a fresh connection covers a broker restart between calls.
        match self.publish_once(&orders).await {
            Ok(()) => Ok(()),
            Err(first) => {
                warn!(error = %first, "publish failed; reconnecting and retrying once");
                *self.link.lock().await = None;
                self.publish_once(&orders).await
            }
        }
    }

    async fn consume(&self, queue: &QueueKey, prefetch: usize) -> Result<Box<dyn Consumer>, Error> {
        let connection = self.with_link(|l| Ok(l.connection.clone())).await?;
        let channel = connection.create_channel().await.map_err(unavailable)?;
        let name = self.queue_name(queue);
        self.declare(&channel, &name).await?;
        channel
            .basic_qos(prefetch.clamp(1, u16::MAX as usize) as u16, BasicQosOptions::default())
            .await
            .map_err(unavailable)?;
        let tag = format!("aurora-{}", uuid::Uuid::now_v7().simple());
        let inner = channel
            .basic_consume(
                name.as_str().into(),
                tag.as_str().into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(unavailable)?;
        Ok(Box::new(RabbitConsumer { channel, inner, queue: name }))
    }

    async fn depth(&self, queue: &QueueKey) -> Result<usize, Error> {
        let channel = self.with_link(|l| Ok(l.publisher.clone())).await?;
        let name = self.queue_name(queue);
        let q = channel
            .queue_declare(
                name.as_str().into(),
                QueueDeclareOptions { passive: true, ..Default::default() },
                FieldTable::default(),
            )
            .await;
        match q {
            Ok(q) => Ok(q.message_count() as usize),
            // A passive declare of a missing queue closes the channel: nothing waits there.
            Err(_) => {
                *self.link.lock().await = None;
                Ok(0)
            }
        }
    }
}

struct RabbitConsumer {
    channel: Channel,
    inner: lapin::Consumer,
    queue: String,
}

/// The W3C trace context header of a message.
const TRACEPARENT: &str = "traceparent";

fn traceparent_of(props: &BasicProperties) -> Option<String> {
    let headers = props.headers().as_ref()?;
    match headers.inner().get(TRACEPARENT)? {
        AMQPValue::LongString(s) => Some(s.to_string()),
        AMQPValue::ShortString(s) => Some(s.as_str().to_string()),
        _ => None,
    }
}

#[async_trait]
impl Consumer for RabbitConsumer {
    async fn next(&mut self) -> Option<Result<Delivery, Error>> {
        loop {
            let d = match self.inner.next().await? {
                Ok(d) => d,
                Err(e) => return Some(Err(unavailable(e))),
            };
            match serde_json::from_slice::<TaskOrder>(&d.data) {
                Ok(mut order) => {
                    order.traceparent = traceparent_of(&d.properties);
                    let redelivered = d.redelivered;
                    return Some(Ok(Delivery::new(order, redelivered, Box::new(RabbitAcker(d.acker)))));
                }
                Err(e) => {
                    warn!(queue = %self.queue, error = %e, bytes = d.data.len(), "malformed order; dead-lettering it");
                    let _ = d.acker.nack(BasicNackOptions { requeue: false, multiple: false }).await;
                }
            }
        }
    }
}

impl Drop for RabbitConsumer {
    /// Closing the channel hands every unsettled delivery back to RabbitMQ (redelivered).
    fn drop(&mut self) {
        let channel = self.channel.clone();
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                let _ = channel.close(200, "consumer closed".into()).await;
            });
        }
    }
}

struct RabbitAcker(lapin::Acker);

#[async_trait]
impl Acker for RabbitAcker {
    async fn ack(&self) -> Result<(), Error> {
        self.0.ack(BasicAckOptions::default()).await.map(|_| ()).map_err(unavailable)
    }

    async fn nack(&self, requeue: bool) -> Result<(), Error> {
        self.0.nack(BasicNackOptions { requeue, multiple: false }).await.map(|_| ()).map_err(unavailable)
    }
}

#[cfg(all(test, feature = "service-tests"))]
mod tests {
    use super::*;

    fn options() -> Options {
        Options {
            url: std::env::var("AURORA_TEST_AMQP_URL")
                .expect("service tests need AURORA_TEST_AMQP_URL (scripts/test sets it)"),
            prefix: format!("aurora-test-{}.", uuid::Uuid::now_v7().simple()),
            queue_expires: Some(Duration::from_secs(120)),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn rabbitmq_broker_passes_the_conformance_suite() {
        crate::conformance::run(|| async {
            RabbitBroker::connect(options()).await.expect("RabbitMQ reachable") as Arc<dyn Broker>
        })
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_malformed_message_is_dead_lettered_and_the_next_one_delivered() {
        let broker = RabbitBroker::connect(options()).await.expect("RabbitMQ reachable");
        let q = QueueKey::new("malformed", Default::default());
        let good = crate::conformance::order(&q, 7);
        let mut consumer = broker.consume(&q, 4).await.expect("consume");
        let channel = broker.with_link(|l| Ok(l.publisher.clone())).await.expect("link");
        channel
            .basic_publish(
                "".into(),
                broker.queue_name(&q).as_str().into(),
                BasicPublishOptions::default(),
                b"{not json",
                BasicProperties::default(),
            )
            .await
            .expect("publish")
            .await
            .expect("confirm");
        broker.publish(vec![good.clone()]).await.expect("publish");
        let d = tokio::time::timeout(Duration::from_secs(10), consumer.next())
            .await
            .expect("in time")
            .expect("open")
            .expect("ok");
        assert_eq!(d.order, good, "the malformed message was skipped, not delivered");
        d.ack().await.expect("ack");
        // The consumer's reject and RabbitMQ's dead-lettering run apart from the delivery of the
        // next message, so the dead letter may arrive a moment after it.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        let dead = loop {
            let dead = channel
                .queue_declare(
                    broker.dead_letter_queue().as_str().into(),
                    QueueDeclareOptions { passive: true, ..Default::default() },
                    FieldTable::default(),
                )
                .await
                .expect("dead-letter queue exists");
            if dead.message_count() > 0 || tokio::time::Instant::now() > deadline {
                break dead;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert_eq!(dead.message_count(), 1, "the malformed message is kept for inspection");
    }
}
