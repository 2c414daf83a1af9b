//! User-defined metrics (config `[[metrics]]`, the seed's `metrics.toml`): declared once per worker
//! process, updated by handlers — Rust handlers through [`crate::Context::metric`], executables
//! through an `aurora-metric {json}` line on stderr — and exposed on the process's `/metrics` with
//! the declared labels. An update that does not fit its declaration is an error the handler's
//! author sees (the attempt fails with it), never a silent drop.

use aurora_config::Metric;
use prometheus::core::{Collector, Desc};
use prometheus::proto::{LabelPair, MetricFamily, MetricType, Quantile};
use prometheus::{CounterVec, GaugeVec, HistogramOpts, HistogramVec, Opts, Registry};
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock};

/// What an update does.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Op {
    /// Counter or gauge: add this (a counter only goes up).
    Inc(f64),
    /// Gauge: set to this.
    Set(f64),
    /// Histogram or summary: record this observation.
    Observe(f64),
}

/// One update of a declared metric.
#[derive(Debug, Clone, PartialEq)]
pub struct Update {
    /// The declared name.
    pub name: String,
    /// A value for every declared label, and no other.
    pub labels: BTreeMap<String, String>,
    /// What to do.
    pub op: Op,
}

/// Why an update was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetricError {
    /// No `[[metrics]]` entry has this name.
    #[error("metric `{name}` is not declared in the worker's [[metrics]] (declared: {declared})")]
    Undeclared {
        /// The name used.
        name: String,
        /// The declared names.
        declared: String,
    },
    /// The labels differ from the declared ones.
    #[error("metric `{name}` takes the labels [{want}], not [{got}]")]
    Labels {
        /// The metric.
        name: String,
        /// Declared.
        want: String,
        /// Given.
        got: String,
    },
    /// The operation does not fit the kind (`set` on a counter, …).
    #[error("metric `{name}` is a {kind}: {why}")]
    Op {
        /// The metric.
        name: String,
        /// Its kind.
        kind: &'static str,
        /// What fits it.
        why: &'static str,
    },
    /// An `aurora-metric` line that is not an update.
    #[error(
        "`aurora-metric` line not understood: {0}; write e.g. aurora-metric {{\"name\": \"jobs_total\", \"labels\": {{\"kind\": \"a\"}}, \"inc\": 1}}"
    )]
    Line(String),
}

enum Family {
    Counter(CounterVec),
    Gauge(GaugeVec),
    Histogram(HistogramVec),
    Summary(Summaries),
}

/// The quantiles a summary reports (the seed's objectives).
pub const QUANTILES: [f64; 3] = [0.5, 0.9, 0.99];
/// A summary's quantiles are over its last this many observations (per label values).
pub const SUMMARY_WINDOW: usize = 1000;

/// A summary metric: the Prometheus client has none, so this collector keeps, per label values,
/// the count and sum of every observation and the last [`SUMMARY_WINDOW`] observations, and reports
/// [`QUANTILES`] over those.
#[derive(Clone)]
struct Summaries(Arc<SummaryInner>);

struct SummaryInner {
    desc: Desc,
    series: Mutex<BTreeMap<Vec<String>, Window>>,
}

#[derive(Default)]
struct Window {
    count: u64,
    sum: f64,
    recent: VecDeque<f64>,
}

impl Summaries {
    fn new(name: &str, help: &str, labels: &[String]) -> prometheus::Result<Self> {
        let desc = Desc::new(name.to_string(), help.to_string(), labels.to_vec(), HashMap::new())?;
        Ok(Self(Arc::new(SummaryInner { desc, series: Mutex::default() })))
    }

    fn observe(&self, values: Vec<String>, v: f64) {
        let mut series = self.0.series.lock().unwrap_or_else(|p| p.into_inner());
        let w = series.entry(values).or_default();
        w.count += 1;
        w.sum += v;
        if w.recent.len() == SUMMARY_WINDOW {
            w.recent.pop_front();
        }
        w.recent.push_back(v);
    }
}

/// The nearest-rank `q` quantile of `sorted` (not empty).
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

impl Collector for Summaries {
    fn desc(&self) -> Vec<&Desc> {
        vec![&self.0.desc]
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let series = self.0.series.lock().unwrap_or_else(|p| p.into_inner());
        let mut family = MetricFamily::default();
        family.set_name(self.0.desc.fq_name.clone());
        family.set_help(self.0.desc.help.clone());
        family.set_field_type(MetricType::SUMMARY);
        for (values, w) in series.iter() {
            let mut sorted: Vec<f64> = w.recent.iter().copied().collect();
            sorted.sort_by(f64::total_cmp);
            let mut summary = prometheus::proto::Summary::default();
            summary.set_sample_count(w.count);
            summary.set_sample_sum(w.sum);
            summary.set_quantile(
                QUANTILES
                    .iter()
                    .map(|&q| {
                        let mut out = Quantile::default();
                        out.set_quantile(q);
                        out.set_value(if sorted.is_empty() { f64::NAN } else { quantile(&sorted, q) });
                        out
                    })
                    .collect(),
            );
            let mut metric = prometheus::proto::Metric::default();
            metric.set_label(
                self.0
                    .desc
                    .variable_labels
                    .iter()
                    .zip(values)
                    .map(|(name, value)| {
                        let mut pair = LabelPair::default();
                        pair.set_name(name.clone());
                        pair.set_value(value.clone());
                        pair
                    })
                    .collect(),
            );
            metric.set_summary(summary);
            family.mut_metric().push(metric);
        }
        if family.get_metric().is_empty() { vec![] } else { vec![family] }
    }
}

struct Declared {
    kind: &'static str,
    help: String,
    labels: Vec<String>,
    family: Family,
}

/// The declared metrics of a process.
pub struct Metrics {
    by_name: HashMap<String, Declared>,
}

impl Metrics {
    /// Declares `specs` in `registry` (the configuration is validated before: see
    /// `aurora_config`); an error if a name is taken there already.
    pub fn new(specs: &[Metric], registry: &Registry) -> Result<Self, String> {
        let mut by_name = HashMap::new();
        for m in specs {
            let labels: Vec<&str> = m.labels.iter().map(String::as_str).collect();
            let taken = |e: prometheus::Error| format!("metric `{}` cannot be declared: {e}", m.name);
            let family = match m.kind.as_str() {
                "counter" => Family::Counter(CounterVec::new(Opts::new(&m.name, &m.help), &labels).map_err(taken)?),
                "gauge" => Family::Gauge(GaugeVec::new(Opts::new(&m.name, &m.help), &labels).map_err(taken)?),
                "summary" => Family::Summary(Summaries::new(&m.name, &m.help, &m.labels).map_err(taken)?),
                _ => {
                    let mut opts = HistogramOpts::new(&m.name, &m.help);
                    if !m.buckets.is_empty() {
                        opts = opts.buckets(m.buckets.clone());
                    }
                    Family::Histogram(HistogramVec::new(opts, &labels).map_err(taken)?)
                }
            };
            let collector: Box<dyn prometheus::core::Collector> = match &family {
                Family::Counter(c) => Box::new(c.clone()),
                Family::Gauge(g) => Box::new(g.clone()),
                Family::Histogram(h) => Box::new(h.clone()),
                Family::Summary(s) => Box::new(s.clone()),
            };
            registry.register(collector).map_err(|e| format!("metric `{}` cannot be declared: {e}", m.name))?;
            let kind = match family {
                Family::Counter(_) => "counter",
                Family::Gauge(_) => "gauge",
                Family::Histogram(_) => "histogram",
                Family::Summary(_) => "summary",
            };
            by_name.insert(m.name.clone(), Declared { kind, help: m.help.clone(), labels: m.labels.clone(), family });
        }
        Ok(Self { by_name })
    }

    /// Applies `update`, or says why it does not fit.
    pub fn update(&self, u: &Update) -> Result<(), MetricError> {
        let Some(d) = self.by_name.get(&u.name) else {
            let mut names: Vec<&str> = self.by_name.keys().map(String::as_str).collect();
            names.sort_unstable();
            let declared = if names.is_empty() { "none".to_string() } else { names.join(", ") };
            return Err(MetricError::Undeclared { name: u.name.clone(), declared });
        };
        let mut want = d.labels.clone();
        want.sort_unstable();
        let got: Vec<String> = u.labels.keys().cloned().collect();
        if want != got {
            return Err(MetricError::Labels { name: u.name.clone(), want: want.join(", "), got: got.join(", ") });
        }
        let values: Vec<&str> = d.labels.iter().map(|l| u.labels[l].as_str()).collect();
        let refuse = |kind, why| Err(MetricError::Op { name: u.name.clone(), kind, why });
        match (&d.family, u.op) {
            (Family::Counter(c), Op::Inc(v)) if v >= 0.0 && v.is_finite() => c.with_label_values(&values).inc_by(v),
            (Family::Counter(_), _) => return refuse("counter", "it only goes up: `inc` by a finite amount ≥ 0"),
            (Family::Gauge(g), Op::Inc(v)) if v.is_finite() => g.with_label_values(&values).add(v),
            (Family::Gauge(g), Op::Set(v)) if v.is_finite() => g.with_label_values(&values).set(v),
            (Family::Gauge(_), _) => return refuse("gauge", "`set` or `inc` (by any finite amount)"),
            (Family::Histogram(h), Op::Observe(v)) if v.is_finite() => h.with_label_values(&values).observe(v),
            (Family::Histogram(_), _) => return refuse("histogram", "`observe` a finite value"),
            (Family::Summary(s), Op::Observe(v)) if v.is_finite() => {
                s.observe(values.iter().map(|v| v.to_string()).collect(), v);
            }
            (Family::Summary(_), _) => return refuse("summary", "`observe` a finite value"),
        }
        Ok(())
    }

    /// What is declared, sorted by name, as the remote worker protocol's `welcome` lists it:
    /// `[{"name", "kind", "help", "labels"}]`.
    pub fn declared(&self) -> Vec<serde_json::Value> {
        let mut names: Vec<&String> = self.by_name.keys().collect();
        names.sort_unstable();
        names
            .into_iter()
            .map(|n| {
                let d = &self.by_name[n];
                serde_json::json!({ "name": n, "kind": d.kind, "help": d.help, "labels": d.labels })
            })
            .collect()
    }

    /// Applies the update an `aurora-metric {json}` stderr line carries (`rest` is what follows
    /// the prefix): `{"name", "labels", "inc" | "set" | "observe": number}`.
    pub fn apply_line(&self, rest: &str) -> Result<(), MetricError> {
        let value: serde_json::Value = serde_json::from_str(rest).map_err(|e| MetricError::Line(e.to_string()))?;
        self.apply_json(value)
    }

    /// Applies an update given as `{"name", "labels", "inc" | "set" | "observe": number}`.
    pub fn apply_json(&self, value: serde_json::Value) -> Result<(), MetricError> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Line {
            name: String,
            #[serde(default)]
            labels: BTreeMap<String, String>,
            inc: Option<f64>,
            set: Option<f64>,
            observe: Option<f64>,
        }
        let line: Line = serde_json::from_value(value).map_err(|e| MetricError::Line(e.to_string()))?;
        let op = match (line.inc, line.set, line.observe) {
            (Some(v), None, None) => Op::Inc(v),
            (None, Some(v), None) => Op::Set(v),
            (None, None, Some(v)) => Op::Observe(v),
            _ => return Err(MetricError::Line("give exactly one of `inc`, `set`, `observe`".into())),
        };
        self.update(&Update { name: line.name, labels: line.labels, op })
    }
}

/// The prefix of a stderr line that updates a metric.
pub const LINE_PREFIX: &str = "aurora-metric ";

static PROCESS: OnceLock<Metrics> = OnceLock::new();

/// Declares `specs` for this process, in the registry `/metrics` serves. Once per process; later
/// calls with the same names are no-ops (several roles of `aurora dev` share one process).
pub fn install(specs: &[Metric]) -> Result<(), String> {
    if PROCESS.get().is_some() {
        return Ok(());
    }
    let metrics = Metrics::new(specs, prometheus::default_registry())?;
    let _ = PROCESS.set(metrics);
    Ok(())
}

/// The process's declared metrics (none before [`install`]).
pub fn process() -> &'static Metrics {
    static NONE: OnceLock<Metrics> = OnceLock::new();
    PROCESS.get().unwrap_or_else(|| NONE.get_or_init(|| Metrics { by_name: HashMap::new() }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, kind: &str, labels: &[&str]) -> Metric {
        Metric {
            name: name.into(),
            help: format!("{name} help"),
            kind: kind.into(),
            labels: labels.iter().map(|l| l.to_string()).collect(),
            buckets: vec![],
        }
    }

    fn exposed(registry: &Registry) -> String {
        let mut out = String::new();
        prometheus::TextEncoder::new().encode_utf8(&registry.gather(), &mut out).expect("encode");
        out
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn declared_metrics_show_with_their_labels_once_updated() {
        let r = Registry::new();
        let m = Metrics::new(
            &[
                spec("images_total", "counter", &["format"]),
                spec("queue_depth", "gauge", &[]),
                spec("size_bytes", "histogram", &["format"]),
                spec("latency_seconds", "summary", &["op"]),
            ],
            &r,
        )
        .expect("declared");
        m.update(&Update { name: "images_total".into(), labels: labels(&[("format", "png")]), op: Op::Inc(2.0) })
            .expect("inc");
        m.apply_line(r#"{"name": "images_total", "labels": {"format": "png"}, "inc": 1}"#).expect("line");
        m.apply_line(r#"{"name": "queue_depth", "set": 7}"#).expect("set");
        m.apply_line(r#"{"name": "size_bytes", "labels": {"format": "jpg"}, "observe": 2048}"#).expect("observe");
        for v in 1..=100 {
            m.update(&Update {
                name: "latency_seconds".into(),
                labels: labels(&[("op", "get")]),
                op: Op::Observe(f64::from(v)),
            })
            .expect("observe");
        }
        let text = exposed(&r);
        assert!(text.contains("# TYPE latency_seconds summary"), "{text}");
        assert!(text.contains("latency_seconds{op=\"get\",quantile=\"0.5\"} 50"), "{text}");
        assert!(text.contains("latency_seconds{op=\"get\",quantile=\"0.99\"} 99"), "{text}");
        assert!(text.contains("latency_seconds_count{op=\"get\"} 100"), "{text}");
        assert!(text.contains("latency_seconds_sum{op=\"get\"} 5050"), "{text}");
        assert!(text.contains("# HELP images_total images_total help"), "{text}");
        assert!(text.contains("images_total{format=\"png\"} 3"), "{text}");
        assert!(text.contains("queue_depth 7"), "{text}");
        assert!(text.contains("size_bytes_count{format=\"jpg\"} 1"), "{text}");
    }

    #[test]
    fn a_rust_handler_updates_the_process_metrics_through_its_context() {
        install(&[spec("jobs_done_total", "counter", &["kind"])]).expect("installed");
        let graph = aurora_schemas::GraphId::new();
        let ctx = crate::Context::new(aurora_schemas::TaskId::derive(graph, "a"), graph, 1);
        ctx.metric("jobs_done_total", &[("kind", "a")]).inc_by(2.0).expect("declared");
        let e = ctx.metric("jobs_done_total", &[]).inc().unwrap_err();
        assert_eq!(e.to_string(), "metric `jobs_done_total` takes the labels [kind], not []");
        let mut text = String::new();
        prometheus::TextEncoder::new().encode_utf8(&prometheus::gather(), &mut text).expect("encode");
        assert!(text.contains("jobs_done_total{kind=\"a\"} 2"), "{text}");
    }

    #[test]
    fn updates_that_do_not_fit_are_errors_that_say_why() {
        let r = Registry::new();
        let m = Metrics::new(&[spec("images_total", "counter", &["format"])], &r).expect("declared");
        let e = m.apply_line(r#"{"name": "image_total", "labels": {"format": "png"}, "inc": 1}"#).unwrap_err();
        assert_eq!(
            e.to_string(),
            "metric `image_total` is not declared in the worker's [[metrics]] (declared: images_total)"
        );
        let e = m.apply_line(r#"{"name": "images_total", "labels": {"fmt": "png"}, "inc": 1}"#).unwrap_err();
        assert_eq!(e.to_string(), "metric `images_total` takes the labels [format], not [fmt]");
        let e = m.apply_line(r#"{"name": "images_total", "labels": {"format": "png"}, "set": 1}"#).unwrap_err();
        assert!(e.to_string().contains("is a counter: it only goes up"), "{e}");
        let e = m.apply_line(r#"{"name": "images_total", "labels": {"format": "png"}, "inc": -1}"#).unwrap_err();
        assert!(e.to_string().contains("is a counter"), "{e}");
        assert_eq!(
            m.declared(),
            vec![
                serde_json::json!({"name": "images_total", "kind": "counter", "help": "images_total help", "labels": ["format"]})
            ]
        );
        let e = m.apply_line("not json").unwrap_err();
        assert!(e.to_string().starts_with("`aurora-metric` line not understood"), "{e}");
        let e = m.apply_line(r#"{"name": "images_total", "inc": 1, "set": 2}"#).unwrap_err();
        assert!(e.to_string().contains("exactly one of"), "{e}");
        assert!(!exposed(&r).contains("images_total{"), "nothing was recorded");
    }
}
