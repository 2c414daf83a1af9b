//! Distributed deployments: separate gateway, projector and worker processes on MongoDB,
//! RabbitMQ and Redis. Each deployment is isolated by its own database, queue prefix and key
//! prefix, so deployments of concurrent tests never see each other.

use crate::PASSWORD;
use crate::process::{Process, Starting};
use aurora::client::Client;
use std::path::{Path, PathBuf};

/// A service URL that `scripts/test` exports; panics (never skips) when it is missing.
pub fn service_env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set; run the service tests through scripts/test"))
}

/// Where the shared services are.
#[derive(Debug, Clone)]
pub struct Services {
    /// MongoDB (`mongodb://…`).
    pub mongo: String,
    /// RabbitMQ (`amqp://…`).
    pub amqp: String,
    /// Redis (`redis://…`).
    pub redis: String,
}

impl Services {
    /// The services `scripts/test` started or found.
    pub fn from_env() -> Self {
        Self {
            mongo: service_env("AURORA_TEST_MONGODB_URI"),
            amqp: service_env("AURORA_TEST_AMQP_URL"),
            redis: service_env("AURORA_TEST_REDIS_URL"),
        }
    }
}

/// Writes `dir/aurora.toml` for a fresh deployment on `services`, followed by `extra_toml`.
/// Returns the file and the deployment's database name.
pub fn write_config(dir: &Path, services: &Services, extra_toml: &str) -> (PathBuf, String) {
    let id = uuid::Uuid::now_v7().simple().to_string();
    let database = format!("aurora_e2e_{id}");
    let text = format!(
        r#"
[ledger]
uri = "{mongo}"
namespace = "{database}"
[broker]
uri = "{amqp}"
namespace = "aurora-e2e-{id}."
[coord]
uri = "{redis}"
namespace = "aurora-e2e-{id}"
[projector]
schedule_to_start_secs = 3

{extra_toml}
"#,
        mongo = services.mongo,
        amqp = services.amqp,
        redis = services.redis,
    );
    let path = dir.join("aurora.toml");
    std::fs::write(&path, text).expect("write the deployment's config");
    (path, database)
}

/// The command line of one role process on `config`, listening on a free port.
pub fn role_args(role: &str, config: &Path, extra: &[&str]) -> Vec<String> {
    let mut a = vec![
        role.to_string(),
        "--config".into(),
        config.display().to_string(),
        "--listen".into(),
        "127.0.0.1:0".into(),
    ];
    a.extend(extra.iter().map(|s| s.to_string()));
    a
}

/// How many processes of each role, and each worker's labels (`zone=a,gpu=true`).
#[derive(Debug, Clone)]
pub struct Layout {
    /// Gateway processes.
    pub gateways: usize,
    /// Projector processes (one leads, the others stand by).
    pub projectors: usize,
    /// One entry per worker process: its `--labels`.
    pub workers: Vec<String>,
}

impl Layout {
    /// The layout the core scenarios run on: 2 gateways, 2 projectors, 3 workers.
    pub fn core() -> Self {
        Self { gateways: 2, projectors: 2, workers: vec!["zone=a".into(), "zone=b".into(), "zone=a,gpu=true".into()] }
    }
}

/// A running distributed deployment.
pub struct Cluster {
    /// The processes, named by role and index (`gateway0`, `worker2`, …).
    pub processes: Vec<(String, Process)>,
    /// How each process was started (name, arguments), to start it again.
    commands: Vec<(String, Vec<String>)>,
    dir: PathBuf,
    /// One client per gateway, all logged in as admin with the same token.
    pub gateways: Vec<Client>,
    /// The config file every process reads.
    pub config: PathBuf,
    /// The deployment's MongoDB database.
    pub database: String,
    services: Services,
}

impl Cluster {
    /// Starts `layout` on `services` in `dir` (logs go there), with `--set` overrides for every
    /// process and extra TOML in the config file; returns when every process is up and the
    /// admin is logged in.
    pub async fn start(dir: &Path, services: &Services, layout: &Layout, sets: &[String], extra_toml: &str) -> Self {
        let (config, database) = write_config(dir, services, extra_toml);
        let with_sets = |mut args: Vec<String>| {
            for kv in sets {
                args.extend(["--set".to_string(), kv.clone()]);
            }
            args
        };
        let mut commands: Vec<(String, Vec<String>)> = Vec::new();
        for i in 0..layout.projectors {
            commands.push((format!("projector{i}"), with_sets(role_args("projector", &config, &[]))));
        }
        for (i, labels) in layout.workers.iter().enumerate() {
            commands.push((format!("worker{i}"), with_sets(role_args("worker", &config, &["--labels", labels]))));
        }
        for i in 0..layout.gateways {
            let args = with_sets(role_args("gateway", &config, &["--admin-password", PASSWORD]));
            commands.push((format!("gateway{i}"), args));
        }
        let mut cluster = Self {
            processes: Vec::new(),
            commands,
            dir: dir.to_path_buf(),
            gateways: Vec::new(),
            config,
            database,
            services: services.clone(),
        };
        cluster.spawn_all(None).await;
        cluster
    }

    /// Starts every process (all at once, then waits for each), and logs in on the gateways,
    /// reusing `token` if given.
    async fn spawn_all(&mut self, token: Option<String>) {
        let starting: Vec<(String, Starting)> =
            self.commands.iter().map(|(n, args)| (n.clone(), Process::start(args, &log(&self.dir, n)))).collect();
        self.processes = starting.into_iter().map(|(n, s)| (n, s.ready())).collect();
        let urls: Vec<String> =
            self.processes.iter().filter(|(n, _)| n.starts_with("gateway")).map(|(_, p)| p.url.clone()).collect();
        let token = match token {
            Some(t) => t,
            None => Client::new(&urls[0], None).login("admin", PASSWORD).await.expect("admin login"),
        };
        self.gateways = urls.iter().map(|u| Client::new(u, Some(token.clone()))).collect();
    }

    /// Starts one more process of `role` (`worker`, `projector`, `gateway`) named `name`, with the
    /// deployment's config, the `--set` overrides `sets` and the role's own `extra` arguments.
    pub fn add(&mut self, name: &str, role: &str, sets: &[String], extra: &[&str]) {
        let mut args = role_args(role, &self.config, extra);
        for kv in sets {
            args.extend(["--set".to_string(), kv.clone()]);
        }
        let process = Process::spawn(&args, &log(&self.dir, name));
        self.commands.push((name.to_string(), args));
        self.processes.push((name.to_string(), process));
    }

    /// Starts the process `name` again (after it was killed) with its arguments.
    pub fn respawn(&mut self, name: &str) {
        let args = self.commands.iter().find(|(n, _)| n == name).map(|(_, a)| a.clone());
        let args = args.unwrap_or_else(|| panic!("no {name}"));
        let fresh = Process::spawn(&args, &log(&self.dir, name));
        *self.process(name) = fresh;
    }

    /// The deployment's MongoDB database, for checks that read or change the stores directly.
    pub async fn mongo(&self) -> mongodb::Database {
        let client = mongodb::Client::with_uri_str(&self.services.mongo).await.expect("MongoDB reachable");
        client.database(&self.database)
    }

    /// SIGKILL every process at once.
    pub fn kill_all(&mut self) {
        for (_, p) in &mut self.processes {
            p.kill();
        }
    }

    /// Starts every process again with the same arguments; the admin's session (kept in Redis)
    /// goes on working on the new gateways.
    pub async fn restart_all(&mut self) {
        self.kill_all();
        let token = self.gateways.first().and_then(|g| g.token().map(str::to_string));
        self.spawn_all(token).await;
    }

    /// SIGTERM every process; returns those that did not exit cleanly.
    pub fn stop_all(&mut self) -> Vec<(String, std::process::ExitStatus)> {
        self.processes.iter_mut().map(|(n, p)| (n.clone(), p.stop())).filter(|(_, s)| !s.success()).collect()
    }

    /// The process named `name`.
    pub fn process(&mut self, name: &str) -> &mut Process {
        self.processes.iter_mut().find(|(n, _)| n == name).map(|(_, p)| p).unwrap_or_else(|| panic!("no {name}"))
    }

    /// The number of events in the deployment's ledger, counted in MongoDB directly (positions
    /// marked skipped are not events).
    pub async fn event_count(&self) -> i64 {
        let events = self.mongo().await.collection::<mongodb::bson::Document>("events");
        // aurora_ledger::mongo::docs::SKIPPED
        let filter = mongodb::bson::doc! { "type": { "$ne": "PositionSkipped" } };
        events.count_documents(filter).await.expect("count events") as i64
    }

    /// When the first event of `event_type` was recorded (RFC 3339, UTC), if there is one.
    pub async fn first_recorded_at(&self, event_type: &str) -> Option<String> {
        let events = self.mongo().await.collection::<mongodb::bson::Document>("events");
        let first = events
            .find_one(mongodb::bson::doc! { "type": event_type })
            .sort(mongodb::bson::doc! { "recorded_at": 1 })
            .await
            .expect("read the first event's time");
        first.and_then(|d| d.get_str("recorded_at").ok().map(str::to_string))
    }
}

fn log(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.log"))
}
