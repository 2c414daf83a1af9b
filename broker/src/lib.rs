//! Task delivery: the [`Broker`] trait, the in-process implementation used by `aurora dev`, the
//! RabbitMQ implementation of distributed mode, and the conformance suite both must pass.
//!
//! The broker moves [`TaskOrder`]s from the dispatcher to workers. It decides nothing about what
//! runs: the queue is chosen by the dispatcher (DESIGN §4) and the claim by the worker (§3.3).

pub mod conformance;
pub mod local;
pub mod rabbitmq;

pub use local::LocalBroker;
pub use rabbitmq::RabbitBroker;

use async_trait::async_trait;
use aurora_schemas::{QueueKey, TaskOrder};

/// What went wrong with a broker call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The broker could not be reached or refused the operation; retryable.
    #[error("broker unavailable: {0}")]
    Unavailable(String),
    /// A delivery could not be decoded (it is dead-lettered, not retried).
    #[error("malformed delivery: {0}")]
    Malformed(String),
}

/// Settles one delivery with the broker.
#[async_trait]
pub trait Acker: Send + Sync {
    /// The delivery was handled; remove it.
    async fn ack(&self) -> Result<(), Error>;
    /// The delivery was not handled: put it back (`requeue`) or dead-letter it.
    async fn nack(&self, requeue: bool) -> Result<(), Error>;
}

/// One received order, to be settled with [`Delivery::ack`] or [`Delivery::nack`].
pub struct Delivery {
    /// The order.
    pub order: TaskOrder,
    /// The broker delivered it before to a consumer that went away without settling it.
    pub redelivered: bool,
    acker: Box<dyn Acker>,
}

impl Delivery {
    /// A delivery settled through `acker`.
    pub fn new(order: TaskOrder, redelivered: bool, acker: Box<dyn Acker>) -> Self {
        Self { order, redelivered, acker }
    }

    /// Settles it as handled. Call only after its outcome is durable in the ledger.
    pub async fn ack(self) -> Result<(), Error> {
        self.acker.ack().await
    }

    /// Settles it as not handled.
    pub async fn nack(self, requeue: bool) -> Result<(), Error> {
        self.acker.nack(requeue).await
    }
}

/// A stream of deliveries from one queue.
#[async_trait]
pub trait Consumer: Send {
    /// The next delivery; waits while the prefetch window is full or the queue is empty.
    /// `None` when the consumer was closed.
    async fn next(&mut self) -> Option<Result<Delivery, Error>>;
}

/// The transport between dispatcher and workers.
///
/// Contract:
/// - [`Broker::publish`] returns once the orders are durable in the broker (confirmed); they stay
///   queued until a consumer takes them, even if none exists yet.
/// - Each order goes to one consumer of its queue at a time; at most `prefetch` unsettled
///   deliveries per consumer.
/// - A delivery not acked when its consumer goes away (dropped, crashed, connection lost) is
///   delivered again with `redelivered = true`. A `nack(true)` does the same; `nack(false)`
///   dead-letters it.
#[async_trait]
pub trait Broker: Send + Sync + 'static {
    /// Publishes orders, each to the queue its `queue` names.
    async fn publish(&self, orders: Vec<TaskOrder>) -> Result<(), Error>;

    /// Starts consuming `queue` with at most `prefetch` unsettled deliveries.
    async fn consume(&self, queue: &QueueKey, prefetch: usize) -> Result<Box<dyn Consumer>, Error>;

    /// How many orders wait in `queue` (ready, not delivered). For metrics and tests.
    async fn depth(&self, queue: &QueueKey) -> Result<usize, Error>;

    /// Whether unsettled deliveries survive the process that publishes and consumes them. When
    /// they do (RabbitMQ), the broker itself redelivers a dead worker's orders; when they do not
    /// (in-process), a restarted dispatcher must order interrupted attempts again.
    fn durable(&self) -> bool;
}
