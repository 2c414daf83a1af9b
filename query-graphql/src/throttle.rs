//! Login throttling: attempts per client address per minute, and — per address and per user name
//! alike — a wait after repeated failures that doubles with each further one. Unknown and known
//! user names are throttled the same way, so the throttle tells nothing about which names exist.
//! The decisions are pure functions of the recorded attempts and the time given.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The first wait after the allowed failures; each further failure doubles it.
const FIRST_WAIT: Duration = Duration::from_secs(1);
/// The longest wait.
const MAX_WAIT: Duration = Duration::from_secs(300);
/// Entries kept before idle ones are forgotten.
const MAX_ENTRIES: usize = 100_000;

/// What a throttle is keyed by.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Key {
    /// A client address.
    Addr(IpAddr),
    /// A user name, as typed.
    User(String),
}

#[derive(Debug, Clone)]
struct Entry {
    window_start: Instant,
    attempts: u32,
    failures: u32,
    blocked_until: Option<Instant>,
    last_seen: Instant,
}

/// The login throttle.
#[derive(Debug)]
pub struct Throttle {
    per_minute: u32,
    free_failures: u32,
    entries: Mutex<HashMap<Key, Entry>>,
}

/// Why an attempt may not go ahead now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// What is throttled.
    pub key: Key,
    /// When to try again.
    pub retry_after: Duration,
}

impl Throttle {
    /// At most `per_minute` attempts per address and minute; after `free_failures` failures in a
    /// row an address or user name waits, 1 s doubling up to 5 min.
    pub fn new(per_minute: u32, free_failures: u32) -> Self {
        Self { per_minute, free_failures, entries: Mutex::default() }
    }

    /// Counts an attempt by `keys` at `now`, or refuses it (counting nothing).
    pub fn attempt(&self, keys: &[Key], now: Instant) -> Result<(), Refused> {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        for key in keys {
            if let Some(e) = entries.get_mut(key) {
                if now.duration_since(e.window_start) >= Duration::from_secs(60) {
                    e.window_start = now;
                    e.attempts = 0;
                }
                if let Some(until) = e.blocked_until.filter(|u| *u > now) {
                    return Err(Refused { key: key.clone(), retry_after: until - now });
                }
                if matches!(key, Key::Addr(_)) && e.attempts >= self.per_minute {
                    let retry_after = Duration::from_secs(60).saturating_sub(now.duration_since(e.window_start));
                    return Err(Refused { key: key.clone(), retry_after });
                }
            }
        }
        if entries.len() > MAX_ENTRIES {
            entries.retain(|_, e| now.duration_since(e.last_seen) < MAX_WAIT * 2);
        }
        for key in keys {
            let e = entries.entry(key.clone()).or_insert(Entry {
                window_start: now,
                attempts: 0,
                failures: 0,
                blocked_until: None,
                last_seen: now,
            });
            e.attempts += 1;
            e.last_seen = now;
        }
        Ok(())
    }

    /// Records how an attempt by `keys` ended: a success clears the failures, a failure may start
    /// a wait.
    pub fn outcome(&self, keys: &[Key], succeeded: bool, now: Instant) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        for key in keys {
            let Some(e) = entries.get_mut(key) else { continue };
            if succeeded {
                e.failures = 0;
                e.blocked_until = None;
            } else {
                e.failures += 1;
                if e.failures >= self.free_failures {
                    let doublings = (e.failures - self.free_failures).min(16);
                    let wait = FIRST_WAIT.saturating_mul(1 << doublings).min(MAX_WAIT);
                    e.blocked_until = Some(now + wait);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(user: &str) -> Vec<Key> {
        vec![Key::Addr("10.0.0.1".parse().expect("ip")), Key::User(user.into())]
    }

    #[test]
    fn failures_in_a_row_start_a_doubling_wait_and_a_success_clears_it() {
        let t = Throttle::new(1000, 3);
        let start = Instant::now();
        for i in 0..3 {
            t.attempt(&keys("admin"), start).unwrap_or_else(|r| panic!("attempt {i}: {r:?}"));
            t.outcome(&keys("admin"), false, start);
        }
        let refused = t.attempt(&keys("admin"), start).expect_err("the third failure starts a wait");
        assert_eq!(refused.retry_after, Duration::from_secs(1));
        let later = start + Duration::from_secs(1);
        t.attempt(&keys("admin"), later).expect("the wait is over");
        t.outcome(&keys("admin"), false, later);
        assert_eq!(t.attempt(&keys("admin"), later).expect_err("doubled").retry_after, Duration::from_secs(2));
        let much_later = later + Duration::from_secs(2);
        t.attempt(&keys("admin"), much_later).expect("over");
        t.outcome(&keys("admin"), true, much_later);
        t.attempt(&keys("admin"), much_later).expect("a success clears the failures");
    }

    #[test]
    fn an_unknown_name_is_throttled_like_a_known_one_and_addresses_have_a_rate() {
        let t = Throttle::new(5, 100);
        let now = Instant::now();
        for _ in 0..5 {
            t.attempt(&keys("ghost"), now).expect("within the rate");
        }
        let refused = t.attempt(&keys("someone-else"), now).expect_err("the address's minute is used up");
        assert_eq!(refused.key, Key::Addr("10.0.0.1".parse().expect("ip")));
        assert_eq!(refused.retry_after, Duration::from_secs(60));
        t.attempt(&keys("ghost"), now + Duration::from_secs(60)).expect("a new minute");
        let other_addr = vec![Key::Addr("10.0.0.2".parse().expect("ip")), Key::User("ghost".into())];
        t.attempt(&other_addr, now).expect("another address has its own rate");
    }
}
