//! The command line a new user expects (issue "Hardening", done-when 4): runs, cancel, logout,
//! a progress bar instead of thousands of lines, a watch that survives a server restart, local
//! times with their date, a closed pipe, a server that is not running, a password read without
//! echo, a private token file, the original Aurora's request format, and warnings the user should
//! see. The progress bar and the password prompt run in a pseudo-terminal (expectrl).

#![allow(clippy::unwrap_used)] // test code: a panic is a failed check

use aurora_e2e::graphs::{edge, graph, task};
use aurora_e2e::{PASSWORD, Scratch, Server, binary};
use expectrl::{Eof, Expect, Session};
use serde_json::json;
use std::collections::HashSet;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

fn aurora(home: &Path, args: &[&str]) -> Output {
    Command::new(binary()).args(args).env("HOME", home).env_remove("AURORA_TOKEN").output().unwrap()
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// A home directory with the admin's token saved, as `aurora login` leaves it.
fn logged_in(dir: &Path, server: &Server) -> std::path::PathBuf {
    let home = dir.join("home");
    std::fs::create_dir_all(&home).unwrap();
    let login = aurora(&home, &["login", "--server", &server.url, "--password", PASSWORD]);
    assert!(login.status.success(), "{}", text(&login));
    home
}

/// Everything the session prints until it ends.
fn rest(p: &mut expectrl::session::OsSession) -> String {
    let c = p.expect(Eof).unwrap();
    let mut out = String::from_utf8_lossy(c.before()).into_owned();
    for m in c.matches() {
        out.push_str(&String::from_utf8_lossy(m));
    }
    out
}

fn pty(home: &Path, args: &[&str]) -> expectrl::session::OsSession {
    let mut cmd = Command::new(binary());
    cmd.args(args).env("HOME", home).env_remove("AURORA_TOKEN").env("TERM", "xterm");
    let mut s = Session::spawn(cmd).unwrap();
    s.set_expect_timeout(Some(Duration::from_secs(60)));
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_reads_the_password_without_echo_and_keeps_the_token_private() {
    let dir = Scratch::new("cli-login");
    let server = Server::start(&dir.0, &[]).await;
    let home = dir.0.join("home");
    std::fs::create_dir_all(&home).unwrap();
    let mut p = pty(&home, &["login", "--server", &server.url]);
    p.expect("password for admin: ").unwrap();
    p.send_line(PASSWORD).unwrap();
    let shown = rest(&mut p);
    assert!(shown.contains("logged in"), "{shown}");
    assert!(!shown.contains(PASSWORD), "the password must not be echoed: {shown}");
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&home.join(".aurora")), 0o700);
    assert_eq!(mode(&home.join(".aurora/token")), 0o600);

    // logout revokes the token on the server and forgets it.
    let token = std::fs::read_to_string(home.join(".aurora/token")).unwrap();
    let out = aurora(&home, &["logout", "--server", &server.url]);
    assert!(out.status.success() && text(&out).contains("revoked"), "{}", text(&out));
    assert!(!home.join(".aurora/token").exists());
    let revoked = server.client.with_token(Some(token)).query("{ graphs { nodes { id } } }", json!({})).await;
    assert_eq!(revoked.unwrap_err().codes(), ["UNAUTHENTICATED"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_big_run_shows_a_progress_bar_and_a_summary_not_thousands_of_lines() {
    let dir = Scratch::new("cli-progress");
    let server = Server::start(&dir.0, &[]).await;
    let home = logged_in(&dir.0, &server);
    let tasks = (0..2000).map(|i| task(&format!("t{i}"), "noop", &[])).collect();
    let file = dir.0.join("big.json");
    std::fs::write(&file, graph(tasks, vec![]).to_string()).unwrap();
    let mut p = pty(&home, &["submit", file.to_str().unwrap(), "--watch", "--server", &server.url]);
    // The bar's counts, then the summary.
    p.expect("ended ·").unwrap();
    let out = rest(&mut p);
    assert!(out.contains("SUCCESS after") && out.contains("2000 succeeded"), "{out}");
    assert!(out.lines().count() < 200, "{} lines for 2000 tasks", out.lines().count());

    // Without a terminal: no bar, the summary only; with --events every event.
    let id = server.submit(graph(vec![task("a", "add", &[("int64", json!(1))])], vec![])).await;
    let quiet = aurora(&home, &["watch", &id, "--server", &server.url]);
    assert!(quiet.status.success(), "{}", text(&quiet));
    assert_eq!(String::from_utf8_lossy(&quiet.stdout).lines().count(), 1, "{}", text(&quiet));
    let all = aurora(&home, &["watch", &id, "--events", "--server", &server.url, "--utc"]);
    let lines: Vec<String> = String::from_utf8_lossy(&all.stdout).lines().map(str::to_string).collect();
    assert_eq!(lines.len(), 6, "{lines:?}");
    // Times carry their date; --utc shows UTC, the default local time (TZ here: UTC+05:30).
    assert!(lines[0].starts_with(&chrono::Utc::now().format("%Y-%m-%dT").to_string()), "{}", lines[0]);
    let local = Command::new(binary())
        .args(["events", &id, "--server", &server.url])
        .env("HOME", &home)
        .env("TZ", "Asia/Kolkata")
        .output()
        .unwrap();
    let local = String::from_utf8_lossy(&local.stdout).lines().next().unwrap_or_default().to_string();
    let utc_time = chrono::NaiveDateTime::parse_from_str(&lines[0][..23], "%Y-%m-%dT%H:%M:%S%.3f").unwrap();
    let local_time = chrono::NaiveDateTime::parse_from_str(&local[..23], "%Y-%m-%d %H:%M:%S%.3f").unwrap();
    assert_eq!(local_time - utc_time, chrono::Duration::minutes(330), "{local} vs {}", lines[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_survives_a_server_restart_without_repeating_or_missing_an_event() {
    let dir = Scratch::new("cli-reconnect");
    let mut server = Server::start(&dir.0, &[]).await;
    let home = logged_in(&dir.0, &server);
    let tasks = (0..8).map(|i| task(&format!("s{i}"), "sleep", &[("int64", json!(400))])).collect();
    let edges = (1..8).map(|i| edge(&format!("s{}", i - 1), &format!("s{i}"))).collect();
    let id = server.submit(graph(tasks, edges)).await;
    let watch = Command::new(binary())
        .args(["watch", &id, "--events", "--server", &server.url])
        .env("HOME", &home)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    server.stop();
    tokio::time::sleep(Duration::from_millis(500)).await;
    server.restart().await;
    let out = tokio::task::spawn_blocking(move || watch.wait_with_output().unwrap()).await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{}{stderr}", String::from_utf8_lossy(&out.stdout));
    assert!(stderr.contains("reconnecting"), "the watch noticed the restart: {stderr}");
    let printed: Vec<String> = String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect();
    let history = server.client.history(&id).await.unwrap();
    assert_eq!(printed.len(), history.len(), "every event once:\n{}", printed.join("\n"));
    let unique: HashSet<&str> = printed.iter().map(|l| &l[25..]).collect();
    assert_eq!(unique.len(), printed.len(), "no event twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_cancel_pipes_unreachable_servers_and_the_original_format() {
    let dir = Scratch::new("cli-runs");
    let server = Server::start(&dir.0, &[]).await;
    let home = logged_in(&dir.0, &server);
    let mut nightly = graph(vec![task("s", "sleep", &[("int64", json!(30_000))])], vec![]);
    nightly["name"] = json!("Nightly ETL");
    let running = server.submit(nightly).await;
    let mut done = graph(vec![task("a", "add", &[("int64", json!(1))])], vec![]);
    done["name"] = json!("adhoc");
    let finished = server.submit(done).await;
    server.wait_terminal(&finished, Duration::from_secs(30)).await;

    let out = aurora(&home, &["runs", "--server", &server.url, "--state", "running", "--name", "nightly"]);
    let listed = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success() && listed.contains(&running) && !listed.contains(&finished), "{}", text(&out));
    assert!(listed.contains("Nightly ETL") && listed.contains("0/1"), "{listed}");
    let out = aurora(&home, &["runs", "--server", &server.url, "--limit", "1"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 2, "a header and one run: {}", text(&out));

    // Cancel: recorded at once, the running handler stopped, the run ends CANCELLED.
    let out = aurora(&home, &["cancel", &running, "--reason", "not tonight", "--server", &server.url]);
    assert!(out.status.success() && text(&out).contains("cancellation of"), "{}", text(&out));
    let q = "mutation($id: ID!) { cancelGraph(id: $id) { state cancelRequested } }";
    let again = server.client.query(q, json!({ "id": running })).await.unwrap();
    assert_eq!(again["cancelGraph"]["cancelRequested"], true, "{again}");
    assert_eq!(server.wait_terminal(&running, Duration::from_secs(30)).await["state"], "CANCELLED");

    // `aurora events ID | head -1`: a closed pipe is not a panic.
    let mut child = Command::new(binary())
        .args(["events", &finished, "--server", &server.url])
        .env("HOME", &home)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 10];
    child.stdout.take().unwrap().read_exact(&mut first).unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && !stderr.contains("panicked"), "{stderr}");

    // A server without a scheme works; one that is not running says so, and how to start one.
    let bare = server.url.trim_start_matches("http://");
    let out = aurora(&home, &["runs", "--server", bare, "--limit", "1"]);
    assert!(out.status.success(), "{}", text(&out));
    let out = aurora(&home, &["runs", "--server", "127.0.0.1:9"]);
    assert!(
        text(&out).contains("no Aurora server answers at http://127.0.0.1:9") && text(&out).contains("aurora dev"),
        "{}",
        text(&out)
    );

    // The original Aurora's request format is converted; a selector no worker matches is a warning.
    let seed = json!({"task_type":"graph","timestamp":1680752792,"signatures":[
        {"id":"y4e6vr63qb","name":"add","args":[{"type":"int64","value":1},{"type":"int64","value":2}],"label_selector":{"k1":"v1","k2":"v2"}},
        {"id":"ql0iytfa36","name":"add","args":[{"type":"int64","value":3},{"type":"int64","value":4}],"label_selector":{"k1":"v1","k2":"v2"}}],
        "relations":[{"0":1}],"timeout_duration":0,"sleep_duration":2000,"send_concurrency":0});
    let file = dir.0.join("seed.json");
    std::fs::write(&file, seed.to_string()).unwrap();
    let out = aurora(&home, &["submit", file.to_str().unwrap(), "--server", &server.url]);
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("converted from the original Aurora's `graph` request (2 tasks, 1 edges)"), "{said}");
    assert!(said.contains("warning: no live worker offers `add` with labels matching {k1=v1,k2=v2}"), "{said}");
    // The same warning reaches a GraphQL client in the response's extensions.
    let mut selected = graph(vec![task("g", "add", &[])], vec![]);
    selected["labelSelector"] = json!({ "gpu": "true" });
    let (_, warnings) = server.client.submit_warned(selected).await.unwrap();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("{gpu=true}") && warnings[0].contains("live workers' labels are {}"), "{warnings:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_says_what_the_server_waits_for() {
    let dir = Scratch::new("cli-ctrl-c");
    let data = dir.0.join("data");
    let log = std::fs::File::create(dir.0.join("server.log")).unwrap();
    let mut child = Command::new(binary())
        .args(["dev", "--listen", "127.0.0.1:0", "--admin-password", "x", "--data-dir"])
        .arg(&data)
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut banner = [0u8; 20];
    stdout.read_exact(&mut banner).unwrap();
    Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(child.wait().unwrap().success());
    let said = std::fs::read_to_string(dir.0.join("server.log")).unwrap();
    assert!(said.contains("stopping: open requests finish, the worker lets running attempts finish"), "{said}");
}
