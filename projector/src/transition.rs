//! Appending a task transition decided by the projector, safely against concurrent writers.

use aurora_ledger::{AppendRequest, Ledger};
use aurora_schemas::event::EventData;
use aurora_schemas::{EventMeta, GraphId, NewEvent, TaskId, TaskState};

/// How to treat a version conflict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnConflict {
    /// The event is valid only at the expected version (e.g. `TaskPending` at 0: dispatch once).
    GiveUp,
    /// Reload the stream; append at its new version if the event is still legal there.
    Follow,
}

/// Appends `data` to the task's stream at `expected`. Returns whether it was appended.
pub async fn append(
    ledger: &dyn Ledger,
    graph: GraphId,
    task: TaskId,
    data: EventData,
    meta: EventMeta,
    mut expected: u64,
    on_conflict: OnConflict,
) -> Result<bool, aurora_ledger::Error> {
    for _ in 0..5 {
        let event = NewEvent::task(graph, task, data.clone(), meta.clone());
        match ledger.append(AppendRequest::new(expected, vec![event])).await {
            Ok(_) => return Ok(true),
            Err(e) if e.is_conflict() && on_conflict == OnConflict::Follow => {
                let events = ledger.read_stream(&task.stream(), 1).await?;
                let state = TaskState::of_stream(&events);
                if state.check(&data).is_err() {
                    return Ok(false);
                }
                expected = events.len() as u64;
            }
            Err(e) if e.is_conflict() => return Ok(false),
            Err(e) => return Err(e),
        }
    }
    Ok(false)
}
