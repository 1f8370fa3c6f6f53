//! One alert's data: its kind, severity and figures, as shown in `Stats`, `/metrics`,
//! the dashboard and the webhook. A leaf: the rules that raise alerts (`alerts.rs`) read
//! `Stats`, and `Stats` carries these, so the types live apart from both.

use serde::{Deserialize, Serialize};

/// What an alert is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AlertKind {
    /// The last minute's 429 share is well above the lane's own recent baseline.
    RateLimitedSpike,
    /// 429s over the last hour above the share at which a higher tier pays for itself.
    RateLimitedShare,
    /// Many retries on one lane over the last minute.
    RetryStorm,
    /// A bucket is predicted to run dry soon at the current burn.
    BucketDry,
    /// The p95 backoff wait before retries is above its threshold.
    BackoffP95,
    /// Spending faster than the configured budget per hour.
    CostBurn,
    /// A lane's circuit breaker is open: nothing is sent to it.
    CircuitOpen,
    /// The shared quota store is unreachable.
    QuotaStoreDegraded,
}

impl AlertKind {
    /// The kind as written in JSON and in the `kind` label of `/metrics`.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::RateLimitedSpike => "rate_limited_spike",
            AlertKind::RateLimitedShare => "rate_limited_share",
            AlertKind::RetryStorm => "retry_storm",
            AlertKind::BucketDry => "bucket_dry",
            AlertKind::BackoffP95 => "backoff_p95",
            AlertKind::CostBurn => "cost_burn",
            AlertKind::CircuitOpen => "circuit_open",
            AlertKind::QuotaStoreDegraded => "quota_store_degraded",
        }
    }
}

/// How urgent an alert is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Worth a look: work slows down or costs more.
    Warning,
    /// Work is failing or about to.
    Critical,
}

/// One active alert, as in [`Stats::alerts`](super::Stats::alerts).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Alert {
    /// What it is about.
    pub kind: AlertKind,
    /// How urgent it is.
    pub severity: Severity,
    /// The config model name of the lane, or none for the whole broker.
    pub lane: Option<String>,
    /// The broker's uptime, in seconds, when the alert was raised.
    pub started_at_secs: f64,
    /// Seconds the alert has been active.
    pub age_secs: f64,
    /// The figure that raised it (a share 0..1, seconds, retries, dollars per hour).
    pub value: f64,
    /// The threshold that figure crossed.
    pub threshold: f64,
    /// One line for the person on call.
    pub message: String,
    /// What to do about it, when there is a clear answer.
    #[serde(default)]
    pub advice: Option<String>,
}

impl Alert {
    /// The lane as the `lane` label of `/metrics` (empty for broker-wide alerts).
    pub fn lane_label(&self) -> &str {
        self.lane.as_deref().unwrap_or("")
    }
}
