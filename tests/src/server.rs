//! A deployment under test, embedded or distributed, behind one interface: scenarios written
//! against [`Server`] run on both (see [`crate::scenarios!`]).

use crate::PASSWORD;
use crate::cluster::{Cluster, Layout, Services};
use crate::process::Process;
use aurora::client::Client;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Which kind of deployment a scenario runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deployment {
    /// One `aurora dev` process on its data directory (SQLite, in-process broker and coord).
    Embedded,
    /// 2 gateways, 2 projectors and 3 workers as separate processes on MongoDB, RabbitMQ and
    /// Redis ([`Layout::core`]).
    Distributed,
}

enum Running {
    Embedded { process: Process, extra: Vec<String> },
    Distributed(Cluster),
}

/// A running deployment and a client logged in as admin.
pub struct Server {
    running: Running,
    /// The (first) gateway's base URL, `http://127.0.0.1:PORT`.
    pub url: String,
    /// The scenario's directory: the embedded data directory's parent, and where logs go.
    pub data_dir: PathBuf,
    /// A client of the (first) gateway, logged in as admin.
    pub client: Client,
}

impl Server {
    /// Starts `aurora dev` on `data_dir` with extra `--set key=value` arguments.
    pub async fn start(data_dir: &Path, extra: &[&str]) -> Self {
        Self::deploy(Deployment::Embedded, data_dir, extra).await
    }

    /// Starts `aurora dev` with a config file as well.
    pub async fn start_with_config(data_dir: &Path, config: &Path, extra: &[&str]) -> Self {
        Self::deploy_with_config(Deployment::Embedded, data_dir, config, extra).await
    }

    /// Starts a deployment of `kind` in `dir` with `--set key=value` overrides for every process.
    pub async fn deploy(kind: Deployment, dir: &Path, extra: &[&str]) -> Self {
        let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        match kind {
            Deployment::Embedded => Self::start_dev(dir, "127.0.0.1:0", extra).await,
            Deployment::Distributed => Self::start_cluster(dir, &extra, "").await,
        }
    }

    /// The same with a config file; in a distributed deployment its text is appended to the
    /// deployment's own config.
    pub async fn deploy_with_config(kind: Deployment, dir: &Path, config: &Path, extra: &[&str]) -> Self {
        match kind {
            Deployment::Embedded => {
                let mut args = vec![format!("--config={}", config.display())];
                args.extend(extra.iter().map(|s| s.to_string()));
                Self::start_dev(dir, "127.0.0.1:0", args).await
            }
            Deployment::Distributed => {
                let text = std::fs::read_to_string(config).expect("read the scenario's config");
                let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
                Self::start_cluster(dir, &extra, &text).await
            }
        }
    }

    /// Starts a distributed deployment of `layout` in `dir` with `--set` overrides for every process.
    pub async fn deploy_layout(dir: &Path, layout: &Layout, sets: &[String]) -> Self {
        Self::start_layout(dir, layout, sets, "").await
    }

    async fn start_cluster(dir: &Path, sets: &[String], extra_toml: &str) -> Self {
        Self::start_layout(dir, &Layout::core(), sets, extra_toml).await
    }

    async fn start_layout(dir: &Path, layout: &Layout, sets: &[String], extra_toml: &str) -> Self {
        let cluster = Cluster::start(dir, &Services::from_env(), layout, sets, extra_toml).await;
        let client = cluster.gateways[0].clone();
        Self {
            url: client.server().to_string(),
            data_dir: dir.to_path_buf(),
            client,
            running: Running::Distributed(cluster),
        }
    }

    async fn start_dev(dir: &Path, listen: &str, extra: Vec<String>) -> Self {
        let mut args: Vec<String> = vec!["dev".into(), "--listen".into(), listen.into(), "--data-dir".into()];
        args.push(dir.join("data").display().to_string());
        args.extend(["--admin-password".to_string(), PASSWORD.to_string()]);
        for kv in &extra {
            if kv.starts_with("--") {
                args.push(kv.clone());
            } else {
                args.extend(["--set".to_string(), kv.clone()]);
            }
        }
        let process = Process::spawn(&args, &dir.join("server.log"));
        let anonymous = Client::new(&process.url, None);
        let token = anonymous.login("admin", PASSWORD).await.expect("admin login");
        Self {
            url: process.url.clone(),
            data_dir: dir.to_path_buf(),
            client: anonymous.with_token(Some(token)),
            running: Running::Embedded { process, extra },
        }
    }

    /// A client without a token.
    pub fn anonymous(&self) -> Client {
        Client::new(&self.url, None)
    }

    /// Clients of every gateway (one for `aurora dev`), logged in with the admin's token.
    pub fn gateways(&self) -> Vec<Client> {
        match &self.running {
            Running::Embedded { .. } => vec![self.client.clone()],
            Running::Distributed(c) => c.gateways.clone(),
        }
    }

    /// The base URL of every process (gateways and the health endpoints of the others).
    pub fn process_urls(&self) -> Vec<String> {
        match &self.running {
            Running::Embedded { process, .. } => vec![process.url.clone()],
            Running::Distributed(c) => c.processes.iter().map(|(_, p)| p.url.clone()).collect(),
        }
    }

    /// The process ids of every process of the deployment.
    pub fn pids(&self) -> Vec<u32> {
        match &self.running {
            Running::Embedded { process, .. } => vec![process.pid()],
            Running::Distributed(c) => c.processes.iter().map(|(_, p)| p.pid()).collect(),
        }
    }

    /// The distributed deployment's processes, to add or stop some; `None` for `aurora dev`.
    pub fn cluster_mut(&mut self) -> Option<&mut Cluster> {
        match &mut self.running {
            Running::Embedded { .. } => None,
            Running::Distributed(c) => Some(c),
        }
    }

    /// SIGKILL every process of the deployment: no shutdown of any kind.
    pub fn kill(&mut self) {
        match &mut self.running {
            Running::Embedded { process, .. } => process.kill(),
            Running::Distributed(c) => c.kill_all(),
        }
    }

    /// SIGTERM every process and wait for them; returns those that did not exit cleanly.
    pub fn stop(&mut self) -> Vec<(String, std::process::ExitStatus)> {
        match &mut self.running {
            Running::Embedded { process, .. } => {
                let status = process.stop();
                if status.success() { vec![] } else { vec![("aurora dev".into(), status)] }
            }
            Running::Distributed(c) => c.stop_all(),
        }
    }

    /// Starts every process again: `aurora dev` on the same data directory and port, or each
    /// process of a distributed deployment with its arguments.
    pub async fn restart(&mut self) {
        match &mut self.running {
            Running::Embedded { extra, .. } => {
                let (listen, extra) = (self.url.trim_start_matches("http://").to_string(), extra.clone());
                *self = Self::start_dev(&self.data_dir, &listen, extra).await;
            }
            Running::Distributed(c) => {
                c.restart_all().await;
                self.client = c.gateways[0].clone();
                self.url = self.client.server().to_string();
            }
        }
    }

    /// The arguments that point `aurora replay` (or any offline command) at this deployment's
    /// stores.
    pub fn store_args(&self) -> Vec<String> {
        match &self.running {
            Running::Embedded { .. } => vec!["--data-dir".into(), self.data_dir.join("data").display().to_string()],
            Running::Distributed(c) => vec!["--config".into(), c.config.display().to_string()],
        }
    }

    /// Submits a `GraphInput`; returns the graph id.
    pub async fn submit(&self, input: Value) -> String {
        let run = self.client.submit(input).await.expect("submission accepted");
        run["id"].as_str().expect("graph id").to_string()
    }

    /// Waits until the graph is terminal; returns the full `graph` query result. Polls only the
    /// run's state (a 10,000-task history read every 50 ms would load the deployment it measures).
    pub async fn wait_terminal(&self, id: &str, timeout: Duration) -> Value {
        if self.wait_ended(id, timeout, Duration::from_millis(50)).await.is_none() {
            let g = self.client.graph(id).await.expect("graph query");
            panic!("graph {id} did not end within {timeout:?}: {g:#}");
        }
        self.client.graph(id).await.expect("graph query")
    }

    /// Polls run `id`'s state (the graph row only, not its tasks) every `every` until it has
    /// ended; returns that state, or `None` if it was still running after `timeout`.
    pub async fn wait_ended(&self, id: &str, timeout: Duration, every: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let polled = self.client.query("query($id: ID!) { graph(id: $id) { state } }", json!({ "id": id })).await;
            let state = polled.expect("graph query")["graph"]["state"].as_str().unwrap_or("").to_string();
            if !state.is_empty() && state != "RUNNING" {
                return Some(state);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(every).await;
        }
    }

    /// The number of events in the ledger, read from the store directly, as an auditor would.
    pub async fn ledger_event_count(&self) -> i64 {
        match &self.running {
            Running::Embedded { .. } => {
                let path = self.data_dir.join("data/ledger.sqlite");
                let conn = rusqlite::Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
                    .expect("open ledger read-only");
                conn.query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0)).expect("count events")
            }
            Running::Distributed(c) => c.event_count().await,
        }
    }

    /// When the ledger's first event of `event_type` was recorded (RFC 3339, UTC), read from the
    /// store directly; `None` if there is none.
    pub async fn first_recorded_at(&self, event_type: &str) -> Option<String> {
        match &self.running {
            Running::Embedded { .. } => {
                let path = self.data_dir.join("data/ledger.sqlite");
                let conn = rusqlite::Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
                    .expect("open ledger read-only");
                // Times are fixed-width RFC 3339 in UTC, so the least string is the earliest.
                conn.query_row("SELECT MIN(recorded_at) FROM events WHERE type = ?1", [event_type], |r| r.get(0))
                    .expect("read the first event's time")
            }
            Running::Distributed(c) => c.first_recorded_at(event_type).await,
        }
    }
}
