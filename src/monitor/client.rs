//! Fetching `/stats` from a running stats server (what `quotaswarm top` polls).

use super::MonitorError;
use crate::Stats;
use std::net::SocketAddr;

/// `GET http://ADDR/stats` with `client` (which sets the timeout), decoded into
/// [`Stats`]. Errors say which URL and why, in words a person can act on:
/// [`MonitorError::Unreachable`] (nothing listening, timed out),
/// [`MonitorError::Status`], [`MonitorError::Decode`] (wrong server).
pub async fn fetch_stats(
    client: &reqwest::Client,
    addr: SocketAddr,
) -> Result<Stats, MonitorError> {
    let url = format!("http://{addr}/stats");
    let unreachable = |e: reqwest::Error| MonitorError::Unreachable {
        url: url.clone(),
        reason: innermost(&e),
    };
    let response = client.get(&url).send().await.map_err(unreachable)?;
    let status = response.status();
    if !status.is_success() {
        let body = response.text().await.unwrap_or_default();
        return Err(MonitorError::Status {
            url,
            status: status.as_u16(),
            body: body.trim().chars().take(200).collect(),
        });
    }
    let bytes = response.bytes().await.map_err(unreachable)?;
    serde_json::from_slice(&bytes).map_err(|e| MonitorError::Decode {
        url,
        reason: e.to_string(),
    })
}

/// The deepest cause's message ("Connection refused (os error 111)"), which says more than
/// reqwest's "error sending request".
fn innermost(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}
