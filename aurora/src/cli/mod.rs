//! The command line: `aurora dev` and the role processes ([`serve`]), the client subcommands
//! ([`session`], [`follow`], [`runs`]) and the operator tools ([`offline`]).

mod follow;
mod history;
mod offline;
mod runs;
mod serve;
mod session;

use crate::client::{Client, Error as ClientError};
use anyhow::bail;
use aurora_config::Config;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// Aurora: an event-sourced task-graph engine.
#[derive(Parser, Debug)]
#[command(name = "aurora", version, about, after_help = EXAMPLES)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

const EXAMPLES: &str = "Examples:
  aurora dev                                    run everything in one process (./aurora-data)
  aurora login                                  log in to http://127.0.0.1:4332 and save the token
  aurora submit examples/diamond.json --watch   submit a graph and follow it to its end
  aurora runs --state FAILURE                   list the runs that failed";

#[derive(clap::Args, Debug, Clone)]
struct ServerArgs {
    /// Config file (TOML); see config/examples/.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Configuration overrides, e.g. `--set worker.slots=4` (repeatable).
    #[arg(long = "set", global = true, value_name = "KEY=VALUE")]
    set: Vec<String>,
}

#[derive(clap::Args, Debug, Clone)]
struct ClientArgs {
    /// The Aurora server (`http://` is assumed without a scheme).
    #[arg(long, env = "AURORA_SERVER", default_value = "http://127.0.0.1:4332")]
    server: String,
    /// A token from `aurora login` (default: AURORA_TOKEN, then the token `aurora login` saved).
    #[arg(long, env = "AURORA_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Show times in UTC (default: local time).
    #[arg(long)]
    utc: bool,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run everything in one process on embedded backends (SQLite, in-process broker).
    #[command(after_help = "Example:\n  aurora dev --handlers-dir examples/handlers --set worker.labels.zone=a")]
    Dev {
        /// Address to listen on [default: 127.0.0.1:4332, server.listen].
        #[arg(long, value_name = "HOST:PORT")]
        listen: Option<String>,
        /// Where the ledger, read models and sessions are kept [default: ./aurora-data, data_dir].
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
        /// The `admin` user's password [default: the one kept in the data dir, else a new one,
        /// printed once].
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
    #[command(after_help = "Example:\n  aurora gateway --config config/examples/aurora.toml --admin-password s3cret")]
    Gateway {
        /// Address to listen on [default: 127.0.0.1:4332, server.listen].
        #[arg(long, value_name = "HOST:PORT")]
        listen: Option<String>,
        /// Adds an `admin` user with this password.
        #[arg(long, env = "AURORA_ADMIN_PASSWORD", hide_env_values = true)]
        admin_password: Option<String>,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Run the projector role (read models, frontier, dispatcher) on shared backends; one leads
    /// each partition, the others stand by.
    #[command(after_help = "Example:\n  aurora projector --config config/examples/aurora.toml --listen 127.0.0.1:4340")]
    Projector {
        /// Address of the health endpoints [default: server.listen, or a free port if it is taken].
        #[arg(long, value_name = "HOST:PORT")]
        listen: Option<String>,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Run the worker role on shared backends.
    #[command(after_help = "Example:\n  aurora worker --config config/examples/aurora.toml --labels zone=a,gpu=true")]
    Worker {
        /// Address of the health endpoints [default: server.listen, or a free port if it is taken].
        #[arg(long, value_name = "HOST:PORT")]
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
    /// Log in and save the token (in ~/.aurora/token, readable only by you) for the other commands.
    Login {
        #[command(flatten)]
        client: ClientArgs,
        /// The user.
        #[arg(long, default_value = "admin")]
        username: String,
        /// The password [default: AURORA_PASSWORD, else asked for without echo].
        #[arg(long, env = "AURORA_PASSWORD", hide_env_values = true)]
        password: Option<String>,
    },
    /// Revoke the saved token everywhere and forget it.
    Logout {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Submit a graph (a GraphInput as JSON, or a request in the original Aurora's format) and
    /// print its id.
    #[command(after_help = "Example:\n  aurora submit examples/diamond.json --watch")]
    Submit {
        /// The file, or - for stdin.
        file: PathBuf,
        /// Follow the run until it ends: a progress bar and a summary.
        #[arg(long)]
        watch: bool,
        /// With --watch: print every event instead of a progress bar.
        #[arg(long)]
        events: bool,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Follow a run until it ends (a progress bar and a summary, or every event with --events);
    /// reconnects if the server restarts, without repeating an event.
    Watch {
        /// The run's id.
        id: String,
        /// Print every event (history first) instead of a progress bar.
        #[arg(long)]
        events: bool,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Print a run's whole history, or its history up to a moment, or replay it at a speed.
    #[command(after_help = "Examples:\n  aurora events ID --as-of 2026-12-02T10:15:00Z\n  aurora events ID --speed 10")]
    Events {
        /// The run's id.
        id: String,
        /// Print the events as JSON lines instead of a table.
        #[arg(long)]
        json: bool,
        /// Only the events recorded at or before this time (RFC 3339): the run as it stood then.
        #[arg(long, value_name = "TIME")]
        as_of: Option<String>,
        /// Replay with the recorded pauses between events, this many times faster (1 = as it happened).
        #[arg(long, value_name = "FACTOR")]
        speed: Option<f64>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Rerun a run that ended: the tasks in --from, those that did not succeed and their
    /// descendants run again; every other task is reused from the run (not executed).
    #[command(after_help = "Examples:\n  aurora rerun ID\n  aurora rerun ID --from resize,upload --watch")]
    Rerun {
        /// The run to rerun.
        id: String,
        /// Rerun these tasks (by key, comma-separated) and their descendants even if they succeeded.
        #[arg(long, value_name = "KEY,...", value_delimiter = ',')]
        from: Vec<String>,
        /// Follow the new run until it ends.
        #[arg(long)]
        watch: bool,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Write a run's events as JSON lines (envelope, payload, hashes), to move, archive or attach it.
    Export {
        /// The run's id.
        id: String,
        /// Write to this file instead of stdout.
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Append a run written by `aurora export` to this server, after verifying every hash chain;
    /// refuses (writing nothing) a run that exists here or any event that does not verify.
    Import {
        /// The file, or - for stdin.
        file: PathBuf,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Show how run B differs from run A, task by task; exits 1 when they differ, 0 when not.
    Diff {
        /// The first run.
        a: String,
        /// The second run.
        b: String,
        /// Durations differ when further apart than this many milliseconds.
        #[arg(long, default_value_t = 1_000, value_name = "MS")]
        tolerance_ms: u32,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// List runs, newest first.
    #[command(after_help = "Example:\n  aurora runs --state RUNNING --name nightly --limit 50")]
    Runs {
        /// Only runs in this state: RUNNING, SUCCESS, FAILURE or CANCELLED.
        #[arg(long, value_name = "STATE")]
        state: Option<String>,
        /// Only runs whose name contains this (any case).
        #[arg(long, value_name = "TEXT")]
        name: Option<String>,
        /// How many runs.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Cancel a running run: its unfinished tasks end CANCELLED, running handlers are stopped.
    Cancel {
        /// The run's id.
        id: String,
        /// Why (recorded in the history).
        #[arg(long)]
        reason: Option<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Rebuild every read model from the ledger into a scratch copy, compare it with the live one
    /// and verify every hash chain; exits non-zero on any difference. Run it with the server stopped.
    Replay {
        /// The data directory of `aurora dev` [default: ./aurora-data].
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
        /// Also check that everything this anchor (from `aurora anchor`) covers is still in the
        /// ledger, unchanged: finds events removed since.
        #[arg(long, value_name = "FILE")]
        anchor: Option<PathBuf>,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Print an anchor of the ledger (its position and every stream's head, sealed by one hash)
    /// to keep outside Aurora; `aurora replay --anchor FILE` later proves nothing it covers was
    /// removed or changed.
    Anchor {
        /// The data directory of `aurora dev` [default: ./aurora-data].
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
        /// Write it to this file instead of stdout.
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Hash a password for `auth.users` in the config (asked for without echo, or read from stdin).
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

/// `--listen ADDR` as the `server.listen` override.
fn listen_override(listen: Option<String>) -> Vec<(String, String)> {
    listen.map(|l| vec![("server.listen".to_string(), toml_string(&l))]).unwrap_or_default()
}

/// A path or address as a TOML string (what `--set` values are read as).
fn toml_string(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

/// The server URL a user gave: `http://` is assumed when there is no scheme.
fn server_url(given: &str) -> anyhow::Result<String> {
    let given = given.trim();
    match given.split_once("://") {
        Some(("http" | "https", _)) => Ok(given.to_string()),
        Some((scheme, _)) => {
            bail!("--server `{given}`: `{scheme}://` is not a scheme Aurora speaks; use http:// or https://")
        }
        None => Ok(format!("http://{given}")),
    }
}

fn client(args: &ClientArgs) -> anyhow::Result<Client> {
    let token = args.token.clone().or_else(session::saved_token);
    Ok(Client::new(&server_url(&args.server)?, token))
}

/// A client error as the user should read it: with what to do.
fn explain(server: &str, e: ClientError) -> anyhow::Error {
    if e.codes().iter().any(|c| c == "UNAUTHENTICATED") {
        return anyhow::anyhow!("{e}\nhint: run `aurora login` or set AURORA_TOKEN");
    }
    if e.is_unreachable() {
        return anyhow::anyhow!(
            "no Aurora server answers at {server} ({e}); start one with `aurora dev`, or point --server (or \
             AURORA_SERVER) at one"
        );
    }
    anyhow::anyhow!("{e}")
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Dev { listen, data_dir, admin_password, handlers_dir, reset_admin_password, server } => {
            let mut extra = listen_override(listen);
            if let Some(d) = data_dir {
                extra.push(("data_dir".to_string(), toml_string(&d.display().to_string())));
            }
            extra.extend(serve::handlers_dir_override(handlers_dir));
            let config = load_config(&server, extra)?;
            let admin = serve::AdminPassword::Dev { given: admin_password, reset: reset_admin_password };
            serve::serve(config, serve::Role::Dev, admin).await
        }
        Command::Gateway { listen, admin_password, server } => {
            let config = load_config(&server, listen_override(listen))?;
            serve::serve(config, serve::Role::Gateway, serve::AdminPassword::Given(admin_password)).await
        }
        Command::Projector { listen, server } => {
            let explicit = listen.is_some();
            let config = load_config(&server, listen_override(listen))?;
            serve::serve(
                config,
                serve::Role::Projector { explicit_listen: explicit },
                serve::AdminPassword::Given(None),
            )
            .await
        }
        Command::Worker { listen, labels, handlers_dir, server } => {
            let explicit = listen.is_some();
            let mut extra = listen_override(listen);
            extra.extend(serve::handlers_dir_override(handlers_dir));
            extra.extend(serve::label_overrides(labels.as_deref())?);
            let config = load_config(&server, extra)?;
            serve::serve(config, serve::Role::Worker { explicit_listen: explicit }, serve::AdminPassword::Given(None))
                .await
        }
        Command::Login { client: args, username, password } => session::login(&args, &username, password).await,
        Command::Logout { client: args } => session::logout(&args).await,
        Command::Submit { file, watch, events, client: args } => {
            follow::submit(&args, &file, watch.then_some(follow::Mode { events, utc: args.utc })).await
        }
        Command::Watch { id, events, client: args } => {
            follow::watch(&client(&args)?, &id, follow::Mode { events, utc: args.utc }).await
        }
        Command::Events { id, json, as_of, speed, client: args } => {
            follow::events(&args, &id, &follow::Replay { json, as_of, speed }).await
        }
        Command::Rerun { id, from, watch, client: args } => {
            let new = history::rerun(&args, &id, from).await?;
            if watch {
                follow::watch(&client(&args)?, &new, follow::Mode { events: false, utc: args.utc }).await
            } else {
                Ok(ExitCode::SUCCESS)
            }
        }
        Command::Diff { a, b, tolerance_ms, client: args } => history::diff(&args, &a, &b, tolerance_ms).await,
        Command::Export { id, output, client: args } => history::export(&args, &id, output.as_deref()).await,
        Command::Import { file, client: args } => history::import(&args, &file).await,
        Command::Runs { state, name, limit, client: args } => runs::list(&args, state, name, limit).await,
        Command::Cancel { id, reason, client: args } => runs::cancel(&args, &id, reason).await,
        Command::Replay { data_dir, anchor, server } => {
            let extra = data_dir.map(|d| vec![("data_dir".to_string(), toml_string(&d.display().to_string()))]);
            let config = load_config(&server, extra.unwrap_or_default())?;
            offline::replay(&config, anchor.as_deref()).await
        }
        Command::Anchor { data_dir, output, server } => {
            let extra = data_dir.map(|d| vec![("data_dir".to_string(), toml_string(&d.display().to_string()))]);
            let config = load_config(&server, extra.unwrap_or_default())?;
            offline::anchor(&config, output.as_deref()).await
        }
        Command::HashPassword => offline::hash_password(),
        Command::Config { action: ConfigAction::Dump { server } } => {
            print!("{}", load_config(&server, Vec::new())?.to_toml());
            Ok(ExitCode::SUCCESS)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_without_a_scheme_is_http_and_other_schemes_are_refused() {
        assert_eq!(server_url("127.0.0.1:4332").expect("ok"), "http://127.0.0.1:4332");
        assert_eq!(server_url("https://aurora.example").expect("ok"), "https://aurora.example");
        let err = server_url("ftp://x").unwrap_err().to_string();
        assert!(err.contains("`ftp://` is not a scheme"), "{err}");
    }
}
