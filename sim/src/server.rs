//! The simulator over HTTP: axum converts each request to an [`HttpRequest`], so the
//! routes live in one place ([`Simulator::handle`]).

use super::Simulator;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use quotaswarm::provider::HttpRequest;
use std::net::SocketAddr;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Room above `sim.max_body_bytes` within which the simulator itself answers an
/// oversized body (with the vendor's 413); beyond it axum refuses it unread.
const BODY_SLACK: usize = 16 * 1024 * 1024;

/// Failures of the simulator's HTTP server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// The address could not be bound (in use, or not a local address). The I/O error
    /// is the `source()`, not part of the message, so a chain printed whole (`{:#}`)
    /// shows it once.
    #[error("cannot bind {addr}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The server (or the task warming up the tokenizers) failed.
    #[error("the simulator server failed: {0}")]
    Serve(String),
}

/// A running HTTP simulator. Dropping it does not stop it; call [`SimServer::shutdown`].
pub struct SimServer {
    /// The address it listens on (the real port when port 0 was asked for); point a
    /// provider's `base_url` at `http://{addr}`.
    pub addr: SocketAddr,
    /// The simulator it serves, e.g. to read its stats or inject faults while it runs.
    pub sim: Simulator,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl SimServer {
    /// Stops accepting connections, lets in-flight requests finish, and waits.
    pub async fn shutdown(mut self) -> Result<(), SimError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(SimError::Serve(e.to_string())),
            Err(e) => Err(SimError::Serve(e.to_string())),
        }
    }
}

async fn route(
    State(sim): State<Simulator>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request = HttpRequest {
        // The query too: some addresses need one (classic Azure's `api-version`).
        path: uri
            .path_and_query()
            .map_or_else(|| uri.path().to_string(), |p| p.as_str().to_string()),
        headers,
        body,
    };
    // Streamed answers go out chunk by chunk; when the client closes the connection
    // hyper drops the body, which tells the producer to stop.
    let reply = sim.handle_method(method.as_str(), request).await;
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let streamed = reply
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    if streamed {
        return (status, reply.headers, Body::from_stream(reply.body)).into_response();
    }
    match reply.collect().await {
        Ok(full) => (status, full.headers, full.body).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// Serves `sim` on `addr` (port 0 picks a free one); returns once listening. Both APIs
/// are served on the one address, by path. Errs with [`SimError::Bind`] if `addr` cannot
/// be bound.
pub async fn serve(sim: Simulator, addr: SocketAddr) -> Result<SimServer, SimError> {
    // Load the tokenizers before listening: the first request would otherwise stall.
    tokio::task::spawn_blocking(super::tokens::warm_up)
        .await
        .map_err(|e| SimError::Serve(e.to_string()))?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| SimError::Bind { addr, source })?;
    let bound = listener
        .local_addr()
        .map_err(|source| SimError::Bind { addr, source })?;
    let app = Router::new()
        .fallback(route)
        .layer(DefaultBodyLimit::max(
            usize::try_from(sim.inner.max_body_bytes)
                .unwrap_or(usize::MAX)
                .saturating_add(BODY_SLACK),
        ))
        .with_state(sim.clone());
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });
    tracing::info!(addr = %bound, "simulator listening");
    Ok(SimServer {
        addr: bound,
        sim,
        stop: Some(stop),
        task,
    })
}
