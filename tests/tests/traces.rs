//! Trace export (issue "The seed's REST API…, trace export…", done-when 5): with
//! `tracing.otlp_endpoint` set, spans arrive at a real OTLP/HTTP receiver (`tests/clients/
//! otlp_receiver.py`, which decodes with the OpenTelemetry project's `opentelemetry-proto`
//! package), one trace per run whose id is the graph id: the run's root span, the submit and the
//! projector's steps under it, a dispatch span per order and every attempt as a child of its
//! order's dispatch span, with handler, worker, attempt and outcome. Distributed, the spans come
//! from different processes and still form one tree. Needs the test venv `scripts/test` makes.

#![cfg(feature = "service-tests")]
#![allow(clippy::unwrap_used)] // test code: a panic is a failed check

use aurora_e2e::graphs::{edge, graph, task};
use aurora_e2e::{Deployment, Scratch, Server};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The receiver process; killed when dropped.
struct Receiver {
    child: Child,
    port: u16,
    out: PathBuf,
}

impl Receiver {
    fn start(dir: &Path) -> Self {
        let python = aurora_e2e::cluster::service_env("AURORA_TEST_PYTHON");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("clients/otlp_receiver.py");
        let out = dir.join("spans.jsonl");
        let mut child = Command::new(python).arg(script).arg(&out).stdout(Stdio::piped()).spawn().unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let port = line.trim().strip_prefix("listening ").unwrap_or_else(|| panic!("receiver said {line:?}"));
        Self { port: port.parse().unwrap(), child, out }
    }

    /// The spans received so far (whole lines only: a batch may be being written).
    fn spans(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(&self.out).unwrap_or_default();
        let complete = &text[..text.rfind('\n').map_or(0, |i| i + 1)];
        complete.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn trace_id(graph_id: &str) -> String {
    graph_id.replace('-', "")
}

fn attr<'a>(span: &'a Value, key: &str) -> &'a Value {
    &span["attributes"][key]
}

async fn a_run_is_one_trace_with_its_attempts_as_children(deployment: Deployment) {
    let dir = Scratch::new("traces");
    let receiver = Receiver::start(&dir.0);
    let endpoint = format!("tracing.otlp_endpoint=\"http://127.0.0.1:{}\"", receiver.port);
    let server = Server::deploy(deployment, &dir.0, &[&endpoint]).await;

    // a → b, a → c, where c fails its first attempt and succeeds on its retry: four attempts.
    let mut c = task("c", "flaky", &[("int64", json!(1))]);
    c["retryCount"] = json!(1);
    c["retryBackoffMs"] = json!(20);
    let first = server
        .submit(graph(
            vec![
                task("a", "add", &[("int64", json!(1)), ("int64", json!(2))]),
                task("b", "echo", &[("string", json!("x"))]),
                c,
            ],
            vec![edge("a", "b"), edge("a", "c")],
        ))
        .await;
    let second = server.submit(graph(vec![task("solo", "noop", &[])], vec![])).await;
    for id in [&first, &second] {
        let g = server.wait_terminal(id, Duration::from_secs(60)).await;
        assert_eq!(g["state"], "SUCCESS", "{g:#}");
    }

    // The root span is recorded when the run ends; wait for both roots (batches go every 0.5 s).
    let roots = |spans: &[Value]| spans.iter().filter(|s| s["name"] == "run").count();
    let mut spans = receiver.spans();
    for _ in 0..100 {
        let attempts = spans.iter().filter(|s| s["name"] == "attempt").count();
        if roots(&spans) >= 2 && attempts >= 5 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        spans = receiver.spans();
    }

    let runs = BTreeSet::from([trace_id(&first), trace_id(&second)]);
    let traces: BTreeSet<String> = spans.iter().map(|s| s["trace_id"].as_str().unwrap().to_string()).collect();
    assert_eq!(traces, runs, "every span belongs to one of the two runs' traces: {spans:#?}");
    let ids: Vec<&str> = spans.iter().map(|s| s["span_id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), ids.iter().collect::<BTreeSet<_>>().len(), "span ids are unique: {spans:#?}");

    for (run, tasks, attempts) in [(trace_id(&first), 3, 4), (trace_id(&second), 1, 1)] {
        let of_run: Vec<&Value> = spans.iter().filter(|s| s["trace_id"] == run.as_str()).collect();
        let named = |name: &str| of_run.iter().copied().filter(|s| s["name"] == name).collect::<Vec<_>>();
        let root = named("run");
        assert_eq!(root.len(), 1, "one root span per run: {of_run:#?}");
        let root = root[0];
        assert_eq!(root["parent_span_id"], "", "the root has no parent");
        assert_eq!(attr(root, "aurora.state"), "SUCCESS");
        assert_eq!(attr(root, "aurora.graph.id").as_str().map(trace_id), Some(run.clone()));
        let root_id = root["span_id"].as_str().unwrap();
        for name in ["submit", "project", "dispatch"] {
            let under = named(name);
            assert!(!under.is_empty(), "the run has {name} spans: {of_run:#?}");
            assert!(
                under.iter().all(|s| s["parent_span_id"] == root_id),
                "{name} spans hang under the root: {under:#?}"
            );
        }
        assert_eq!(named("submit").len(), 1, "one submit");
        assert_eq!(attr(named("submit")[0], "aurora.tasks"), tasks);

        let dispatches: BTreeMap<&str, &Value> =
            named("dispatch").into_iter().map(|s| (s["span_id"].as_str().unwrap(), s)).collect();
        let tried = named("attempt");
        assert_eq!(tried.len(), attempts, "one span per attempt: {tried:#?}");
        let mut keys = BTreeSet::new();
        for a in &tried {
            let parent = a["parent_span_id"].as_str().unwrap();
            let dispatch = dispatches.get(parent).unwrap_or_else(|| panic!("attempt {a:#} has no dispatch parent"));
            assert_eq!(
                attr(a, "aurora.task.key"),
                attr(dispatch, "aurora.task.key"),
                "an attempt is its order's child"
            );
            assert_eq!(attr(a, "aurora.attempt"), attr(dispatch, "aurora.attempt"));
            assert!(attr(a, "aurora.worker").as_str().is_some_and(|w| !w.is_empty()), "{a:#}");
            assert!(attr(a, "aurora.handler").as_str().is_some(), "{a:#}");
            let (start, end) = (a["start"].as_u64().unwrap(), a["end"].as_u64().unwrap());
            assert!(start > 0 && end >= start, "{a:#}");
            assert_eq!(a["kind"], 5, "an attempt consumes its order (SPAN_KIND_CONSUMER)");
            keys.insert(attr(a, "aurora.task.key").as_str().unwrap().to_string());
        }
        assert_eq!(keys.len(), tasks, "every task has its attempt span: {keys:?}");
        if tasks == 3 {
            let retried: Vec<&&Value> = tried.iter().filter(|a| attr(a, "aurora.outcome") == "RETRY").collect();
            assert_eq!(retried.len(), 1, "c's first attempt ended RETRY: {tried:#?}");
            assert_eq!(retried[0]["status"]["code"], 2, "a failed attempt has status ERROR");
            assert!(retried[0]["status"]["message"].as_str().unwrap().contains("flaky: attempt 1"), "{:#}", retried[0]);
            let c_ok = tried.iter().find(|a| attr(a, "aurora.task.key") == "c" && attr(a, "aurora.attempt") == 2);
            assert_eq!(c_ok.map(|a| attr(a, "aurora.outcome")), Some(&json!("SUCCESS")));
        }
    }

    if deployment == Deployment::Distributed {
        // Different processes exported the parts and the tree still joins up.
        let roles_of = |name: &str| -> BTreeSet<String> {
            spans
                .iter()
                .filter(|s| s["name"] == name)
                .map(|s| s["resource"]["aurora.roles"].as_str().unwrap().to_string())
                .collect()
        };
        assert_eq!(roles_of("submit"), BTreeSet::from(["gateway".to_string()]));
        assert_eq!(roles_of("project"), BTreeSet::from(["projector".to_string()]));
        assert_eq!(roles_of("attempt"), BTreeSet::from(["worker".to_string()]));
    }
    assert!(spans.iter().all(|s| s["resource"]["service.name"] == "aurora" && s["scope"] == "aurora"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_a_run_is_one_trace_with_its_attempts_as_children() {
    a_run_is_one_trace_with_its_attempts_as_children(Deployment::Embedded).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn distributed_a_run_is_one_trace_with_its_attempts_as_children() {
    a_run_is_one_trace_with_its_attempts_as_children(Deployment::Distributed).await
}
