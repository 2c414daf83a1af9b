//! CPU time of a stack of processes (ours, the broker, the database, the cache, the peer), read
//! from `/proc`: user + system time, so a figure per task covers every process that worked for it,
//! in all and per part (Aurora's processes by role, MongoDB, RabbitMQ, Redis), to say what bounds
//! a figure.

use std::collections::{BTreeMap, HashMap, HashSet};

/// One process as `/proc/<pid>/stat` shows it.
#[derive(Debug, Clone)]
struct Proc {
    ppid: u32,
    comm: String,
    /// utime + stime, in clock ticks.
    ticks: u64,
}

fn parse_stat(text: &str) -> Option<Proc> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let comm = text[open + 1..close].to_string();
    let rest: Vec<&str> = text[close + 1..].split_whitespace().collect();
    // Fields after the command: state(3) ppid(4) … utime(14) stime(15), counted from 1.
    let ppid = rest.get(1)?.parse().ok()?;
    let utime: u64 = rest.get(11)?.parse().ok()?;
    let stime: u64 = rest.get(12)?.parse().ok()?;
    Some(Proc { ppid, comm, ticks: utime + stime })
}

fn all_processes() -> HashMap<u32, Proc> {
    let Ok(dir) = std::fs::read_dir("/proc") else { return HashMap::new() };
    dir.filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| Some((pid, parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)?)))
        .collect()
}

/// Clock ticks per second (`getconf CLK_TCK`, asked once; 100 on Linux when it cannot be asked).
pub fn ticks_per_second() -> u64 {
    static TICKS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(ask_ticks_per_second)
}

fn ask_ticks_per_second() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100)
}

/// Which processes make up a stack: some roots with all their descendants, and services found by
/// their command name.
#[derive(Debug, Clone, Default)]
pub struct Stack {
    /// Processes counted with every descendant.
    pub roots: Vec<u32>,
    /// Processes excluded even when they descend from a root (a peer's client, say).
    pub exclude: Vec<u32>,
    /// Command names of service processes (`beam.smp`, `redis-server`, …).
    pub services: Vec<String>,
}

/// The command names of the shared services' processes.
pub fn service_names(mongo_server: &str) -> Vec<String> {
    let mongo = if mongo_server.is_empty() { "secantusd-rs" } else { mongo_server };
    // comm is cut to 15 bytes by the kernel.
    let mongo: String = mongo.chars().take(15).collect();
    vec!["beam.smp".into(), "redis-server".into(), mongo]
}

/// What a process is, for the per-part figures: `aurora_<role>` for Aurora's processes (from the
/// command line: `aurora worker …` → `aurora_worker`), `mongodb`, `rabbitmq`, `redis`, or its
/// command name.
fn part_of(pid: u32, comm: &str) -> String {
    match comm {
        "beam.smp" => "rabbitmq".into(),
        "redis-server" => "redis".into(),
        c if c.starts_with("secantusd") || c == "mongod" => "mongodb".into(),
        c if c.starts_with("aurora") => {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let role = cmdline
                .split(|b| *b == 0)
                .skip(1)
                .filter_map(|a| std::str::from_utf8(a).ok())
                .find(|a| !a.is_empty() && !a.starts_with('-'))
                .unwrap_or("process")
                .to_string();
            format!("aurora_{role}")
        }
        c => c.to_string(),
    }
}

impl Stack {
    /// The stack's CPU time so far, in clock ticks.
    pub fn ticks(&self) -> u64 {
        self.per_process().values().map(|(_, ticks)| ticks).sum()
    }

    /// Each member process's part and CPU time so far, in clock ticks.
    fn per_process(&self) -> Snapshot {
        let procs = all_processes();
        let mut members: HashSet<u32> = self.roots.iter().copied().filter(|p| procs.contains_key(p)).collect();
        loop {
            let before = members.len();
            let children: Vec<u32> =
                procs.iter().filter(|(_, p)| members.contains(&p.ppid)).map(|(pid, _)| *pid).collect();
            members.extend(children);
            if members.len() == before {
                break;
            }
        }
        members.extend(procs.iter().filter(|(_, p)| self.services.contains(&p.comm)).map(|(pid, _)| *pid));
        members
            .into_iter()
            .filter(|p| !self.exclude.contains(p))
            .filter_map(|pid| procs.get(&pid).map(|p| (pid, (part_of(pid, &p.comm), p.ticks))))
            .collect()
    }
}

/// Each member process's part and CPU time (clock ticks) at one moment.
type Snapshot = HashMap<u32, (String, u64)>;

/// CPU time spent by a stack over several measured intervals (the stack may change between them).
#[derive(Debug, Default)]
pub struct Meter {
    ticks: u64,
    by_part: BTreeMap<String, u64>,
    open: Option<(Stack, Snapshot)>,
}

impl Meter {
    /// Starts an interval on `stack`.
    pub fn start(&mut self, stack: Stack) {
        let now = stack.per_process();
        self.open = Some((stack, now));
    }

    /// Ends the open interval (if any) and adds it up, per process (a process that started
    /// within the interval counts from zero).
    pub fn stop(&mut self) {
        if let Some((stack, at)) = self.open.take() {
            for (pid, (part, ticks)) in stack.per_process() {
                let spent = ticks.saturating_sub(at.get(&pid).map_or(0, |(_, t)| *t));
                self.ticks += spent;
                *self.by_part.entry(part).or_default() += spent;
            }
        }
    }

    /// The CPU time measured, in milliseconds.
    pub fn millis(&self) -> f64 {
        to_millis(self.ticks)
    }

    /// The CPU time measured per part (`aurora_worker`, `mongodb`, …), in milliseconds.
    pub fn millis_by_part(&self) -> BTreeMap<String, f64> {
        self.by_part.iter().map(|(part, ticks)| (part.clone(), to_millis(*ticks))).collect()
    }
}

fn to_millis(ticks: u64) -> f64 {
    ticks as f64 * 1_000.0 / ticks_per_second() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_lines_whose_command_has_spaces_and_parentheses() {
        let line = "42 (my (odd) cmd) S 7 42 42 0 -1 4194560 100 0 0 0 250 31 0 0 20 0 1 0 100 0 0";
        let p = parse_stat(line).expect("parses");
        assert_eq!((p.ppid, p.comm.as_str(), p.ticks), (7, "my (odd) cmd", 281));
    }

    #[test]
    fn a_busy_child_of_a_root_is_counted() {
        let me = std::process::id();
        let mut meter = Meter::default();
        meter.start(Stack { roots: vec![me], ..Default::default() });
        let mut child = std::process::Command::new("sh")
            .args(["-c", "i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done; sleep 2"])
            .spawn()
            .expect("sh");
        std::thread::sleep(std::time::Duration::from_millis(1500));
        meter.stop();
        let _ = child.kill();
        let _ = child.wait();
        assert!(meter.millis() >= 50.0, "a shell loop burning CPU in a child was measured as {} ms", meter.millis());
    }
}
