//! User-defined metrics (issue "The seed's REST API…, user-defined metrics", done-when 6): metrics
//! declared in `[[metrics]]` that a handler updates show on `/metrics` with their labels; an update
//! of an undeclared metric fails the attempt with a message that says so.

#![allow(clippy::unwrap_used)] // test code: a panic is a failed check

use aurora_e2e::graphs::{graph, task};
use aurora_e2e::{Scratch, Server};
use serde_json::json;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

fn write_executable(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_counter_a_handler_increments_shows_on_metrics_with_its_labels() {
    let dir = Scratch::new("user-metrics");
    let handlers = dir.0.join("handlers");
    std::fs::create_dir_all(&handlers).unwrap();
    // Seed protocol: the string arg on stdin, the string result on stdout; metric lines on stderr.
    write_executable(
        &handlers.join("resize"),
        "#!/bin/sh\nread -r path\n\
         echo 'aurora-metric {\"name\": \"images_resized_total\", \"labels\": {\"format\": \"png\"}, \"inc\": 1}' >&2\n\
         echo 'aurora-metric {\"name\": \"resize_seconds\", \"labels\": {}, \"observe\": 0.25}' >&2\n\
         echo 'an ordinary log line' >&2\n\
         echo \"resized $path\"\n",
    );
    write_executable(
        &handlers.join("miscounts"),
        "#!/bin/sh\nread -r path\n\
         echo 'aurora-metric {\"name\": \"images_resised_total\", \"labels\": {\"format\": \"png\"}, \"inc\": 1}' >&2\n\
         echo done\n",
    );
    let config = dir.0.join("metrics.toml");
    std::fs::write(
        &config,
        "[[metrics]]\nname = \"images_resized_total\"\nhelp = \"Images resized, by format\"\nkind = \"counter\"\nlabels = [\"format\"]\n\n\
         [[metrics]]\nname = \"resize_seconds\"\nhelp = \"Seconds per resize\"\nkind = \"summary\"\n",
    )
    .unwrap();
    let server = Server::start_with_config(&dir.0, &config, &[&format!("--handlers-dir={}", handlers.display())]).await;

    let s = |v: &str| ("string", json!(v));
    let ok = server
        .submit(graph(vec![task("a", "resize", &[s("a.png")]), task("b", "resize", &[s("b.png")])], vec![]))
        .await;
    let g = server.wait_terminal(&ok, Duration::from_secs(60)).await;
    assert_eq!(g["state"], "SUCCESS", "{g:#}");

    let metrics = reqwest::get(format!("{}/metrics", server.url)).await.unwrap().text().await.unwrap();
    assert!(metrics.contains("# HELP images_resized_total Images resized, by format"), "{metrics}");
    assert!(metrics.contains("images_resized_total{format=\"png\"} 2"), "{metrics}");
    assert!(metrics.contains("# TYPE resize_seconds summary"), "{metrics}");
    assert!(metrics.contains("resize_seconds_count 2"), "{metrics}");
    assert!(metrics.contains("resize_seconds{quantile=\"0.5\"} 0.25"), "{metrics}");

    // A misspelt metric is an error the handler's author sees, not a silent drop.
    let bad = server.submit(graph(vec![task("c", "miscounts", &[s("c.png")])], vec![])).await;
    let g = server.wait_terminal(&bad, Duration::from_secs(60)).await;
    assert_eq!(g["state"], "FAILURE", "{g:#}");
    let error = aurora_e2e::task(&g, "c")["error"].as_str().unwrap_or_default().to_string();
    assert!(
        error.contains("metric `images_resised_total` is not declared in the worker's [[metrics]] (declared: images_resized_total, resize_seconds)"),
        "{error}"
    );
    let metrics = reqwest::get(format!("{}/metrics", server.url)).await.unwrap().text().await.unwrap();
    assert!(!metrics.contains("images_resised_total"), "nothing was recorded under the wrong name");
}
