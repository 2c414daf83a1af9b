//! Aurora's benchmarks (issues 4 and 15): the workloads W1–W8 on Aurora embedded and distributed,
//! W1–W5 and W8 on Celery, W2–W5 and W8 on Restate, and the raw limits of RabbitMQ, MongoDB and SQLite, interleaved in one run on one
//! machine so their ratios hold even where absolute times do not.

pub mod cpu;
pub mod db_counts;
pub mod graphs;
pub mod limits;
pub mod ours;
pub mod peer;
pub mod plan;
pub mod report;
pub mod selection;
pub mod stats;

use aurora_e2e::Deployment;
use aurora_e2e::cluster::Services;
use peer::Peer;
use plan::Plan;
use report::{Results, Sample};
use selection::Selection;
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
    /// Scratch space for deployments and logs (removed per round when it went well, unless `keep`).
    pub work_dir: PathBuf,
    /// The Python of a virtual environment with Celery (`bench/peers/requirements.txt`).
    pub python: PathBuf,
    /// The systems and workloads measured.
    pub only: Selection,
    /// Keep every deployment's data and logs in `work_dir` (to read what happened), not only failed ones.
    pub keep: bool,
}

fn progress(rep: usize, what: &str, started: Instant) {
    let round = if rep == 0 { "warm-up".to_string() } else { format!("rep {rep}") };
    eprintln!("[{round}] {what} done in {:.1} s", started.elapsed().as_secs_f64());
}

/// One round's measurements, and what failed in it (a failed workload is reported, and the run
/// goes on: the other figures are still worth having).
#[derive(Default)]
struct Round {
    measured: Vec<(&'static str, String, Figures)>,
    failures: Vec<String>,
}

impl Round {
    fn record(
        &mut self,
        rep: usize,
        system: &'static str,
        workload: &str,
        started: Instant,
        r: anyhow::Result<Figures>,
    ) {
        match r {
            Ok(figures) => {
                progress(rep, &format!("{system} {workload}"), started);
                self.measured.push((system, workload.to_string(), figures));
            }
            Err(e) => {
                let what = format!("rep {rep}: {system} {workload}: {e:#}");
                eprintln!("FAILED {what}");
                self.failures.push(what);
            }
        }
    }
}

/// Runs the workloads of one of our deployments once.
async fn round_ours(
    kind: Deployment,
    plan: &Plan,
    opts: &Options,
    rep: usize,
    round: &mut Round,
) -> anyhow::Result<()> {
    let system = match kind {
        Deployment::Embedded => "embedded",
        Deployment::Distributed => "distributed",
    };
    if !opts.only.wants_system(system) {
        return Ok(());
    }
    let dir = opts.work_dir.join(format!("{system}-{rep}"));
    // A kept or failed earlier run's data must not be measured again.
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::create_dir_all(&dir)?;
    // W2 and its scale-out row need deployments of their own (their workers start stopped); the
    // rest share one.
    let shared: Vec<&str> = opts.only.chosen(system).filter(|w| *w != "W2" && *w != "W2s").collect();
    if !shared.is_empty() {
        let ours = ours::Ours::start(kind, &dir.join("main"), plan).await;
        for w in shared {
            let t = Instant::now();
            let figures = match w {
                "W1" => ours.w1(plan).await,
                "W3" => ours.w3(plan).await,
                "W4" => ours.w4(plan).await,
                "W5" => ours.w5(plan).await,
                "W6" => ours.w6(plan).await,
                "W8" => ours.w8(plan).await,
                _ => ours.w7(plan).await,
            };
            round.record(rep, system, w, t, figures);
        }
        ours.stop()?;
    }
    if opts.only.wants(system, "W2") {
        let t = Instant::now();
        round.record(rep, system, "W2", t, ours::w2(kind, &dir.join("w2"), plan).await);
    }
    if kind == Deployment::Distributed && opts.only.wants(system, "W2s") {
        let t = Instant::now();
        round.record(rep, system, "W2s", t, ours::w2_scale_out(&dir.join("w2s"), plan).await);
    }
    if round.failures.is_empty() && !opts.keep {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(())
}

async fn round_peer(peer: &Peer, plan: &Plan, only: &Selection, rep: usize, round: &mut Round) {
    for w in only.chosen(peer.name) {
        let t = Instant::now();
        round.record(rep, peer.name, w, t, peer.run(w, plan).await);
    }
}

async fn round_limits(plan: &Plan, opts: &Options, rep: usize, round: &mut Round) {
    let services = Services::from_env();
    let n = plan.limit_messages;
    for part in opts.only.chosen("limits") {
        let t = Instant::now();
        let figures = match part {
            "rabbitmq" => limits::rabbitmq(&services.amqp, n).await,
            "mongodb" => limits::mongodb(&services.mongo, n).await,
            _ => limits::sqlite(&opts.work_dir, n),
        };
        round.record(rep, "limits", part, t, figures);
    }
}

/// Runs the whole plan: a smaller warm-up round (not kept) if asked, then the repetitions, each
/// going through ours-embedded, ours-distributed, Celery, Restate and the raw limits in turn. A workload
/// that fails is listed in the results' `failures` and the run goes on. `after_each` sees the
/// results so far after every repetition (so a run cut short still leaves its figures).
pub async fn run(opts: &Options, mut after_each: impl FnMut(&Results)) -> anyhow::Result<Results> {
    let date = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let (commit, machine) = (commit(), report::Machine::this());
    std::fs::create_dir_all(&opts.work_dir)?;
    let celery = Peer::celery(opts.python.clone(), &Services::from_env(), &opts.work_dir.join("celery-worker.log"));
    let restate = Peer::restate();
    let first = if opts.plan.warmup { 0 } else { 1 };
    let (mut samples, mut failures) = (Vec::new(), Vec::new());
    let warmup = opts.plan.warmup_round();
    for rep in first..=opts.plan.reps {
        let plan = if rep == 0 { &warmup } else { &opts.plan };
        let mut round = Round::default();
        round_ours(Deployment::Embedded, plan, opts, rep, &mut round).await?;
        round_ours(Deployment::Distributed, plan, opts, rep, &mut round).await?;
        round_peer(&celery, plan, &opts.only, rep, &mut round).await;
        round_peer(&restate, plan, &opts.only, rep, &mut round).await;
        round_limits(plan, opts, rep, &mut round).await;
        failures.extend(round.failures);
        if rep > 0 {
            for (system, workload, figures) in round.measured {
                samples.push(Sample { system: system.into(), workload, rep, figures });
            }
            after_each(&Results::new(
                date.clone(),
                commit.clone(),
                machine.clone(),
                opts.plan.clone(),
                opts.only.clone(),
                samples.clone(),
                failures.clone(),
            ));
        }
    }
    Ok(Results::new(date, commit, machine, opts.plan.clone(), opts.only.clone(), samples, failures))
}

fn commit() -> String {
    let out = std::process::Command::new("git").args(["rev-parse", "--short", "HEAD"]).output();
    out.ok().and_then(|o| String::from_utf8(o.stdout).ok()).map(|s| s.trim().to_string()).unwrap_or_default()
}
