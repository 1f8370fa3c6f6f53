//! Monitoring exposition: the broker's [`Stats`](crate::Stats) served over HTTP as JSON
//! (`GET /stats`) and as Prometheus text (`GET /metrics`), and drawn as a live table by
//! `quotaswarm top`.
//!
//! | item | file | does |
//! |---|---|---|
//! | [`render_prometheus`] | `prometheus.rs` | the pure `Stats` → Prometheus text 0.0.4 renderer |
//! | `serve`, `router` (feature `monitor`) | `server.rs` | the axum server: routes, bind, graceful shutdown |
//! | the dashboard (feature `monitor`) | `dashboard/` | the live page at `/`: HTML, JS, CSS embedded in the binary |
//! | [`render_top`] | `top.rs` | the pure `Stats` → terminal frame renderer behind `quotaswarm top` |
//! | [`fetch_stats`] | `client.rs` | fetching `/stats` from a running server (what `top` polls) |
//! | [`otlp`] (feature `otlp`) | `otlp.rs` | the per-completion spans exported over OTLP/HTTP to an OpenTelemetry backend |
//!
//! Everything here reads the snapshot the broker already builds; nothing here talks to
//! the broker other than through [`BrokerHandle::stats`](crate::BrokerHandle::stats), and
//! no figure in the snapshot is a secret (API keys never reach `Stats`). The renderers and
//! the client need no feature; the server needs `monitor`.

mod client;
#[cfg(feature = "monitor")]
mod dashboard;
#[cfg(test)]
pub(crate) mod fixture;
#[cfg(feature = "otlp")]
pub mod otlp;
mod prometheus;
#[cfg(feature = "monitor")]
mod server;
mod top;
pub mod transcript;

pub use client::fetch_stats;
pub use prometheus::{render_prometheus, CONTENT_TYPE};
#[cfg(feature = "monitor")]
pub use server::{router, serve, StatsServer, DEFAULT_ADDR};
pub use top::render_top;

use std::net::SocketAddr;

/// Failures of the monitoring layer: serving ([`MonitorError::Bind`],
/// [`MonitorError::Serve`]) and fetching (the others).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MonitorError {
    /// The stats server could not bind its address (in use, or not local). The I/O
    /// error is the `source()`, not part of the message, so a chain printed whole (`{:#}`)
    /// shows it once.
    #[error("cannot serve stats on {addr}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The stats server failed while running or shutting down.
    #[error("the stats server failed: {0}")]
    Serve(String),
    /// Nothing answered at the URL (refused, timed out, connection broken).
    #[error(
        "no quotaswarm stats server answers at {url}: {reason} \
         (start one with `quotaswarm run --stats-addr ADDR`)"
    )]
    Unreachable {
        /// The URL fetched.
        url: String,
        /// The deepest cause, e.g. `Connection refused (os error 111)`.
        reason: String,
    },
    /// The server answered with a non-2xx status (503 while its broker is stopped).
    #[error("{url} answered HTTP {status}: {body}")]
    Status {
        /// The URL fetched.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The start of the response body.
        body: String,
    },
    /// The answer was not the stats JSON (another server on that port, or another
    /// version).
    #[error("{url} did not return quotaswarm stats JSON: {reason}")]
    Decode {
        /// The URL fetched.
        url: String,
        /// What did not parse.
        reason: String,
    },
}
