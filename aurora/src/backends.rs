//! Opens the backends the configuration names, by URI scheme (DESIGN §1): the roles never know
//! which ones they run on.

use anyhow::Context as _;
use aurora_broker::{Broker, LocalBroker, RabbitBroker};
use aurora_config::{Config, LedgerLocation};
use aurora_coord::{Leases, LocalCoord, RedisCoord, Registry, Sessions, SqliteSessions};
use aurora_ledger::{Ledger, MongoLedger, SqliteLedger};
use aurora_projector::store::mongo::MongoStore;
use aurora_projector::{ReadStore, SqliteStore};
use std::sync::Arc;

/// Every backend a role may need.
#[derive(Clone)]
pub struct Backends {
    /// The event store.
    pub ledger: Arc<dyn Ledger>,
    /// The read models.
    pub store: Arc<dyn ReadStore>,
    /// Task delivery.
    pub broker: Arc<dyn Broker>,
    /// Leadership leases.
    pub leases: Arc<dyn Leases>,
    /// Workers and queues.
    pub registry: Arc<dyn Registry>,
    /// Session tokens.
    pub sessions: Arc<dyn Sessions>,
}

/// The ledger and read models the config names.
pub async fn stores(config: &Config) -> anyhow::Result<(Arc<dyn Ledger>, Arc<dyn ReadStore>)> {
    Ok(match config.ledger_location() {
        LedgerLocation::Sqlite(path) => {
            let ledger =
                SqliteLedger::open(&path).with_context(|| format!("opening the ledger at {}", path.display()))?;
            let rm = path.with_file_name("read-models.sqlite");
            let store =
                SqliteStore::open(&rm).with_context(|| format!("opening the read models at {}", rm.display()))?;
            (Arc::new(ledger), Arc::new(store))
        }
        LedgerLocation::Memory => (
            Arc::new(SqliteLedger::scratch().context("creating a scratch ledger")?),
            Arc::new(SqliteStore::in_memory().context("creating in-memory read models")?),
        ),
        LedgerLocation::Mongo(uri, db) => {
            let ledger = MongoLedger::connect(&uri, &db).await.context("connecting the MongoDB ledger")?;
            let store = MongoStore::connect(&uri, &db).await.context("connecting the MongoDB read models")?;
            (ledger, Arc::new(store))
        }
    })
}

/// Opens every backend.
pub async fn connect(config: &Config) -> anyhow::Result<Backends> {
    let (ledger, store) = stores(config).await?;
    let broker: Arc<dyn Broker> = if config.broker.uri == "local://" {
        Arc::new(LocalBroker::new())
    } else {
        RabbitBroker::connect(aurora_broker::rabbitmq::Options {
            url: config.broker.uri.clone(),
            prefix: config.broker.namespace.clone(),
            queue_expires: None,
        })
        .await
        .context("connecting to RabbitMQ")?
    };
    let (leases, registry, sessions): (Arc<dyn Leases>, Arc<dyn Registry>, Arc<dyn Sessions>) =
        if config.coord.uri == "local://" {
            let c = Arc::new(LocalCoord::new());
            // Beside a SQLite ledger, sessions are kept on disk: a restart keeps every login.
            let sessions: Arc<dyn Sessions> = match config.ledger_location() {
                LedgerLocation::Sqlite(path) => {
                    let file = path.with_file_name("sessions.sqlite");
                    Arc::new(SqliteSessions::open(&file).with_context(|| format!("opening {}", file.display()))?)
                }
                LedgerLocation::Memory | LedgerLocation::Mongo(..) => c.clone(),
            };
            (c.clone(), c, sessions)
        } else {
            let c = Arc::new(
                RedisCoord::connect(&config.coord.uri, &config.coord.namespace).await.context("connecting to Redis")?,
            );
            (c.clone(), c.clone(), c)
        };
    Ok(Backends { ledger, store, broker, leases, registry, sessions })
}
