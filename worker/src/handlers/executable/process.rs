//! Runs one executable as its own process group: no shell, argv[0] only, a cleared environment,
//! stdin written then closed, stdout bounded, the tail of stderr kept. When the attempt must stop
//! the whole group gets SIGTERM, then SIGKILL after a grace; whatever is left of the group when the
//! executable exits (or when this future is dropped) is killed, so no process outlives its attempt.

use crate::handlers::{Context, StopReason};
use rustix::process::{Pid, Signal, kill_process_group};
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

/// How much of stderr is kept for the error message.
pub const STDERR_TAIL_BYTES: usize = 4096;

/// How to run one attempt.
pub struct Spawn<'a> {
    /// The executable.
    pub program: &'a Path,
    /// Its working directory.
    pub dir: &'a Path,
    /// The whole environment it gets.
    pub env: Vec<(String, String)>,
    /// Written to stdin, which is then closed.
    pub stdin: Vec<u8>,
    /// Most bytes of stdout accepted.
    pub max_output: usize,
    /// Between SIGTERM and SIGKILL.
    pub kill_grace: Duration,
}

/// How the process ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// It exited (or was killed by a signal nobody here sent).
    Exited(ExitStatus),
    /// It was stopped because the attempt had to stop; `killed` if SIGTERM was not enough.
    Stopped {
        /// Why.
        reason: StopReason,
        /// Whether it took SIGKILL.
        killed: bool,
    },
    /// It wrote more than the allowed stdout and was killed.
    OutputTooLarge,
}

/// What the process left.
#[derive(Debug)]
pub struct Finished {
    /// How it ended.
    pub ended: Ended,
    /// Its stdout (at most the limit).
    pub stdout: Vec<u8>,
    /// The last [`STDERR_TAIL_BYTES`] of its stderr, without its metric lines.
    pub stderr_tail: String,
    /// Why metric lines it wrote (`aurora-metric {json}`) did not fit their declarations.
    pub metric_errors: Vec<String>,
}

/// Kills the process group when dropped, whatever happened before.
struct Group(Option<Pid>);

impl Group {
    fn signal(&self, signal: Signal) {
        if let Some(pid) = self.0 {
            // ESRCH (the group is gone) is the expected outcome once everything exited.
            let _ = kill_process_group(pid, signal);
        }
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.signal(Signal::KILL);
    }
}

/// Runs `spawn` until it exits, or until `ctx` says the attempt must stop.
pub async fn run(spawn: Spawn<'_>, ctx: &Context) -> std::io::Result<Finished> {
    let mut child = Command::new(spawn.program)
        .current_dir(spawn.dir)
        .env_clear()
        .envs(spawn.env)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()?;
    let group = Group(child.id().and_then(|id| i32::try_from(id).ok()).and_then(Pid::from_raw));
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let input = spawn.stdin;
    let feed = tokio::spawn(async move {
        // A program that exits without reading its input makes this fail with EPIPE: not an error.
        let _ = stdin.write_all(&input).await;
        drop(stdin);
    });
    let stdout = read_bounded(child.stdout.take().expect("stdout is piped"), spawn.max_output);
    let stderr = read_stderr(child.stderr.take().expect("stderr is piped"), STDERR_TAIL_BYTES);
    tokio::pin!(stdout);
    let stderr = tokio::spawn(stderr);

    let mut out: Option<(Vec<u8>, bool)> = None;
    let ended = loop {
        tokio::select! {
            status = child.wait() => break Ended::Exited(status?),
            read = &mut stdout, if out.is_none() => {
                let (bytes, overflow) = read;
                if overflow {
                    group.signal(Signal::KILL);
                    let _ = child.wait().await;
                    out = Some((bytes, true));
                    break Ended::OutputTooLarge;
                }
                out = Some((bytes, false));
            }
            reason = ctx.stopped() => {
                group.signal(Signal::TERM);
                let killed = match tokio::time::timeout(spawn.kill_grace, child.wait()).await {
                    Ok(_) => false,
                    Err(_) => {
                        group.signal(Signal::KILL);
                        let _ = child.wait().await;
                        true
                    }
                };
                break Ended::Stopped { reason, killed };
            }
        }
    };
    // Whatever the executable left running in its group goes now; that also closes pipes that a
    // leftover child held open, so the readers below finish.
    group.signal(Signal::KILL);
    feed.abort();
    let (stdout, _) = match out {
        Some(o) => o,
        None => tokio::time::timeout(Duration::from_secs(2), &mut stdout).await.unwrap_or_default(),
    };
    let (stderr_tail, metric_errors) = match tokio::time::timeout(Duration::from_secs(2), stderr).await {
        Ok(Ok(read)) => read,
        _ => (String::new(), Vec::new()),
    };
    Ok(Finished { ended, stdout, stderr_tail, metric_errors })
}

/// Up to `limit` bytes; `true` if there was more.
async fn read_bounded(mut from: impl AsyncRead + Unpin, limit: usize) -> (Vec<u8>, bool) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        match from.read(&mut chunk).await {
            Ok(0) | Err(_) => return (buf, false),
            Ok(n) if buf.len() + n > limit => {
                buf.extend_from_slice(&chunk[..limit - buf.len()]);
                return (buf, true);
            }
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// Longest stderr line looked at for a metric update; longer lines are ordinary output.
const MAX_METRIC_LINE: usize = 64 * 1024;
/// Metric errors kept per attempt.
const MAX_METRIC_ERRORS: usize = 5;

/// Stderr: its last `keep` bytes as text (lossy, starting at a character boundary), and the
/// errors of the `aurora-metric {json}` lines in it, which update the worker's user-defined
/// metrics and are left out of the text.
async fn read_stderr(mut from: impl AsyncRead + Unpin, keep: usize) -> (String, Vec<String>) {
    let mut tail: Vec<u8> = Vec::new();
    let mut line: Vec<u8> = Vec::new();
    let mut errors = Vec::new();
    let mut chunk = [0u8; 8192];
    let mut cut = false;
    let prefix = crate::user_metrics::LINE_PREFIX.as_bytes();
    let mut end_line = |line: &mut Vec<u8>, tail: &mut Vec<u8>, newline: bool| {
        if let Some(rest) = line.strip_prefix(prefix) {
            if let Err(e) = crate::user_metrics::process().apply_line(&String::from_utf8_lossy(rest))
                && errors.len() < MAX_METRIC_ERRORS
            {
                errors.push(e.to_string());
            }
        } else {
            tail.append(line);
            if newline {
                tail.push(b'\n');
            }
        }
        line.clear();
    };
    loop {
        match from.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                for &b in &chunk[..n] {
                    if b == b'\n' {
                        end_line(&mut line, &mut tail, true);
                    } else {
                        if line.len() >= MAX_METRIC_LINE {
                            tail.append(&mut line);
                        }
                        line.push(b);
                    }
                }
                if tail.len() > keep {
                    tail.drain(..tail.len() - keep);
                    cut = true;
                }
            }
        }
    }
    end_line(&mut line, &mut tail, false);
    if tail.len() > keep {
        tail.drain(..tail.len() - keep);
        cut = true;
    }
    let text = String::from_utf8_lossy(&tail);
    let text = if cut { text.trim_start_matches('\u{FFFD}').to_string() } else { text.into_owned() };
    let text = if cut { format!("…{}", text.trim_end()) } else { text.trim_end().to_string() };
    (text, errors)
}

/// `SIGKILL`-style names for the signals a user is likely to see.
pub fn signal_name(signal: i32) -> &'static str {
    match signal {
        1 => "SIGHUP",
        2 => "SIGINT",
        3 => "SIGQUIT",
        4 => "SIGILL",
        6 => "SIGABRT",
        7 => "SIGBUS",
        8 => "SIGFPE",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        13 => "SIGPIPE",
        14 => "SIGALRM",
        15 => "SIGTERM",
        24 => "SIGXCPU",
        25 => "SIGXFSZ",
        _ => "a signal",
    }
}
