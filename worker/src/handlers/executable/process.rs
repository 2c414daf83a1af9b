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
    /// The last [`STDERR_TAIL_BYTES`] of its stderr.
    pub stderr_tail: String,
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
    let stderr = read_tail(child.stderr.take().expect("stderr is piped"), STDERR_TAIL_BYTES);
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
    let stderr_tail = match tokio::time::timeout(Duration::from_secs(2), stderr).await {
        Ok(Ok(tail)) => tail,
        _ => String::new(),
    };
    Ok(Finished { ended, stdout, stderr_tail })
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

/// The last `keep` bytes, as text (lossy, starting at a character boundary).
async fn read_tail(mut from: impl AsyncRead + Unpin, keep: usize) -> String {
    let mut tail: Vec<u8> = Vec::new();
    let mut chunk = [0u8; 8192];
    let mut cut = false;
    loop {
        match from.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                tail.extend_from_slice(&chunk[..n]);
                if tail.len() > keep {
                    tail.drain(..tail.len() - keep);
                    cut = true;
                }
            }
        }
    }
    let text = String::from_utf8_lossy(&tail);
    let text = if cut { text.trim_start_matches('\u{FFFD}').to_string() } else { text.into_owned() };
    if cut { format!("…{}", text.trim_end()) } else { text.trim_end().to_string() }
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
