//! A worker as a configuration describes it: the given handlers plus the configured FaaS providers
//! and the executables of `worker.handlers_dir`, over a deployment's backends. This is what
//! `aurora worker` and `aurora dev` run, and what a user's own worker binary runs through [`run`].

use crate::handlers::Registry;
use crate::handlers::executable::Directory;
use crate::handlers::faas::{self, FaasHandler};
use crate::service::{Deps, Options, Service};
use aurora_broker::Broker;
use aurora_config::{Config, LedgerLocation};
use aurora_ledger::Ledger;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing::info;

/// Why a worker could not be set up or run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration (handlers directory, FaaS providers, backends) cannot be used as it is.
    #[error("{0}")]
    Setup(String),
    /// A backend could not be reached.
    #[error("could not connect to {what}: {detail}")]
    Connect {
        /// Which backend.
        what: &'static str,
        /// What went wrong.
        detail: String,
    },
    /// The worker registry failed.
    #[error(transparent)]
    Coord(#[from] aurora_coord::Error),
}

/// The backends a worker talks to.
#[derive(Clone)]
pub struct Backends {
    /// Where transitions are recorded.
    pub ledger: Arc<dyn Ledger>,
    /// Where deliveries come from.
    pub broker: Arc<dyn Broker>,
    /// Worker and queue registry.
    pub registry: Arc<dyn aurora_coord::Registry>,
}

/// A configured worker, ready to register and run.
pub struct Worker {
    service: Service,
    handlers: Arc<Registry>,
    directory: Option<Directory>,
}

/// Adds `config`'s FaaS providers and handlers directory to `handlers` and builds the worker over
/// `backends`. Refused: a FaaS provider or an executable named like a handler `handlers` already
/// has, a handlers directory that is missing or holds two executables of one name.
pub fn configure(config: &Config, mut handlers: Registry, backends: Backends) -> Result<Worker, Error> {
    crate::user_metrics::install(&config.metrics).map_err(Error::Setup)?;
    for provider in faas::providers(&config.faas).map_err(Error::Setup)? {
        if handlers.contains(provider.name()) {
            return Err(Error::Setup(format!(
                "faas `{}` is named like a handler this worker already has; give the [[faas]] entry another `name`",
                provider.name()
            )));
        }
        handlers.register(Arc::new(FaasHandler(provider)));
    }
    let handlers = Arc::new(handlers);
    let kill_grace = Duration::from_millis(config.worker.kill_grace_ms);
    let directory = match &config.worker.handlers_dir {
        Some(dir) => {
            let d = Directory::open(dir, handlers.clone(), kill_grace).map_err(Error::Setup)?;
            info!(dir = %dir.display(), handlers = ?d.offered(), "handlers directory opened");
            Some(d)
        }
        None => None,
    };
    let service = Service::new(
        Options {
            labels: config.worker.labels.clone(),
            slots: config.worker.slots,
            grace: Duration::from_secs(config.worker.grace_secs),
            ..Default::default()
        },
        Deps {
            ledger: backends.ledger,
            broker: backends.broker,
            registry: backends.registry,
            handlers: handlers.clone(),
        },
    );
    Ok(Worker { service, handlers, directory })
}

impl Worker {
    /// What the worker offers (it changes while a handlers directory is watched).
    pub fn handlers(&self) -> Arc<Registry> {
        self.handlers.clone()
    }

    /// Advertises the worker before it runs, so submissions see its handlers at once.
    pub async fn register(&self) -> Result<(), Error> {
        Ok(self.service.register().await?)
    }

    /// Runs until `shutdown` (see [`Service::run`]), watching the handlers directory meanwhile.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), Error> {
        let watching = self.directory.map(|d| tokio::spawn(d.watch(shutdown.clone())));
        let result = self.service.run(shutdown).await;
        if let Some(w) = watching {
            let _ = w.await;
        }
        Ok(result?)
    }
}

/// Joins the distributed deployment `config` describes (MongoDB, RabbitMQ, Redis) as a worker
/// offering `handlers` — plus the configured FaaS providers and handlers directory — and runs until
/// Ctrl-C or SIGTERM, then drains like `aurora worker`. Logging is the caller's to set up.
pub async fn run(config: Config, handlers: Registry) -> Result<(), Error> {
    let LedgerLocation::Mongo(uri, database) = config.ledger_location() else {
        return Err(Error::Setup(not_shared(&config)));
    };
    if !config.is_distributed() {
        return Err(Error::Setup(not_shared(&config)));
    }
    let ledger = aurora_ledger::MongoLedger::connect(&uri, &database)
        .await
        .map_err(|e| Error::Connect { what: "the MongoDB ledger", detail: e.to_string() })?;
    let broker = aurora_broker::RabbitBroker::connect(aurora_broker::rabbitmq::Options {
        url: config.broker.uri.clone(),
        prefix: config.broker.namespace.clone(),
        queue_expires: None,
    })
    .await
    .map_err(|e| Error::Connect { what: "RabbitMQ", detail: e.to_string() })?;
    let coord = aurora_coord::RedisCoord::connect(&config.coord.uri, &config.coord.namespace)
        .await
        .map_err(|e| Error::Connect { what: "Redis", detail: e.to_string() })?;
    let worker = configure(&config, handlers, Backends { ledger, broker, registry: Arc::new(coord) })?;
    worker.register().await?;
    let shutdown = CancellationToken::new();
    let on_signal = shutdown.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        info!("stopping: finishing the attempts in flight");
        on_signal.cancel();
    });
    worker.run(shutdown).await
}

fn not_shared(config: &Config) -> String {
    format!(
        "a worker of its own process joins a deployment whose backends every process shares: set ledger.uri = \
         mongodb://…, broker.uri = amqp://… and coord.uri = redis://… (see config/examples/aurora.toml); this \
         configuration has ledger.uri = `{}`, broker.uri = `{}`, coord.uri = `{}`. For one machine without services, \
         run `aurora dev --handlers-dir DIR` instead",
        config.ledger.uri, config.broker.uri, config.coord.uri
    )
}

/// Ctrl-C (SIGINT) and SIGTERM, listened for from the moment this is made: a signal that arrives
/// before anyone waits is kept, not left to its default action (which would kill the process).
pub struct ShutdownSignals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

impl ShutdownSignals {
    /// Starts listening.
    pub fn listen() -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self { interrupt: signal(SignalKind::interrupt())?, terminate: signal(SignalKind::terminate())? })
    }

    /// Resolves on the next Ctrl-C or SIGTERM.
    pub async fn recv(&mut self) {
        tokio::select! { _ = self.interrupt.recv() => {}, _ = self.terminate.recv() => {} }
    }
}

/// Resolves on Ctrl-C or SIGTERM (every long-running command of `aurora` and `run` stop on it).
pub async fn shutdown_signal() {
    match ShutdownSignals::listen() {
        Ok(mut signals) => signals.recv().await,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
