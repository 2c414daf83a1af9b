//! The roles as runnable units, shared by `aurora dev` (all in one process) and the separate
//! `aurora gateway`, `aurora projector` and `aurora worker` processes.

use crate::backends::Backends;
use anyhow::Context as _;
use aurora_config::Config;
use aurora_query_graphql::{Auth, State, UserEntry, build_schema};
use aurora_schemas::validate::Limits;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// A role's outcome.
pub type RoleResult = (&'static str, anyhow::Result<()>);

/// The configured users, plus `admin` with the password hash `admin_hash` when given.
fn users(config: &Config, admin_hash: Option<&str>) -> HashMap<String, UserEntry> {
    let mut users: HashMap<String, UserEntry> = config
        .auth
        .users
        .iter()
        .map(|u| (u.name.clone(), UserEntry { password_hash: u.password_hash.clone(), role: u.role.clone() }))
        .collect();
    if let Some(hash) = admin_hash {
        users.insert("admin".into(), UserEntry { password_hash: hash.to_string(), role: "admin".into() });
    }
    users
}

/// Binds the gateway's listener and returns its address and the serving future.
pub async fn gateway(
    config: &Config,
    b: &Backends,
    admin_hash: Option<&str>,
    shutdown: CancellationToken,
) -> anyhow::Result<(SocketAddr, impl Future<Output = RoleResult> + use<>)> {
    // Remote workers update the user-defined metrics of the gateway they are connected to.
    aurora_worker::user_metrics::install(&config.metrics).map_err(anyhow::Error::msg)?;
    let auth =
        Auth::new(users(config, admin_hash), b.sessions.clone(), Duration::from_secs(config.auth.token_ttl_secs))
            .with_limits(&config.limits);
    let state = State {
        command: aurora_command::Service::new(
            b.ledger.clone(),
            b.registry.clone(),
            Limits {
                max_retry_count: config.limits.max_retry_count,
                min_retry_backoff_ms: config.limits.min_retry_backoff_ms,
                ..Limits::default()
            },
        ),
        store: b.store.clone(),
        ledger: b.ledger.clone(),
        registry: b.registry.clone(),
        auth,
        limits: config.limits.clone(),
        live: Default::default(),
        tails: std::sync::Arc::new(aurora_query_graphql::schema::tails::Tails::new(b.ledger.clone())),
        web: match &config.server.web_dir {
            Some(dir) => aurora_query_graphql::web::Assets::Dir(dir.clone()),
            None => aurora_query_graphql::web::Assets::Embedded,
        },
        faas: aurora_worker::handlers::faas::providers(&config.faas).map_err(anyhow::Error::msg)?,
        remote: aurora_query_graphql::remote::Endpoint::new(
            b.ledger.clone(),
            b.broker.clone(),
            b.registry.clone(),
            shutdown.child_token(),
        ),
        http: config.http.clone(),
        shutdown: shutdown.clone(),
    };
    let listener = TcpListener::bind(&config.server.listen)
        .await
        .with_context(|| format!("binding {}; is another Aurora running there?", config.server.listen))?;
    let addr = listener.local_addr()?;
    let service = aurora_query_graphql::Service::new(build_schema(state.clone()), state);
    Ok((addr, async move { ("gateway", service.run(listener, shutdown).await.map_err(Into::into)) }))
}

/// Registers the worker (so its handlers are known at once) and returns its running future. It
/// offers the built-ins, the configured FaaS providers and the executables of `worker.handlers_dir`.
pub async fn worker(
    config: &Config,
    b: &Backends,
    shutdown: CancellationToken,
) -> anyhow::Result<impl Future<Output = RoleResult> + use<>> {
    let backends =
        aurora_worker::Backends { ledger: b.ledger.clone(), broker: b.broker.clone(), registry: b.registry.clone() };
    let worker = aurora_worker::configure(config, aurora_worker::Registry::with_builtins(), backends)?;
    worker.register().await.context("registering the worker")?;
    Ok(async move { ("worker", worker.run(shutdown).await.map_err(Into::into)) })
}

/// The projector: runs while it holds the leadership lease, stands by otherwise.
pub fn projector(
    config: &Config,
    b: &Backends,
    shutdown: CancellationToken,
) -> impl Future<Output = RoleResult> + use<> {
    let holder = format!("projector-{}", &uuid::Uuid::now_v7().simple().to_string()[20..]);
    let (batch_max, schedule_to_start) =
        (config.projector.batch_max, Duration::from_secs(config.projector.schedule_to_start_secs));
    let count = config.projector.partitions;
    aurora_projector::metrics::register();
    let b = b.clone();
    async move {
        let deps = aurora_projector::Deps {
            ledger: b.ledger.clone(),
            store: b.store.clone(),
            broker: b.broker.clone(),
            registry: b.registry.clone(),
        };
        let holdings = std::sync::Arc::new(aurora_projector::leadership::Holdings::default());
        let mut partitions = tokio::task::JoinSet::new();
        for index in 0..count {
            let (leases, holder, shutdown, holdings, deps) =
                (b.leases.clone(), holder.clone(), shutdown.clone(), holdings.clone(), deps.clone());
            // One partition keeps the names of an unpartitioned deployment (its checkpoint).
            let checkpoint = if count == 1 { "projector".to_string() } else { format!("projector/{index}") };
            partitions.spawn(async move {
                aurora_projector::leadership::lead(
                    leases,
                    &format!("projector/{index}"),
                    &holder,
                    Duration::from_secs(6),
                    shutdown,
                    holdings,
                    |lease, leading| {
                        let options = aurora_projector::Options {
                            name: checkpoint.clone(),
                            partition: aurora_projector::Partition { index, count },
                            batch_max,
                            schedule_to_start,
                            fence: Some(aurora_ledger::Fence { lease: lease.name.clone(), token: lease.token }),
                        };
                        aurora_projector::Service::new(options, deps.clone()).run(leading)
                    },
                )
                .await
            });
        }
        while partitions.join_next().await.is_some() {}
        ("projector", Ok(()))
    }
}

/// `/health`, `/ready` and `/metrics` for processes without the gateway.
pub async fn operations(
    config: &Config,
    b: &Backends,
    shutdown: CancellationToken,
) -> anyhow::Result<(SocketAddr, impl Future<Output = RoleResult> + use<>)> {
    let listener = TcpListener::bind(&config.server.listen)
        .await
        .with_context(|| format!("binding {} for the health endpoints", config.server.listen))?;
    let addr = listener.local_addr()?;
    let router = aurora_query_graphql::http::operations_router(b.ledger.clone(), b.registry.clone());
    Ok((addr, async move {
        let served = aurora_query_graphql::serve::serve(listener, router, Default::default(), shutdown).await;
        ("operations", served.map_err(Into::into))
    }))
}
