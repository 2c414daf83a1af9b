//! Your own code as tasks (issue "Your own code as tasks", done-when 1–3): executables from a
//! handlers directory run in `aurora dev --handlers-dir DIR` and on a distributed worker started
//! with `--handlers-dir`, with typed results, timeouts that kill the whole process group, failures
//! that name the exit code and carry stderr, live additions and removals, and submissions checked
//! against the offered signatures.

#![allow(clippy::unwrap_used)] // test code: a panic is a failed check

use aurora_e2e::graphs::{example, graph, task};
use aurora_e2e::{Deployment, Scratch, Server, assert_invariants};
use serde_json::{Value, json};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(60);

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

fn write_executable(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A handlers directory holding the shipped examples (`examples/handlers/`) and the scripts these
/// tests need: one that outlives its timeout with a grandchild, one that fails.
fn handlers_dir(root: &Path) -> PathBuf {
    let dir = root.join("handlers");
    std::fs::create_dir_all(dir.join("tests")).unwrap();
    for entry in std::fs::read_dir(repo("examples/handlers")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, dir.join(path.file_name().unwrap())).unwrap();
    }
    write_executable(
        &dir.join("tests/lingers"),
        "#!/usr/bin/env python3\nimport os, subprocess, sys, time\nsys.stdin.read()\n\
         child = subprocess.Popen(['sleep', '300'])\n\
         open('../../pids-' + os.environ['AURORA_TASK_ID'], 'w').write(f'{os.getpid()} {child.pid}')\n\
         time.sleep(300)\n",
    );
    write_executable(
        &dir.join("tests/fails"),
        "#!/usr/bin/env python3\nimport sys\nsys.stdin.read()\nprint('boom: the disk is on fire', file=sys.stderr)\nsys.exit(3)\n",
    );
    dir
}

/// A deployment whose worker offers the executables of `dir`: `aurora dev --handlers-dir DIR`, or
/// a distributed deployment plus one worker process started with `--handlers-dir DIR`.
async fn deploy(deployment: Deployment, scratch: &Path, dir: &Path) -> Server {
    match deployment {
        Deployment::Embedded => {
            Server::deploy(deployment, scratch, &[&format!("--handlers-dir={}", dir.display())]).await
        }
        Deployment::Distributed => {
            let mut server = Server::deploy(deployment, scratch, &[]).await;
            let dir = dir.display().to_string();
            let cluster = server.cluster_mut().unwrap();
            cluster.add("worker-scripts", "worker", &[], &["--labels", "lang=py", "--handlers-dir", &dir]);
            server
        }
    }
}

async fn handler_names(server: &Server) -> Vec<String> {
    let h = server.client.query("{ handlers { name argTypes resultTypes } }", json!({})).await.unwrap();
    h["handlers"].as_array().unwrap().iter().map(|h| h["name"].as_str().unwrap().to_string()).collect()
}

/// Waits until `present` says the handler list is as wanted; returns how long it took.
async fn until_handlers(server: &Server, what: &str, present: impl Fn(&[String]) -> bool) -> Duration {
    let start = Instant::now();
    loop {
        if present(&handler_names(server).await) {
            return start.elapsed();
        }
        assert!(start.elapsed() < Duration::from_secs(10), "{what} within 10 s: {:?}", handler_names(server).await);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|s| s.rsplit(')').next().is_some_and(|rest| !rest.trim_start().starts_with('Z')))
}

fn results(g: &Value, key: &str) -> Value {
    aurora_e2e::task(g, key)["results"].clone()
}

async fn executables_run_with_typed_results_timeouts_kill_their_group_and_failures_say_why(deployment: Deployment) {
    let scratch = Scratch::new("handlers");
    let dir = handlers_dir(&scratch.0);
    let server = deploy(deployment, &scratch.0, &dir).await;

    // The shipped example: a seed-protocol script, a JSON-protocol script with a manifest, and a
    // built-in that receives the first script's result.
    let id = server.submit(example("your-handlers.json")).await;
    let g = server.wait_terminal(&id, WAIT).await;
    assert_eq!(g["state"], "SUCCESS", "{g:#}");
    assert_eq!(results(&g, "shout"), json!([{ "type": "string", "value": "HELLO FROM A SCRIPT!" }]));
    assert_eq!(
        results(&g, "stats"),
        json!([{ "type": "int64", "value": 3 }, { "type": "float64", "value": 4.0 }, { "type": "float64", "value": 8.0 }])
    );
    assert_eq!(results(&g, "report"), json!([{ "type": "string", "value": "shouted: HELLO FROM A SCRIPT!" }]));
    assert_invariants(&g);

    // Past its timeout the handler's whole process group is killed, grandchild included.
    let mut lingers = task("lingers", "lingers", &[("string", json!(""))]);
    lingers["timeoutMs"] = json!(1500);
    let id = server.submit(graph(vec![lingers], vec![])).await;
    let g = server.wait_terminal(&id, WAIT).await;
    assert_eq!(g["state"], "FAILURE", "{g:#}");
    let t = aurora_e2e::task(&g, "lingers");
    let error = t["error"].as_str().unwrap();
    assert!(error.contains("timed out after 1500 ms (timeoutMs)"), "{error}");
    assert!(error.contains("process group was sent SIGTERM"), "{error}");
    let pids = std::fs::read_to_string(scratch.0.join(format!("pids-{}", t["id"].as_str().unwrap()))).unwrap();
    for pid in pids.split_whitespace().map(|p| p.parse::<i32>().unwrap()) {
        assert!(!alive(pid), "process {pid} was left behind: {pids}");
    }

    // A failing executable: the exit code and the tail of stderr, retried under the task's policy.
    let mut fails = task("fails", "fails", &[("string", json!("x"))]);
    fails["retryCount"] = json!(1);
    fails["retryBackoffMs"] = json!(10);
    let id = server.submit(graph(vec![fails], vec![])).await;
    let g = server.wait_terminal(&id, WAIT).await;
    let t = aurora_e2e::task(&g, "fails");
    assert_eq!((t["state"].as_str(), t["attempts"].as_i64()), (Some("FAILURE"), Some(2)), "{t:#}");
    assert_eq!(t["error"], "fails exited with code 3; stderr: boom: the disk is on fire");
    assert_invariants(&g);

    // Args that do not fit the offered signature are refused up front, and nothing is written.
    let before = server.ledger_event_count().await;
    for (input, expected) in [
        (
            graph(vec![task("s", "shout", &[("int64", json!(1))])], vec![]),
            "task `s` arg 0: handler `shout` expects string there, got int64",
        ),
        (
            graph(vec![task("t", "stats", &[("[]string", json!(["a"]))])], vec![]),
            "task `t` arg 0: handler `stats` expects []float64 there, got []string",
        ),
        (
            graph(vec![task("a", "add", &[("int64", json!(1)), ("string", json!("2"))])], vec![]),
            "task `a` arg 1: handler `add` expects int64 (or []int64) there, got string",
        ),
        (
            graph(vec![task("s", "shout", &[("string", json!("a")), ("string", json!("b"))])], vec![]),
            "task `s`: handler `shout` takes exactly 1 value (string), got 2",
        ),
    ] {
        let err = server.client.submit(input).await.expect_err("refused");
        assert_eq!(err.codes(), ["BAD_USER_INPUT"], "{err}");
        assert!(err.to_string().contains(expected), "expected `{expected}` in: {err}");
    }
    assert_eq!(server.ledger_event_count().await, before, "a refused submission writes nothing");
}

async fn an_executable_added_while_running_is_offered_and_a_removed_one_withdrawn(deployment: Deployment) {
    let scratch = Scratch::new("handlers-live");
    let dir = handlers_dir(&scratch.0);
    let server = deploy(deployment, &scratch.0, &dir).await;
    assert!(!handler_names(&server).await.contains(&"late".to_string()));

    write_executable(&dir.join("tests/late"), "#!/bin/sh\nprintf 'late: '\ncat\n");
    let took = until_handlers(&server, "a new executable is offered", |h| h.iter().any(|n| n == "late")).await;
    eprintln!("`late` was offered {} ms after it was written", took.as_millis());
    let id = server.submit(graph(vec![task("l", "late", &[("string", json!("and well"))])], vec![])).await;
    let g = server.wait_terminal(&id, WAIT).await;
    assert_eq!(results(&g, "l"), json!([{ "type": "string", "value": "late: and well" }]), "{g:#}");

    std::fs::remove_file(dir.join("tests/late")).unwrap();
    until_handlers(&server, "a removed executable is withdrawn", |h| !h.iter().any(|n| n == "late")).await;
    let err = server.client.submit(graph(vec![task("l", "late", &[("string", json!("x"))])], vec![])).await;
    let err = err.expect_err("no worker offers it any more");
    assert!(err.to_string().contains("unknown handler `late`"), "{err}");
    assert!(handler_names(&server).await.contains(&"shout".to_string()), "the others are still offered");

    // Cancelling the run stops a running executable: its whole process group is killed.
    let id = server.submit(graph(vec![task("lingers", "lingers", &[("string", json!(""))])], vec![])).await;
    let g = server.client.graph(&id).await.unwrap();
    let pids_file = scratch.0.join(format!("pids-{}", aurora_e2e::task(&g, "lingers")["id"].as_str().unwrap()));
    let start = Instant::now();
    let pids = loop {
        if let Ok(p) = std::fs::read_to_string(&pids_file)
            && p.split_whitespace().count() == 2
        {
            break p;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "the executable never started");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let cancel = "mutation($id: ID!) { cancelGraph(id: $id, reason: \"enough\") { id } }";
    server.client.query(cancel, json!({ "id": id })).await.unwrap();
    let g = server.wait_terminal(&id, WAIT).await;
    assert_eq!(g["state"], "CANCELLED", "{g:#}");
    let pids: Vec<i32> = pids.split_whitespace().map(|p| p.parse().unwrap()).collect();
    let start = Instant::now();
    while pids.iter().any(|p| alive(*p)) {
        assert!(start.elapsed() < Duration::from_secs(10), "a cancelled run's processes {pids:?} still run");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("the cancelled executable's group was gone {} ms after the run ended", start.elapsed().as_millis());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_handlers_directory_is_a_clear_error() {
    let scratch = Scratch::new("handlers-missing");
    let out = std::process::Command::new(aurora_e2e::binary())
        .args(["dev", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(scratch.0.join("data"))
        .args(["--admin-password", "x", "--handlers-dir"])
        .arg(scratch.0.join("nowhere"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("nowhere cannot be read") && text.contains("--handlers-dir"), "{text}");
    assert!(!text.contains("panicked"), "{text}");

    let clash = scratch.0.join("clash");
    std::fs::create_dir_all(clash.join("a")).unwrap();
    std::fs::create_dir_all(clash.join("b")).unwrap();
    write_executable(&clash.join("a/twin"), "#!/bin/sh\n");
    write_executable(&clash.join("b/twin"), "#!/bin/sh\n");
    let out = std::process::Command::new(aurora_e2e::binary())
        .args(["dev", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(scratch.0.join("data2"))
        .args(["--admin-password", "x"])
        .arg(format!("--set=worker.handlers_dir={}", clash.display()))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("two executables are named `twin`") && text.contains("a/twin") && text.contains("b/twin"),
        "{text}"
    );
}

aurora_e2e::scenarios!(
    executables_run_with_typed_results_timeouts_kill_their_group_and_failures_say_why,
    an_executable_added_while_running_is_offered_and_a_removed_one_withdrawn,
);
