//! Projector metrics, in the process-wide Prometheus registry.

use prometheus::{Histogram, IntCounter, IntGauge, register_histogram, register_int_counter, register_int_gauge};
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
