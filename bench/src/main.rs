//! `aurora-bench`: runs the benchmarks and writes `<out>/<date>.json`, `.md` and `.svg`.
//! `scripts/bench` builds it in release mode and runs it with the services and Celery in place.

use anyhow::Context as _;
use aurora_bench::plan::Plan;
use aurora_bench::selection::Selection;
use aurora_bench::{Options, run};
use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;

/// Aurora's benchmarks: Aurora embedded and distributed, Celery, and the raw limits of the parts.
#[derive(Parser)]
struct Args {
    /// A tenth of the work and 2 repetitions (a few minutes).
    #[arg(long, conflicts_with = "tiny")]
    quick: bool,
    /// Just enough to show every part starts and measures (the harness test).
    #[arg(long)]
    tiny: bool,
    /// Where the JSON, Markdown and SVG go.
    #[arg(long, default_value = "bench/results")]
    out: PathBuf,
    /// Scratch space for deployments and logs.
    #[arg(long, default_value = "target/bench")]
    work_dir: PathBuf,
    /// Python of a virtual environment with Celery installed.
    #[arg(long, env = "AURORA_BENCH_PYTHON")]
    python: PathBuf,
    /// Only these systems (comma-separated: embedded, distributed, celery, restate, limits); all by default.
    #[arg(long, value_delimiter = ',')]
    systems: Vec<String>,
    /// Only these workloads (comma-separated: W1…W8, W2s (the scale-out row), rabbitmq, mongodb, sqlite); all by default.
    #[arg(long, value_delimiter = ',')]
    workloads: Vec<String>,
    /// Measured repetitions instead of the mode's (5 full, 2 quick), e.g. 1 for a quick look.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    reps: Option<u16>,
    /// Keep every deployment's data directory and logs under --work-dir (by default only a failed round's).
    #[arg(long)]
    keep: bool,
}

async fn main_inner(args: Args) -> anyhow::Result<()> {
    let plan = if args.tiny {
        Plan::tiny()
    } else if args.quick {
        Plan::quick()
    } else {
        Plan::full()
    };
    let plan = Plan { reps: args.reps.map_or(plan.reps, usize::from), ..plan };
    let only = Selection::new(args.systems, args.workloads)?;
    let opts = Options { plan, work_dir: args.work_dir, python: args.python, only, keep: args.keep };
    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let out = args.out.clone();
    // The report is rewritten after every repetition: a run stopped by its time bound keeps what it measured.
    let results = run(&opts, |so_far| {
        if let Err(e) = write(&out, so_far) {
            eprintln!("aurora-bench: could not write the results so far: {e:#}");
        }
    })
    .await?;
    let (stem, markdown) = write(&args.out, &results)?;
    println!("{markdown}");
    println!("written: {}/{stem}.{{json,md,svg}}", args.out.display());
    anyhow::ensure!(
        results.failures.is_empty(),
        "{} workload runs failed (listed in the report)",
        results.failures.len()
    );
    Ok(())
}

/// Writes `<out>/<date>-<mode>[-<selection>][-<n>reps].{json,svg,md}`; returns the stem and the Markdown.
fn write(out: &std::path::Path, results: &aurora_bench::report::Results) -> anyhow::Result<(String, String)> {
    let mut stem = format!("{}-{}", &results.date[..10], results.plan.mode);
    if !results.selection.is_everything() {
        stem = format!("{stem}-{}", results.selection.tag());
    }
    if Plan::of_mode(results.plan.mode).is_some_and(|mode| mode.reps != results.plan.reps) {
        stem = format!("{stem}-{}reps", results.plan.reps);
    }
    let svg = format!("{stem}.svg");
    std::fs::write(out.join(format!("{stem}.json")), serde_json::to_string_pretty(results)?)?;
    std::fs::write(out.join(&svg), results.svg())?;
    let markdown = results.markdown(&svg);
    std::fs::write(out.join(format!("{stem}.md")), &markdown)?;
    Ok((stem, markdown))
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("aurora-bench: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    // On Ctrl-C or SIGTERM (scripts/bench's time bound) the run is dropped, and with it every
    // process it started (each kills its children when dropped).
    let outcome = runtime.block_on(async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            r = main_inner(args) => r,
            _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted; everything started was stopped")),
            _ = term.recv() => Err(anyhow::anyhow!("terminated; everything started was stopped")),
        }
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("aurora-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}
