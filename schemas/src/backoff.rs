//! The one backoff policy of every retry and poll loop (ledger appends, consumers, leases,
//! reconnects, exporters, waits for the projector): exponential from a first delay, doubling
//! each time, capped. (A task's own retry delays are its `retryBackoffMs`, see
//! [`crate::TaskSpec::backoff_ms`]; the MongoDB ledger's transaction retries add random jitter to
//! spread the writers that conflicted, in `ledger/src/mongo.rs`.)

use std::time::Duration;

/// Delays that double from `first` up to `max`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backoff {
    first: Duration,
    next: Duration,
    max: Duration,
}

impl Backoff {
    /// Delays `first`, `2 × first`, … up to `max`.
    pub const fn new(first: Duration, max: Duration) -> Self {
        Self { first, next: first, max }
    }

    /// The delay to wait now; the next one is twice as long, up to the cap.
    pub fn next_delay(&mut self) -> Duration {
        let now = self.next.min(self.max);
        self.next = (now * 2).min(self.max);
        now
    }

    /// Back to the first delay (after a success).
    pub fn reset(&mut self) {
        self.next = self.first;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_cap_and_reset() {
        let mut b = Backoff::new(Duration::from_millis(20), Duration::from_millis(100));
        let delays: Vec<u128> = (0..5).map(|_| b.next_delay().as_millis()).collect();
        assert_eq!(delays, [20, 40, 80, 100, 100]);
        b.reset();
        assert_eq!(b.next_delay(), Duration::from_millis(20));
    }

    #[tokio::test(start_paused = true)]
    async fn a_loop_waits_what_it_is_told() {
        let start = tokio::time::Instant::now();
        let mut b = Backoff::new(Duration::from_millis(50), Duration::from_secs(5));
        for _ in 0..3 {
            tokio::time::sleep(b.next_delay()).await;
        }
        assert_eq!(start.elapsed(), Duration::from_millis(50 + 100 + 200), "paused time: exactly the delays");
    }
}
