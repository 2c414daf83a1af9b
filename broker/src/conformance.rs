//! The conformance suite every [`Broker`] must pass, run against fresh brokers made by `make`.

#![allow(clippy::unwrap_used)] // a test suite: a panic is a failed case

use crate::Broker;
use aurora_schemas::{GraphId, QueueKey, TaskId, TaskOrder};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// An order on a queue named after `handler` (each run uses fresh queue names).
pub fn order(queue: &QueueKey, n: u32) -> TaskOrder {
    let g = GraphId::new();
    TaskOrder {
        task_id: TaskId::derive(g, &n.to_string()),
        graph_id: g,
        key: n.to_string(),
        version: n as u64,
        attempt: 1,
        queue: queue.clone(),
        args: vec![],
        retry_count: 0,
        retry_backoff_ms: 1000,
        timeout_ms: None,
        priority: 0,
        takeover: false,
        traceparent: Some(aurora_schemas::trace::traceparent(g, TaskId::derive(g, &n.to_string()), n as u64)),
    }
}

fn fresh_queue(tag: &str) -> QueueKey {
    let mut sel = std::collections::BTreeMap::new();
    sel.insert("run".to_string(), uuid::Uuid::now_v7().to_string());
    QueueKey::new(format!("conformance-{tag}"), sel)
}

async fn soon<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), f).await.expect("the broker answered in time")
}

async fn nothing_within<T>(f: impl Future<Output = T>) -> bool {
    tokio::time::timeout(Duration::from_millis(200), f).await.is_err()
}

/// Runs every case.
pub async fn run<F, Fut>(make: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Arc<dyn Broker>>,
{
    published_before_consuming_is_kept(make().await).await;
    prefetch_bounds_unsettled_deliveries(make().await).await;
    unsettled_deliveries_come_back_when_the_consumer_goes(make().await).await;
    nack_requeues_or_dead_letters(make().await).await;
    competing_consumers_each_get_an_order_once(make().await).await;
    higher_priority_is_delivered_first(make().await).await;
}

async fn higher_priority_is_delivered_first(broker: Arc<dyn Broker>) {
    let q = fresh_queue("priority");
    let sent: Vec<TaskOrder> = [0u8, 9, 5, 9, 0]
        .iter()
        .enumerate()
        .map(|(i, &p)| TaskOrder { priority: p, ..order(&q, i as u32 + 1) })
        .collect();
    broker.publish(sent).await.expect("publish");
    let mut c = broker.consume(&q, 10).await.expect("consume");
    let mut got = Vec::new();
    for _ in 0..5 {
        let d = soon(c.next()).await.expect("open").expect("delivery");
        got.push((d.order.priority, d.order.version));
        d.ack().await.expect("ack");
    }
    assert_eq!(got, [(9, 2), (9, 4), (5, 3), (0, 1), (0, 5)], "higher priority first, FIFO within one");
}

async fn published_before_consuming_is_kept(broker: Arc<dyn Broker>) {
    let q = fresh_queue("kept");
    let other = fresh_queue("other");
    let sent = [order(&q, 1), order(&q, 2)];
    broker.publish(vec![sent[0].clone(), sent[1].clone(), order(&other, 3)]).await.expect("publish");
    assert_eq!(broker.depth(&q).await.expect("depth"), 2);
    let mut c = broker.consume(&q, 10).await.expect("consume");
    for n in [1, 2] {
        let d = soon(c.next()).await.expect("open").expect("delivery");
        assert_eq!(d.order.version, n, "FIFO within a queue");
        assert_eq!(d.order, sent[n as usize - 1], "the order arrives whole, its trace context included");
        assert!(!d.redelivered);
        d.ack().await.expect("ack");
    }
    assert!(nothing_within(c.next()).await, "the other queue's order is not delivered here");
}

async fn prefetch_bounds_unsettled_deliveries(broker: Arc<dyn Broker>) {
    let q = fresh_queue("prefetch");
    broker.publish((1..=3).map(|n| order(&q, n)).collect()).await.expect("publish");
    let mut c = broker.consume(&q, 2).await.expect("consume");
    let a = soon(c.next()).await.expect("open").expect("a");
    let _b = soon(c.next()).await.expect("open").expect("b");
    assert!(nothing_within(c.next()).await, "a third delivery waits for a settled one");
    a.ack().await.expect("ack");
    let third = soon(c.next()).await.expect("open").expect("third");
    assert_eq!(third.order.version, 3);
}

async fn unsettled_deliveries_come_back_when_the_consumer_goes(broker: Arc<dyn Broker>) {
    let q = fresh_queue("crash");
    broker.publish(vec![order(&q, 1)]).await.expect("publish");
    let mut c = broker.consume(&q, 1).await.expect("consume");
    let d = soon(c.next()).await.expect("open").expect("d");
    std::mem::forget(d); // the holder "crashes" without settling
    drop(c);
    let mut c2 = broker.consume(&q, 1).await.expect("consume again");
    let again = soon(c2.next()).await.expect("open").expect("redelivery");
    assert_eq!(again.order.version, 1);
    assert!(again.redelivered, "marked redelivered so the worker takes over as a new attempt");
    again.ack().await.expect("ack");
}

async fn nack_requeues_or_dead_letters(broker: Arc<dyn Broker>) {
    let q = fresh_queue("nack");
    broker.publish(vec![order(&q, 1)]).await.expect("publish");
    let mut c = broker.consume(&q, 1).await.expect("consume");
    soon(c.next()).await.expect("open").expect("d").nack(true).await.expect("nack");
    let again = soon(c.next()).await.expect("open").expect("requeued");
    assert!(again.redelivered);
    again.nack(false).await.expect("dead-letter");
    assert!(nothing_within(c.next()).await, "a dead-lettered order is not delivered again");
}

async fn competing_consumers_each_get_an_order_once(broker: Arc<dyn Broker>) {
    let q = fresh_queue("compete");
    let n = 50;
    broker.publish((1..=n).map(|i| order(&q, i)).collect()).await.expect("publish");
    let mut handles = Vec::new();
    for _ in 0..3 {
        let mut c = broker.consume(&q, 4).await.expect("consume");
        handles.push(tokio::spawn(async move {
            let mut got = Vec::new();
            while let Ok(Some(Ok(d))) = tokio::time::timeout(Duration::from_millis(500), c.next()).await {
                got.push(d.order.version);
                d.ack().await.expect("ack");
            }
            got
        }));
    }
    let mut all: Vec<u64> = Vec::new();
    for h in handles {
        all.extend(h.await.expect("join"));
    }
    all.sort();
    assert_eq!(all, (1..=n as u64).collect::<Vec<_>>(), "every order exactly once");
}
