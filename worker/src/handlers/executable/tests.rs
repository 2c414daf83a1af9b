//! Executables run for real: Python scripts in a scratch directory.

use super::*;
use crate::handlers::Registry;
use aurora_schemas::{GraphId, TaskId};
use serde_json::json;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;

fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    script_with(dir, name, "#!/usr/bin/env python3", body)
}

fn script_with(dir: &Path, name: &str, shebang: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(&path, format!("{shebang}\n{body}")).expect("write script");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path
}

fn ctx() -> Context {
    let g = GraphId::new();
    Context::new(TaskId::derive(g, "t"), g, 1)
}

fn seed(path: PathBuf) -> Executable {
    let name = path.file_name().expect("name").to_string_lossy().into_owned();
    Executable::new(name, path, Manifest::seed(), Duration::from_millis(300))
}

fn json_handler(path: PathBuf, manifest: &str) -> Executable {
    let m = Manifest::parse(&path.with_extension("toml"), manifest).expect("valid manifest");
    let name = path.file_name().expect("name").to_string_lossy().into_owned();
    Executable::new(name, path, m, Duration::from_millis(300))
}

/// Whether a process exists and is not a zombie.
fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|s| s.rsplit(')').next().is_some_and(|rest| !rest.trim_start().starts_with('Z')))
}

async fn wait_for_file(path: &Path) -> String {
    for _ in 0..200 {
        if let Ok(s) = std::fs::read_to_string(path)
            && !s.trim().is_empty()
        {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{} never appeared", path.display());
}

#[tokio::test]
async fn the_seed_protocol_is_one_string_in_and_one_string_out() {
    let dir = tempfile::tempdir().expect("tempdir");
    let h = seed(script(dir.path(), "shout", "import sys\nprint('got: ' + sys.stdin.read().upper())\n"));
    let out = h.call(ctx(), vec![TypedValue::new("string", "hello world")]).await.expect("runs");
    assert_eq!(out, vec![TypedValue::new("string", "got: HELLO WORLD")], "one trailing newline is removed");
    let err = h.call(ctx(), vec![TypedValue::new("int64", 1)]).await.unwrap_err();
    assert!(matches!(err, HandlerError::BadArgs(_)), "{err:?}");
    assert_eq!(h.info().arg_types, ["string"]);
}

#[tokio::test]
async fn the_json_protocol_passes_typed_values_and_checks_the_results() {
    let dir = tempfile::tempdir().expect("tempdir");
    let body = "import json, sys\nargs = json.load(sys.stdin)\nxs = args[0]['value']\n\
                print(json.dumps([{'type': 'float64', 'value': sum(xs)}, {'type': 'int64', 'value': len(xs)}]))\n";
    let manifest = "protocol = \"json\"\nargs = [\"[]float64\"]\nresults = [\"float64\", \"int64\"]\n";
    let h = json_handler(script(dir.path(), "stats", body), manifest);
    let out = h.call(ctx(), vec![TypedValue::new("[]float64", json!([1.5, 2.5]))]).await.expect("runs");
    assert_eq!(out, vec![TypedValue::new("float64", 4.0), TypedValue::new("int64", 2)]);

    let wrong = "print('[{\"type\": \"string\", \"value\": \"x\"}, {\"type\": \"int64\", \"value\": 1}]')\n";
    let h = json_handler(script(dir.path(), "wrong", wrong), manifest);
    let err = h.call(ctx(), vec![TypedValue::new("[]float64", json!([]))]).await.unwrap_err();
    assert_eq!(
        err,
        HandlerError::BadResults(
            "wrong: the results do not match the manifest's results [\"float64\", \"int64\"]: position 0 must be \
             float64, got string"
                .into()
        )
    );
    let h = json_handler(script(dir.path(), "garbled", "print('not json')\n"), manifest);
    let err = h.call(ctx(), vec![]).await.unwrap_err();
    assert!(matches!(&err, HandlerError::BadResults(m) if m.contains("not a JSON array of typed values")), "{err:?}");
    let h = json_handler(script(dir.path(), "range", "print('[{\"type\": \"int8\", \"value\": 300}]')\n"), manifest);
    let err = h.call(ctx(), vec![]).await.unwrap_err();
    assert!(
        matches!(&err, HandlerError::BadResults(m) if m.contains("result 0: 300 is out of range for int8")),
        "{err:?}"
    );
}

#[tokio::test]
async fn failures_name_the_exit_code_or_signal_and_carry_the_tail_of_stderr() {
    let dir = tempfile::tempdir().expect("tempdir");
    let body = "import sys\nsys.stderr.write('x' * 10000 + '\\nboom: disk on fire\\n')\nsys.exit(3)\n";
    let err =
        seed(script(dir.path(), "fails", body)).call(ctx(), vec![TypedValue::new("string", "")]).await.unwrap_err();
    let HandlerError::Retryable(m) = &err else { panic!("a non-zero exit is retryable: {err:?}") };
    assert!(m.starts_with("fails exited with code 3; stderr: …"), "{m}");
    assert!(m.ends_with("boom: disk on fire"), "{m}");
    assert!(m.len() < process::STDERR_TAIL_BYTES + 100, "the tail is bounded: {} bytes", m.len());

    let usage =
        seed(script(dir.path(), "usage", "import sys\nprint('need a number', file=sys.stderr)\nsys.exit(64)\n"));
    let err = usage.call(ctx(), vec![TypedValue::new("string", "x")]).await.unwrap_err();
    assert_eq!(
        err,
        HandlerError::BadArgs(
            "usage exited with code 64 (EX_USAGE: the args cannot work); stderr: need a number".into()
        )
    );

    let killed = seed(script(dir.path(), "segv", "import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)\n"));
    let err = killed.call(ctx(), vec![TypedValue::new("string", "")]).await.unwrap_err();
    assert!(matches!(&err, HandlerError::Retryable(m) if m.contains("killed by signal 11 (SIGSEGV)")), "{err:?}");
}

#[tokio::test]
async fn output_over_the_limit_fails_the_attempt_instead_of_eating_memory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let body = "import sys\nwhile True:\n    sys.stdout.write('y' * 65536)\n";
    let manifest = "max_output_bytes = 100000\n";
    let h = json_handler(script(dir.path(), "flood", body), manifest);
    let err = h.call(ctx(), vec![TypedValue::new("string", "")]).await.unwrap_err();
    assert!(
        matches!(&err, HandlerError::Final(m) if m.contains("more than max_output_bytes = 100000 bytes")),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_stopped_attempt_kills_the_whole_process_group() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pids = dir.path().join("pids");
    // The handler starts a grandchild, records both pids, then outlives any timeout.
    let body = format!(
        "import os, subprocess, time\nchild = subprocess.Popen(['sleep', '300'])\n\
         open('{}', 'w').write(f'{{os.getpid()}} {{child.pid}}')\ntime.sleep(300)\n",
        pids.display()
    );
    let h = seed(script(dir.path(), "lingers", &body));
    let ctx = ctx();
    let stopper = ctx.clone();
    let call = tokio::spawn(async move { h.call(ctx, vec![TypedValue::new("string", "")]).await });
    let written = wait_for_file(&pids).await;
    let both: Vec<i32> = written.split_whitespace().map(|p| p.parse().expect("pid")).collect();
    assert!(both.iter().all(|p| alive(*p)), "both run before the stop");
    stopper.stop(StopReason::TimedOut { after: Duration::from_millis(100) });
    let err = call.await.expect("joined").unwrap_err();
    assert!(
        matches!(&err, HandlerError::Retryable(m) if m.contains("lingers timed out: its process group was sent SIGTERM")),
        "{err:?}"
    );
    for pid in both {
        assert!(!alive(pid), "process {pid} outlived its attempt");
    }
}

#[tokio::test]
async fn a_program_that_ignores_sigterm_gets_sigkill_after_the_grace() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ready = dir.path().join("ready");
    let body = format!(
        "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nopen('{}', 'w').write('1')\ntime.sleep(300)\n",
        ready.display()
    );
    let h = seed(script(dir.path(), "stubborn", &body));
    let ctx = ctx();
    let stopper = ctx.clone();
    let call = tokio::spawn(async move { h.call(ctx, vec![TypedValue::new("string", "")]).await });
    wait_for_file(&ready).await;
    stopper.stop(StopReason::Cancelled);
    let err = call.await.expect("joined").unwrap_err();
    assert!(
        matches!(&err, HandlerError::Retryable(m) if m.contains("was cancelled") && m.contains("still running after 300 ms, SIGKILL")),
        "{err:?}"
    );
}

#[tokio::test]
async fn the_environment_is_cleared_and_the_working_directory_is_the_handlers_folder() {
    let dir = tempfile::tempdir().expect("tempdir");
    let body = "import json, os\nprint(json.dumps([{'type': 'string', 'value': os.getcwd()}, \
                {'type': '[]string', 'value': sorted(os.environ)}]))\n";
    let manifest = "protocol = \"json\"\nargs = []\nresults = [\"string\", \"[]string\"]\nenv = [\"HOME\"]\n";
    // The interpreter itself, not a wrapper on PATH (pyenv's shim adds variables of its own).
    let real = std::process::Command::new("python3").args(["-c", "import sys; print(sys.executable)"]).output();
    let real = String::from_utf8(real.expect("python3 runs").stdout).expect("utf-8").trim().to_string();
    let path = script_with(&dir.path().join("tools"), "where", &format!("#!{real}"), body);
    let out = json_handler(path, manifest).call(ctx(), vec![]).await.expect("runs");
    let cwd = std::fs::canonicalize(dir.path().join("tools")).expect("canonical");
    assert_eq!(out[0].value, json!(cwd.display().to_string()));
    let names: Vec<String> = serde_json::from_value(out[1].value.clone()).expect("names");
    let mut expected = vec!["AURORA_ATTEMPT", "AURORA_GRAPH_ID", "AURORA_HANDLER", "AURORA_TASK_ID", "PATH"];
    if std::env::var_os("HOME").is_some() {
        expected.push("HOME");
    }
    expected.sort();
    // Python may add LC_CTYPE on its own when the locale is unset.
    let names: Vec<&str> = names.iter().map(String::as_str).filter(|n| *n != "LC_CTYPE").collect();
    assert_eq!(names, expected);
}

#[tokio::test]
async fn the_directory_is_watched_and_the_registry_follows_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    script(dir.path(), "first", "print('1')\n");
    let registry = Arc::new(Registry::with_builtins());
    let mut changes = registry.changes();
    let directory = Directory::open(dir.path(), registry.clone(), Duration::from_millis(300)).expect("opens");
    assert_eq!(directory.offered(), ["first"]);
    assert!(registry.contains("first"));
    let shutdown = CancellationToken::new();
    let watching = tokio::spawn(directory.watch(shutdown.clone()));

    changes.mark_unchanged();
    script(&dir.path().join("sub"), "second", "print('2')\n");
    tokio::time::timeout(Duration::from_secs(10), changes.changed()).await.expect("noticed").expect("alive");
    assert!(registry.contains("second"));
    std::fs::remove_file(dir.path().join("first")).expect("rm");
    tokio::time::timeout(Duration::from_secs(10), async {
        while registry.contains("first") {
            changes.changed().await.expect("alive");
        }
    })
    .await
    .expect("the removal is noticed");
    shutdown.cancel();
    watching.await.expect("stops");
}

#[tokio::test]
async fn a_relative_handlers_directory_works_from_any_working_directory() {
    let dir = tempfile::tempdir_in(".").expect("tempdir below the working directory");
    script(dir.path(), "hello", "print('hi')\n");
    let relative = dir.path().strip_prefix(std::env::current_dir().expect("cwd")).unwrap_or(dir.path()).to_path_buf();
    assert!(relative.is_relative(), "{}", relative.display());
    let registry = Arc::new(Registry::new());
    Directory::open(&relative, registry.clone(), Duration::from_millis(300)).expect("opens");
    let out = registry.get("hello").expect("offered").call(ctx(), vec![TypedValue::new("string", "")]).await;
    assert_eq!(out, Ok(vec![TypedValue::new("string", "hi")]));
}

#[test]
fn a_missing_directory_or_a_clash_refuses_to_start() {
    let registry = Arc::new(Registry::with_builtins());
    let err = Directory::open(Path::new("/nonexistent/handlers"), registry.clone(), Duration::ZERO).err();
    assert!(err.as_deref().is_some_and(|e| e.contains("/nonexistent/handlers cannot be read")), "{err:?}");
    let dir = tempfile::tempdir().expect("tempdir");
    script(&dir.path().join("a"), "dup", "");
    script(&dir.path().join("b"), "dup", "");
    let err = Directory::open(dir.path(), registry, Duration::ZERO).err().expect("refused");
    assert!(err.contains("two executables are named `dup`"), "{err}");
}

use tokio_util::sync::CancellationToken;
