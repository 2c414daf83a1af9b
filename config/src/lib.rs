//! Aurora's typed configuration: one section per role and backend, loaded as
//! defaults → TOML file → `AURORA_*` environment (nested with `__`) → command-line overrides,
//! then validated in one pass that reports every problem at once.
//!
//! Library code never reads the process environment: the caller passes it in.

mod load;
mod validate;

pub use load::{load, parse_overrides};

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Why configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file or a value could not be read or parsed.
    #[error("configuration could not be read: {0}")]
    Read(String),
    /// The configuration is well-formed but wrong; every problem is listed.
    #[error("configuration is invalid:\n{}", .0.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<String>),
}

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where local state lives (embedded ledger and read models).
    pub data_dir: PathBuf,
    /// The HTTP/GraphQL server.
    pub server: Server,
    /// The event store.
    pub ledger: Backend,
    /// Task delivery.
    pub broker: Backend,
    /// Leases, registry, sessions.
    pub coord: Backend,
    /// Users and tokens.
    pub auth: Auth,
    /// The worker role.
    pub worker: Worker,
    /// The projector role.
    pub projector: Projector,
    /// Logging.
    pub log: Log,
    /// Bounds on what one client may cost the server.
    pub limits: Limits,
    /// The HTTP surface: cross-origin requests, the REST API's waits.
    pub http: Http,
    /// Trace export (OpenTelemetry).
    pub tracing: Tracing,
    /// User-defined metrics (the seed's `metrics.toml`): handlers update them, each worker's
    /// `/metrics` shows them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub metrics: Vec<Metric>,
    /// FaaS providers (the seed's `[[Faas]]`): each is a handler that invokes the provider's
    /// functions. Workers invoke them; gateways list their functions.
    #[serde(alias = "Faas", skip_serializing_if = "Vec::is_empty")]
    pub faas: Vec<Faas>,
}

/// The HTTP server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Server {
    /// `host:port` to listen on.
    pub listen: String,
    /// Serve the browser UI from this directory instead of the bundle built into the binary
    /// (for working on `web/`: point it at `web/dist`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub web_dir: Option<PathBuf>,
}

/// A user-defined metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metric {
    /// Its name on `/metrics` (`[a-zA-Z_:][a-zA-Z0-9_:]*`, not `aurora_…` or `process_…`).
    pub name: String,
    /// What it measures (shown as `# HELP`).
    pub help: String,
    /// `counter`, `gauge`, `histogram` or `summary`.
    pub kind: String,
    /// Its label names; every update gives a value for each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    /// A histogram's bucket bounds, increasing (default: Prometheus' defaults).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub buckets: Vec<f64>,
}

/// The HTTP surface.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Http {
    /// Origins a browser page may call Aurora from (`https://app.example.com`, or `*` for any);
    /// none by default. Credentials (cookies) are never allowed: tokens go in `Authorization`.
    pub cors_origins: Vec<String>,
    /// The longest a REST `send` waits for its run, in seconds (`timeout_duration: 0` waits
    /// until the run ends, up to this); then it answers `"continue"` with what it has.
    pub send_max_wait_secs: u64,
}

impl Default for Http {
    fn default() -> Self {
        Self { cors_origins: Vec::new(), send_max_wait_secs: 300 }
    }
}

/// Trace export: each run as one OpenTelemetry trace (its id is the graph id), sent over OTLP.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Tracing {
    /// The OTLP/HTTP collector, e.g. `http://127.0.0.1:4318` (spans go to its `/v1/traces`, as
    /// protobuf); unset, nothing is exported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub otlp_endpoint: Option<String>,
    /// `service.name` of this process's spans; `aurora` when unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_name: Option<String>,
}

/// Bounds on what one client (or one request) may cost the server; each refusal names the limit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Bytes of a request body with a valid token.
    pub max_body_bytes: usize,
    /// Bytes of a request body without one (enough to log in or load the schema).
    pub anonymous_max_body_bytes: usize,
    /// Bytes of values one GraphQL query may return.
    pub max_response_bytes: usize,
    /// GraphQL complexity: each field costs 1, a list field its page size times its children.
    pub max_complexity: usize,
    /// Fields one GraphQL document may select (aliases and fragments counted as they expand).
    pub max_fields: usize,
    /// Seconds a request may take from its headers to its response.
    pub request_timeout_secs: u64,
    /// Seconds a client may take to send a request's headers.
    pub header_read_timeout_secs: u64,
    /// Seconds a client may take to send a request's body.
    pub body_read_timeout_secs: u64,
    /// Open connections (HTTP and WebSocket) a process serves at once; more are refused.
    pub max_connections: usize,
    /// Open WebSocket connections per token.
    pub max_sockets_per_token: usize,
    /// Live subscriptions per token.
    pub max_subscriptions_per_token: usize,
    /// Live subscriptions in all.
    pub max_subscriptions: usize,
    /// Seconds a new WebSocket may take to send `connection_init`.
    pub connection_init_timeout_secs: u64,
    /// The most retries a task may ask for.
    pub max_retry_count: u32,
    /// The least delay before a retry, in milliseconds.
    pub min_retry_backoff_ms: u64,
    /// Password checks (Argon2) running at once; more wait.
    pub login_concurrency: usize,
    /// Failed logins a client address or a user name may have in a row before it must wait; the
    /// wait doubles with each further failure (from one second, at most five minutes).
    pub login_failures_before_backoff: u32,
    /// Logins a client address may attempt per minute.
    pub logins_per_minute: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 16 * 1024 * 1024,
            anonymous_max_body_bytes: 64 * 1024,
            max_response_bytes: 32 * 1024 * 1024,
            max_complexity: 300_000,
            max_fields: 2_000,
            request_timeout_secs: 60,
            header_read_timeout_secs: 10,
            body_read_timeout_secs: 30,
            max_connections: 10_000,
            max_sockets_per_token: 200,
            max_subscriptions_per_token: 500,
            max_subscriptions: 5_000,
            connection_init_timeout_secs: 10,
            max_retry_count: 100,
            min_retry_backoff_ms: 100,
            login_concurrency: 2,
            login_failures_before_backoff: 5,
            logins_per_minute: 60,
        }
    }
}

/// A backend chosen by URI scheme.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Backend {
    /// `sqlite://PATH`, `memory://`, `mongodb://…` (ledger); `local://`, `amqp://…` (broker);
    /// `local://`, `redis://…` (coord). Empty ledger: the embedded default.
    pub uri: String,
    /// The MongoDB database (ledger), or the prefix of queue names (broker) or keys (coord).
    #[serde(default)]
    pub namespace: String,
}

/// One user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    /// Login name.
    pub name: String,
    /// Argon2id PHC string, as printed by `aurora hash-password`.
    pub password_hash: String,
    /// `admin`, `operator` or `viewer`.
    #[serde(default = "default_role")]
    pub role: String,
}

fn default_role() -> String {
    "admin".into()
}

/// Users and tokens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Auth {
    /// The users who may log in.
    pub users: Vec<User>,
    /// How long a token lives, in seconds.
    pub token_ttl_secs: u64,
}

/// The worker role.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Worker {
    /// Run a worker in this process (`aurora dev`).
    pub enabled: bool,
    /// Labels that task selectors match.
    pub labels: BTreeMap<String, String>,
    /// Attempts run at once.
    pub slots: usize,
    /// Seconds in-flight attempts may finish after shutdown.
    pub grace_secs: u64,
    /// A directory of executables to offer as handlers (watched; see the README's "Your own
    /// handlers").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handlers_dir: Option<PathBuf>,
    /// Milliseconds between SIGTERM and SIGKILL when an executable's attempt must stop.
    #[serde(default = "default_kill_grace_ms")]
    pub kill_grace_ms: u64,
}

fn default_kill_grace_ms() -> u64 {
    2000
}

/// One FaaS provider. The seed's keys (`Driver`, `Endpoint`, `ServiceName`, `AccessKeyId`,
/// `AccessKeySecret`, and `Name`/`Password` for OpenFaaS basic auth) are accepted as well.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Faas {
    /// The handler name tasks use (default `<driver>_driver`, the seed's names).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `openfaas` or `aliyunfc`.
    #[serde(alias = "Driver")]
    pub driver: String,
    /// The OpenFaaS gateway URL, or the Function Compute endpoint (`https://ACCOUNT.REGION.fc.aliyuncs.com`;
    /// a host without a scheme means https).
    #[serde(alias = "Endpoint")]
    pub endpoint: String,
    /// OpenFaaS: the basic-auth user.
    #[serde(default, alias = "Name", skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// OpenFaaS: the basic-auth password.
    #[serde(default, alias = "Password", skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// Function Compute: the service the functions belong to.
    #[serde(default, alias = "ServiceName", skip_serializing_if = "Option::is_none")]
    pub service_name: Option<String>,
    /// Function Compute: a version or alias of the service (`LATEST` when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qualifier: Option<String>,
    /// Function Compute: the account id (default: the first label of the endpoint's host).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// Function Compute: the AccessKey id.
    #[serde(default, alias = "AccessKeyId", skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<String>,
    /// Function Compute: the AccessKey secret.
    #[serde(default, alias = "AccessKeySecret", skip_serializing_if = "Option::is_none")]
    pub access_key_secret: Option<String>,
    /// Milliseconds one invocation (or listing) may take.
    #[serde(default = "default_faas_timeout_ms")]
    pub timeout_ms: u64,
}

fn default_faas_timeout_ms() -> u64 {
    30_000
}

impl Faas {
    /// The handler name tasks use.
    pub fn handler_name(&self) -> String {
        self.name.clone().unwrap_or_else(|| format!("{}_driver", self.driver))
    }
}

/// The projector role.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Projector {
    /// Seconds a task may wait for a capable worker before it fails.
    pub schedule_to_start_secs: u64,
    /// Most events per batch.
    pub batch_max: usize,
    /// Graphs are split into this many partitions by `hash(graph_id) % partitions`; each has its
    /// own leadership lease, fence and checkpoint, so that several projector processes share the
    /// work. Every projector process must use the same value.
    #[serde(default = "one")]
    pub partitions: u32,
}

fn one() -> u32 {
    1
}

/// Logging.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Log {
    /// `text` or `json`.
    pub format: String,
    /// A `tracing` filter, e.g. `info` or `aurora=debug,info`.
    pub level: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./aurora-data"),
            server: Server { listen: "127.0.0.1:4332".into(), web_dir: None },
            ledger: Backend { uri: String::new(), namespace: "aurora".into() },
            broker: Backend { uri: "local://".into(), namespace: String::new() },
            coord: Backend { uri: "local://".into(), namespace: "aurora".into() },
            auth: Auth { users: Vec::new(), token_ttl_secs: 24 * 3600 },
            worker: Worker {
                enabled: true,
                labels: BTreeMap::new(),
                slots: 16,
                grace_secs: 10,
                handlers_dir: None,
                kill_grace_ms: default_kill_grace_ms(),
            },
            projector: Projector { schedule_to_start_secs: 300, batch_max: 1000, partitions: 1 },
            log: Log { format: "text".into(), level: "info".into() },
            limits: Limits::default(),
            http: Http::default(),
            tracing: Tracing::default(),
            metrics: Vec::new(),
            faas: Vec::new(),
        }
    }
}

/// Where the ledger is, resolved from `ledger.uri` and `data_dir`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LedgerLocation {
    /// A SQLite file.
    Sqlite(PathBuf),
    /// A scratch ledger that lives as long as the process.
    Memory,
    /// A MongoDB deployment (URI) and database; read models live in the same database.
    Mongo(String, String),
}

impl Config {
    /// The ledger's location.
    pub fn ledger_location(&self) -> LedgerLocation {
        match self.ledger.uri.as_str() {
            "" => LedgerLocation::Sqlite(self.data_dir.join("ledger.sqlite")),
            "memory://" => LedgerLocation::Memory,
            uri if uri.starts_with("mongodb://") || uri.starts_with("mongodb+srv://") => {
                LedgerLocation::Mongo(uri.to_string(), self.ledger.namespace.clone())
            }
            uri => LedgerLocation::Sqlite(PathBuf::from(uri.strip_prefix("sqlite://").unwrap_or(uri))),
        }
    }

    /// The read-model store's file (beside a SQLite ledger); `None` otherwise.
    pub fn read_store_path(&self) -> Option<PathBuf> {
        match self.ledger_location() {
            LedgerLocation::Sqlite(p) => Some(p.with_file_name("read-models.sqlite")),
            LedgerLocation::Memory | LedgerLocation::Mongo(..) => None,
        }
    }

    /// Whether every backend can be shared between processes (what the separate roles need).
    pub fn is_distributed(&self) -> bool {
        matches!(self.ledger_location(), LedgerLocation::Mongo(..))
            && self.broker.uri.starts_with("amqp")
            && self.coord.uri.starts_with("redis")
    }

    /// The configuration as TOML (`aurora config dump`).
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("the config always serialises")
    }
}
