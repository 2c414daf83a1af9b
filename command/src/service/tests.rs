//! Given-events / when-command / then-events tests of the command side.

use super::*;
use aurora_coord::{LocalCoord, WorkerInfo};
use aurora_ledger::SqliteLedger;
use aurora_schemas::{EdgeSpec, HandlerInfo, TaskSpec, TypedValue};
use serde_json::json;
use std::time::Duration;

async fn service() -> (Service, Arc<dyn Ledger>) {
    let ledger: Arc<dyn Ledger> = Arc::new(SqliteLedger::scratch().expect("ledger"));
    let coord = Arc::new(LocalCoord::new());
    let handler = HandlerInfo {
        name: "add".into(),
        usage: String::new(),
        arg_types: vec!["...int64".into()],
        result_types: vec!["int64".into()],
    };
    let worker = WorkerInfo {
        id: "w".into(),
        labels: Default::default(),
        handlers: vec![handler],
        last_seen_at: chrono::Utc::now(),
    };
    coord.heartbeat(worker, Duration::from_secs(3600)).await.expect("register");
    (Service::new(ledger.clone(), coord, Limits::default()), ledger)
}

fn add(key: &str, a: i64, b: i64) -> TaskSpec {
    TaskSpec {
        key: key.into(),
        name: "add".into(),
        args: vec![TypedValue::new("int64", json!(a)), TypedValue::new("int64", json!(b))],
        ..Default::default()
    }
}

fn chain() -> GraphSpec {
    GraphSpec {
        tasks: vec![add("a", 1, 2), add("b", 3, 4)],
        edges: vec![EdgeSpec { from: "a".into(), to: "b".into() }],
        ..Default::default()
    }
}

#[tokio::test]
async fn submit_appends_the_graph_and_only_the_roots() {
    let (svc, ledger) = service().await;
    let s = svc.submit(chain(), "admin").await.expect("accepted");
    let events = ledger.read_graph(s.graph_id).await.expect("read");
    let types: Vec<&str> = events.iter().map(|e| e.event_type().as_str()).collect();
    assert_eq!(types, vec!["GraphSubmitted", "TaskPending"]);
    assert_eq!(events[1].task_id, Some(TaskId::derive(s.graph_id, "a")));
    assert_eq!(events[0].meta.actor.as_deref(), Some("admin"));
}

#[tokio::test]
async fn rejected_submissions_write_nothing() {
    let (svc, ledger) = service().await;
    let mut cyclic = chain();
    cyclic.edges.push(EdgeSpec { from: "b".into(), to: "a".into() });
    let mut unknown = chain();
    unknown.tasks[0].name = "nope".into();
    for (spec, expect) in [(cyclic, "cycle"), (unknown, "unknown handler `nope`"), (GraphSpec::default(), "no tasks")] {
        let err = svc.submit(spec, "admin").await.unwrap_err();
        assert!(matches!(&err, Error::Rejected(m) if m.contains(expect)), "{err}");
    }
    assert_eq!(ledger.head().await.expect("head"), 0, "no event was written");
}

#[tokio::test]
async fn idempotent_resubmission_returns_the_first_run() {
    let (svc, ledger) = service().await;
    let mut spec = chain();
    spec.idempotency_key = Some("k1".into());
    let first = svc.submit(spec.clone(), "admin").await.expect("first");
    let again = svc.submit(spec.clone(), "admin").await.expect("again");
    assert_eq!(again, Submitted { graph_id: first.graph_id, duplicate: true, warnings: Vec::new() });
    assert_eq!(ledger.read_graph(first.graph_id).await.expect("read").len(), 2, "nothing appended twice");
    spec.tasks[0].args[0] = TypedValue::new("int64", json!(99));
    let err = svc.submit(spec, "admin").await.unwrap_err();
    assert!(matches!(&err, Error::Rejected(m) if m.contains("already used for a different graph")), "{err}");
}

#[tokio::test]
async fn cancel_is_recorded_once_and_refused_for_unknown_graphs() {
    let (svc, ledger) = service().await;
    let s = svc.submit(chain(), "admin").await.expect("accepted");
    svc.cancel(s.graph_id, "admin", Some("no longer needed".into())).await.expect("cancel");
    svc.cancel(s.graph_id, "admin", None).await.expect("repeat is a no-op");
    let graph_events = ledger.read_stream(&s.graph_id.stream(), 1).await.expect("read");
    assert_eq!(graph_events.len(), 2);
    assert!(matches!(svc.cancel(GraphId::new(), "admin", None).await, Err(Error::NotFound(_))));
}
