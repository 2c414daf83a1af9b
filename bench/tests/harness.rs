//! The benchmark harness and the peers' drivers (Celery, Restate) start and measure a tiny workload
//! (issues 4 and 15): `aurora-bench --tiny` against the real services, with its figures checked.

#![cfg(feature = "service-tests")]
#![allow(clippy::unwrap_used)] // test code: a panic is a failed check

use serde_json::Value;
use std::process::Command;

fn positive(v: &Value, path: &str) -> f64 {
    let x = v.pointer(path).and_then(Value::as_f64).unwrap_or_else(|| panic!("{path} is missing"));
    assert!(x.is_finite() && x > 0.0, "{path} = {x}");
    x
}

#[test]
fn the_harness_and_the_peers_drivers_start_and_measure_a_tiny_workload() {
    let python = std::env::var("AURORA_BENCH_PYTHON")
        .expect("AURORA_BENCH_PYTHON is not set; run the service tests through scripts/test (it installs Celery)");
    let dir = tempfile::tempdir().unwrap();
    let (out, work) = (dir.path().join("results"), dir.path().join("work"));
    let status = Command::new(env!("CARGO_BIN_EXE_aurora-bench"))
        .args(["--tiny", "--python", &python])
        .arg("--out")
        .arg(&out)
        .arg("--work-dir")
        .arg(&work)
        .env("AURORA_BIN", env!("CARGO_BIN_EXE_aurora-bench-node"))
        .status()
        .expect("run aurora-bench");
    assert!(status.success(), "aurora-bench --tiny failed: {status}");

    let files: Vec<_> = std::fs::read_dir(&out).unwrap().map(|e| e.unwrap().path()).collect();
    let with_ext = |ext: &str| files.iter().find(|p| p.extension().is_some_and(|e| e == ext)).cloned();
    let json = with_ext("json").expect("a JSON result");
    let r: Value = serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap();

    for system in ["embedded", "distributed"] {
        positive(&r, &format!("/medians/{system}/W1/single_tasks_per_s"));
        let drain = positive(&r, &format!("/medians/{system}/W2/tasks_per_s"));
        let with_startup = positive(&r, &format!("/medians/{system}/W2/tasks_per_s_with_startup"));
        assert!(drain >= with_startup, "{system}: timing from the first claim excludes the start-up");
        let startup = r.pointer(&format!("/medians/{system}/W2/startup_s")).and_then(Value::as_f64);
        assert!(startup.is_some_and(|s| s >= 0.0), "{system}: the first claim follows the workers' start: {startup:?}");
        positive(&r, &format!("/medians/{system}/W2/cpu_ms_per_task"));
        let events = positive(&r, &format!("/medians/{system}/W2/events_per_task"));
        assert!(events >= 4.0, "{system}: every task writes at least PENDING, RECEIVED, STARTED, SUCCESS ({events})");
        positive(&r, &format!("/medians/{system}/W3/p50_ms"));
        positive(&r, &format!("/medians/{system}/W4/ms_per_hop"));
        positive(&r, &format!("/medians/{system}/W6/cpu_ms_per_task"));
        positive(&r, &format!("/medians/{system}/W7/live_events_measured"));
        assert_eq!(r.pointer(&format!("/medians/{system}/W7/events_missed")), Some(&Value::from(0.0)), "{system} W7");
        // W8: chains of 40 and 10, taken apart with the ledger's timestamps.
        for n in [40, 10] {
            let per_task = positive(&r, &format!("/medians/{system}/W8/chain{n}_ms_per_task"));
            let overhead = positive(&r, &format!("/medians/{system}/W8/chain{n}_overhead_ms_per_task"));
            assert!(
                overhead < per_task,
                "{system}: the engine's overhead is part of what the client saw ({overhead} ms of {per_task} ms)"
            );
            let run = r.pointer(&format!("/medians/{system}/W8/chain{n}_run_ms_per_task")).and_then(Value::as_f64);
            assert!(run.is_some_and(|ms| ms >= 0.0), "{system}: the handlers' runs {run:?}");
        }
    }
    for system in ["embedded", "distributed", "celery"] {
        assert_eq!(
            r.pointer(&format!("/medians/{system}/W5/join_exactly_once")),
            Some(&Value::from(1.0)),
            "{system}: the join ran exactly once"
        );
    }
    // The Celery driver measured W1–W5.
    positive(&r, "/medians/celery/W1/batch_tasks_per_s");
    positive(&r, "/medians/celery/W2/tasks_per_s");
    positive(&r, "/medians/celery/W2/cpu_ms_per_task");
    positive(&r, "/medians/celery/W3/p99_ms");
    positive(&r, "/medians/celery/W4/total_ms");
    positive(&r, "/medians/celery/W5/p50_ms");
    positive(&r, "/versus_celery/distributed/W2 tasks_per_s");
    // The Restate driver measured W2–W5, in its network namespace.
    positive(&r, "/medians/restate/W2/tasks_per_s");
    positive(&r, "/medians/restate/W2/cpu_ms_per_task");
    positive(&r, "/medians/restate/W3/p50_ms");
    positive(&r, "/medians/restate/W4/ms_per_hop");
    positive(&r, "/medians/restate/W5/p50_ms");
    assert_eq!(r.pointer("/medians/restate/W5/join_exactly_once"), Some(&Value::from(1.0)), "Restate's join");
    // W8 on both peers, and our ratio to them on its headline figure.
    for peer in ["celery", "restate"] {
        positive(&r, &format!("/medians/{peer}/W8/chain40_ms_per_task"));
        positive(&r, &format!("/medians/{peer}/W8/chain10_ms_per_task"));
    }
    positive(&r, "/versus_celery/embedded/W8 chain40_ms_per_task");
    positive(&r, "/versus_restate/distributed/W8 chain40_ms_per_task");
    positive(&r, "/versus_restate/distributed/W2 tasks_per_s");
    // The scale-out row: W2 drained by 1, 2 and 4 worker processes, and by 2 projector partitions.
    for shape in ["1w", "2w", "4w", "2w_2p"] {
        positive(&r, &format!("/medians/distributed/W2s/tasks_per_s_{shape}"));
    }
    // The database's round trips per task, from the processes' own counters.
    for figure in ["db_commands_per_task", "db_writes_per_task", "db_reads_per_task"] {
        positive(&r, &format!("/medians/distributed/W2/{figure}"));
    }
    // The raw limits.
    positive(&r, "/medians/limits/rabbitmq/round_trip_per_s");
    positive(&r, "/medians/limits/mongodb/inserts_per_s");
    positive(&r, "/medians/limits/sqlite/inserts_per_s");
    positive(&r, "/w2_fraction_of_limit/distributed");

    let md = std::fs::read_to_string(with_ext("md").expect("a Markdown report")).unwrap();
    assert!(md.contains("| W2 | tasks_per_s |") && md.contains("## Targets"), "{md}");
    let svg = std::fs::read_to_string(with_ext("svg").expect("an SVG chart")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("<rect"), "{svg}");
}
