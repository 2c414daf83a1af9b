//! Aurora's side of the workloads, on either deployment: `aurora dev` (embedded) or separate
//! gateway, projector and worker processes on MongoDB, RabbitMQ and Redis (distributed).

use crate::Figures;
use crate::cpu::{self, Meter, Stack};
use crate::graphs;
use crate::plan::Plan;
use crate::stats::{ms, quantile};
use anyhow::{Context as _, bail};
use aurora::client::Client;
use aurora_e2e::cluster::Layout;
use aurora_e2e::{Deployment, Server};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, Instant};

/// How long any one run may take before the benchmark gives up on it.
const RUN_TIMEOUT: Duration = Duration::from_secs(600);

/// One of our deployments, started for a round of workloads.
pub struct Ours {
    /// Embedded or distributed.
    pub kind: Deployment,
    server: Server,
    payload: String,
}

/// The `--set` overrides every benchmark deployment runs with.
fn sets(kind: Deployment, plan: &Plan, extra: &[&str]) -> Vec<String> {
    let slots = match kind {
        Deployment::Embedded => plan.slots,
        Deployment::Distributed => plan.slots / 2,
    };
    let mut s = vec![format!("worker.slots={slots}"), "projector.schedule_to_start_secs=3600".to_string()];
    s.extend(extra.iter().map(|e| e.to_string()));
    s
}

async fn deploy(kind: Deployment, dir: &Path, sets: Vec<String>, workers: Vec<String>) -> Server {
    deploy_with(kind, dir, sets, workers, 1).await
}

async fn deploy_with(
    kind: Deployment,
    dir: &Path,
    sets: Vec<String>,
    workers: Vec<String>,
    projectors: usize,
) -> Server {
    std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
    match kind {
        Deployment::Embedded => {
            let sets: Vec<&str> = sets.iter().map(String::as_str).collect();
            Server::deploy(Deployment::Embedded, dir, &sets).await
        }
        Deployment::Distributed => {
            let layout = Layout { gateways: 1, projectors, workers };
            Server::deploy_layout(dir, &layout, &sets).await
        }
    }
}

/// Every process that works for `server`: its own, and the services of a distributed deployment.
fn stack(kind: Deployment, server: &Server) -> Stack {
    let services = match kind {
        Deployment::Embedded => vec![],
        Deployment::Distributed => cpu::service_names(&std::env::var("AURORA_TEST_MONGODB_SERVER").unwrap_or_default()),
    };
    Stack { roots: server.pids(), exclude: vec![], services }
}

impl Ours {
    /// Starts a deployment of `kind` in `dir` with the plan's slots: 16 in one `aurora dev`, or two
    /// workers of 8 beside one gateway and one projector.
    pub async fn start(kind: Deployment, dir: &Path, plan: &Plan) -> Self {
        let server = deploy(kind, dir, sets(kind, plan, &[]), vec!["pool=any".into(); 2]).await;
        Self { kind, server, payload: "x".repeat(plan.payload_bytes) }
    }

    /// Stops every process; fails if one did not exit cleanly.
    pub fn stop(mut self) -> anyhow::Result<()> {
        let unclean = self.server.stop();
        if unclean.is_empty() { Ok(()) } else { bail!("processes did not stop cleanly: {unclean:?}") }
    }

    fn client(&self) -> &Client {
        &self.server.client
    }

    async fn submit(&self, input: Value) -> anyhow::Result<String> {
        let run = self.client().submit(input).await.context("submitting a graph")?;
        run["id"].as_str().map(str::to_string).context("the submission returned no graph id")
    }

    /// W1: submissions one task per request, then in batches, from `w1_clients` clients at once;
    /// afterwards waits until the deployment has run them all, so the next workload starts on an
    /// idle deployment.
    pub async fn w1(&self, plan: &Plan) -> anyhow::Result<Figures> {
        let started = Instant::now();
        let single = self.submit_concurrently(plan.w1_tasks, 1, plan.w1_clients).await?;
        let single_s = started.elapsed().as_secs_f64();
        let started = Instant::now();
        let batched = self.submit_concurrently(plan.w1_tasks / plan.w1_batch, plan.w1_batch, plan.w1_clients).await?;
        let batched_s = started.elapsed().as_secs_f64();
        self.wait_idle().await?;
        Ok(w1_figures(plan, &single, single_s, &batched, batched_s))
    }

    /// Submits `requests` graphs of `size` tasks from `clients` concurrent clients; returns each
    /// request's latency in seconds.
    async fn submit_concurrently(&self, requests: usize, size: usize, clients: usize) -> anyhow::Result<Vec<f64>> {
        use futures::StreamExt as _;
        let input = graphs::independent(size, &self.payload, None);
        let latencies = futures::stream::iter(0..requests)
            .map(|_| {
                let input = input.clone();
                async move {
                    let t = Instant::now();
                    self.submit(input).await.map(|_| t.elapsed().as_secs_f64())
                }
            })
            .buffer_unordered(clients.max(1))
            .collect::<Vec<_>>()
            .await;
        latencies.into_iter().collect()
    }

    /// Waits until no run is RUNNING.
    async fn wait_idle(&self) -> anyhow::Result<()> {
        let deadline = Instant::now() + RUN_TIMEOUT;
        loop {
            let q = "query { graphs(state: RUNNING, first: 1) { nodes { id } } }";
            let page = self.client().query(q, json!({})).await?;
            if page["graphs"]["nodes"].as_array().is_some_and(Vec::is_empty) {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("runs still RUNNING after {RUN_TIMEOUT:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// W3: single tasks in sequence, each submitted once the previous SUCCESS was seen.
    pub async fn w3(&self, plan: &Plan) -> anyhow::Result<Figures> {
        let mut lat = Vec::with_capacity(plan.w3_tasks);
        for _ in 0..plan.w3_tasks {
            let t = Instant::now();
            let id = self.submit(graphs::independent(1, &self.payload, None)).await?;
            seen_success(self.client(), &id, Some("t0")).await?;
            lat.push(t.elapsed().as_secs_f64());
        }
        Ok(latency_figures(&lat))
    }

    /// W4: a chain; total time and time per hop.
    pub async fn w4(&self, plan: &Plan) -> anyhow::Result<Figures> {
        let t = Instant::now();
        let id = self.submit(graphs::chain(plan.w4_chain, &self.payload)).await?;
        seen_success(self.client(), &id, Some(&format!("c{}", plan.w4_chain - 1))).await?;
        let total = t.elapsed().as_secs_f64();
        Ok(Figures::from([("total_ms".into(), ms(total)), ("ms_per_hop".into(), ms(total) / plan.w4_chain as f64)]))
    }

    /// W8: the shape other engines are compared on (windmill-labs/windmill-benchmarks): a chain
    /// of 40 and a chain of 10 tasks, each timed by the client to its last task's SUCCESS and
    /// taken apart with the ledger's own timestamps: per task, the engine's overhead (everything
    /// but the handler's run, from the run's submission to its last task's SUCCESS) and the run.
    pub async fn w8(&self, _plan: &Plan) -> anyhow::Result<Figures> {
        let mut figures = Figures::new();
        for n in W8_CHAINS {
            let t = Instant::now();
            let id = self.submit(graphs::chain(n, &self.payload)).await?;
            seen_success(self.client(), &id, Some(&format!("c{}", n - 1))).await?;
            let total = t.elapsed().as_secs_f64();
            let fields = "type taskId recordedAt";
            let history = self.client().history_fields(&id, None, fields).await?;
            let split = ChainTimes::from_history(&history, n).with_context(|| format!("the chain of {n}'s history"))?;
            figures.insert(format!("chain{n}_ms_per_task"), ms(total) / n as f64);
            figures.insert(format!("chain{n}_overhead_ms_per_task"), split.overhead_ms / n as f64);
            figures.insert(format!("chain{n}_run_ms_per_task"), split.run_ms / n as f64);
        }
        Ok(figures)
    }

    /// W5: fan-out/fan-in runs; time to the join's SUCCESS, and how often each join ran.
    pub async fn w5(&self, plan: &Plan) -> anyhow::Result<Figures> {
        let (mut lat, mut runs) = (Vec::new(), Vec::new());
        for _ in 0..plan.w5_runs {
            let t = Instant::now();
            let id = self.submit(graphs::fan_out_fan_in(plan.w5_width, &self.payload)).await?;
            seen_success(self.client(), &id, Some("join")).await?;
            lat.push(t.elapsed().as_secs_f64());
            runs.push(self.starts_of(&id, "join").await?);
        }
        Ok(w5_figures(&lat, &runs))
    }

    /// How many attempts of task `key` of run `id` started, from the ledger's history.
    async fn starts_of(&self, id: &str, key: &str) -> anyhow::Result<usize> {
        let q = "query($id: ID!) { graph(id: $id) { tasks { id key } history(first: 10000) { type taskId } } }";
        let g = self.client().query(q, json!({ "id": id })).await?;
        let task = g["graph"]["tasks"].as_array().into_iter().flatten().find(|t| t["key"] == key);
        let task_id = task.map(|t| t["id"].clone()).context("the run has no such task")?;
        let history = g["graph"]["history"].as_array().context("no history")?;
        Ok(history.iter().filter(|e| e["type"] == "TaskStarted" && e["taskId"] == task_id).count())
    }

    /// W6: a seeded random layered DAG; completion time and CPU per task over the whole stack.
    pub async fn w6(&self, plan: &Plan) -> anyhow::Result<Figures> {
        let tasks = plan.w6_layers * plan.w6_width;
        let mut meter = Meter::default();
        meter.start(stack(self.kind, &self.server));
        let t = Instant::now();
        let id = self.submit(graphs::layered(plan.w6_layers, plan.w6_width, 42, &self.payload)).await?;
        seen_success(self.client(), &id, None).await?;
        let seconds = t.elapsed().as_secs_f64();
        meter.stop();
        Ok(Figures::from([
            ("seconds".into(), seconds),
            ("tasks_per_s".into(), tasks as f64 / seconds),
            ("cpu_ms_per_task".into(), meter.millis() / tasks as f64),
        ]))
    }

    /// W7: subscribers on one run; append → receipt latency of live events, and events missed.
    pub async fn w7(&self, plan: &Plan) -> anyhow::Result<Figures> {
        // The root sleeps long enough for every subscriber to connect before the rest runs.
        let hold_ms = 1_000 + 20 * plan.w7_subscribers as i64;
        let id = self.submit(graphs::held_fan_out(plan.w7_tasks, hold_ms, &self.payload)).await?;
        let mut streams = Vec::new();
        for _ in 0..plan.w7_subscribers {
            streams.push(self.client().graph_events(&id).await.context("subscribing")?);
        }
        let ready = Utc::now();
        let watchers: Vec<_> = streams
            .into_iter()
            .map(|mut s| {
                tokio::spawn(async move {
                    let mut got: Vec<(String, DateTime<Utc>, DateTime<Utc>)> = Vec::new();
                    while let Some(event) = tokio::time::timeout(RUN_TIMEOUT, s.next()).await.ok().flatten() {
                        let event = event?;
                        let recorded = event["recordedAt"].as_str().and_then(|t| DateTime::parse_from_rfc3339(t).ok());
                        let recorded = recorded.context("an event without recordedAt")?.with_timezone(&Utc);
                        got.push((event["id"].as_str().unwrap_or_default().to_string(), recorded, Utc::now()));
                    }
                    anyhow::Ok(got)
                })
            })
            .collect();
        let mut received = Vec::new();
        for w in watchers {
            received.push(w.await.context("a subscriber panicked")??);
        }
        // The subscriptions end with the ledger's terminal event; the read model may be a moment behind.
        let g = loop {
            let q = "query($id: ID!) { graph(id: $id) { state } }";
            let g = self.client().query(q, json!({ "id": id })).await?;
            if g["graph"]["state"] != "RUNNING" {
                break g;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        if g["graph"]["state"] != "SUCCESS" {
            bail!("the watched run ended {}", g["graph"]["state"]);
        }
        let history: HashSet<String> =
            self.client().history(&id).await?.iter().filter_map(|e| e["id"].as_str().map(str::to_string)).collect();
        let (mut missed, mut repeated, mut lat) = (0usize, 0usize, Vec::new());
        for got in &received {
            let ids: HashSet<&str> = got.iter().map(|(id, _, _)| id.as_str()).collect();
            missed += history.iter().filter(|h| !ids.contains(h.as_str())).count();
            repeated += got.len() - ids.len();
            lat.extend(
                got.iter()
                    .filter(|(_, recorded, _)| *recorded > ready)
                    .map(|(_, recorded, at)| (*at - *recorded).num_microseconds().unwrap_or(0) as f64 / 1e3),
            );
        }
        Ok(Figures::from([
            ("p50_ms".into(), quantile(&lat, 0.5)),
            ("p99_ms".into(), quantile(&lat, 0.99)),
            ("live_events_measured".into(), lat.len() as f64),
            ("events_missed".into(), missed as f64),
            ("events_repeated".into(), repeated as f64),
        ]))
    }
}

/// How a distributed W2 drains: worker processes of `slots` each, projector processes and partitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Drain {
    /// Worker processes added to drain.
    pub workers: usize,
    /// Slots of each.
    pub slots: usize,
    /// Projector processes (one per partition).
    pub projectors: usize,
}

impl Drain {
    /// W2's drain: the plan's slots over two workers, one projector.
    pub fn standard(plan: &Plan) -> Self {
        Self { workers: 2, slots: plan.slots / 2, projectors: 1 }
    }

    /// The scale-out row: what one more worker process (of the same size) or a second projector
    /// partition adds.
    pub fn scale_out(plan: &Plan) -> [Self; 4] {
        let slots = plan.slots / 2;
        [
            Self { workers: 1, slots, projectors: 1 },
            Self { workers: 2, slots, projectors: 1 },
            Self { workers: 4, slots, projectors: 1 },
            Self { workers: 2, slots, projectors: 2 },
        ]
    }

    /// `1w`, `2w`, `4w`, `2w_2p`: the figure suffix of this shape in the scale-out row.
    pub fn tag(&self) -> String {
        match self.projectors {
            1 => format!("{}w", self.workers),
            p => format!("{}w_{p}p", self.workers),
        }
    }
}

/// W2's scale-out row (distributed): W2 drained by each shape of [`Drain::scale_out`], its
/// tasks/s per shape.
pub async fn w2_scale_out(dir: &Path, plan: &Plan) -> anyhow::Result<Figures> {
    let mut figures = Figures::new();
    for shape in Drain::scale_out(plan) {
        let tag = shape.tag();
        let f = w2_drained(Deployment::Distributed, &dir.join(&tag), plan, shape).await?;
        for key in ["tasks_per_s", "cpu_ms_per_task"] {
            if let Some(v) = f.get(key) {
                figures.insert(format!("{key}_{tag}"), *v);
            }
        }
    }
    Ok(figures)
}

/// W2 on its own deployment: `tasks` are enqueued while only a worker whose labels match none of
/// them is up, then 16 slots that match start and drain them. Tasks/s counts from the first claim
/// (`TaskReceived`) to the client seeing the run's SUCCESS, as Celery's counts from a running
/// worker starting to consume; `drain_s` also includes our workers' process start (`startup_s`).
/// CPU covers the enqueueing and the draining.
pub async fn w2(kind: Deployment, dir: &Path, plan: &Plan) -> anyhow::Result<Figures> {
    w2_drained(kind, dir, plan, Drain::standard(plan)).await
}

async fn w2_drained(kind: Deployment, dir: &Path, plan: &Plan, drain: Drain) -> anyhow::Result<Figures> {
    let payload = "x".repeat(plan.payload_bytes);
    let mut meter = Meter::default();
    let mut holding = sets(kind, plan, &["worker.labels.pool=hold"]);
    if drain.projectors > 1 {
        holding.push(format!("projector.partitions={}", drain.projectors));
    }
    let mut server = deploy_with(kind, dir, holding, vec!["pool=hold".into()], drain.projectors).await;
    meter.start(stack(kind, &server));
    let enqueue = Instant::now();
    let input = graphs::independent(plan.w2_tasks, &payload, Some(("pool", "drain")));
    let run = server.client.submit(input).await.context("submitting W2")?;
    let id = run["id"].as_str().context("no graph id")?.to_string();
    wait_pending(&server.client, &id, plan.w2_tasks).await?;
    let enqueue_s = enqueue.elapsed().as_secs_f64();
    meter.stop();
    let events_before = server.ledger_event_count().await;
    let started = match kind {
        Deployment::Embedded => {
            // One process: stop it and start it again with workers whose labels match; it orders
            // the pending tasks again on start.
            let unclean = server.stop();
            if !unclean.is_empty() {
                bail!("aurora dev did not stop cleanly: {unclean:?}");
            }
            let started = Instant::now();
            server = deploy(kind, dir, sets(kind, plan, &["worker.labels.pool=drain"]), vec![]).await;
            started
        }
        Deployment::Distributed => {
            let started = Instant::now();
            let cluster = server.cluster_mut().context("a distributed deployment")?;
            let slots = format!("worker.slots={}", drain.slots);
            for i in 0..drain.workers {
                cluster.add(&format!("drain{i}"), "worker", std::slice::from_ref(&slots), &["--labels", "pool=drain"]);
            }
            started
        }
    };
    meter.start(stack(kind, &server));
    let commands_before = crate::db_counts::commands(&server).await?;
    // Every 10 ms, as the Celery driver polls its result backend.
    let state = server.wait_ended(&id, RUN_TIMEOUT, Duration::from_millis(10)).await;
    let state = state.with_context(|| format!("W2's run did not end within {RUN_TIMEOUT:?}"))?;
    let (drain_s, seen_at) = (started.elapsed().as_secs_f64(), chrono::Utc::now());
    meter.stop();
    if state != "SUCCESS" {
        bail!("W2 ended {state}");
    }
    let first_claim = server.first_recorded_at("TaskReceived").await.context("W2 ended without a claim")?;
    let first_claim = chrono::DateTime::parse_from_rfc3339(&first_claim).context("the first claim's time")?;
    let claimed_s = (seen_at - first_claim.with_timezone(&chrono::Utc)).as_seconds_f64();
    let events_after = server.ledger_event_count().await;
    let commands_after = crate::db_counts::commands(&server).await?;
    let unclean = server.stop();
    if !unclean.is_empty() {
        bail!("processes did not stop cleanly: {unclean:?}");
    }
    let n = plan.w2_tasks as f64;
    let mut figures = match kind {
        Deployment::Distributed => crate::db_counts::per_task(&commands_before, &commands_after, n),
        Deployment::Embedded => Figures::new(),
    };
    // Where the CPU went, per part of the stack (enqueueing and draining).
    for (part, millis) in meter.millis_by_part() {
        figures.insert(format!("cpu_ms_per_task_{part}"), millis / n);
    }
    figures.extend(Figures::from([
        ("tasks_per_s".into(), n / claimed_s),
        ("tasks_per_s_with_startup".into(), n / drain_s),
        ("startup_s".into(), drain_s - claimed_s),
        ("events_per_s".into(), (events_after - events_before) as f64 / claimed_s),
        ("events_per_task".into(), events_after as f64 / n),
        ("cpu_ms_per_task".into(), meter.millis() / n),
        ("enqueue_s".into(), enqueue_s),
        ("drain_s".into(), drain_s),
    ]));
    Ok(figures)
}

/// Waits until every one of the run's `n` tasks is PENDING (submitted, projected, ordered).
async fn wait_pending(client: &Client, id: &str, n: usize) -> anyhow::Result<()> {
    let deadline = Instant::now() + RUN_TIMEOUT;
    loop {
        let g = client.query("query($id: ID!) { graph(id: $id) { tasks { state } } }", json!({ "id": id })).await?;
        let pending = g["graph"]["tasks"].as_array().into_iter().flatten().filter(|t| t["state"] == "PENDING").count();
        if pending == n {
            // The order is published right after the projection; give the broker a moment.
            tokio::time::sleep(Duration::from_millis(500)).await;
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("only {pending} of {n} tasks PENDING after {RUN_TIMEOUT:?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits, over a `graphEvents` subscription, until the client sees task `key` of run `id`
/// SUCCESS (what Celery's `AsyncResult.get()` on the last task waits for), or, without a key, the
/// whole run's SUCCESS (which the projector appends one step later).
async fn seen_success(client: &Client, id: &str, key: Option<&str>) -> anyhow::Result<()> {
    let graph: aurora_schemas::GraphId = id.parse().map_err(|e| anyhow::anyhow!("run id {id}: {e}"))?;
    let task = key.map(|k| aurora_schemas::TaskId::derive(graph, k).to_string());
    let mut events = client.graph_events(id).await.context("subscribing to the run")?;
    let deadline = Instant::now() + RUN_TIMEOUT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let event = match tokio::time::timeout(left, events.next()).await {
            Err(_) => bail!("run {id} did not end within {RUN_TIMEOUT:?}"),
            Ok(None) => bail!("the subscription to run {id} ended before its terminal event"),
            Ok(Some(e)) => e?,
        };
        match event["type"].as_str() {
            Some("TaskSucceeded") if task.is_some() && event["taskId"].as_str() == task.as_deref() => return Ok(()),
            // Every task's SUCCESS comes before the run's: reaching it first means the task was missed.
            Some("GraphSucceeded") if task.is_some() => bail!("run {id} succeeded without task {key:?}'s SUCCESS"),
            Some("GraphSucceeded") => return Ok(()),
            Some(t @ ("GraphFailed" | "GraphCancelled")) => bail!("run {id} ended with {t}: {event}"),
            _ => {}
        }
    }
}

/// W8's chain lengths (windmill-labs/windmill-benchmarks: 40 light tasks, 10 long ones; here
/// both are `noop`s, so the engine's overhead is what they measure).
pub const W8_CHAINS: [usize; 2] = [40, 10];

/// A chain run taken apart with the ledger's timestamps.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChainTimes {
    /// From `GraphSubmitted` to the last `TaskSucceeded`, less the handlers' runs.
    pub overhead_ms: f64,
    /// The handlers' runs: each task's `TaskStarted` → `TaskSucceeded`, summed.
    pub run_ms: f64,
}

impl ChainTimes {
    /// From a run's history (`type`, `taskId`, `recordedAt` of each event) with `n` tasks, each
    /// started and succeeded once.
    pub fn from_history(history: &[Value], n: usize) -> anyhow::Result<Self> {
        let at = |e: &Value| -> anyhow::Result<DateTime<Utc>> {
            let t = e["recordedAt"].as_str().context("an event without recordedAt")?;
            Ok(DateTime::parse_from_rfc3339(t)?.with_timezone(&Utc))
        };
        let (mut submitted, mut last_success) = (None, None);
        let (mut started, mut succeeded) = (std::collections::HashMap::new(), std::collections::HashMap::new());
        for e in history {
            let task = e["taskId"].as_str().unwrap_or_default().to_string();
            match e["type"].as_str() {
                Some("GraphSubmitted") => submitted = Some(at(e)?),
                Some("TaskStarted") => {
                    started.insert(task, at(e)?);
                }
                Some("TaskSucceeded") => {
                    let t = at(e)?;
                    last_success = last_success.max(Some(t));
                    succeeded.insert(task, t);
                }
                _ => {}
            }
        }
        let submitted = submitted.context("no GraphSubmitted")?;
        let last = last_success.context("no TaskSucceeded")?;
        anyhow::ensure!(succeeded.len() == n, "{} of {n} tasks succeeded", succeeded.len());
        let mut run_ms = 0.0;
        for (task, done) in &succeeded {
            let start = started.get(task).with_context(|| format!("task {task} succeeded without starting"))?;
            run_ms += (*done - *start).num_microseconds().unwrap_or(0) as f64 / 1e3;
        }
        let total_ms = (last - submitted).num_microseconds().unwrap_or(0) as f64 / 1e3;
        Ok(Self { overhead_ms: total_ms - run_ms, run_ms })
    }
}

/// W1's figures from per-request latencies (seconds) and total times.
pub fn w1_figures(plan: &Plan, single: &[f64], single_s: f64, batched: &[f64], batched_s: f64) -> Figures {
    let batched_tasks = (batched.len() * plan.w1_batch) as f64;
    Figures::from([
        ("single_tasks_per_s".into(), single.len() as f64 / single_s),
        ("single_p50_ms".into(), ms(quantile(single, 0.5))),
        ("single_p99_ms".into(), ms(quantile(single, 0.99))),
        ("batch_tasks_per_s".into(), batched_tasks / batched_s),
        ("batch_p50_ms".into(), ms(quantile(batched, 0.5))),
        ("batch_p99_ms".into(), ms(quantile(batched, 0.99))),
    ])
}

/// W3's figures from latencies in seconds.
pub fn latency_figures(lat: &[f64]) -> Figures {
    Figures::from([
        ("p50_ms".into(), ms(quantile(lat, 0.5))),
        ("p95_ms".into(), ms(quantile(lat, 0.95))),
        ("p99_ms".into(), ms(quantile(lat, 0.99))),
        ("max_ms".into(), ms(quantile(lat, 1.0))),
    ])
}

/// W5's figures: time to the join's SUCCESS, and whether every join ran exactly once.
pub fn w5_figures(lat: &[f64], join_runs: &[usize]) -> Figures {
    let once = join_runs.iter().all(|r| *r == 1);
    Figures::from([
        ("p50_ms".into(), ms(quantile(lat, 0.5))),
        ("max_ms".into(), ms(quantile(lat, 1.0))),
        ("joins_not_exactly_once".into(), join_runs.iter().filter(|r| **r != 1).count() as f64),
        ("join_exactly_once".into(), if once { 1.0 } else { 0.0 }),
    ])
}

#[cfg(test)]
mod tests {
    use super::ChainTimes;
    use serde_json::json;

    fn event(kind: &str, task: &str, at: &str) -> serde_json::Value {
        json!({ "type": kind, "taskId": task, "recordedAt": format!("2026-12-08T10:00:{at}Z") })
    }

    /// Submitted at 0, task a runs 1.0–1.5, task b 2.0–2.25: 2.25 s in all, of it 0.75 s the
    /// handlers' runs and 1.5 s the engine's; other events do not count.
    #[test]
    fn a_chain_is_taken_apart_into_the_engines_overhead_and_the_handlers_runs() {
        let history = [
            event("GraphSubmitted", "", "00.000"),
            event("TaskPending", "a", "00.100"),
            event("TaskStarted", "a", "01.000"),
            event("TaskSucceeded", "a", "01.500"),
            event("TaskStarted", "b", "02.000"),
            event("TaskSucceeded", "b", "02.250"),
            event("GraphSucceeded", "", "03.000"),
        ];
        let t = ChainTimes::from_history(&history, 2).unwrap();
        assert_eq!(t, ChainTimes { overhead_ms: 1_500.0, run_ms: 750.0 });
        let e = ChainTimes::from_history(&history, 3).unwrap_err().to_string();
        assert!(e.contains("2 of 3"), "{e}");
        let e = ChainTimes::from_history(&history[1..], 2).unwrap_err().to_string();
        assert!(e.contains("GraphSubmitted"), "{e}");
    }
}
