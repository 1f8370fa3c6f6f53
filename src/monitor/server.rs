//! The stats server: axum over the broker's [`BrokerHandle`].
//!
//! | route | answers |
//! |---|---|
//! | `GET /stats` | the [`Stats`](crate::Stats) snapshot as JSON |
//! | `GET /metrics` | the same figures in Prometheus text format 0.0.4 |
//! | `GET /` | the live dashboard (with `/dashboard.js`, `/dashboard.css`; see `dashboard/`) |
//! | `GET /routes` | a one-line index of the routes |
//!
//! Each request asks the broker for one snapshot (one `Stats` message; the broker builds
//! it in time proportional to the lanes and the recent events each keeps for its sliding
//! windows). When the broker has stopped, both routes answer 503. Meant for
//! loopback: binding any other address is allowed but logged as a warning.

use super::prometheus::{render_prometheus, CONTENT_TYPE};
use super::MonitorError;
use crate::BrokerHandle;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Where `quotaswarm run --stats-addr` and `quotaswarm top` meet by default.
pub const DEFAULT_ADDR: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 9877);

/// A running stats server. Dropping it does not stop it; call [`StatsServer::shutdown`].
pub struct StatsServer {
    /// The bound address (the real port when asked for port 0).
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl StatsServer {
    /// `http://ADDR`, the base of both routes.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting connections, lets in-flight requests finish, and waits.
    pub async fn shutdown(mut self) -> Result<(), MonitorError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(MonitorError::Serve(e.to_string())),
            Err(e) => Err(MonitorError::Serve(e.to_string())),
        }
    }
}

/// Serves `handle`'s statistics on `addr` (port 0 picks a free one); returns once
/// listening. Routes: `GET /stats` (JSON [`Stats`](crate::Stats)), `GET /metrics`
/// (Prometheus text), `GET /` (the dashboard), `GET /routes`. Errs with
/// [`MonitorError::Bind`] if `addr` cannot be bound.
pub async fn serve(handle: BrokerHandle, addr: SocketAddr) -> Result<StatsServer, MonitorError> {
    if !addr.ip().is_loopback() {
        tracing::warn!(%addr, "stats server bound to a non-loopback address");
    }
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| MonitorError::Bind { addr, source })?;
    let bound = listener
        .local_addr()
        .map_err(|source| MonitorError::Bind { addr, source })?;
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        axum::serve(listener, router(handle))
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });
    tracing::info!(addr = %bound, "stats server listening");
    Ok(StatsServer {
        addr: bound,
        stop: Some(stop),
        task,
    })
}

/// The routes [`serve`] serves, for embedding in another axum app.
pub fn router(handle: BrokerHandle) -> Router {
    Router::new()
        .route("/routes", get(index))
        .route("/stats", get(stats_json))
        .route("/metrics", get(metrics))
        .merge(super::dashboard::routes())
        .with_state(handle)
}

async fn index() -> &'static str {
    "quotaswarm stats: GET / (dashboard), GET /stats (JSON), GET /metrics (Prometheus text 0.0.4)\n"
}

async fn stats_json(State(handle): State<BrokerHandle>) -> Response {
    match handle.stats().await {
        Ok(stats) => Json(stats).into_response(),
        Err(e) => unavailable(e),
    }
}

async fn metrics(State(handle): State<BrokerHandle>) -> Response {
    match handle.stats().await {
        Ok(stats) => (
            [(header::CONTENT_TYPE, CONTENT_TYPE)],
            render_prometheus(&stats),
        )
            .into_response(),
        Err(e) => unavailable(e),
    }
}

fn unavailable(e: crate::BrokerError) -> Response {
    (StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n")).into_response()
}
