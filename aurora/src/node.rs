//! A running Aurora process: any set of roles over the configured backends. `aurora dev` runs all
//! of them on the embedded backends; `aurora gateway|projector|worker` run one each.

use crate::backends;
use crate::roles::{self, RoleResult};
use aurora_config::Config;
use std::net::SocketAddr;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{error, info};

/// Which roles a process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Roles {
    /// GraphQL API, auth, GraphiQL.
    pub gateway: bool,
    /// Read models, frontier, dispatcher (while it leads).
    pub projector: bool,
    /// Runs handlers.
    pub worker: bool,
}

impl Roles {
    /// Everything (`aurora dev`).
    pub const ALL: Roles = Roles { gateway: true, projector: true, worker: true };
}

/// A running Aurora process: its roles, their shutdown token, and where it listens.
pub struct Node {
    /// Where the gateway (or, for other roles, the health endpoints) listens.
    pub addr: SocketAddr,
    shutdown: CancellationToken,
    roles: JoinSet<RoleResult>,
}

impl Node {
    /// Every role in one process (`aurora dev`).
    pub async fn start(config: Config, admin_hash: Option<&str>) -> anyhow::Result<Self> {
        let roles = Roles { worker: config.worker.enabled, ..Roles::ALL };
        Self::start_roles(config, roles, admin_hash).await
    }

    /// Connects the backends and starts `which` roles; returns once the listener is bound. The
    /// gateway adds an `admin` user with the password hash `admin_hash` when given.
    pub async fn start_roles(config: Config, which: Roles, admin_hash: Option<&str>) -> anyhow::Result<Self> {
        if let Some(endpoint) = &config.tracing.otlp_endpoint {
            aurora_telemetry::install(endpoint, trace_resource(&config, which));
        }
        let b = backends::connect(&config).await?;
        let shutdown = CancellationToken::new();
        let mut roles = JoinSet::new();
        if which.worker {
            roles.spawn(roles::worker(&config, &b, shutdown.clone()).await?);
        }
        if which.projector {
            roles.spawn(roles::projector(&config, &b, shutdown.clone()));
        }
        let addr = if which.gateway {
            let (addr, gateway) = roles::gateway(&config, &b, admin_hash, shutdown.clone()).await?;
            roles.spawn(gateway);
            addr
        } else {
            let (addr, ops) = roles::operations(&config, &b, shutdown.clone()).await?;
            roles.spawn(ops);
            addr
        };
        info!(%addr, ?which, "aurora is up");
        Ok(Self { addr, shutdown, roles })
    }

    /// Asks every role to stop.
    pub fn shutdown(&self) {
        self.shutdown.cancel();
    }

    /// A token that stops every role when cancelled.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Runs until shutdown is asked for or a role fails; then stops the others and waits for them.
    pub async fn wait(mut self) -> anyhow::Result<()> {
        let mut failed = None;
        while let Some(joined) = self.roles.join_next().await {
            let (role, result) = joined.unwrap_or(("unknown", Err(anyhow::anyhow!("a role panicked"))));
            if let Err(e) = result {
                error!(role, error = %format!("{e:#}"), "role failed; stopping");
                failed.get_or_insert(anyhow::anyhow!("{role} failed: {e:#}"));
            }
            self.shutdown.cancel();
        }
        // The spans of the last moments (a run's end, the final attempts) go out before exit.
        aurora_telemetry::export::flush(std::time::Duration::from_secs(5)).await;
        failed.map_or(Ok(()), Err)
    }
}

/// What this process's spans say about it: the service, its version and its roles.
fn trace_resource(config: &Config, which: Roles) -> Vec<(String, aurora_telemetry::Value)> {
    let roles: Vec<&str> = [(which.gateway, "gateway"), (which.projector, "projector"), (which.worker, "worker")]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
        .collect();
    let service = config.tracing.service_name.clone().unwrap_or_else(|| "aurora".into());
    vec![
        ("service.name".into(), service.into()),
        ("service.version".into(), env!("CARGO_PKG_VERSION").into()),
        ("aurora.roles".into(), roles.join(",").into()),
        ("process.pid".into(), i64::from(std::process::id()).into()),
    ]
}

/// A random password for the `admin` user when none is given.
pub fn generate_password() -> String {
    use rand::RngCore;
    let mut raw = [0u8; 12];
    rand::thread_rng().fill_bytes(&mut raw);
    hex::encode(raw)
}
