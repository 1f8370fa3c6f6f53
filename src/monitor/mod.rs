//! Monitoring exposition: the broker's [`Stats`](crate::Stats) served over HTTP as JSON
//! (`GET /stats`) and as Prometheus text (`GET /metrics`), and drawn as a live table by
//! `quotaswarm top`.
//!
//! | file | holds |
//! |---|---|
//! | [`prometheus`] | the pure `Stats` → Prometheus text 0.0.4 renderer and its `Family` builder |
//! | [`server`] | the axum server: routes, bind, graceful shutdown |
//! | [`top`] | the pure `Stats` → terminal frame renderer behind `quotaswarm top` |
//! | [`client`] | fetching `/stats` from a running server (what `top` polls) |
//!
//! Everything here reads the snapshot the broker already builds; nothing here talks to
//! the broker other than through [`BrokerHandle::stats`](crate::BrokerHandle::stats), and
//! no figure in the snapshot is a secret (API keys never reach `Stats`).

pub mod client;
#[cfg(test)]
mod fixture;
pub mod prometheus;
#[cfg(feature = "monitor")]
pub mod server;
pub mod top;

pub use client::fetch_stats;
pub use prometheus::{render_prometheus, CONTENT_TYPE};
#[cfg(feature = "monitor")]
pub use server::{serve, StatsServer, DEFAULT_ADDR};
pub use top::render_top;

use std::net::SocketAddr;

/// Failures of the monitoring layer.
#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    #[error("cannot bind the stats server to {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("the stats server failed: {0}")]
    Serve(String),
    #[error(
        "no quotaswarm stats server answers at {url}: {reason} \
         (start one with `quotaswarm run --stats-addr ADDR`)"
    )]
    Unreachable { url: String, reason: String },
    #[error("{url} answered HTTP {status}: {body}")]
    Status {
        url: String,
        status: u16,
        body: String,
    },
    #[error("{url} did not return quotaswarm stats JSON: {reason}")]
    Decode { url: String, reason: String },
}
