//! `[alerts]`: when the broker raises an alert (see `broker::Alert`) and where it sends
//! it besides `Stats`, `/metrics` and the log. Its raw table lives here too, so the
//! section stays in one file.

use super::problem::{duration, non_negative, positive, Problem};
use serde::Deserialize;
use std::time::Duration;

/// `[alerts]` as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAlerts {
    pub enabled: Option<bool>,
    pub interval_secs: Option<f64>,
    pub webhook_url: Option<String>,
    pub dry_within_secs: Option<f64>,
    pub cost_budget_per_hour: Option<f64>,
    pub rate_limited_share: Option<f64>,
    pub rate_limited_spike_factor: Option<f64>,
    pub rate_limited_spike_share: Option<f64>,
    pub min_rate_limited: Option<u64>,
    pub retry_storm_per_min: Option<u64>,
    pub backoff_p95_secs: Option<f64>,
}

/// The validated `[alerts]` table: thresholds of the broker's alerts and the webhook.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct AlertsConfig {
    /// Evaluate alerts at all (default true).
    pub enabled: bool,
    /// How often the broker evaluates them (default 1 s).
    pub interval: Duration,
    /// Where raised and cleared alerts are POSTed as JSON (with retries); none by default.
    pub webhook_url: Option<String>,
    /// A bucket predicted to run dry within this time raises `bucket_dry` (default 60 s).
    pub dry_within: Duration,
    /// Dollars per hour above which the cost burn raises `cost_burn`; none by default.
    pub cost_budget_per_hour: Option<f64>,
    /// 429s as a share of the last hour's attempts above which `rate_limited_share` is
    /// raised, with the tier advice (default 0.005).
    pub rate_limited_share: f64,
    /// The last minute's 429 share must exceed the lane's own baseline by this factor to
    /// raise `rate_limited_spike` (default 3).
    pub rate_limited_spike_factor: f64,
    /// ... and exceed this share in any case (default 0.02), so that a quiet lane's tiny
    /// baseline does not make every 429 a spike.
    pub rate_limited_spike_share: f64,
    /// Fewer 429s than this in the window never raise a 429 alert (default 5): a share of
    /// a handful is noise.
    pub min_rate_limited: u64,
    /// Retries over the last minute on one lane that make a `retry_storm` (default 20).
    pub retry_storm_per_min: u64,
    /// p95 backoff wait above which `backoff_p95` is raised, with the tier advice
    /// (default 2 s).
    pub backoff_p95_secs: f64,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig {
            enabled: true,
            interval: Duration::from_secs(1),
            webhook_url: None,
            dry_within: Duration::from_secs(60),
            cost_budget_per_hour: None,
            rate_limited_share: 0.005,
            rate_limited_spike_factor: 3.0,
            rate_limited_spike_share: 0.02,
            min_rate_limited: 5,
            retry_storm_per_min: 20,
            backoff_p95_secs: 2.0,
        }
    }
}

fn share(path: &str, v: f64) -> Result<f64, Problem> {
    let v = non_negative(path, v)?;
    if v <= 1.0 {
        Ok(v)
    } else {
        Err(Problem::new(path, "must be between 0 and 1"))
    }
}

pub(super) fn alerts(a: RawAlerts) -> Result<AlertsConfig, Problem> {
    let d = AlertsConfig::default();
    let secs = |path: &str, v: Option<f64>, d: Duration| match v {
        Some(v) => duration(path, positive(path, v)?),
        None => Ok(d),
    };
    let webhook_url = match a.webhook_url {
        Some(u) if u.starts_with("http://") || u.starts_with("https://") => Some(u),
        Some(u) => {
            return Err(Problem::new(
                "alerts.webhook_url",
                format!("must start with http:// or https://, not {u:?}"),
            ))
        }
        None => None,
    };
    Ok(AlertsConfig {
        enabled: a.enabled.unwrap_or(d.enabled),
        interval: secs("alerts.interval_secs", a.interval_secs, d.interval)?,
        webhook_url,
        dry_within: secs("alerts.dry_within_secs", a.dry_within_secs, d.dry_within)?,
        cost_budget_per_hour: a
            .cost_budget_per_hour
            .map(|v| positive("alerts.cost_budget_per_hour", v))
            .transpose()?,
        rate_limited_share: match a.rate_limited_share {
            Some(v) => share("alerts.rate_limited_share", v)?,
            None => d.rate_limited_share,
        },
        rate_limited_spike_factor: match a.rate_limited_spike_factor {
            Some(v) => positive("alerts.rate_limited_spike_factor", v)?,
            None => d.rate_limited_spike_factor,
        },
        rate_limited_spike_share: match a.rate_limited_spike_share {
            Some(v) => share("alerts.rate_limited_spike_share", v)?,
            None => d.rate_limited_spike_share,
        },
        min_rate_limited: a.min_rate_limited.unwrap_or(d.min_rate_limited),
        retry_storm_per_min: a.retry_storm_per_min.unwrap_or(d.retry_storm_per_min),
        backoff_p95_secs: match a.backoff_p95_secs {
            Some(v) => positive("alerts.backoff_p95_secs", v)?,
            None => d.backoff_p95_secs,
        },
    })
}
