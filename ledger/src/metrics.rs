//! Ledger metrics, in the process-wide Prometheus registry.

use prometheus::{
    Histogram, IntCounter, IntCounterVec, register_histogram, register_int_counter, register_int_counter_vec,
};
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

/// Positions marked skipped: reserved by an append that did not write them (MongoDB ledger).
pub static POSITIONS_SKIPPED: LazyLock<IntCounter> = LazyLock::new(|| {
    register_int_counter!(
        "aurora_ledger_positions_skipped_total",
        "Reserved positions no event took (an append failed or its process died), marked skipped"
    )
    .expect("metric names are unique")
});

/// Commands this process sent to MongoDB, by command name (`insert`, `find`, `getMore`,
/// `findAndModify`, `commitTransaction`, …): every round trip of the ledger and the read models.
/// The benchmark divides them by tasks (the stand-in server keeps no counters of its own).
pub static MONGODB_COMMANDS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!("aurora_mongodb_commands_total", "Commands sent to MongoDB, by command", &["command"])
        .expect("metric names are unique")
});
