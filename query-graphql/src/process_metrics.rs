//! The standard `process_*` metrics (CPU, memory, open files, threads, start time), read from
//! `/proc/self` at each scrape, and `aurora_build_info`: every role's `/metrics` says what runs
//! and what it costs, from its first second.

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{Gauge, IntCounter, IntGauge, Opts};
use std::sync::Once;

struct Process {
    descs: Vec<Desc>,
}

fn gauge(name: &str, help: &str, value: f64) -> MetricFamily {
    let g = Gauge::with_opts(Opts::new(name, help)).expect("a valid metric");
    g.set(value);
    g.collect().remove(0)
}

fn field(status: &str, name: &str) -> Option<f64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

impl Collector for Process {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let mut out = Vec::new();
        let ticks = rustix::param::clock_ticks_per_second() as f64;
        if let Ok(stat) = std::fs::read_to_string("/proc/self/stat") {
            // Fields after the command name (which may hold spaces): state is field 3.
            let rest: Vec<&str> = stat.rsplit(')').next().unwrap_or_default().split_whitespace().collect();
            let num = |i: usize| rest.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
            // utime = field 14, stime = 15, num_threads = 20, starttime = 22 (1-based, state = 3).
            let cpu = IntCounter::with_opts(Opts::new("process_cpu_seconds_total", "CPU seconds used")).expect("valid");
            cpu.inc_by(((num(11) + num(12)) / ticks) as u64);
            out.extend(cpu.collect());
            out.push(gauge("process_threads", "Threads", num(17)));
            let boot = std::fs::read_to_string("/proc/stat").ok().and_then(|s| {
                s.lines().find_map(|l| l.strip_prefix("btime ").and_then(|v| v.trim().parse::<f64>().ok()))
            });
            if let Some(boot) = boot {
                out.push(gauge(
                    "process_start_time_seconds",
                    "Start time, seconds since the Unix epoch",
                    boot + num(19) / ticks,
                ));
            }
        }
        if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
            out.push(gauge(
                "process_resident_memory_bytes",
                "Resident memory",
                field(&status, "VmRSS:").unwrap_or(0.0) * 1024.0,
            ));
            out.push(gauge(
                "process_virtual_memory_bytes",
                "Virtual memory",
                field(&status, "VmSize:").unwrap_or(0.0) * 1024.0,
            ));
        }
        if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
            out.push(gauge("process_open_fds", "Open file descriptors", fds.count() as f64));
        }
        let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile);
        if let Some(max) = limit.current {
            out.push(gauge("process_max_fds", "The most file descriptors the process may open", max as f64));
        }
        out
    }
}

/// Registers the process collector and the build info in the process-wide registry (once).
pub fn register() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let descs = [
            "process_cpu_seconds_total",
            "process_threads",
            "process_start_time_seconds",
            "process_resident_memory_bytes",
            "process_virtual_memory_bytes",
            "process_open_fds",
            "process_max_fds",
        ]
        .iter()
        .filter_map(|n| Desc::new(n.to_string(), format!("{n} of this process"), vec![], Default::default()).ok())
        .collect();
        let _ = prometheus::register(Box::new(Process { descs }));
        let info = Opts::new("aurora_build_info", "The running Aurora: always 1, with its version as a label")
            .const_label("version", env!("CARGO_PKG_VERSION"));
        if let Ok(g) = IntGauge::with_opts(info) {
            g.set(1);
            let _ = prometheus::register(Box::new(g));
        }
    });
}
