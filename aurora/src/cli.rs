//! The command line: `aurora dev`, the client subcommands, and the operator tools.

use crate::client::{Client, Error as ClientError};
use crate::node::{Node, Roles};
use crate::render;
use anyhow::{Context as _, bail};
use aurora_config::Config;
use clap::{Parser, Subcommand};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Aurora: an event-sourced task-graph engine.
#[derive(Parser, Debug)]
#[command(name = "aurora", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args, Debug, Clone)]
struct ServerArgs {
    /// Config file (TOML); see config/examples/.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Configuration overrides, e.g. `--set worker.slots=4` (repeatable).
    #[arg(long = "set", global = true, value_name = "KEY=VALUE")]
    set: Vec<String>,
}

#[derive(clap::Args, Debug, Clone)]
struct ClientArgs {
    /// The Aurora server.
    #[arg(long, env = "AURORA_SERVER", default_value = "http://127.0.0.1:4332")]
    server: String,
    /// A token from `aurora login` (default: AURORA_TOKEN, then the saved token).
    #[arg(long, env = "AURORA_TOKEN", hide_env_values = true)]
    token: Option<String>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run everything in one process on embedded backends.
    Dev {
        /// Address to listen on.
        #[arg(long)]
        listen: Option<String>,
        /// Where the ledger and read models are kept.
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// The `admin` user's password (default: generated and printed once).
        #[arg(long, env = "AURORA_ADMIN_PASSWORD", hide_env_values = true)]
        admin_password: Option<String>,
        /// Offer every executable in DIR (recursively) as a handler named by its file name;
        /// watched while running (`worker.handlers_dir`).
        #[arg(long, value_name = "DIR")]
        handlers_dir: Option<PathBuf>,
        /// Make a new `admin` password (printed once) instead of keeping the one in the data dir.
        #[arg(long)]
        reset_admin_password: bool,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Run the gateway role (GraphQL API) on shared backends.
    Gateway {
        /// Address to listen on.
        #[arg(long)]
        listen: Option<String>,
        /// Adds an `admin` user with this password.
        #[arg(long, env = "AURORA_ADMIN_PASSWORD", hide_env_values = true)]
        admin_password: Option<String>,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Run the projector role (read models, frontier, dispatcher) on shared backends; one leads,
    /// the others stand by.
    Projector {
        /// Address of the health endpoints.
        #[arg(long)]
        listen: Option<String>,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Run the worker role on shared backends.
    Worker {
        /// Address of the health endpoints.
        #[arg(long)]
        listen: Option<String>,
        /// The worker's labels, e.g. `zone=a,gpu=true`.
        #[arg(long, value_name = "K=V,...")]
        labels: Option<String>,
        /// Offer every executable in DIR (recursively) as a handler named by its file name;
        /// watched while running (`worker.handlers_dir`).
        #[arg(long, value_name = "DIR")]
        handlers_dir: Option<PathBuf>,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Log in and save the token for the other client commands.
    Login {
        #[command(flatten)]
        client: ClientArgs,
        /// The user.
        #[arg(long, default_value = "admin")]
        username: String,
        /// The password (default: AURORA_PASSWORD, else asked on stdin).
        #[arg(long, env = "AURORA_PASSWORD", hide_env_values = true)]
        password: Option<String>,
    },
    /// Submit a graph (a GraphInput as JSON) and print its id.
    Submit {
        /// The file, or - for stdin.
        file: PathBuf,
        /// Follow the run's events until it ends.
        #[arg(long)]
        watch: bool,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Follow a run's events (history first) until it ends.
    Watch {
        /// The graph id.
        id: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Print a run's whole history.
    Events {
        /// The graph id.
        id: String,
        /// Print the events as JSON lines instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Rebuild every read model from the ledger into a scratch copy, compare it with the live one
    /// and verify every hash chain; exits non-zero on any difference. Run it with the server stopped.
    Replay {
        /// The data directory of `aurora dev`.
        #[arg(long)]
        data_dir: Option<PathBuf>,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Hash a password for `auth.users` in the config (reads it from stdin).
    HashPassword,
    /// Print the effective configuration.
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
}

#[derive(Subcommand, Debug)]
enum ConfigAction {
    /// Print the configuration after defaults, file, environment and overrides.
    Dump {
        #[command(flatten)]
        server: ServerArgs,
    },
}

/// Runs the command line; the process's exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: could not start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn load_config(args: &ServerArgs, extra: Vec<(String, String)>) -> anyhow::Result<Config> {
    let mut overrides = aurora_config::parse_overrides(&args.set)?;
    overrides.extend(extra);
    Ok(aurora_config::load(args.config.as_deref(), std::env::vars(), &overrides)?)
}

/// `--handlers-dir DIR` as the `worker.handlers_dir` override (quoted: a path is a TOML string).
fn handlers_dir_override(dir: Option<PathBuf>) -> Option<(String, String)> {
    dir.map(|d| ("worker.handlers_dir".to_string(), toml_string(&d.display().to_string())))
}

fn toml_string(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

fn token_file() -> Option<PathBuf> {
    std::env::var_os("HOME").map(|h| Path::new(&h).join(".aurora").join("token"))
}

fn client(args: &ClientArgs) -> Client {
    let token = args.token.clone().or_else(|| {
        let saved = std::fs::read_to_string(token_file()?).ok()?;
        Some(saved.trim().to_string())
    });
    Client::new(&args.server, token)
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Dev { listen, data_dir, admin_password, handlers_dir, reset_admin_password, server } => {
            let mut extra = listen.map(|l| vec![("server.listen".to_string(), l)]).unwrap_or_default();
            if let Some(d) = data_dir {
                extra.push(("data_dir".to_string(), d.display().to_string()));
            }
            extra.extend(handlers_dir_override(handlers_dir));
            let config = load_config(&server, extra)?;
            let admin = AdminPassword::Dev { given: admin_password, reset: reset_admin_password };
            let roles = Roles { worker: config.worker.enabled, ..Roles::ALL };
            serve(config, roles, admin).await
        }
        Command::Gateway { listen, admin_password, server } => {
            let extra = listen.map(|l| vec![("server.listen".to_string(), l)]).unwrap_or_default();
            let config = load_config(&server, extra)?;
            let admin = AdminPassword::Given(admin_password);
            serve(config, Roles { gateway: true, projector: false, worker: false }, admin).await
        }
        Command::Projector { listen, server } => {
            let extra = listen.map(|l| vec![("server.listen".to_string(), l)]).unwrap_or_default();
            let config = load_config(&server, extra)?;
            serve(config, Roles { gateway: false, projector: true, worker: false }, AdminPassword::Given(None)).await
        }
        Command::Worker { listen, labels, handlers_dir, server } => {
            let mut extra = listen.map(|l| vec![("server.listen".to_string(), l)]).unwrap_or_default();
            extra.extend(handlers_dir_override(handlers_dir));
            for pair in labels.iter().flat_map(|l| l.split(',')).filter(|p| !p.trim().is_empty()) {
                let (k, v) = pair.split_once('=').with_context(|| {
                    format!("label `{pair}` must look like key=value, e.g. --labels zone=a,gpu=true")
                })?;
                extra.push((format!("worker.labels.{}", k.trim()), format!("\"{}\"", v.trim())));
            }
            let config = load_config(&server, extra)?;
            serve(config, Roles { gateway: false, projector: false, worker: true }, AdminPassword::Given(None)).await
        }
        Command::Login { client: args, username, password } => {
            let password = match password {
                Some(p) => p,
                None => {
                    eprint!("password for {username}: ");
                    let mut line = String::new();
                    std::io::stdin().read_line(&mut line)?;
                    line.trim_end().to_string()
                }
            };
            let token = Client::new(&args.server, None).login(&username, &password).await?;
            if let Some(path) = token_file() {
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir)?;
                }
                std::fs::write(&path, &token)?;
                eprintln!("logged in; token saved to {}", path.display());
            }
            println!("{token}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Submit { file, watch, client: args } => {
            let text = if file.as_os_str() == "-" {
                std::io::read_to_string(std::io::stdin())?
            } else {
                std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?
            };
            let input: Value =
                serde_json::from_str(&text).with_context(|| format!("{} is not valid JSON", file.display()))?;
            let c = client(&args);
            let run = c.submit(input).await.map_err(explain)?;
            let id = run["id"].as_str().unwrap_or_default().to_string();
            println!("{id}");
            if watch { follow(&c, &id).await } else { Ok(ExitCode::SUCCESS) }
        }
        Command::Watch { id, client: args } => follow(&client(&args), &id).await,
        Command::Events { id, json, client: args } => {
            let graph = client(&args).graph(&id).await.map_err(explain)?;
            if graph.is_null() {
                bail!("no graph with id {id}");
            }
            let keys = render::task_keys(&graph);
            for e in graph["history"].as_array().into_iter().flatten() {
                println!("{}", if json { e.to_string() } else { render::line(e, &keys) });
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Replay { data_dir, server } => {
            let extra = data_dir.map(|d| vec![("data_dir".to_string(), d.display().to_string())]).unwrap_or_default();
            let config = load_config(&server, extra)?;
            replay(&config).await
        }
        Command::HashPassword => {
            eprint!("password: ");
            let mut line = String::new();
            std::io::stdin().read_line(&mut line)?;
            let pw = line.trim_end_matches(['\n', '\r']);
            if pw.is_empty() {
                bail!("the password is empty");
            }
            println!("{}", aurora_query_graphql::auth::hash_password(pw));
            Ok(ExitCode::SUCCESS)
        }
        Command::Config { action: ConfigAction::Dump { server } } => {
            print!("{}", load_config(&server, Vec::new())?.to_toml());
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Where the `admin` user's password comes from.
enum AdminPassword {
    /// `aurora dev`: the given one, else the one kept in the data dir, else a new one.
    Dev { given: Option<String>, reset: bool },
    /// A role process: the given one, or no `admin` user beyond the configured users.
    Given(Option<String>),
}

/// Runs `roles` until Ctrl-C or SIGTERM, then shuts down gracefully.
async fn serve(config: Config, roles: Roles, admin: AdminPassword) -> anyhow::Result<ExitCode> {
    crate::logging::init(&config.log.format, &config.log.level, std::env::var("RUST_LOG").ok());
    raise_open_file_limit();
    if roles != Roles::ALL && !config.is_distributed() {
        bail!(
            "a separate role needs backends every process can share: set ledger.uri=mongodb://…, \
             broker.uri=amqp://… and coord.uri=redis://… (see config/examples/aurora.toml), or run `aurora dev`"
        );
    }
    let embedded = matches!(config.ledger_location(), aurora_config::LedgerLocation::Sqlite(_));
    // Held until the process ends: one Aurora per data directory.
    let data_dir = if embedded { Some(crate::data_dir::DataDir::open(&config.data_dir)?) } else { None };
    let configured_admin = config.auth.users.iter().any(|u| u.name == "admin");
    let admin = match (admin, &data_dir) {
        (AdminPassword::Given(given), _) | (AdminPassword::Dev { given, .. }, None) => given
            .map(|pw| crate::data_dir::Admin { hash: aurora_query_graphql::auth::hash_password(&pw), generated: None }),
        (AdminPassword::Dev { given: None, .. }, Some(_)) if configured_admin => None,
        (AdminPassword::Dev { given, reset }, Some(d)) => Some(d.admin(given.as_deref(), reset)?),
    };
    let node = Node::start_roles(config.clone(), roles, admin.as_ref().map(|a| a.hash.as_str())).await?;
    if let Some(d) = &data_dir {
        d.protect()?;
    }
    println!("Aurora is running.");
    if roles.gateway {
        println!("  GraphiQL:  http://{}/graphql", node.addr);
    } else {
        println!("  health:    http://{}/health", node.addr);
    }
    if matches!(config.ledger_location(), aurora_config::LedgerLocation::Sqlite(_)) {
        println!("  data dir:  {}", config.data_dir.display());
    }
    if let Some(pw) = admin.as_ref().and_then(|a| a.generated.as_ref()) {
        println!("  admin password (generated, shown once; kept hashed in the data dir): {pw}");
    }
    println!("Stop with Ctrl-C.");
    let token = node.shutdown_token();
    tokio::spawn(async move {
        shutdown_signal().await;
        token.cancel();
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

/// Prints one line; `false` when stdout was closed (`aurora events ID | head`), which is not an error.
fn emit(line: &str) -> std::io::Result<bool> {
    use std::io::Write;
    match writeln!(std::io::stdout().lock(), "{line}") {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(e),
    }
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! { _ = tokio::signal::ctrl_c() => {}, _ = term.recv() => {} }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

fn explain(e: ClientError) -> anyhow::Error {
    if e.codes().iter().any(|c| c == "UNAUTHENTICATED") {
        anyhow::anyhow!("{e}\nhint: run `aurora login` or set AURORA_TOKEN")
    } else {
        anyhow::anyhow!("{e}")
    }
}

/// Prints a run's events until it ends; exit 0 if it succeeded, 2 otherwise.
async fn follow(c: &Client, id: &str) -> anyhow::Result<ExitCode> {
    let graph = c.graph(id).await.map_err(explain)?;
    if graph.is_null() {
        bail!("no graph with id {id}");
    }
    let keys = render::task_keys(&graph);
    let mut events = c.graph_events(id).await.map_err(explain)?;
    let mut last = String::new();
    while let Some(e) = events.next().await {
        let e = e.map_err(explain)?;
        if !emit(&render::line(&e, &keys))? {
            return Ok(ExitCode::SUCCESS);
        }
        last = e["type"].as_str().unwrap_or_default().to_string();
    }
    match last.as_str() {
        "GraphSucceeded" => Ok(ExitCode::SUCCESS),
        "GraphFailed" | "GraphCancelled" => Ok(ExitCode::from(2)),
        _ => bail!("the subscription ended before the run did"),
    }
}

async fn replay(config: &Config) -> anyhow::Result<ExitCode> {
    if let aurora_config::LedgerLocation::Sqlite(path) = config.ledger_location() {
        // Opening would create an empty ledger, and an empty ledger audits clean: say what is there.
        if !path.is_file() {
            bail!("no ledger at {}: is --data-dir the directory `aurora dev` ran on?", path.display());
        }
        if let Some(pid) = path.parent().and_then(crate::data_dir::DataDir::holder) {
            eprintln!(
                "warning: an Aurora (pid {pid}) is running on {}; the read models may move while they are compared — \
                 stop it for an exact audit",
                config.data_dir.display()
            );
        }
    }
    let (ledger, store) = crate::backends::stores(config).await?;
    let report = aurora_projector::replay::verify(ledger.as_ref(), store.as_ref()).await?;
    println!(
        "verified {} events in {} streams; compared {} task and {} graph read models",
        report.events, report.streams, report.tasks, report.graphs
    );
    for b in &report.chain_breaks {
        println!("HASH CHAIN BROKEN: {b}");
    }
    for d in &report.differences {
        println!("READ MODEL DIFFERS: {d}");
    }
    if report.is_clean() {
        println!("replay: read models are identical to a rebuild; every hash chain verifies");
        Ok(ExitCode::SUCCESS)
    } else {
        println!("replay: {} problem(s) found", report.chain_breaks.len() + report.differences.len());
        Ok(ExitCode::FAILURE)
    }
}
