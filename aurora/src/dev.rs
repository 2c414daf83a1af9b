//! `aurora dev`: every role in one process on the embedded backends (SQLite ledger and read
//! models, in-process broker and coordination).

use anyhow::Context as _;
use aurora_broker::LocalBroker;
use aurora_config::{Config, LedgerLocation};
use aurora_coord::LocalCoord;
use aurora_ledger::{Ledger, SqliteLedger};
use aurora_projector::{ReadStore, SqliteStore};
use aurora_query_graphql::auth::hash_password;
use aurora_query_graphql::{Auth, State, UserEntry, build_schema};
use aurora_schemas::validate::Limits;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{error, info};

/// A running `aurora dev`.
pub struct Dev {
    /// Where the gateway listens.
    pub addr: SocketAddr,
    shutdown: CancellationToken,
    roles: JoinSet<(&'static str, anyhow::Result<()>)>,
}

/// The embedded stores named by the config.
pub fn open_stores(config: &Config) -> anyhow::Result<(Arc<dyn Ledger>, Arc<dyn ReadStore>)> {
    let ledger: Arc<dyn Ledger> = match config.ledger_location() {
        LedgerLocation::Sqlite(path) => Arc::new(
            SqliteLedger::open(&path)
                .with_context(|| format!("opening the ledger at {}", path.display()))?,
        ),
        LedgerLocation::Memory => {
            Arc::new(SqliteLedger::scratch().context("creating a scratch ledger")?)
        }
    };
    let store: Arc<dyn ReadStore> = match config.read_store_path() {
        Some(path) => Arc::new(
            SqliteStore::open(&path)
                .with_context(|| format!("opening the read models at {}", path.display()))?,
        ),
        None => Arc::new(SqliteStore::in_memory().context("creating in-memory read models")?),
    };
    Ok((ledger, store))
}

/// The configured users, plus `admin` with `admin_password` when given.
fn users(config: &Config, admin_password: Option<&str>) -> HashMap<String, UserEntry> {
    let mut users: HashMap<String, UserEntry> = config
        .auth
        .users
        .iter()
        .map(|u| {
            (
                u.name.clone(),
                UserEntry {
                    password_hash: u.password_hash.clone(),
                    role: u.role.clone(),
                },
            )
        })
        .collect();
    if let Some(pw) = admin_password {
        users.insert(
            "admin".into(),
            UserEntry {
                password_hash: hash_password(pw),
                role: "admin".into(),
            },
        );
    }
    users
}

impl Dev {
    /// Opens the stores, starts the worker, projector and gateway, and returns once the gateway
    /// listens. `admin_password` adds (or replaces) the `admin` user.
    pub async fn start(config: Config, admin_password: Option<&str>) -> anyhow::Result<Self> {
        let (ledger, store) = open_stores(&config)?;
        let broker = Arc::new(LocalBroker::new());
        let coord = Arc::new(LocalCoord::new());
        let shutdown = CancellationToken::new();
        let mut roles = JoinSet::new();

        let handlers = Arc::new(aurora_worker::Handlers::with_builtins());
        let worker = aurora_worker::Service::new(
            aurora_worker::Options {
                labels: config.worker.labels.clone(),
                slots: config.worker.slots,
                grace: Duration::from_secs(config.worker.grace_secs),
                ..Default::default()
            },
            aurora_worker::Deps {
                ledger: ledger.clone(),
                broker: broker.clone(),
                registry: coord.clone(),
                handlers,
            },
        );
        if config.worker.enabled {
            worker.register().await.context("registering the worker")?;
            let token = shutdown.clone();
            roles.spawn(async move { ("worker", worker.run(token).await.map_err(Into::into)) });
        }

        let projector = aurora_projector::Service::new(
            aurora_projector::Options {
                batch_max: config.projector.batch_max,
                schedule_to_start: Duration::from_secs(config.projector.schedule_to_start_secs),
                ..Default::default()
            },
            aurora_projector::Deps {
                ledger: ledger.clone(),
                store: store.clone(),
                broker: broker.clone(),
                registry: coord.clone(),
            },
        );
        let token = shutdown.clone();
        roles.spawn(async move { ("projector", projector.run(token).await.map_err(Into::into)) });

        let auth = Auth::new(
            users(&config, admin_password),
            coord.clone(),
            Duration::from_secs(config.auth.token_ttl_secs),
        );
        let state = State {
            command: aurora_command::Service::new(ledger.clone(), coord.clone(), Limits::default()),
            store,
            ledger,
            registry: coord,
            auth,
        };
        let listener = TcpListener::bind(&config.server.listen)
            .await
            .with_context(|| {
                format!(
                    "binding {}; is another Aurora running there?",
                    config.server.listen
                )
            })?;
        let addr = listener.local_addr()?;
        let gateway = aurora_query_graphql::Service::new(build_schema(state.clone()), state);
        let token = shutdown.clone();
        roles.spawn(async move {
            (
                "gateway",
                gateway.run(listener, token).await.map_err(Into::into),
            )
        });
        info!(%addr, "aurora dev is up");
        Ok(Self {
            addr,
            shutdown,
            roles,
        })
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
            let (role, result) =
                joined.unwrap_or(("unknown", Err(anyhow::anyhow!("a role panicked"))));
            if let Err(e) = result {
                error!(role, error = %format!("{e:#}"), "role failed; stopping");
                failed.get_or_insert(anyhow::anyhow!("{role} failed: {e:#}"));
            }
            self.shutdown.cancel();
        }
        failed.map_or(Ok(()), Err)
    }
}

/// A random password for the `admin` user when none is given.
pub fn generate_password() -> String {
    use rand::RngCore;
    let mut raw = [0u8; 12];
    rand::thread_rng().fill_bytes(&mut raw);
    hex::encode(raw)
}
