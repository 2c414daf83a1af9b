//! Projector metrics, in the process-wide Prometheus registry.

use aurora_schemas::{Event, EventType};
use prometheus::{
    Histogram, IntCounter, IntCounterVec, IntGauge, register_histogram, register_int_counter, register_int_counter_vec,
    register_int_gauge,
};
use std::sync::LazyLock;

/// Events committed to the ledger but not yet processed by this projector.
pub static LAG_EVENTS: LazyLock<IntGauge> = LazyLock::new(|| {
    register_int_gauge!("aurora_projector_lag_events", "Ledger events not yet processed by the projector")
        .expect("metric names are unique")
});

/// Seconds between an event's commit and the end of its batch's processing.
pub static LAG_SECONDS: LazyLock<Histogram> = LazyLock::new(|| {
    register_histogram!(
        "aurora_projector_lag_seconds",
        "Seconds from an event's commit to the end of its processing",
        vec![0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0]
    )
    .expect("metric names are unique")
});

/// Events processed.
pub static EVENTS: LazyLock<IntCounter> = LazyLock::new(|| {
    register_int_counter!("aurora_projector_events_total", "Events processed by the projector")
        .expect("metric names are unique")
});

/// Orders published to the broker.
pub static ORDERS: LazyLock<IntCounter> = LazyLock::new(|| {
    register_int_counter!("aurora_dispatch_orders_total", "Task orders published to the broker")
        .expect("metric names are unique")
});

/// Runs this projector saw submitted and ended, by state (`submitted`, `success`, `failure`,
/// `cancelled`).
pub static GRAPHS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    let c = register_int_counter_vec!("aurora_graphs_total", "Runs submitted and ended, by state", &["state"])
        .expect("metric names are unique");
    for state in ["submitted", "success", "failure", "cancelled"] {
        c.with_label_values(&[state]);
    }
    c
});

/// Counts the runs a processed batch submitted or ended.
pub fn count_graphs(batch: &[Event]) {
    for e in batch {
        let state = match e.event_type() {
            EventType::GraphSubmitted => "submitted",
            EventType::GraphSucceeded => "success",
            EventType::GraphFailed => "failure",
            EventType::GraphCancelled => "cancelled",
            _ => continue,
        };
        GRAPHS.with_label_values(&[state]).inc();
    }
}

/// Makes the projector's metrics show from the start, before its first event.
pub fn register() {
    LazyLock::force(&GRAPHS);
    LazyLock::force(&LAG_EVENTS);
    LazyLock::force(&EVENTS);
}
