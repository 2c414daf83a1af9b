//! A worker of your own: two Rust handlers written as plain async functions (their arg and result
//! types come from the functions' own types), joined to a distributed Aurora deployment as
//! `aurora worker` would join it. Run it with the deployment's config:
//!
//! ```sh
//! cargo run -p custom-worker -- --config config/examples/aurora.toml --set worker.labels.lang=rust
//! ```

use anyhow::Context as _;
use aurora_worker::{HandlerError, Registry, handler};
use clap::Parser;
use std::path::PathBuf;

/// A worker offering `resize` and `slugify` (plus anything the config adds: FaaS providers, a
/// handlers directory).
#[derive(Parser)]
struct Args {
    /// The deployment's config file (the one its gateways, projectors and workers use).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Overrides, e.g. `--set worker.slots=4` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
}

/// This worker's handlers.
fn handlers() -> Registry {
    let mut handlers = Registry::new();
    handlers.add(
        handler("resize", |_ctx, (width, height, max_side): (i64, i64, i64)| async move {
            if width <= 0 || height <= 0 || max_side <= 0 {
                return Err(HandlerError::bad_args("resize: every side must be positive"));
            }
            let scale = (max_side as f64 / width.max(height) as f64).min(1.0);
            Ok(((width as f64 * scale).round() as i64, (height as f64 * scale).round() as i64))
        })
        .usage("resize(int64 width, int64 height, int64 max_side) -> (int64, int64): fits the image within max_side"),
    );
    handlers.add(
        handler("slugify", |_ctx, (title,): (String,)| async move {
            let slug: Vec<String> =
                title.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_lowercase).collect();
            Ok(slug.join("-"))
        })
        .usage("slugify(string title) -> string: lower-case words joined by dashes"),
    );
    handlers
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let overrides = aurora_config::parse_overrides(&args.set)?;
    let config = aurora_config::load(args.config.as_deref(), std::env::vars(), &overrides)?;
    aurora_worker::run(config, handlers()).await.context("the custom worker stopped")
}
