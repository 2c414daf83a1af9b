//! The peers: Celery (`bench/peers/celery_driver.py`), which keeps nothing durable, and Restate
//! (`bench/peers/restate/`), which, like Aurora, persists every step. Each driver runs once per
//! workload and repetition with the same slot count as ours, and the CPU of the peer's processes
//! and services is measured while the workload runs; both speak the same line protocol (the Celery
//! driver's docstring).

use crate::Figures;
use crate::cpu::{Meter, Stack};
use crate::ours::{latency_figures, w1_figures, w5_figures};
use crate::plan::Plan;
use crate::stats::ms;
use anyhow::{Context as _, bail};
use aurora_e2e::cluster::Services;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

/// How to run a peer's driver.
#[derive(Debug, Clone)]
pub struct Peer {
    /// `celery` or `restate`, as the report names it.
    pub name: &'static str,
    /// The program, and the arguments before the workload's.
    pub command: Vec<PathBuf>,
    /// Environment for the driver.
    pub env: Vec<(String, String)>,
    /// The services whose CPU counts as the peer's (beside the driver's children).
    pub services: Vec<String>,
}

/// Kills the driver's whole process group (the driver and its Celery worker) when dropped, so
/// nothing outlives the benchmark, whatever stops it.
struct Group(Child);

impl Drop for Group {
    fn drop(&mut self) {
        if let Some(pid) = self.0.id() {
            let _ = std::process::Command::new("kill").args(["-KILL", &format!("-{pid}")]).status();
        }
    }
}

impl Peer {
    /// Celery in this checkout's driver, on the shared services, with results in Redis database 13,
    /// its worker's log at `log`.
    pub fn celery(python: PathBuf, services: &Services, log: &Path) -> Self {
        let driver = Path::new(env!("CARGO_MANIFEST_DIR")).join("peers/celery_driver.py");
        let redis = services.redis.trim_end_matches('/');
        let base = match redis.rsplit_once('/') {
            Some((base, db)) if db.chars().all(|c| c.is_ascii_digit()) => base,
            _ => redis,
        };
        Self {
            name: "celery",
            command: vec![python, driver],
            env: vec![
                ("BENCH_CELERY_BROKER".into(), services.amqp.clone()),
                ("BENCH_CELERY_BACKEND".into(), format!("{base}/13")),
                ("BENCH_CELERY_LOG".into(), log.display().to_string()),
            ],
            services: vec!["beam.smp".into(), "redis-server".into()],
        }
    }

    /// Restate through `bench/peers/restate/run.sh` (installed by its `install.sh`): its server
    /// and handler endpoint, started by the driver in a network namespace of their own.
    pub fn restate() -> Self {
        let run = Path::new(env!("CARGO_MANIFEST_DIR")).join("peers/restate/run.sh");
        Self { name: "restate", command: vec![run], env: vec![], services: vec![] }
    }

    /// Runs one workload (`W1`–`W5`, `W8`); returns its figures.
    pub async fn run(&self, workload: &str, plan: &Plan) -> anyhow::Result<Figures> {
        let n = match workload {
            "W1" => plan.w1_tasks,
            "W2" => plan.w2_tasks,
            "W3" => plan.w3_tasks,
            "W4" => plan.w4_chain,
            "W5" => plan.w5_width,
            // The driver's chain (W4) at each of W8's lengths, timed by the client (the peers'
            // own timestamps are not read: a no-op's run is negligible beside the overhead).
            "W8" => {
                let mut figures = Figures::new();
                for n in crate::ours::W8_CHAINS {
                    let (result, _) = self.drive("W4", n, plan).await?;
                    figures.insert(format!("chain{n}_ms_per_task"), ms(float(&result, "seconds")?) / n as f64);
                }
                return Ok(figures);
            }
            other => bail!("{} has no workload {other}", self.name),
        };
        let (result, cpu_ms) = self.drive(workload, n, plan).await?;
        let mut figures = figures(workload, plan, &result)?;
        if workload == "W2" {
            figures.insert("cpu_ms_per_task".into(), cpu_ms / plan.w2_tasks as f64);
        }
        Ok(figures)
    }

    /// Starts the driver on `workload` of size `n`, waits for its result; returns it with the
    /// CPU-ms the driver's processes and the services spent from "go" to the result.
    async fn drive(&self, workload: &str, n: usize, plan: &Plan) -> anyhow::Result<(Value, f64)> {
        let (program, before) = self.command.split_first().context("a driver command")?;
        let mut child = Command::new(program)
            .args(before)
            .args(["--workload", workload, "--n", &n.to_string()])
            .args(["--batch", &plan.w1_batch.to_string(), "--reps", &plan.w5_runs.to_string()])
            .args(["--clients", &plan.w1_clients.to_string()])
            .args(["--slots", &plan.slots.to_string(), "--payload-bytes", &plan.payload_bytes.to_string()])
            .envs(self.env.iter().cloned())
            .process_group(0)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("starting the {} driver {:?}", self.name, self.command))?;
        let mut stdin = child.stdin.take().context("driver stdin")?;
        let mut lines = BufReader::new(child.stdout.take().context("driver stdout")?).lines();
        let driver_pid = child.id().context("driver pid")?;
        let mut group = Group(child);

        let name = self.name;
        let ready = next_json(name, &mut lines, Duration::from_secs(120)).await?;
        if ready["event"] != "ready" {
            bail!("the {name} driver said {ready} instead of ready");
        }
        let mut meter = Meter::default();
        meter.start(Stack { roots: vec![driver_pid], exclude: vec![driver_pid], services: self.services.clone() });
        stdin.write_all(b"go\n").await?;
        let result = next_json(name, &mut lines, Duration::from_secs(900)).await?;
        meter.stop();
        stdin.write_all(b"stop\n").await?;
        let status = tokio::time::timeout(Duration::from_secs(60), group.0.wait()).await;
        match status {
            Ok(Ok(s)) if s.success() => {}
            other => bail!("the {name} driver did not end cleanly: {other:?}"),
        }
        if result["event"] != "result" {
            bail!("the {name} driver said {result} instead of a result");
        }
        Ok((result, meter.millis()))
    }
}

async fn next_json(name: &str, lines: &mut Lines<BufReader<ChildStdout>>, within: Duration) -> anyhow::Result<Value> {
    let line = tokio::time::timeout(within, lines.next_line())
        .await
        .with_context(|| format!("the {name} driver said nothing for {within:?}"))??
        .with_context(|| format!("the {name} driver exited early (its errors are above)"))?;
    serde_json::from_str(&line).with_context(|| format!("the {name} driver printed {line}"))
}

fn floats(v: &Value, key: &str) -> anyhow::Result<Vec<f64>> {
    v[key].as_array().with_context(|| format!("no {key}"))?.iter().map(|x| x.as_f64().context("a number")).collect()
}

fn float(v: &Value, key: &str) -> anyhow::Result<f64> {
    v[key].as_f64().with_context(|| format!("no {key}"))
}

/// Turns the driver's raw measurements into the same figures as ours.
fn figures(workload: &str, plan: &Plan, r: &Value) -> anyhow::Result<Figures> {
    Ok(match workload {
        "W1" => w1_figures(
            plan,
            &floats(r, "single_latencies")?,
            float(r, "single_seconds")?,
            &floats(r, "batched_latencies")?,
            float(r, "batched_seconds")?,
        ),
        "W2" => {
            let drain = float(r, "drain_seconds")?;
            Figures::from([
                ("tasks_per_s".into(), plan.w2_tasks as f64 / drain),
                ("enqueue_s".into(), float(r, "enqueue_seconds")?),
                ("drain_s".into(), drain),
            ])
        }
        "W3" => latency_figures(&floats(r, "latencies")?),
        "W4" => {
            let total = float(r, "seconds")?;
            Figures::from([("total_ms".into(), ms(total)), ("ms_per_hop".into(), ms(total) / plan.w4_chain as f64)])
        }
        "W5" => {
            let runs: Vec<usize> = floats(r, "join_runs")?.into_iter().map(|x| x as usize).collect();
            w5_figures(&floats(r, "latencies")?, &runs)
        }
        other => bail!("no peer runs workload {other}"),
    })
}
