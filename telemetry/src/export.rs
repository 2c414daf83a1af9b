//! The process-wide exporter: recorded spans go into a bounded queue (never blocking the code
//! that records them) and a background task sends them in batches to the collector's
//! `/v1/traces` (OTLP over HTTP, protobuf). Spans are diagnostics, not the ledger: when the queue
//! is full or the collector keeps refusing, spans are dropped and counted
//! (`aurora_trace_spans_dropped_total`), and the run itself is unaffected.

use crate::span::{Span, Value};
use prometheus::{IntCounter, IntCounterVec, register_int_counter, register_int_counter_vec};
use std::sync::{LazyLock, OnceLock};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tracing::{info, warn};

/// Spans waiting to be sent, at most.
pub const QUEUE: usize = 16_384;

/// Spans per request, at most.
pub const BATCH_MAX: usize = 512;

/// How long a span waits for its batch to fill before it is sent anyway.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(500);

/// Attempts per batch before it is dropped (a collector that is down loses spans, not runs).
const SEND_ATTEMPTS: u32 = 3;

static INSTALLED: OnceLock<Exporter> = OnceLock::new();

static EXPORTED: LazyLock<IntCounter> = LazyLock::new(|| {
    register_int_counter!("aurora_trace_spans_exported_total", "Spans the OTLP collector accepted")
        .expect("metric names are unique")
});

static DROPPED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "aurora_trace_spans_dropped_total",
        "Spans not exported, by reason (queue_full: recorded faster than the collector took them; refused: \
         the collector answered an error or could not be reached)",
        &["reason"]
    )
    .expect("metric names are unique")
});

enum Command {
    Span(Box<Span>),
    Flush(oneshot::Sender<()>),
}

/// The installed exporter's queue.
pub struct Exporter {
    tx: mpsc::Sender<Command>,
    url: String,
}

impl Exporter {
    /// Where spans go (`…/v1/traces`).
    pub fn url(&self) -> &str {
        &self.url
    }
}

/// The URL spans are posted to for the configured `endpoint`: OTLP's base endpoint gets the
/// signal path `/v1/traces`; an endpoint that already ends with it is taken as is.
pub fn traces_url(endpoint: &str) -> String {
    let base = endpoint.trim_end_matches('/');
    if base.ends_with("/v1/traces") { base.to_string() } else { format!("{base}/v1/traces") }
}

/// Starts exporting this process's spans to the OTLP collector at `endpoint`, describing the
/// process with `resource` (e.g. `service.name`). Must run inside a Tokio runtime. Installing
/// again keeps the first exporter (one per process) and returns it.
pub fn install(endpoint: &str, resource: Vec<(String, Value)>) -> &'static Exporter {
    INSTALLED.get_or_init(|| {
        let url = traces_url(endpoint);
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(send_loop(url.clone(), resource, rx));
        info!(url, "exporting trace spans over OTLP/HTTP");
        LazyLock::force(&EXPORTED);
        LazyLock::force(&DROPPED);
        Exporter { tx, url }
    })
}

/// Whether an exporter is installed (callers skip building spans when not).
pub fn enabled() -> bool {
    INSTALLED.get().is_some()
}

/// Hands `span` to the installed exporter; a no-op when none is.
pub fn record(span: Span) {
    if let Some(exporter) = INSTALLED.get()
        && exporter.tx.try_send(Command::Span(Box::new(span))).is_err()
    {
        DROPPED.with_label_values(&["queue_full"]).inc();
    }
}

/// Sends what is queued and waits for it, up to `within` (at shutdown).
pub async fn flush(within: Duration) {
    let Some(exporter) = INSTALLED.get() else { return };
    let (done, wait) = oneshot::channel();
    // Both the queueing (behind a full queue) and the sending count against `within`.
    let _ = tokio::time::timeout(within, async {
        if exporter.tx.send(Command::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    })
    .await;
}

async fn send_loop(url: String, resource: Vec<(String, Value)>, mut rx: mpsc::Receiver<Command>) {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap_or_default();
    let mut batch: Vec<Span> = Vec::with_capacity(BATCH_MAX);
    let mut tick = tokio::time::interval(FLUSH_INTERVAL);
    loop {
        let flushed = tokio::select! {
            command = rx.recv() => match command {
                Some(Command::Span(span)) => {
                    batch.push(*span);
                    if batch.len() < BATCH_MAX {
                        continue;
                    }
                    None
                }
                Some(Command::Flush(done)) => Some(done),
                None => return,
            },
            _ = tick.tick() => None,
        };
        if !batch.is_empty() {
            send(&client, &url, &resource, std::mem::take(&mut batch)).await;
        }
        if let Some(done) = flushed {
            let _ = done.send(());
        }
    }
}

async fn send(client: &reqwest::Client, url: &str, resource: &[(String, Value)], spans: Vec<Span>) {
    let body = crate::otlp::encode(resource, &spans);
    let mut backoff = aurora_schemas::backoff::Backoff::new(Duration::from_millis(200), Duration::from_secs(2));
    let mut last = String::new();
    for attempt in 1..=SEND_ATTEMPTS {
        let sent = client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/x-protobuf")
            .body(body.clone())
            .send()
            .await;
        match sent {
            Ok(r) if r.status().is_success() => {
                EXPORTED.inc_by(spans.len() as u64);
                return;
            }
            // A client error other than throttling will not change on a retry.
            Ok(r) if r.status().is_client_error() && r.status() != reqwest::StatusCode::TOO_MANY_REQUESTS => {
                last = format!("the collector answered {}", r.status());
                break;
            }
            Ok(r) => last = format!("the collector answered {}", r.status()),
            Err(e) => last = format!("could not reach the collector: {e}"),
        }
        if attempt < SEND_ATTEMPTS {
            tokio::time::sleep(backoff.next_delay()).await;
        }
    }
    warn!(url, spans = spans.len(), error = last, "dropping trace spans (check tracing.otlp_endpoint)");
    DROPPED.with_label_values(&["refused"]).inc_by(spans.len() as u64);
}

#[cfg(test)]
mod tests {
    use super::traces_url;

    #[test]
    fn the_signal_path_is_added_once() {
        assert_eq!(traces_url("http://127.0.0.1:4318"), "http://127.0.0.1:4318/v1/traces");
        assert_eq!(traces_url("http://127.0.0.1:4318/"), "http://127.0.0.1:4318/v1/traces");
        assert_eq!(traces_url("http://c:4318/v1/traces"), "http://c:4318/v1/traces");
    }
}
