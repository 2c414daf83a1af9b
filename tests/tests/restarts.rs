//! Restarting the servers Aurora stands on while graphs run (issue "Distributed mode", done-when
//! 4): Redis, the MongoDB server and RabbitMQ each go away and come back; every process reconnects
//! and every graph finishes, with one terminal event per task. Each test runs a private server of
//! the kind it restarts, so tests running beside it are not disturbed.

#![cfg(feature = "service-tests")]
#![allow(clippy::unwrap_used)] // test code: a panic is a failed check

use aurora::client::Client;
use aurora_e2e::cluster::{Services, role_args, write_config};
use aurora_e2e::{PASSWORD, Process, Scratch, assert_invariants};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn wait_for_port(port: u16, secs: u64) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A server process of the test's own (Redis, MongoDB) that it may restart.
struct Private {
    child: std::process::Child,
    program: &'static str,
    args: Vec<String>,
    port: u16,
}

impl Private {
    fn start(program: &'static str, args: Vec<String>, port: u16) -> Self {
        let child = std::process::Command::new(program)
            .args(&args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{program}: {e}"));
        wait_for_port(port, 30);
        Self { child, program, args, port }
    }

    fn restart(&mut self, down_for: Duration) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::thread::sleep(down_for);
        *self = Self::start(self.program, self.args.clone(), self.port);
    }
}

impl Drop for Private {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Logs in, retrying while the gateway's dependencies come back.
async fn login(url: &str) -> Client {
    let anonymous = Client::new(url, None);
    for _ in 0..200 {
        if let Ok(token) = anonymous.login("admin", PASSWORD).await {
            return anonymous.with_token(Some(token));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("could not log in to {url}");
}

/// Waits for the run to end, logging in again when a restart cost the session.
async fn wait_terminal_through_restarts(url: &str, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut c = login(url).await;
    loop {
        match c.graph(id).await {
            Ok(g) if g["state"].as_str().is_some_and(|s| s != "RUNNING") => return g,
            Ok(_) => {}
            Err(e) if e.codes().iter().any(|c| c == "UNAUTHENTICATED") => c = login(url).await,
            Err(_) => {} // a dependency is restarting
        }
        assert!(Instant::now() < deadline, "graph {id} did not end after the restarts");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A RabbitMQ node of the test's own, on free ports, in a temporary directory; halted on drop.
struct PrivateRabbit {
    node: String,
    port: u16,
    dir: PathBuf,
}

impl PrivateRabbit {
    fn start() -> Self {
        use std::os::unix::fs::PermissionsExt;
        let (port, dist) = (free_port(), free_port());
        let node = format!("aurora-test-{port}@localhost");
        // The server runs as the rabbitmq user: a directory it can write, outside the checkout.
        let dir = std::env::temp_dir().join(format!("aurora-rabbit-{port}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        std::fs::write(dir.join("rabbitmq.conf"), format!("listeners.tcp.local = 127.0.0.1:{port}\n")).unwrap();
        std::fs::write(dir.join("enabled_plugins"), "[].\n").unwrap();
        std::fs::write(dir.join("env.conf"), "").unwrap();
        let status = Command::new("rabbitmq-server")
            .arg("-detached")
            .current_dir(&dir)
            .env("RABBITMQ_NODENAME", &node)
            .env("RABBITMQ_NODE_PORT", port.to_string())
            .env("RABBITMQ_DIST_PORT", dist.to_string())
            .env("RABBITMQ_CONFIG_FILE", dir.join("rabbitmq.conf"))
            .env("RABBITMQ_CONF_ENV_FILE", dir.join("env.conf"))
            .env("RABBITMQ_ENABLED_PLUGINS_FILE", dir.join("enabled_plugins"))
            .env("RABBITMQ_MNESIA_BASE", dir.join("mnesia"))
            .env("RABBITMQ_LOG_BASE", dir.join("log"))
            .env("ERL_EPMD_ADDRESS", "127.0.0.1")
            .status()
            .expect("rabbitmq-server is installed");
        assert!(status.success(), "rabbitmq-server -detached failed");
        let rabbit = Self { node, port, dir };
        wait_for_port(port, 120);
        rabbit
    }

    fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.port)
    }

    fn ctl(&self, args: &[&str]) {
        let out = Command::new("rabbitmqctl").args(["-n", &self.node]).args(args).output().expect("rabbitmqctl");
        assert!(out.status.success(), "rabbitmqctl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
}

impl Drop for PrivateRabbit {
    fn drop(&mut self) {
        let _ = Command::new("rabbitmqctl").args(["-n", &self.node, "stop"]).output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A MongoDB server of the test's own, of the kind `scripts/test` uses (a real `mongod` as a
/// one-node replica set, or the `secantusd-rs` stand-in), keeping its data across restarts.
fn private_mongo(dir: &Path) -> (Private, String) {
    let port = free_port();
    let data = dir.join("mongo-data");
    std::fs::create_dir_all(&data).unwrap();
    if std::env::var("AURORA_TEST_MONGODB_SERVER").as_deref() == Ok("mongod") {
        let args = ["--replSet", "rs0", "--bind_ip", "127.0.0.1", "--port", &port.to_string(), "--dbpath"]
            .map(String::from)
            .into_iter()
            .chain([data.display().to_string()])
            .collect();
        let server = Private::start("mongod", args, port);
        let init = format!("rs.initiate({{_id:'rs0',members:[{{_id:0,host:'127.0.0.1:{port}'}}]}})");
        let out = Command::new("mongosh").args(["--quiet", "--port", &port.to_string(), "--eval", &init]).output();
        assert!(out.is_ok_and(|o| o.status.success()), "rs.initiate on the private mongod");
        (server, format!("mongodb://127.0.0.1:{port}/?replicaSet=rs0"))
    } else {
        // --sync-on-commit: a commit is acknowledged only once it is on disk (what `j: true` asks of
        // a real mongod); without it the stand-in can lose acknowledged writes when killed.
        let args = ["--port", &port.to_string(), "--sync-on-commit", "--cache-size", "256M", "--log-file-max", "16MB"]
            .map(String::from)
            .into_iter()
            .chain(["--storage-path".to_string(), data.display().to_string()])
            .collect();
        (Private::start("secantusd-rs", args, port), format!("mongodb://127.0.0.1:{port}"))
    }
}

/// Starts a projector, a gateway and two workers on `services`, submits three chains of sleeps,
/// calls `fault` while they run, and checks that every run then ends SUCCESS with one terminal
/// event per task.
async fn graphs_survive(dir: &Path, services: &Services, fault: impl FnOnce()) {
    let (cfg, _) = write_config(dir, services, "");
    let spawn = |role: &str, extra: &[&str], name: &str| {
        Process::spawn(&role_args(role, &cfg, extra), &dir.join(format!("{name}.log")))
    };
    let _projector = spawn("projector", &[], "projector");
    let gateway = spawn("gateway", &["--admin-password", PASSWORD], "gateway");
    let _workers =
        [spawn("worker", &["--labels", "pool=y"], "worker0"), spawn("worker", &["--labels", "pool=y"], "worker1")];
    let c = login(&gateway.url).await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        let mut chain = aurora_e2e::graphs::sleep_chain(5, 300);
        for t in chain["tasks"].as_array_mut().unwrap() {
            t["labelSelector"] = json!({ "pool": "y" });
        }
        ids.push(c.submit(chain).await.unwrap()["id"].as_str().unwrap().to_string());
    }
    tokio::time::sleep(Duration::from_millis(600)).await;
    fault();
    for id in &ids {
        let g = wait_terminal_through_restarts(&gateway.url, id).await;
        assert_eq!(g["state"], "SUCCESS", "{g:#}");
        assert_invariants(&g);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarting_redis_mid_run_loses_nothing() {
    // Redis keeps no data here (like a cache node that was replaced): leases, the registry, the
    // queue set and sessions are all lost and must be rebuilt by the processes.
    let dir = Scratch::new("restart-redis");
    let port = free_port();
    let args = ["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"];
    let mut redis = Private::start("redis-server", args.map(String::from).to_vec(), port);
    let services = Services { redis: format!("redis://127.0.0.1:{port}/0"), ..Services::from_env() };
    graphs_survive(&dir.0, &services, || redis.restart(Duration::from_millis(300))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarting_the_mongodb_server_mid_run_loses_nothing() {
    let dir = Scratch::new("restart-mongo");
    let (mut mongo, uri) = private_mongo(&dir.0);
    let services = Services { mongo: uri, ..Services::from_env() };
    graphs_survive(&dir.0, &services, || mongo.restart(Duration::from_millis(500))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarting_rabbitmq_mid_run_loses_nothing() {
    let dir = Scratch::new("restart-rabbitmq");
    let rabbit = PrivateRabbit::start();
    let services = Services { amqp: rabbit.url(), ..Services::from_env() };
    graphs_survive(&dir.0, &services, || {
        rabbit.ctl(&["stop_app"]);
        std::thread::sleep(Duration::from_millis(500));
        rabbit.ctl(&["start_app"]);
    })
    .await;
}
