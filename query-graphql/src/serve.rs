//! Serving a router on a bound listener with the bounds a public server needs: at most
//! `max_connections` connections at once (one more is answered 503 and closed, so the process never
//! runs out of file descriptors), request headers within a timeout (a client that sends half a
//! request is cut off), TCP_NODELAY, the client's address for per-client limits, and a graceful
//! shutdown that lets open requests finish.

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;
use tracing::{debug, info, warn};

/// How a listener is served.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    /// Connections served at once.
    pub max_connections: usize,
    /// How long a client may take to send a request's headers.
    pub header_read_timeout: Duration,
    /// How long open requests may take to finish after shutdown.
    pub drain: Duration,
}

impl Default for Bounds {
    fn default() -> Self {
        Self { max_connections: 10_000, header_read_timeout: Duration::from_secs(10), drain: Duration::from_secs(30) }
    }
}

/// Serves `router` on `listener` until `shutdown`, then drains.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    bounds: Bounds,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let permits = Arc::new(Semaphore::new(bounds.max_connections));
    let graceful = GracefulShutdown::new();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(bounds.header_read_timeout);
    builder.http2().timer(TokioTimer::new());
    loop {
        let (tcp, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // EMFILE and the like: wait a moment instead of spinning; connections end.
                    warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        if let Err(e) = tcp.set_nodelay(true) {
            debug!(error = %e, "could not set TCP_NODELAY on a connection; serving it anyway");
        }
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            tokio::spawn(refuse(tcp, bounds.max_connections));
            continue;
        };
        let service = router.clone().map_request(move |mut request: axum::extract::Request<hyper::body::Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            request
        });
        let connection = builder.serve_connection_with_upgrades(TokioIo::new(tcp), TowerToHyperService::new(service));
        let connection = graceful.watch(connection.into_owned());
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                debug!(error = %e, %peer, "connection ended with an error");
            }
            drop(permit);
        });
    }
    info!("stopped accepting connections; letting open requests finish");
    if tokio::time::timeout(bounds.drain, graceful.shutdown()).await.is_err() {
        warn!(drain_secs = bounds.drain.as_secs(), "open requests did not finish in time; closing them");
    }
    Ok(())
}

/// Answers a connection over the limit with a 503 that says so, and closes it.
async fn refuse(mut tcp: TcpStream, limit: usize) {
    let body = format!(
        "{{\"errors\":[{{\"message\":\"the server is serving its limit of {limit} connections (limits.max_connections); \
         retry shortly\",\"extensions\":{{\"code\":\"UNAVAILABLE\"}}}}]}}"
    );
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\nretry-after: 1\r\n\
         connection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(2), tcp.write_all(response.as_bytes())).await;
    let _ = tcp.shutdown().await;
}

/// The client's address of a request served by [`serve`].
pub fn peer(request_extensions: &axum::http::Extensions) -> Option<SocketAddr> {
    request_extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0)
}
