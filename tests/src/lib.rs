//! The end-to-end harness: starts `aurora dev` as a real process on a data directory, logs in,
//! and offers the checks every scenario shares (terminal states, one terminal event per task,
//! successors dispatched once).

#![allow(clippy::unwrap_used)] // test code: a panic is a failed check

pub mod graphs;

use aurora::client::Client;
use serde_json::Value;
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The admin password every test server uses.
pub const PASSWORD: &str = "e2e-password";

/// A running `aurora dev` process.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`
    pub url: String,
    /// Its data directory (kept across restarts).
    pub data_dir: PathBuf,
    extra: Vec<String>,
    /// A logged-in client.
    pub client: Client,
}

/// A scratch directory for one test, removed when dropped unless the test failed.
pub struct Scratch(pub PathBuf);

impl Scratch {
    /// A fresh directory under the target dir (so failures leave logs to read).
    pub fn new(name: &str) -> Self {
        let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/e2e");
        let dir = base.join(format!("{name}-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir_all(&dir).expect("create scratch dir");
        Self(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// The binary under test: `aurora-under-test`, which Cargo builds next to the test executables'
/// directory (`target/<profile>/`) whenever this package's tests are built.
pub fn binary() -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable's path");
    let dir = exe.parent().and_then(Path::parent).expect("target/<profile>/deps/<test>");
    let bin = dir.join(format!("aurora-under-test{}", std::env::consts::EXE_SUFFIX));
    assert!(bin.exists(), "{} is missing; build it with `cargo build -p aurora-e2e`", bin.display());
    bin
}

impl Server {
    /// Starts `aurora dev` on `data_dir` with extra `--set key=value` arguments.
    pub async fn start(data_dir: &Path, extra: &[&str]) -> Self {
        Self::start_on(data_dir, "127.0.0.1:0", extra.iter().map(|s| s.to_string()).collect()).await
    }

    /// Starts `aurora dev` with a config file as well.
    pub async fn start_with_config(data_dir: &Path, config: &Path, extra: &[&str]) -> Self {
        let mut args: Vec<String> = vec![format!("--config={}", config.display())];
        args.extend(extra.iter().map(|s| s.to_string()));
        Self::start_on(data_dir, "127.0.0.1:0", args).await
    }

    async fn start_on(data_dir: &Path, listen: &str, extra: Vec<String>) -> Self {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(data_dir.join("server.log"))
            .expect("open server log");
        let mut cmd = Command::new(binary());
        cmd.args(["dev", "--listen", listen, "--data-dir"])
            .arg(data_dir.join("data"))
            .args(["--admin-password", PASSWORD])
            .env_remove("AURORA_TOKEN")
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(log);
        for kv in &extra {
            if kv.starts_with("--") {
                cmd.arg(kv);
            } else {
                cmd.args(["--set", kv]);
            }
        }
        let mut child = cmd.spawn().expect("start aurora dev");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(rest) = line.trim().strip_prefix("GraphiQL:") {
                    let url = rest.trim().trim_end_matches("/graphql").to_string();
                    let _ = tx.send(url);
                }
            }
        });
        let url = rx.recv_timeout(Duration::from_secs(30)).unwrap_or_else(|_| {
            let log = std::fs::read_to_string(data_dir.join("server.log")).unwrap_or_default();
            panic!("aurora dev did not come up; its log:\n{log}")
        });
        let anonymous = Client::new(&url, None);
        let token = anonymous.login("admin", PASSWORD).await.expect("admin login");
        Self {
            child,
            url: url.clone(),
            data_dir: data_dir.to_path_buf(),
            extra,
            client: anonymous.with_token(Some(token)),
        }
    }

    /// A client without a token.
    pub fn anonymous(&self) -> Client {
        Client::new(&self.url, None)
    }

    /// SIGKILL: no shutdown of any kind.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM and wait for a clean exit.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        self.child.wait().expect("wait for aurora dev")
    }

    /// Starts again on the same data directory and port.
    pub async fn restart(&mut self) {
        let listen = self.url.trim_start_matches("http://").to_string();
        let next = Self::start_on(&self.data_dir, &listen, self.extra.clone()).await;
        *self = next;
    }

    /// Submits a `GraphInput`; returns the graph id.
    pub async fn submit(&self, input: Value) -> String {
        let run = self.client.submit(input).await.expect("submission accepted");
        run["id"].as_str().expect("graph id").to_string()
    }

    /// Waits until the graph is terminal; returns the full `graph` query result.
    pub async fn wait_terminal(&self, id: &str, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let g = self.client.graph(id).await.expect("graph query");
            if g["state"].as_str().is_some_and(|s| s != "RUNNING") {
                return g;
            }
            assert!(Instant::now() < deadline, "graph {id} did not end within {timeout:?}: {g:#}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The number of events in the ledger file (read directly, as an auditor would).
    pub fn ledger_event_count(&self) -> i64 {
        let path = self.data_dir.join("data/ledger.sqlite");
        let conn = rusqlite::Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open ledger read-only");
        conn.query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0)).expect("count events")
    }
}

/// One `aurora` process of any role (`gateway`, `projector`, `worker`, …).
pub struct Process {
    child: Child,
    /// Its GraphiQL or health base URL.
    pub url: String,
}

impl Process {
    /// Starts `aurora <args>` with its log in `log`, and waits for its banner.
    pub fn spawn(args: &[String], log: &Path) -> Self {
        let log_file = std::fs::OpenOptions::new().create(true).append(true).open(log).expect("open log");
        let mut child = Command::new(binary())
            .args(args)
            .env_remove("AURORA_TOKEN")
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(log_file)
            .spawn()
            .expect("start aurora");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let line = line.trim().to_string();
                for prefix in ["GraphiQL:", "health:"] {
                    if let Some(rest) = line.strip_prefix(prefix) {
                        let url = rest.trim().trim_end_matches("/graphql").trim_end_matches("/health").to_string();
                        let _ = tx.send(url);
                    }
                }
            }
        });
        let url = rx.recv_timeout(Duration::from_secs(60)).unwrap_or_else(|_| {
            panic!("aurora {args:?} did not come up; its log:\n{}", std::fs::read_to_string(log).unwrap_or_default())
        });
        Self { child, url }
    }

    /// SIGKILL.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The task with `key` in a `graph` query result.
pub fn task<'a>(graph: &'a Value, key: &str) -> &'a Value {
    graph["tasks"]
        .as_array()
        .and_then(|ts| ts.iter().find(|t| t["key"] == key))
        .unwrap_or_else(|| panic!("no task {key}"))
}

/// Event types of a task's history, in order.
pub fn types(task: &Value) -> Vec<String> {
    task["history"].as_array().into_iter().flatten().map(|e| e["type"].as_str().unwrap_or("").to_string()).collect()
}

/// The invariants every finished run must satisfy: the graph ended once; every task has exactly
/// one terminal event and a gapless history; nothing was dispatched twice; nothing follows a
/// terminal event.
pub fn assert_invariants(graph: &Value) {
    let id = graph["id"].as_str().unwrap_or("?");
    assert_ne!(graph["state"], "RUNNING", "graph {id} is still running");
    let graph_ends = graph["history"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| {
            e["taskId"].is_null()
                && ["GraphSucceeded", "GraphFailed", "GraphCancelled"].contains(&e["type"].as_str().unwrap_or(""))
        })
        .count();
    assert_eq!(graph_ends, 1, "graph {id} has {graph_ends} terminal graph events");
    const TERMINAL: [&str; 4] = ["TaskSucceeded", "TaskFailed", "TaskCancelled", "TaskSkipped"];
    for t in graph["tasks"].as_array().expect("tasks") {
        let key = t["key"].as_str().unwrap_or("?");
        let history = t["history"].as_array().expect("history");
        let versions: Vec<i64> = history.iter().map(|e| e["version"].as_i64().unwrap_or(-1)).collect();
        assert_eq!(versions, (1..=history.len() as i64).collect::<Vec<_>>(), "task {key}: versions are gapless from 1");
        let kinds = types(t);
        let terminal: Vec<usize> =
            kinds.iter().enumerate().filter(|(_, k)| TERMINAL.contains(&k.as_str())).map(|(i, _)| i).collect();
        assert_eq!(terminal.len(), 1, "task {key}: exactly one terminal event, got {kinds:?}");
        assert_eq!(terminal[0], kinds.len() - 1, "task {key}: nothing after the terminal event: {kinds:?}");
        let pendings = kinds.iter().filter(|k| *k == "TaskPending").count();
        assert!(pendings <= 1, "task {key} was dispatched {pendings} times");
    }
}

/// Counts of each task state in a `graph` query result.
pub fn states(graph: &Value) -> HashMap<String, usize> {
    let mut out = HashMap::new();
    for t in graph["tasks"].as_array().into_iter().flatten() {
        *out.entry(t["state"].as_str().unwrap_or("?").to_string()).or_default() += 1;
    }
    out
}
