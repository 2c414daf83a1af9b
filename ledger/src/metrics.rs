//! Ledger metrics, in the process-wide Prometheus registry.

use prometheus::{Histogram, IntCounter, register_histogram, register_int_counter};
use std::sync::LazyLock;

/// Seconds one group commit took (all requests in it, one fsync).
pub static COMMIT_SECONDS: LazyLock<Histogram> = LazyLock::new(|| {
    register_histogram!(
        "aurora_ledger_commit_seconds",
        "Seconds one ledger group commit took",
        vec![0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0]
    )
    .expect("metric names are unique")
});

/// Events appended.
pub static EVENTS: LazyLock<IntCounter> = LazyLock::new(|| {
    register_int_counter!("aurora_ledger_events_appended_total", "Events appended to the ledger")
        .expect("metric names are unique")
});

/// Append requests refused with a version conflict.
pub static CONFLICTS: LazyLock<IntCounter> = LazyLock::new(|| {
    register_int_counter!("aurora_ledger_conflicts_total", "Appends refused because the stream moved")
        .expect("metric names are unique")
});
