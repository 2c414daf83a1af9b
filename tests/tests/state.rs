//! What must survive a restart of `aurora dev`, and what must not be shared (issue "Hardening",
//! done-when 3): tokens and the generated admin password survive; a second server on the same
//! data directory is refused; `aurora replay` refuses a directory without a ledger; the data
//! directory is private.

#![allow(clippy::unwrap_used)] // test code: a panic is a failed check

use aurora::client::Client;
use aurora_e2e::{Process, Scratch, binary};
use serde_json::json;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

fn dev(data: &Path, log: &Path, extra: &[&str]) -> Process {
    let mut args: Vec<String> = vec!["dev".into(), "--listen".into(), "127.0.0.1:0".into(), "--data-dir".into()];
    args.push(data.display().to_string());
    args.extend(extra.iter().map(|s| s.to_string()));
    Process::spawn(&args, log)
}

fn generated_password(p: &Process) -> Option<String> {
    p.stdout().iter().find_map(|l| {
        l.strip_prefix("admin password (generated").and_then(|r| r.rsplit(' ').next()).map(str::to_string)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_keeps_tokens_and_the_generated_password() {
    let dir = Scratch::new("state-restart");
    let data = dir.0.join("data");
    let mut first = dev(&data, &dir.0.join("first.log"), &[]);
    let password = generated_password(&first).expect("a new data dir gets a generated password");
    let token = Client::new(&first.url, None).login("admin", &password).await.unwrap();
    assert!(first.stop().success());

    let mut second = dev(&data, &dir.0.join("second.log"), &[]);
    assert_eq!(generated_password(&second), None, "the kept password is not shown again: {:?}", second.stdout());
    let same = Client::new(&second.url, Some(token.clone()));
    same.query("{ graphs { nodes { id } } }", json!({})).await.expect("the token survived the restart");
    Client::new(&second.url, None).login("admin", &password).await.expect("the password survived too");
    assert!(second.stop().success());

    let third = dev(&data, &dir.0.join("third.log"), &["--reset-admin-password"]);
    let fresh = generated_password(&third).expect("a reset makes a new one");
    assert_ne!(fresh, password);
    let old = Client::new(&third.url, None).login("admin", &password).await.unwrap_err();
    assert_eq!(old.codes(), ["UNAUTHENTICATED"]);
    Client::new(&third.url, None).login("admin", &fresh).await.expect("the new one works");

    // The data directory is private: 0700, its files 0600.
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700);
    for entry in std::fs::read_dir(&data).unwrap() {
        let path = entry.unwrap().path();
        assert_eq!(mode(&path), 0o600, "{}", path.display());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_server_on_a_held_data_dir_is_refused_naming_the_holder() {
    let dir = Scratch::new("state-lock");
    let data = dir.0.join("data");
    let first = dev(&data, &dir.0.join("first.log"), &["--admin-password", "x"]);
    let out = std::process::Command::new(binary())
        .args(["dev", "--listen", "127.0.0.1:0", "--admin-password", "x", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains(&format!("another Aurora (pid {}) is using the data directory", first.pid())), "{stderr}");

    // Replay on a running server's directory warns; on a directory without a ledger it refuses.
    let out = std::process::Command::new(binary()).arg("replay").arg("--data-dir").arg(&data).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("an Aurora (pid {}) is running on", first.pid())), "{stderr}");
    let empty = dir.0.join("empty");
    for missing in [dir.0.join("nowhere"), {
        std::fs::create_dir_all(&empty).unwrap();
        empty.clone()
    }] {
        let out = std::process::Command::new(binary()).arg("replay").arg("--data-dir").arg(&missing).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{stderr}");
        assert!(stderr.contains("no ledger at"), "{stderr}");
        assert!(!missing.join("ledger.sqlite").exists(), "replay created a ledger in {}", missing.display());
    }
}
