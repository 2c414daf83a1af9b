//! Executables from a handlers directory (`worker.handlers_dir`): any program in any language,
//! run without a shell in its own process group, speaking the seed's protocol (one string on
//! stdin, one string on stdout) or, with a `NAME.toml` manifest, JSON arrays of typed values.
//!
//! - [`scan`] reads the directory; [`manifest`] parses `NAME.toml`;
//! - [`process`] runs one attempt and cleans up after it;
//! - [`watch`] keeps the registry in step with the directory while the worker runs.

pub mod manifest;
pub mod process;
pub mod scan;
pub mod watch;

pub use manifest::{Manifest, Protocol};
pub use watch::Directory;

use crate::handlers::{Context, Handler, HandlerError, StopReason};
use async_trait::async_trait;
use aurora_schemas::signature::Signature;
use aurora_schemas::{HandlerInfo, TypedValue};
use process::{Ended, Finished, Spawn};
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::time::Duration;

/// The exit code (`EX_USAGE` of sysexits.h) by which an executable says its args cannot work:
/// the task fails at once instead of being retried.
pub const EXIT_BAD_ARGS: i32 = 64;

/// One executable as a handler.
#[derive(Debug, Clone)]
pub struct Executable {
    name: String,
    path: PathBuf,
    manifest: Manifest,
    kill_grace: Duration,
}

impl Executable {
    /// The handler `name` that runs `path` as `manifest` says, allowing `kill_grace` between
    /// SIGTERM and SIGKILL when an attempt must stop.
    pub fn new(name: String, path: PathBuf, manifest: Manifest, kill_grace: Duration) -> Self {
        Self { name, path, manifest, kill_grace }
    }

    fn environment(&self, ctx: &Context) -> Vec<(String, String)> {
        let mut env = Vec::new();
        let mut pass = |name: &str| {
            if let Ok(value) = std::env::var(name) {
                env.push((name.to_string(), value));
            }
        };
        pass("PATH");
        for name in &self.manifest.env {
            pass(name);
        }
        env.push(("AURORA_TASK_ID".into(), ctx.task_id.to_string()));
        env.push(("AURORA_GRAPH_ID".into(), ctx.graph_id.to_string()));
        env.push(("AURORA_ATTEMPT".into(), ctx.attempt.to_string()));
        env.push(("AURORA_HANDLER".into(), self.name.clone()));
        env
    }

    fn input(&self, args: &[TypedValue]) -> Result<Vec<u8>, HandlerError> {
        match self.manifest.protocol {
            Protocol::Seed => match args {
                [TypedValue { value: serde_json::Value::String(s), .. }] => Ok(s.as_bytes().to_vec()),
                _ => Err(HandlerError::BadArgs(format!(
                    "{} takes exactly one string (the seed protocol), got {} args",
                    self.name,
                    args.len()
                ))),
            },
            Protocol::Json => Ok(serde_json::to_vec(args).expect("typed values always serialise")),
        }
    }

    fn output(&self, stdout: Vec<u8>) -> Result<Vec<TypedValue>, HandlerError> {
        match self.manifest.protocol {
            Protocol::Seed => {
                let mut text = String::from_utf8(stdout).map_err(|e| {
                    HandlerError::BadResults(format!(
                        "{}: stdout is not UTF-8 text ({e}); a string result must be",
                        self.name
                    ))
                })?;
                if text.ends_with('\n') {
                    text.pop();
                    if text.ends_with('\r') {
                        text.pop();
                    }
                }
                Ok(vec![TypedValue::new("string", text)])
            }
            Protocol::Json => {
                let results: Vec<TypedValue> = serde_json::from_slice(&stdout).map_err(|e| {
                    let start = String::from_utf8_lossy(&stdout[..stdout.len().min(200)]).into_owned();
                    HandlerError::BadResults(format!(
                        "{}: stdout is not a JSON array of typed values like [{{\"type\":\"int64\",\"value\":1}}] \
                         ({e}); it began: {start:?}",
                        self.name
                    ))
                })?;
                self.check_results(&results)?;
                Ok(results.into_iter().map(TypedValue::normalized).collect())
            }
        }
    }

    fn check_results(&self, results: &[TypedValue]) -> Result<(), HandlerError> {
        let mut types = Vec::with_capacity(results.len());
        for (i, r) in results.iter().enumerate() {
            let ty = r.check().map_err(|e| HandlerError::BadResults(format!("{}: result {i}: {e}", self.name)))?;
            types.push(ty);
        }
        let declared = Signature::parse(&self.manifest.results).expect("checked when the manifest was read");
        declared.check(&types).map_err(|m| {
            HandlerError::BadResults(format!(
                "{}: the results do not match the manifest's results {:?}: {m}",
                self.name, self.manifest.results
            ))
        })
    }

    fn failure(&self, finished: Finished) -> HandlerError {
        let stderr = if finished.stderr_tail.is_empty() {
            String::from("; stderr was empty")
        } else {
            format!("; stderr: {}", finished.stderr_tail)
        };
        match finished.ended {
            Ended::Exited(status) => match (status.code(), status.signal()) {
                (Some(EXIT_BAD_ARGS), _) => HandlerError::BadArgs(format!(
                    "{} exited with code {EXIT_BAD_ARGS} (EX_USAGE: the args cannot work){stderr}",
                    self.name
                )),
                (Some(code), _) => HandlerError::Retryable(format!("{} exited with code {code}{stderr}", self.name)),
                (None, Some(sig)) => HandlerError::Retryable(format!(
                    "{} was killed by signal {sig} ({}){stderr}",
                    self.name,
                    process::signal_name(sig)
                )),
                (None, None) => HandlerError::Retryable(format!("{} ended abnormally ({status}){stderr}", self.name)),
            },
            Ended::Stopped { reason, killed } => {
                let how = if killed {
                    format!(
                        "its process group was sent SIGTERM and, still running after {} ms, SIGKILL",
                        self.kill_grace.as_millis()
                    )
                } else {
                    "its process group was sent SIGTERM and exited".to_string()
                };
                let why = match reason {
                    StopReason::TimedOut { .. } => "timed out",
                    StopReason::Cancelled => "was cancelled",
                };
                HandlerError::Retryable(format!("{} {why}: {how}{stderr}", self.name))
            }
            Ended::OutputTooLarge => HandlerError::Final(format!(
                "{} wrote more than max_output_bytes = {} bytes to stdout and was killed; raise the limit in {} or \
                 write less{stderr}",
                self.name,
                self.manifest.max_output_bytes,
                scan::manifest_path(&self.path).display()
            )),
        }
    }
}

#[async_trait]
impl Handler for Executable {
    fn info(&self) -> HandlerInfo {
        let usage = self.manifest.usage.clone().unwrap_or_else(|| match self.manifest.protocol {
            Protocol::Seed => format!(
                "{}(string) -> string: runs {} (the arg on stdin, the result from stdout)",
                self.name,
                self.path.display()
            ),
            Protocol::Json => format!(
                "{}({}) -> ({}): runs {}",
                self.name,
                self.manifest.args.join(", "),
                self.manifest.results.join(", "),
                self.path.display()
            ),
        });
        HandlerInfo {
            name: self.name.clone(),
            usage,
            arg_types: self.manifest.args.clone(),
            result_types: self.manifest.results.clone(),
        }
    }

    async fn call(&self, ctx: Context, args: Vec<TypedValue>) -> Result<Vec<TypedValue>, HandlerError> {
        let stdin = self.input(&args)?;
        let dir = self.path.parent().unwrap_or(std::path::Path::new("/"));
        let spawn = Spawn {
            program: &self.path,
            dir,
            env: self.environment(&ctx),
            stdin,
            max_output: self.manifest.max_output_bytes,
            kill_grace: self.kill_grace,
        };
        let finished = process::run(spawn, &ctx).await.map_err(|e| {
            HandlerError::Retryable(format!("{}: could not start {}: {e}", self.name, self.path.display()))
        })?;
        if !finished.metric_errors.is_empty() {
            return Err(HandlerError::Final(format!(
                "{} wrote metric updates that do not fit the worker's [[metrics]]: {}",
                self.name,
                finished.metric_errors.join("; ")
            )));
        }
        match &finished.ended {
            Ended::Exited(status) if status.success() => self.output(finished.stdout),
            _ => Err(self.failure(finished)),
        }
    }

    fn default_timeout(&self) -> Option<Duration> {
        self.manifest.timeout
    }

    fn stop_grace(&self) -> Duration {
        // SIGTERM, the grace, SIGKILL, and a moment to reap.
        self.kill_grace + Duration::from_millis(500)
    }
}

#[cfg(test)]
mod tests;
