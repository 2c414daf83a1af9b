//! The task and graph state machines: which event moves a task to which state, and which moves
//! are legal. Writers check a move against the stream's current state before appending it, and
//! the conditional append makes that check race-free (invariant 1).

use crate::event::{EventData, EventType};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A task's user-facing state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TaskState {
    /// In a graph, not yet ready (no event in its stream yet).
    Waiting,
    /// Dispatched; waiting for a worker.
    Pending,
    /// A worker claimed an attempt.
    Received,
    /// The handler is running.
    Started,
    /// An attempt failed; another is scheduled.
    Retry,
    /// Finished with results.
    Success,
    /// Failed for good.
    Failure,
    /// Cancelled with its graph.
    Cancelled,
    /// Never ran because an upstream task failed.
    Skipped,
}

impl TaskState {
    /// Whether no further event may follow.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Success | Self::Failure | Self::Cancelled | Self::Skipped)
    }

    /// The stored and displayed name, e.g. `SUCCESS`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Waiting => "WAITING",
            Self::Pending => "PENDING",
            Self::Received => "RECEIVED",
            Self::Started => "STARTED",
            Self::Retry => "RETRY",
            Self::Success => "SUCCESS",
            Self::Failure => "FAILURE",
            Self::Cancelled => "CANCELLED",
            Self::Skipped => "SKIPPED",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        ALL.iter().copied().find(|st| st.as_str() == s)
    }

    /// The state a task-stream event moves its task to; `None` for graph events.
    pub fn after(ty: EventType) -> Option<Self> {
        Some(match ty {
            EventType::TaskPending => Self::Pending,
            EventType::TaskReceived => Self::Received,
            EventType::TaskStarted | EventType::TaskProgress => Self::Started,
            EventType::TaskRetry => Self::Retry,
            EventType::TaskSucceeded => Self::Success,
            EventType::TaskFailed => Self::Failure,
            EventType::TaskCancelled => Self::Cancelled,
            EventType::TaskSkipped => Self::Skipped,
            EventType::TaskReused => Self::Success,
            _ => return None,
        })
    }

    /// The state a task stream's events (in version order) lead to.
    pub fn of_stream(events: &[crate::event::Event]) -> Self {
        events.iter().fold(Self::Waiting, |st, e| Self::after(e.event_type()).unwrap_or(st))
    }

    /// Checks that `event` may follow a task in this state.
    pub fn check(self, event: &EventData) -> Result<TaskState, IllegalTransition> {
        use EventType as E;
        let ty = event.event_type();
        let next = Self::after(ty).ok_or(IllegalTransition { from: self, event: ty })?;
        let legal = match self {
            // A rerun's reused task starts (and ends) with `TaskReused`.
            Self::Waiting => matches!(ty, E::TaskPending | E::TaskCancelled | E::TaskSkipped | E::TaskReused),
            Self::Pending | Self::Retry => {
                matches!(ty, E::TaskReceived | E::TaskCancelled | E::TaskFailed)
            }
            // A second TaskReceived is a takeover after the holder of the attempt vanished.
            Self::Received => matches!(ty, E::TaskStarted | E::TaskFailed | E::TaskCancelled | E::TaskReceived),
            Self::Started => matches!(
                ty,
                E::TaskProgress | E::TaskSucceeded | E::TaskFailed | E::TaskRetry | E::TaskCancelled | E::TaskReceived
            ),
            _ => false,
        };
        if legal { Ok(next) } else { Err(IllegalTransition { from: self, event: ty }) }
    }
}

const ALL: [TaskState; 9] = [
    TaskState::Waiting,
    TaskState::Pending,
    TaskState::Received,
    TaskState::Started,
    TaskState::Retry,
    TaskState::Success,
    TaskState::Failure,
    TaskState::Cancelled,
    TaskState::Skipped,
];

impl fmt::Display for TaskState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An event that may not follow the task's current state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a {} event cannot follow state {from}", event.as_str())]
pub struct IllegalTransition {
    /// The current state.
    pub from: TaskState,
    /// The rejected event.
    pub event: EventType,
}

/// A graph run's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum GraphState {
    /// Submitted, not yet ended.
    Running,
    /// Every task succeeded.
    Success,
    /// A task failed for good.
    Failure,
    /// Cancelled.
    Cancelled,
}

impl GraphState {
    /// The stored and displayed name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "RUNNING",
            Self::Success => "SUCCESS",
            Self::Failure => "FAILURE",
            Self::Cancelled => "CANCELLED",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Running, Self::Success, Self::Failure, Self::Cancelled].into_iter().find(|g| g.as_str() == s)
    }

    /// The state a graph-stream event moves its graph to.
    pub fn after(ty: EventType) -> Option<Self> {
        match ty {
            EventType::GraphSubmitted | EventType::GraphCancelRequested => Some(Self::Running),
            EventType::GraphSucceeded => Some(Self::Success),
            EventType::GraphFailed => Some(Self::Failure),
            EventType::GraphCancelled => Some(Self::Cancelled),
            _ => None,
        }
    }

    /// Whether the run has ended.
    pub fn is_terminal(self) -> bool {
        self != Self::Running
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn succeeded() -> EventData {
        EventData::TaskSucceeded { attempt: 1, results: vec![] }
    }

    #[test]
    fn terminal_states_accept_nothing() {
        for st in [TaskState::Success, TaskState::Failure, TaskState::Cancelled, TaskState::Skipped] {
            assert!(st.check(&succeeded()).is_err());
            assert!(st.check(&EventData::TaskStarted { attempt: 1 }).is_err());
            assert!(st.check(&EventData::TaskCancelled { reason: None }).is_err());
        }
    }

    #[test]
    fn the_happy_path_and_a_late_duplicate() {
        let received = EventData::TaskReceived { attempt: 1, worker_id: "w".into(), takeover: false };
        let mut st = TaskState::Waiting;
        for e in [
            EventData::TaskPending {
                key: "a".into(),
                name: "add".into(),
                args: vec![],
                label_selector: Default::default(),
                retry_count: 0,
                retry_backoff_ms: 1000,
                timeout_ms: None,
                not_before: None,
                priority: 0,
            },
            received.clone(),
            EventData::TaskStarted { attempt: 1 },
            succeeded(),
        ] {
            st = st.check(&e).expect("legal");
        }
        assert_eq!(st, TaskState::Success);
        assert!(st.check(&received).is_err(), "a late duplicate cannot move a finished task back");
        assert!(TaskState::Pending.check(&EventData::TaskStarted { attempt: 1 }).is_err());
    }
}
