//! The README's client commands, run as a user would: `login`, `submit --watch`, `events`,
//! `hash-password`, `config dump`, against a real `aurora dev` (and the client commands against a
//! distributed deployment too).

#![allow(clippy::unwrap_used)] // test code: a panic is a failed check

use aurora_e2e::graphs::example;
use aurora_e2e::{Deployment, PASSWORD, Scratch, Server, binary};
use serde_json::json;
use std::io::Write;
use std::process::{Command, Output, Stdio};

fn repo(path: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

fn aurora(home: &std::path::Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(binary())
        .args(args)
        .env("HOME", home)
        .env_remove("AURORA_TOKEN")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    }
    child.wait_with_output().unwrap()
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

async fn login_submit_watch_and_events_work_as_the_readme_shows(deployment: Deployment) {
    let dir = Scratch::new("cli");
    let server = Server::deploy(deployment, &dir.0, &[]).await;
    let home = dir.0.join("home");
    std::fs::create_dir_all(&home).unwrap();
    let url = server.url.as_str();

    let login = aurora(&home, &["login", "--server", url, "--password", PASSWORD], None);
    assert!(login.status.success(), "{}", text(&login));
    assert!(home.join(".aurora/token").exists(), "the token is saved for the next commands");

    let file = repo("examples/seed-readme.json");
    let submit = aurora(&home, &["submit", file.to_str().unwrap(), "--watch", "--events", "--server", url], None);
    let out = text(&submit);
    assert!(submit.status.success(), "a succeeded run exits 0:\n{out}");
    let stdout = String::from_utf8_lossy(&submit.stdout).to_string();
    let lines: Vec<&str> = stdout.lines().collect();
    let id = lines[0].trim();
    assert_eq!(id.len(), 36, "the first line is the graph id: {out}");
    assert_eq!(lines.len(), 11, "the id and ten events:\n{out}");
    assert!(lines[5].contains("TaskSucceeded") && lines[5].contains("-> int64 3"), "{out}");
    assert!(lines[9].contains("TaskSucceeded") && lines[9].contains("-> int64 7"), "{out}");
    assert!(lines[10].contains("GraphSucceeded"), "{out}");

    let events = aurora(&home, &["events", id, "--server", url], None);
    assert!(events.status.success(), "{}", text(&events));
    assert_eq!(String::from_utf8_lossy(&events.stdout).lines().count(), 10);
    let json_lines = aurora(&home, &["events", id, "--json", "--server", url], None);
    let first: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&json_lines.stdout).lines().next().unwrap()).unwrap();
    assert_eq!(first["type"], "GraphSubmitted");

    let failing = dir.0.join("failing.json");
    std::fs::write(
        &failing,
        json!({ "tasks": [{ "key": "x", "name": "fail", "args": [{ "type": "string", "value": "no" }] }] }).to_string(),
    )
    .unwrap();
    let failed = aurora(&home, &["submit", failing.to_str().unwrap(), "--watch", "--server", url], None);
    assert_eq!(failed.status.code(), Some(2), "a failed run exits 2:\n{}", text(&failed));

    let anonymous = dir.0.join("nobody");
    std::fs::create_dir_all(&anonymous).unwrap();
    let refused = aurora(&anonymous, &["events", id, "--server", url], None);
    assert!(!refused.status.success());
    assert!(text(&refused).contains("aurora login"), "tells the user what to do:\n{}", text(&refused));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipped_examples_run() {
    let dir = Scratch::new("examples");
    let handlers = format!("--handlers-dir={}", repo("examples/handlers").display());
    let server = Server::start_with_config(&dir.0, &repo("config/examples/dev.toml"), &[&handlers]).await;
    for (file, state) in [
        ("seed-readme.json", "SUCCESS"),
        ("seed-readme-labelled.json", "SUCCESS"),
        ("diamond.json", "SUCCESS"),
        ("your-handlers.json", "SUCCESS"),
    ] {
        let id = server.submit(example(file)).await;
        let g = server.wait_terminal(&id, std::time::Duration::from_secs(30)).await;
        assert_eq!(g["state"], state, "{file}: {g:#}");
        aurora_e2e::assert_invariants(&g);
    }
}

#[test]
fn hash_password_and_config_dump() {
    let dir = Scratch::new("cli-tools");
    let hashed = aurora(&dir.0, &["hash-password"], Some("correct horse\n"));
    let hash = String::from_utf8_lossy(&hashed.stdout).trim().to_string();
    assert!(hashed.status.success() && hash.starts_with("$argon2id$"), "{}", text(&hashed));

    let dump =
        aurora(&dir.0, &["config", "dump", "--config", repo("config/examples/dev.toml").to_str().unwrap()], None);
    assert!(dump.status.success(), "{}", text(&dump));
    assert!(String::from_utf8_lossy(&dump.stdout).contains("listen = \"127.0.0.1:4332\""));

    let bad = aurora(&dir.0, &["config", "dump", "--set", "worker.slots=0", "--set", "server.listen=nowhere"], None);
    assert!(!bad.status.success());
    let msg = text(&bad);
    assert!(msg.contains("worker.slots") && msg.contains("server.listen"), "every problem at once:\n{msg}");
}

aurora_e2e::scenarios!(login_submit_watch_and_events_work_as_the_readme_shows);
