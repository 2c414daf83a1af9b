//! `aurora dev` and the role processes: config → backends → roles, a banner that says where
//! everything is, and a shutdown that says what it waits for (Ctrl-C twice stops at once).

use crate::data_dir::{Admin, DataDir};
use crate::node::{Node, Roles};
use anyhow::{Context as _, bail};
use aurora_config::Config;
use std::path::PathBuf;
use std::process::ExitCode;

/// Which process this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Everything, embedded.
    Dev,
    /// The GraphQL API.
    Gateway,
    /// Read models, frontier, dispatcher.
    Projector {
        /// `--listen` was given (else a taken health port falls back to a free one).
        explicit_listen: bool,
    },
    /// Runs handlers.
    Worker {
        /// `--listen` was given.
        explicit_listen: bool,
    },
}

impl Role {
    fn roles(self, config: &Config) -> Roles {
        match self {
            Role::Dev => Roles { worker: config.worker.enabled, ..Roles::ALL },
            Role::Gateway => Roles { gateway: true, projector: false, worker: false },
            Role::Projector { .. } => Roles { gateway: false, projector: true, worker: false },
            Role::Worker { .. } => Roles { gateway: false, projector: false, worker: true },
        }
    }

    /// Whether the health endpoints may move to a free port when the configured one is taken
    /// (a second worker started with the same config on the same machine).
    fn may_move(self) -> bool {
        matches!(self, Role::Projector { explicit_listen: false } | Role::Worker { explicit_listen: false })
    }
}

/// Where the `admin` user's password comes from.
pub enum AdminPassword {
    /// `aurora dev`: the given one, else the one kept in the data dir, else a new one.
    Dev {
        /// `--admin-password`.
        given: Option<String>,
        /// `--reset-admin-password`.
        reset: bool,
    },
    /// A role process: the given one, or no `admin` user beyond the configured users.
    Given(Option<String>),
}

/// `--handlers-dir DIR` as the `worker.handlers_dir` override.
pub fn handlers_dir_override(dir: Option<PathBuf>) -> Option<(String, String)> {
    dir.map(|d| ("worker.handlers_dir".to_string(), super::toml_string(&d.display().to_string())))
}

/// `--labels zone=a,gpu=true` as `worker.labels.*` overrides.
pub fn label_overrides(labels: Option<&str>) -> anyhow::Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for pair in labels.iter().flat_map(|l| l.split(',')).filter(|p| !p.trim().is_empty()) {
        let (k, v) = pair
            .split_once('=')
            .with_context(|| format!("label `{pair}` must look like key=value, e.g. --labels zone=a,gpu=true"))?;
        out.push((format!("worker.labels.{}", k.trim()), super::toml_string(v.trim())));
    }
    Ok(out)
}

/// Runs `role` until Ctrl-C or SIGTERM, then shuts down gracefully.
pub async fn serve(mut config: Config, role: Role, admin: AdminPassword) -> anyhow::Result<ExitCode> {
    crate::logging::init(&config.log.format, &config.log.level, std::env::var("RUST_LOG").ok());
    raise_open_file_limit();
    let roles = role.roles(&config);
    if roles != Roles::ALL && !config.is_distributed() {
        bail!(
            "a separate role needs backends every process can share: set ledger.uri=mongodb://…, \
             broker.uri=amqp://… and coord.uri=redis://… (see config/examples/aurora.toml), or run `aurora dev`"
        );
    }
    if role.may_move() && std::net::TcpListener::bind(&config.server.listen).is_err() {
        let taken = std::mem::replace(&mut config.server.listen, "127.0.0.1:0".into());
        tracing::warn!(
            taken,
            "the health endpoints' address is taken (another process of this machine?); using a free port"
        );
    }
    let embedded = matches!(config.ledger_location(), aurora_config::LedgerLocation::Sqlite(_));
    // Held until the process ends: one Aurora per data directory.
    let data_dir = if embedded { Some(DataDir::open(&config.data_dir)?) } else { None };
    let configured_admin = config.auth.users.iter().any(|u| u.name == "admin");
    let admin = match (admin, &data_dir) {
        (AdminPassword::Given(given), _) | (AdminPassword::Dev { given, .. }, None) => {
            given.map(|pw| Admin { hash: aurora_query_graphql::auth::hash_password(&pw), generated: None })
        }
        (AdminPassword::Dev { given: None, .. }, Some(_)) if configured_admin => None,
        (AdminPassword::Dev { given, reset }, Some(d)) => Some(d.admin(given.as_deref(), reset)?),
    };
    let node = Node::start_roles(config.clone(), roles, admin.as_ref().map(|a| a.hash.as_str())).await?;
    if let Some(d) = &data_dir {
        d.protect()?;
    }
    // Listening before the banner: a Ctrl-C right after it stops gracefully, it does not kill.
    let mut signals = aurora_worker::deploy::ShutdownSignals::listen()?;
    println!("Aurora is running.");
    if roles.gateway {
        println!("  web UI:    http://{}/", node.addr);
        println!("  GraphiQL:  http://{}/graphql", node.addr);
    } else {
        println!("  health:    http://{}/health", node.addr);
    }
    if embedded {
        println!("  data dir:  {}", config.data_dir.display());
    }
    if let Some(dir) = &config.worker.handlers_dir
        && roles.worker
    {
        println!("  handlers:  {} (watched)", dir.display());
    }
    if let Some(pw) = admin.as_ref().and_then(|a| a.generated.as_ref()) {
        println!("  admin password (generated, shown once; kept hashed in the data dir): {pw}");
    }
    println!("Stop with Ctrl-C.");
    let token = node.shutdown_token();
    let grace = config.worker.grace_secs;
    tokio::spawn(async move {
        signals.recv().await;
        let worker = if roles.worker {
            format!(", the worker lets running attempts finish (up to {grace} s, worker.grace_secs)")
        } else {
            String::new()
        };
        eprintln!(
            "stopping: open requests finish{worker}, the projector saves its checkpoint; Ctrl-C again stops at once"
        );
        token.cancel();
        signals.recv().await;
        eprintln!("stopping at once; unfinished attempts run again after the next start");
        std::process::exit(130);
    });
    node.wait().await?;
    Ok(ExitCode::SUCCESS)
}

/// Raises the soft limit of open files to the hard one: a server holds a descriptor per
/// connection, and the usual soft limit (1,024) is far below what the connection limit allows.
fn raise_open_file_limit() {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    if limit.current.is_some() && limit.current < limit.maximum.or(Some(u64::MAX)) {
        let raised = Rlimit { current: limit.maximum, maximum: limit.maximum };
        match setrlimit(Resource::Nofile, raised) {
            Ok(()) => tracing::debug!(from = ?limit.current, to = ?limit.maximum, "raised the open-file limit"),
            Err(e) => tracing::warn!(error = %e, soft = ?limit.current, "could not raise the open-file limit"),
        }
    }
}
