//! One remote worker's connection as its handlers see it: the messages waiting to go out, and the
//! attempts in flight, each waiting for the worker's outcome.

use aurora_schemas::TypedValue;
use aurora_worker::Context;
use std::collections::HashMap;
use std::sync::Mutex;
use tokio::sync::{mpsc, oneshot};

/// A worker's outcome of an attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum Reported {
    /// `result`.
    Result(Vec<TypedValue>),
    /// `failure`.
    Failure {
        /// What went wrong.
        error: String,
        /// Retry under the task's policy.
        retry: bool,
        /// Diagnostic text.
        traceback: Option<String>,
    },
}

struct Pending {
    outcome: oneshot::Sender<Reported>,
    ctx: Context,
}

/// The connection, shared by its handlers.
pub struct Link {
    out: mpsc::UnboundedSender<String>,
    pending: Mutex<HashMap<String, Pending>>,
    closed: std::sync::atomic::AtomicBool,
}

impl Link {
    /// A link whose messages go out through `out`.
    pub fn new(out: mpsc::UnboundedSender<String>) -> Self {
        Self { out, pending: Mutex::default(), closed: Default::default() }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Pending>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sends `message` to the worker (dropped once the connection closed).
    pub fn send(&self, message: String) {
        let _ = self.out.send(message);
    }

    /// Awaits the worker's outcome of `attempt_id`; `None` when the connection closed first.
    pub fn expect(&self, attempt_id: &str, ctx: Context) -> Option<oneshot::Receiver<Reported>> {
        if self.closed.load(std::sync::atomic::Ordering::SeqCst) {
            return None;
        }
        let (tx, rx) = oneshot::channel();
        self.lock().insert(attempt_id.to_string(), Pending { outcome: tx, ctx });
        Some(rx)
    }

    /// Forgets `attempt_id` (its handler stopped waiting).
    pub fn forget(&self, attempt_id: &str) {
        self.lock().remove(attempt_id);
    }

    /// Hands the worker's outcome to the attempt waiting for it; `false` if none waits here.
    pub fn deliver(&self, attempt_id: &str, outcome: Reported) -> bool {
        match self.lock().remove(attempt_id) {
            Some(p) => p.outcome.send(outcome).is_ok(),
            None => false,
        }
    }

    /// Passes progress to the attempt in flight; `false` if none is.
    pub fn progress(&self, attempt_id: &str, fraction: f64, message: Option<String>) -> bool {
        match self.lock().get(attempt_id) {
            Some(p) => {
                p.ctx.progress(fraction, message);
                true
            }
            None => false,
        }
    }

    /// The connection closed: every attempt in flight is abandoned (taken over elsewhere).
    pub fn close(&self) {
        self.closed.store(true, std::sync::atomic::Ordering::SeqCst);
        self.lock().clear();
    }
}
