//! Remote workers in a distributed deployment (issue "Workers in any language", done-when 4): the
//! Python SDK's worker tests (`sdk/python/tests/test_worker.py`) run against two gateways on
//! MongoDB, RabbitMQ and Redis, their workers connected to gateway 1 and every task submitted
//! and read on gateway 2. Needs the services and the SDK's venv: scripts/test provides both.

#![cfg(feature = "service-tests")]
#![allow(clippy::unwrap_used)] // test code: a panic is a failed check

use aurora_e2e::cluster::{Cluster, Layout, Services};
use aurora_e2e::{PASSWORD, Scratch};
use std::path::Path;
use std::process::Command;

#[tokio::test(flavor = "multi_thread")]
async fn the_sdks_worker_tests_pass_with_workers_on_one_gateway_and_submissions_on_another() {
    let scratch = Scratch::new("remote-workers-distributed");
    let viewer_password = "vera-distributed";
    // The viewer, and the metric the SDK's worker tests update (as its conftest declares them).
    let users = format!(
        "[[auth.users]]\nname = \"vera\"\npassword_hash = \"{}\"\nrole = \"viewer\"\n\n\
         [[metrics]]\nname = \"sdk_jobs_total\"\nhelp = \"Jobs run by the SDK's tests\"\nkind = \"counter\"\nlabels = [\"kind\"]\n",
        aurora_query_graphql::auth::hash_password(viewer_password)
    );
    // One built-in worker besides the remote ones: its handlers are not the tests' (each test
    // names its own), so it only shows that remote and built-in workers share a deployment.
    let layout = Layout { gateways: 2, projectors: 1, workers: vec!["zone=a".into()] };
    let mut cluster = Cluster::start(&scratch.0, &Services::from_env(), &layout, &[], &users).await;
    let gateways: Vec<String> = cluster.gateways.iter().map(|g| g.server().to_string()).collect();
    assert_eq!(gateways.len(), 2);
    assert_ne!(gateways[0], gateways[1]);

    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let out = Command::new(repo.join("sdk/python/scripts/test"))
        .args(["tests/test_worker.py", "-q", "-p", "no:cacheprovider"])
        .env("AURORA_TEST_GATEWAYS", gateways.join(","))
        .env("AURORA_TEST_ADMIN_PASSWORD", PASSWORD)
        .env("AURORA_TEST_VIEWER", format!("vera:{viewer_password}"))
        .output()
        .expect("run sdk/python/scripts/test");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}\n{stderr}");
    assert!(
        out.status.success(),
        "the SDK's worker tests failed on the distributed deployment (logs in {})",
        scratch.0.display()
    );
    // pytest's summary: every test ran and passed, none was skipped.
    let summary = stdout.lines().rev().find(|l| l.contains(" passed")).unwrap_or_default();
    assert!(!summary.contains("skipped") && !summary.contains("failed"), "{summary}");
    let passed: usize = summary.trim().split(' ').next().and_then(|n| n.parse().ok()).unwrap_or(0);
    assert!(passed >= 20, "only {passed} tests ran: {summary}");

    // The remote workers ran on gateway 1: its log names their connections, gateway 2's does not.
    let log = |name: &str| std::fs::read_to_string(scratch.0.join(format!("{name}.log"))).unwrap_or_default();
    assert!(log("gateway0").contains("remote worker connected"), "no remote worker connected to gateway 1");
    assert!(!log("gateway1").contains("remote worker connected"), "a remote worker connected to gateway 2");
    let stopped = cluster.stop_all();
    assert!(stopped.is_empty(), "processes that did not stop cleanly: {stopped:?}");
}
