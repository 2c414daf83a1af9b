//! Aurora's benchmarks (issue 4): the workloads W1–W7 on Aurora embedded and distributed, W1–W5
//! on Celery, and the raw limits of RabbitMQ, MongoDB and SQLite, interleaved in one run on one
//! machine so their ratios hold even where absolute times do not.

pub mod cpu;
pub mod graphs;
pub mod limits;
pub mod ours;
pub mod peer;
pub mod plan;
pub mod report;
pub mod stats;

use anyhow::Context as _;
use aurora_e2e::Deployment;
use peer::Celery;
use plan::Plan;
use report::{Results, Sample};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

/// Named figures of one measurement (`tasks_per_s`, `p50_ms`, …).
pub type Figures = BTreeMap<String, f64>;

/// What to run and where.
#[derive(Debug, Clone)]
pub struct Options {
    /// Sizes and repetitions.
    pub plan: Plan,
    /// Scratch space for deployments and logs (removed per round when it went well).
    pub work_dir: PathBuf,
    /// The Python of a virtual environment with Celery (`bench/peers/requirements.txt`).
    pub python: PathBuf,
}

fn progress(rep: usize, what: &str, started: Instant) {
    let round = if rep == 0 { "warm-up".to_string() } else { format!("rep {rep}") };
    eprintln!("[{round}] {what} done in {:.1} s", started.elapsed().as_secs_f64());
}

/// Runs the workloads of one of our deployments once.
async fn round_ours(kind: Deployment, opts: &Options, rep: usize) -> anyhow::Result<Vec<(String, Figures)>> {
    let plan = &opts.plan;
    let name = format!("{kind:?}").to_lowercase();
    let dir = opts.work_dir.join(format!("{name}-{rep}"));
    std::fs::create_dir_all(&dir)?;
    let mut out = Vec::new();
    let started = Instant::now();
    let ours = ours::Ours::start(kind, &dir.join("main"), plan).await;
    for (w, run) in [("W1", 1), ("W3", 3), ("W4", 4), ("W5", 5), ("W6", 6), ("W7", 7)] {
        let t = Instant::now();
        let figures = match run {
            1 => ours.w1(plan).await,
            3 => ours.w3(plan).await,
            4 => ours.w4(plan).await,
            5 => ours.w5(plan).await,
            6 => ours.w6(plan).await,
            _ => ours.w7(plan).await,
        }
        .with_context(|| format!("{name} {w}"))?;
        progress(rep, &format!("{name} {w}"), t);
        out.push((w.to_string(), figures));
    }
    ours.stop()?;
    let t = Instant::now();
    std::fs::create_dir_all(dir.join("w2"))?;
    out.push(("W2".into(), ours::w2(kind, &dir.join("w2"), plan).await.with_context(|| format!("{name} W2"))?));
    progress(rep, &format!("{name} W2"), t);
    progress(rep, &format!("{name} round"), started);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(out)
}

async fn round_celery(celery: &Celery, opts: &Options, rep: usize) -> anyhow::Result<Vec<(String, Figures)>> {
    let mut out = Vec::new();
    for w in ["W1", "W2", "W3", "W4", "W5"] {
        let t = Instant::now();
        out.push((w.to_string(), celery.run(w, &opts.plan).await.with_context(|| format!("celery {w}"))?));
        progress(rep, &format!("celery {w}"), t);
    }
    Ok(out)
}

async fn round_limits(opts: &Options, rep: usize) -> anyhow::Result<Vec<(String, Figures)>> {
    let services = ours::services();
    let n = opts.plan.limit_messages;
    let t = Instant::now();
    let out = vec![
        ("rabbitmq".to_string(), limits::rabbitmq(&services.amqp, n).await.context("RabbitMQ limit")?),
        ("mongodb".to_string(), limits::mongodb(&services.mongo, n).await.context("MongoDB limit")?),
        ("sqlite".to_string(), limits::sqlite(&opts.work_dir, n).context("SQLite limit")?),
    ];
    progress(rep, "raw limits", t);
    Ok(out)
}

/// Runs the whole plan: a warm-up round (not kept) if asked, then the repetitions, each going
/// through ours-embedded, ours-distributed, Celery and the raw limits in turn.
pub async fn run(opts: &Options) -> anyhow::Result<Results> {
    std::fs::create_dir_all(&opts.work_dir)?;
    let celery = Celery::new(opts.python.clone(), &ours::services(), &opts.work_dir.join("celery-worker.log"));
    let first = if opts.plan.warmup { 0 } else { 1 };
    let mut samples = Vec::new();
    for rep in first..=opts.plan.reps {
        let mut round: Vec<(&str, Vec<(String, Figures)>)> = Vec::new();
        round.push(("embedded", round_ours(Deployment::Embedded, opts, rep).await?));
        round.push(("distributed", round_ours(Deployment::Distributed, opts, rep).await?));
        round.push(("celery", round_celery(&celery, opts, rep).await?));
        round.push(("limits", round_limits(opts, rep).await?));
        if rep == 0 {
            continue;
        }
        for (system, measured) in round {
            for (workload, figures) in measured {
                samples.push(Sample { system: system.into(), workload, rep, figures });
            }
        }
    }
    let date = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    Ok(Results::new(date, commit(), opts.plan.clone(), samples))
}

fn commit() -> String {
    let out = std::process::Command::new("git").args(["rev-parse", "--short", "HEAD"]).output();
    out.ok().and_then(|o| String::from_utf8(o.stdout).ok()).map(|s| s.trim().to_string()).unwrap_or_default()
}
