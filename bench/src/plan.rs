//! How big each workload is and how often it runs: the full run, `--quick` and `--tiny` (the
//! harness test's).

use serde::Serialize;

/// The sizes of one benchmark run.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// `full`, `quick` or `tiny`.
    pub mode: &'static str,
    /// Measured repetitions, interleaved across the systems.
    pub reps: usize,
    /// Whether an unmeasured warm-up round runs first.
    pub warmup: bool,
    /// Execution slots in total, for every system.
    pub slots: usize,
    /// Bytes in each task's argument.
    pub payload_bytes: usize,
    /// W1: submissions, one task per request and then in batches of `w1_batch`.
    pub w1_tasks: usize,
    /// W1: tasks per batched request.
    pub w1_batch: usize,
    /// W1: clients submitting at the same time, each waiting for its answer before the next
    /// request (the same for every system).
    pub w1_clients: usize,
    /// W2: tasks enqueued with the workers stopped, then drained.
    pub w2_tasks: usize,
    /// W3: single tasks in sequence.
    pub w3_tasks: usize,
    /// W4: chain length.
    pub w4_chain: usize,
    /// W5: fan-out width.
    pub w5_width: usize,
    /// W5: fan-out/fan-in runs.
    pub w5_runs: usize,
    /// W6: layers of the random DAG.
    pub w6_layers: usize,
    /// W6: tasks per layer.
    pub w6_width: usize,
    /// W7: `graphEvents` subscribers.
    pub w7_subscribers: usize,
    /// W7: tasks in the watched run.
    pub w7_tasks: usize,
    /// The raw limits: messages through RabbitMQ, documents into MongoDB, rows into SQLite.
    pub limit_messages: usize,
}

impl Plan {
    /// The sizes: W1 10,000, W2 10,000, W3 1,000, W4 100, W5 20 × (1 → 100 → 1),
    /// W6 10 × 100, W7 100 subscribers on 1,000 tasks; a warm-up and 5 repetitions.
    pub fn full() -> Self {
        Self {
            mode: "full",
            reps: 5,
            warmup: true,
            slots: 16,
            payload_bytes: 100,
            w1_tasks: 10_000,
            w1_batch: 100,
            w1_clients: 8,
            w2_tasks: 10_000,
            w3_tasks: 1_000,
            w4_chain: 100,
            w5_width: 100,
            w5_runs: 20,
            w6_layers: 10,
            w6_width: 100,
            w7_subscribers: 100,
            w7_tasks: 1_000,
            limit_messages: 50_000,
        }
    }

    /// About a tenth of the work, a warm-up and 2 repetitions: a few minutes.
    pub fn quick() -> Self {
        Self {
            mode: "quick",
            reps: 2,
            w1_tasks: 1_000,
            w2_tasks: 2_000,
            w3_tasks: 200,
            w5_runs: 4,
            w6_layers: 5,
            w7_subscribers: 20,
            w7_tasks: 200,
            limit_messages: 10_000,
            ..Self::full()
        }
    }

    /// The plan of a mode by its name (`full`, `quick`, `tiny`).
    pub fn of_mode(mode: &str) -> Option<Self> {
        match mode {
            "full" => Some(Self::full()),
            "quick" => Some(Self::quick()),
            "tiny" => Some(Self::tiny()),
            _ => None,
        }
    }

    /// The warm-up round's plan: the same workloads on the same slots at a smaller size (the next
    /// smaller mode's), so the warm-up does not take a repetition's time; its figures are dropped.
    pub fn warmup_round(&self) -> Self {
        let smaller = if self.mode == "full" { Self::quick() } else { Self::tiny() };
        Self { slots: self.slots, payload_bytes: self.payload_bytes, ..smaller }
    }

    /// Enough to show that every part starts and measures: the harness test's plan.
    pub fn tiny() -> Self {
        Self {
            mode: "tiny",
            reps: 1,
            warmup: false,
            slots: 4,
            w1_tasks: 20,
            w1_batch: 10,
            // Enough CPU to measure: /proc counts in ticks of 10 ms, and 40 tasks took less than one.
            w2_tasks: 400,
            w3_tasks: 5,
            w4_chain: 5,
            w5_width: 5,
            w5_runs: 2,
            w6_layers: 3,
            w6_width: 5,
            w7_subscribers: 3,
            w7_tasks: 20,
            limit_messages: 500,
            ..Self::full()
        }
    }
}
