//! Counts of what clients hold open — WebSocket connections and live subscriptions, per token and
//! in all — so that one client cannot take every file descriptor or every subscription slot. A
//! [`Slot`] holds one place and gives it back when dropped.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Open sockets and subscriptions.
#[derive(Debug, Default)]
pub struct Live {
    sockets: Mutex<Counts>,
    subscriptions: Mutex<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    by_token: HashMap<String, usize>,
}

/// What is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum What {
    /// A WebSocket connection.
    Socket,
    /// A `graphEvents` subscription.
    Subscription,
}

/// One place taken; given back on drop.
#[derive(Debug)]
pub struct Slot {
    live: Arc<Live>,
    what: What,
    token: String,
}

/// Why a place was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Full {
    /// The token holds its limit.
    #[error("this token holds its limit of {0}")]
    Token(usize),
    /// The process holds its limit.
    #[error("the server holds its limit of {0}")]
    Total(usize),
}

impl Live {
    fn counts(&self, what: What) -> std::sync::MutexGuard<'_, Counts> {
        let m = match what {
            What::Socket => &self.sockets,
            What::Subscription => &self.subscriptions,
        };
        m.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes a place of `what` for `token`, within `per_token` and `total`.
    pub fn take(self: &Arc<Self>, what: What, token: &str, per_token: usize, total: usize) -> Result<Slot, Full> {
        let mut c = self.counts(what);
        if c.total >= total {
            return Err(Full::Total(total));
        }
        let mine = c.by_token.entry(token.to_string()).or_default();
        if *mine >= per_token {
            return Err(Full::Token(per_token));
        }
        *mine += 1;
        c.total += 1;
        Ok(Slot { live: self.clone(), what, token: token.to_string() })
    }

    /// How many of `what` are open.
    pub fn open(&self, what: What) -> usize {
        self.counts(what).total
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut c = self.live.counts(self.what);
        c.total = c.total.saturating_sub(1);
        if let Some(n) = c.by_token.get_mut(&self.token) {
            *n -= 1;
            if *n == 0 {
                c.by_token.remove(&self.token);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_are_bounded_per_token_and_in_all_and_given_back() {
        let live = Arc::new(Live::default());
        let a1 = live.take(What::Subscription, "a", 2, 3).expect("a1");
        let _a2 = live.take(What::Subscription, "a", 2, 3).expect("a2");
        assert_eq!(live.take(What::Subscription, "a", 2, 3).err(), Some(Full::Token(2)));
        let _b1 = live.take(What::Subscription, "b", 2, 3).expect("b1");
        assert_eq!(live.take(What::Subscription, "c", 2, 3).err(), Some(Full::Total(3)));
        assert!(live.take(What::Socket, "a", 2, 3).is_ok(), "sockets are counted apart");
        drop(a1);
        assert_eq!(live.open(What::Subscription), 2);
        assert!(live.take(What::Subscription, "a", 2, 3).is_ok(), "a dropped slot is given back");
    }
}
