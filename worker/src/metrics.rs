//! Worker metrics, in the process-wide Prometheus registry.

use prometheus::{
    HistogramVec, IntCounterVec, IntGauge, register_histogram_vec, register_int_counter_vec, register_int_gauge,
};
use std::sync::LazyLock;

/// Recorded outcomes of attempts, by handler and resulting state.
pub static TRANSITIONS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "aurora_task_transitions_total",
        "Attempt outcomes recorded by workers, by handler and state",
        &["handler", "state"]
    )
    .expect("metric names are unique")
});

/// Handler run time, by handler.
pub static DURATION: LazyLock<HistogramVec> = LazyLock::new(|| {
    register_histogram_vec!(
        "aurora_task_duration_seconds",
        "Seconds a handler ran, per attempt",
        &["handler"],
        vec![0.001, 0.005, 0.025, 0.1, 0.5, 1.0, 5.0, 30.0, 120.0]
    )
    .expect("metric names are unique")
});

/// Orders dropped because another copy was claimed first.
pub static DUPLICATES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "aurora_task_duplicate_orders_total",
        "Orders dropped because their attempt was already claimed",
        &["handler"]
    )
    .expect("metric names are unique")
});

/// Attempts this worker can run at once.
pub static SLOTS: LazyLock<IntGauge> = LazyLock::new(|| {
    register_int_gauge!("aurora_worker_slots", "Attempts this worker can run at once").expect("metric names are unique")
});

/// Attempts running now.
pub static RUNNING: LazyLock<IntGauge> = LazyLock::new(|| {
    register_int_gauge!("aurora_worker_attempts_running", "Attempts running now").expect("metric names are unique")
});

/// Makes the worker's metrics show from the start, before its first task, and adds a worker's
/// slots to the process's (a gateway serving remote workers runs one worker per connection).
pub fn register(slots: usize) {
    SLOTS.add(slots as i64);
    LazyLock::force(&RUNNING);
    LazyLock::force(&TRANSITIONS);
    LazyLock::force(&DURATION);
    LazyLock::force(&DUPLICATES);
}
