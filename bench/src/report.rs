//! What a run found: every sample, medians per system and workload, ratios to Celery and to
//! Restate, the raw limits, written as JSON, a Markdown report and an SVG chart.

use crate::Figures;
use crate::plan::Plan;
use crate::selection::Selection;
use crate::stats::median;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The systems compared.
pub const SYSTEMS: [&str; 4] = ["embedded", "distributed", "celery", "restate"];

/// One measured repetition of one workload on one system.
#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    /// `embedded`, `distributed`, `celery`, `restate` or `limits`.
    pub system: String,
    /// `W1`…`W8`, `W2s`, or the part whose limit was measured (`rabbitmq`, `mongodb`, `sqlite`).
    pub workload: String,
    /// Which repetition (1-based).
    pub rep: usize,
    /// The figures.
    pub figures: Figures,
}

/// The machine the run was on.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    /// Logical CPUs.
    pub cpus: usize,
    /// `model name` from `/proc/cpuinfo`.
    pub cpu_model: String,
    /// Memory in GiB.
    pub memory_gib: f64,
    /// `uname -r`.
    pub kernel: String,
    /// Which MongoDB server the distributed deployment ran on.
    pub mongodb_server: String,
}

impl Machine {
    /// Reads this machine.
    pub fn this() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name").map(|r| r.trim_start_matches([' ', '\t', ':']).to_string()))
            .unwrap_or_else(|| "unknown".into());
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let kib: f64 = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|r| r.split_whitespace().next()?.parse().ok())
            .unwrap_or(0.0);
        let kernel = std::process::Command::new("uname")
            .arg("-r")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .map(|s| s.trim().to_string())
            .unwrap_or_default();
        Self {
            cpus: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            cpu_model,
            memory_gib: (kib / 1024.0 / 1024.0 * 10.0).round() / 10.0,
            kernel,
            mongodb_server: std::env::var("AURORA_TEST_MONGODB_SERVER").unwrap_or_else(|_| "unknown".into()),
        }
    }
}

/// A whole run.
#[derive(Debug, Clone, Serialize)]
pub struct Results {
    /// When it ran (UTC, RFC 3339).
    pub date: String,
    /// The commit measured (`git rev-parse HEAD`), if known.
    pub commit: String,
    /// Where.
    pub machine: Machine,
    /// How big.
    pub plan: Plan,
    /// What of it was measured (empty lists: everything).
    pub selection: Selection,
    /// Every measured sample (the warm-up's are not kept).
    pub samples: Vec<Sample>,
    /// Medians: system → workload → figure → value.
    pub medians: BTreeMap<String, BTreeMap<String, Figures>>,
    /// Ours relative to Celery on each workload's headline figure (above 1: ours is better).
    pub versus_celery: BTreeMap<String, BTreeMap<String, f64>>,
    /// Ours relative to Restate, likewise (a peer that, like ours, persists every step).
    pub versus_restate: BTreeMap<String, BTreeMap<String, f64>>,
    /// Our W2 throughput as a fraction of what the parts' raw limits allow for the events each task writes.
    pub w2_fraction_of_limit: BTreeMap<String, f64>,
    /// Workloads that failed (repetition, system, workload, why); empty in a good run.
    pub failures: Vec<String>,
}

/// The figure each workload is compared on, and whether more is better.
pub const HEADLINES: [(&str, &str, bool); 9] = [
    ("W1", "single_tasks_per_s", true),
    ("W1", "batch_tasks_per_s", true),
    ("W2", "tasks_per_s", true),
    ("W3", "p50_ms", false),
    ("W4", "ms_per_hop", false),
    ("W5", "p50_ms", false),
    ("W6", "seconds", false),
    ("W7", "p99_ms", false),
    ("W8", "chain40_ms_per_task", false),
];

/// Medians of every figure over the repetitions.
pub fn medians(samples: &[Sample]) -> BTreeMap<String, BTreeMap<String, Figures>> {
    let mut values: BTreeMap<(String, String, String), Vec<f64>> = BTreeMap::new();
    for s in samples {
        for (k, v) in &s.figures {
            values.entry((s.system.clone(), s.workload.clone(), k.clone())).or_default().push(*v);
        }
    }
    let mut out: BTreeMap<String, BTreeMap<String, Figures>> = BTreeMap::new();
    for ((system, workload, figure), v) in values {
        out.entry(system).or_default().entry(workload).or_default().insert(figure, median(&v));
    }
    out
}

fn get(m: &BTreeMap<String, BTreeMap<String, Figures>>, system: &str, workload: &str, figure: &str) -> Option<f64> {
    m.get(system)?.get(workload)?.get(figure).copied().filter(|v| v.is_finite())
}

impl Results {
    /// Summarises `samples`.
    pub fn new(
        date: String,
        commit: String,
        machine: Machine,
        plan: Plan,
        selection: Selection,
        samples: Vec<Sample>,
        failures: Vec<String>,
    ) -> Self {
        let medians = medians(&samples);
        let versus = |peer: &str| {
            let mut ratios: BTreeMap<String, BTreeMap<String, f64>> = BTreeMap::new();
            for system in ["embedded", "distributed"] {
                for (w, figure, more_is_better) in HEADLINES {
                    if let (Some(ours), Some(theirs)) =
                        (get(&medians, system, w, figure), get(&medians, peer, w, figure))
                    {
                        let ratio = if more_is_better { ours / theirs } else { theirs / ours };
                        ratios.entry(system.into()).or_default().insert(format!("{w} {figure}"), ratio);
                    }
                }
            }
            ratios
        };
        let (versus_celery, versus_restate) = (versus("celery"), versus("restate"));
        let mut w2_fraction_of_limit = BTreeMap::new();
        let limit = |part: &str, figure: &str| get(&medians, "limits", part, figure);
        for (system, store) in [("embedded", "sqlite"), ("distributed", "mongodb")] {
            let (Some(tps), Some(per_task)) =
                (get(&medians, system, "W2", "tasks_per_s"), get(&medians, system, "W2", "events_per_task"))
            else {
                continue;
            };
            let mut allowed = limit(store, "inserts_per_s").map(|l| l / per_task);
            if system == "distributed" {
                // Each task is also one message through RabbitMQ.
                allowed = match (allowed, limit("rabbitmq", "round_trip_per_s")) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
            }
            if let Some(allowed) = allowed {
                w2_fraction_of_limit.insert(system.to_string(), tps / allowed);
            }
        }
        Self {
            date,
            commit,
            machine,
            plan,
            selection,
            samples,
            medians,
            versus_celery,
            versus_restate,
            w2_fraction_of_limit,
            failures,
        }
    }

    fn cell(&self, system: &str, workload: &str, figure: &str) -> String {
        get(&self.medians, system, workload, figure).map(fmt).unwrap_or_else(|| "–".into())
    }

    /// The table of medians, one row per workload figure, ours beside Celery.
    pub fn table(&self) -> String {
        let mut rows: Vec<(String, String)> = Vec::new();
        for system in SYSTEMS {
            for (w, figures) in self.medians.get(system).into_iter().flatten() {
                for f in figures.keys() {
                    if !rows.contains(&(w.clone(), f.clone())) {
                        rows.push((w.clone(), f.clone()));
                    }
                }
            }
        }
        rows.sort();
        let mut t = String::new();
        let _ = writeln!(
            t,
            "| workload | figure | embedded | distributed | Celery | Restate | embedded ÷ Celery | distributed ÷ Celery | embedded ÷ Restate | distributed ÷ Restate |"
        );
        let _ = writeln!(t, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        for (w, f) in rows {
            let ratio = |versus: &BTreeMap<String, BTreeMap<String, f64>>, system: &str| {
                versus
                    .get(system)
                    .and_then(|m| m.get(&format!("{w} {f}")))
                    .map(|r| format!("{r:.2}×"))
                    .unwrap_or_default()
            };
            let _ = writeln!(
                t,
                "| {w} | {f} | {} | {} | {} | {} | {} | {} | {} | {} |",
                self.cell("embedded", &w, &f),
                self.cell("distributed", &w, &f),
                self.cell("celery", &w, &f),
                self.cell("restate", &w, &f),
                ratio(&self.versus_celery, "embedded"),
                ratio(&self.versus_celery, "distributed"),
                ratio(&self.versus_restate, "embedded"),
                ratio(&self.versus_restate, "distributed"),
            );
        }
        t
    }

    /// The raw limits and our W2 against them.
    pub fn limits_table(&self) -> String {
        let mut t = String::from("| part | figure | per second |\n|---|---|---:|\n");
        for (part, figures) in self.medians.get("limits").into_iter().flatten() {
            for (f, v) in figures {
                let _ = writeln!(t, "| {part} | {f} | {} |", fmt(*v));
            }
        }
        for (system, frac) in &self.w2_fraction_of_limit {
            let _ =
                writeln!(t, "| ours {system} W2 | fraction of the limit its events allow | {:.1} % |", frac * 100.0);
        }
        t
    }

    /// The issue's targets, each met or not, from the medians (and every sample for W5 and W7).
    pub fn targets(&self) -> String {
        let mut out = String::new();
        let mut line = |ok: Option<bool>, text: String| {
            let mark = match ok {
                Some(true) => "met",
                Some(false) => "NOT met",
                None => "not measured",
            };
            let _ = writeln!(out, "- {text}: **{mark}**");
        };
        let celery = |system: &str, key: &str| self.versus_celery.get(system).and_then(|m| m.get(key)).copied();
        let w2d = celery("distributed", "W2 tasks_per_s");
        line(w2d.map(|r| r >= 2.0), format!("W2 distributed ≥ 2× Celery's tasks/s (measured {})", opt(w2d, "×")));
        let w1d = celery("distributed", "W1 single_tasks_per_s");
        line(
            w1d.map(|r| r >= 1.0),
            format!("W1 single-request distributed ≥ Celery's tasks/s (measured {})", opt(w1d, "×")),
        );
        let w3d = celery("distributed", "W3 p50_ms");
        line(
            w3d.map(|r| r >= 0.5),
            format!("W3 distributed p50 ≤ 2× Celery's (measured {} of Celery's speed)", opt(w3d, "×")),
        );
        let w2 = get(&self.medians, "embedded", "W2", "tasks_per_s");
        line(w2.map(|v| v >= 10_000.0), format!("W2 embedded ≥ 10,000 tasks/s (measured {})", opt(w2, " tasks/s")));
        let w3e = celery("embedded", "W3 p50_ms");
        line(
            w3e.map(|r| r >= 1.0),
            format!("W3 embedded p50 ≤ Celery's (measured {} of Celery's speed)", opt(w3e, "×")),
        );
        for system in ["embedded", "distributed"] {
            let p99 = get(&self.medians, system, "W7", "p99_ms");
            line(p99.map(|v| v <= 100.0), format!("W7 {system} p99 ≤ 100 ms (measured {})", opt(p99, " ms")));
        }
        let ours = |w: &str, figure: &str| -> Vec<f64> {
            let of_ours = self
                .samples
                .iter()
                .filter(|s| (s.system == "embedded" || s.system == "distributed") && s.workload == w);
            of_ours.filter_map(|s| s.figures.get(figure).copied()).collect()
        };
        let joins = ours("W5", "joins_not_exactly_once");
        let bad_joins: usize = joins.iter().map(|v| *v as usize).sum();
        line(
            (!joins.is_empty()).then_some(bad_joins == 0),
            format!("W5 join exactly once, every run ({bad_joins} runs otherwise)"),
        );
        let missed = ours("W7", "events_missed");
        let total_missed: usize = missed.iter().map(|v| *v as usize).sum();
        line((!missed.is_empty()).then_some(total_missed == 0), format!("W7 no missed events ({total_missed} missed)"));
        let repeated: usize = ours("W7", "events_repeated").iter().map(|v| *v as usize).sum();
        line((!missed.is_empty()).then_some(repeated == 0), format!("W7 no repeated events ({repeated} repeated)"));
        out
    }

    /// The Markdown report.
    pub fn markdown(&self, chart_file: &str) -> String {
        let m = &self.machine;
        format!(
            "# Aurora benchmark, {date} ({mode}{only})\n\n\
             Commit `{commit}` on {cpus} CPUs ({model}), {mem} GiB, Linux {kernel}; MongoDB server: {mongo}.\n\
             Medians of {reps} interleaved repetitions{warm}. Slots: {slots} for every system. Payload: {payload} bytes in, 16 bytes out.\n\n\
             ![ours relative to Celery]({chart_file})\n\n\
             ## Workloads\n\n{table}\n\
             Ratios are on each workload's headline figure: above 1× ours is better (more tasks/s, or less time). \
             Restate's W2 has no separate enqueue (it cannot hold invocations back): its drain starts with the first send.\n\n\
             ## Raw limits\n\n{limits}\n\
             ## Targets\n\n{targets}{failures}",
            date = self.date,
            mode = self.plan.mode,
            only = if self.selection.is_everything() {
                String::new()
            } else {
                format!(", only systems {:?} and workloads {:?}", self.selection.systems, self.selection.workloads)
            },
            commit = self.commit,
            cpus = m.cpus,
            model = m.cpu_model,
            mem = m.memory_gib,
            kernel = m.kernel,
            mongo = m.mongodb_server,
            reps = match self.samples.iter().map(|s| s.rep).max().unwrap_or(0) {
                done if done < self.plan.reps => format!("{done} (of {} planned)", self.plan.reps),
                done => done.to_string(),
            },
            warm = if self.plan.warmup { " after a warm-up" } else { "" },
            slots = self.plan.slots,
            payload = self.plan.payload_bytes,
            table = self.table(),
            limits = self.limits_table(),
            targets = self.targets(),
            failures = if self.failures.is_empty() {
                String::new()
            } else {
                format!("\n## Failures\n\n{}\n", self.failures.iter().map(|f| format!("- {f}\n")).collect::<String>())
            },
        )
    }

    /// An SVG bar chart of ours relative to Celery on each headline figure, on a log scale
    /// centred on 1×.
    pub fn svg(&self) -> String {
        let rows: Vec<(String, String, f64)> = ["embedded", "distributed"]
            .iter()
            .flat_map(|system| {
                self.versus_celery
                    .get(*system)
                    .into_iter()
                    .flatten()
                    .map(move |(k, v)| (system.to_string(), k.clone(), *v))
            })
            .collect();
        let (width, row_h, left, mid) = (820.0, 26.0, 300.0, 560.0);
        let height = 60.0 + row_h * rows.len() as f64;
        let scale = 60.0; // pixels per doubling
        let mut s = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"13\">\n\
             <text x=\"10\" y=\"22\" font-size=\"15\">Aurora relative to Celery (log scale; right of the line: Aurora better)</text>\n\
             <line x1=\"{mid}\" y1=\"34\" x2=\"{mid}\" y2=\"{}\" stroke=\"#333\"/>\n",
            height - 10.0
        );
        for (i, (system, key, ratio)) in rows.iter().enumerate() {
            let y = 44.0 + row_h * i as f64;
            let len = (ratio.log2() * scale).clamp(-(mid - left), width - mid - 60.0);
            let (x, w) = if len >= 0.0 { (mid, len) } else { (mid + len, -len) };
            let color = if system == "embedded" { "#3b7dd8" } else { "#e0822f" };
            let _ = write!(
                s,
                "<text x=\"10\" y=\"{ty}\">{system} {key}</text>\n\
                 <rect x=\"{x:.1}\" y=\"{y}\" width=\"{w:.1}\" height=\"{h}\" fill=\"{color}\"/>\n\
                 <text x=\"{lx:.1}\" y=\"{ty}\">{ratio:.2}×</text>\n",
                ty = y + 14.0,
                h = row_h - 8.0,
                lx = if len >= 0.0 { mid + len + 6.0 } else { mid + 6.0 },
            );
        }
        s.push_str("</svg>\n");
        s
    }
}

fn opt(v: Option<f64>, unit: &str) -> String {
    v.map(|v| format!("{}{unit}", fmt(v))).unwrap_or_else(|| "nothing".into())
}

/// Three significant figures, thousands separated.
pub fn fmt(v: f64) -> String {
    if !v.is_finite() {
        return "–".into();
    }
    if v.abs() >= 1000.0 {
        let whole = format!("{:.0}", v.abs());
        let mut grouped = String::new();
        for (i, c) in whole.chars().enumerate() {
            if i > 0 && (whole.len() - i) % 3 == 0 {
                grouped.push(',');
            }
            grouped.push(c);
        }
        return if v < 0.0 { format!("-{grouped}") } else { grouped };
    }
    let decimals = if v.abs() >= 100.0 {
        0
    } else if v.abs() >= 10.0 {
        1
    } else {
        2
    };
    format!("{v:.decimals$}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(system: &str, workload: &str, rep: usize, figures: &[(&str, f64)]) -> Sample {
        let figures = figures.iter().map(|(k, v)| (k.to_string(), *v)).collect();
        Sample { system: system.into(), workload: workload.into(), rep, figures }
    }

    #[test]
    fn medians_ratios_and_the_limit_fraction() {
        let samples = vec![
            sample("distributed", "W2", 1, &[("tasks_per_s", 900.0), ("events_per_task", 5.0)]),
            sample("distributed", "W2", 2, &[("tasks_per_s", 1100.0), ("events_per_task", 5.0)]),
            sample("distributed", "W2", 3, &[("tasks_per_s", 1000.0), ("events_per_task", 5.0)]),
            sample("celery", "W2", 1, &[("tasks_per_s", 250.0)]),
            sample("restate", "W2", 1, &[("tasks_per_s", 500.0)]),
            sample("distributed", "W3", 1, &[("p50_ms", 10.0)]),
            sample("celery", "W3", 1, &[("p50_ms", 5.0)]),
            sample("limits", "mongodb", 1, &[("inserts_per_s", 50_000.0)]),
            sample("limits", "rabbitmq", 1, &[("round_trip_per_s", 4_000.0)]),
        ];
        let r =
            Results::new("d".into(), "c".into(), Machine::this(), Plan::tiny(), Selection::default(), samples, vec![]);
        assert_eq!(r.medians["distributed"]["W2"]["tasks_per_s"], 1000.0);
        assert_eq!(r.versus_celery["distributed"]["W2 tasks_per_s"], 4.0, "more is better: ours / Celery");
        assert_eq!(r.versus_celery["distributed"]["W3 p50_ms"], 0.5, "less is better: Celery / ours");
        // MongoDB allows 10,000 tasks/s at 5 events each, RabbitMQ 4,000: the smaller bounds.
        assert_eq!(r.w2_fraction_of_limit["distributed"], 0.25);
        let md = r.markdown("chart.svg");
        assert!(md.contains("| W2 | tasks_per_s | – | 1,000 | 250 | 500 |"), "{md}");
        assert_eq!(r.versus_restate["distributed"]["W2 tasks_per_s"], 2.0, "ours / Restate");
        assert!(md.contains("W2 distributed ≥ 2× Celery's tasks/s (measured 4.00×): **met**"), "{md}");
        assert!(md.contains("W3 distributed p50 ≤ 2× Celery's (measured 0.50× of Celery's speed): **met**"), "{md}");
        assert!(md.contains("W2 embedded ≥ 10,000 tasks/s (measured nothing): **not measured**"), "{md}");
        assert!(r.svg().contains("distributed W2 tasks_per_s"));
    }

    #[test]
    fn numbers_read_well() {
        assert_eq!(fmt(12_345.6), "12,346");
        assert_eq!(fmt(123.4), "123");
        assert_eq!(fmt(12.34), "12.3");
        assert_eq!(fmt(1.234), "1.23");
    }
}
