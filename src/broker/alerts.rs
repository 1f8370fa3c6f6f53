//! Alerts: conditions the person on call should know about, derived from the windowed
//! figures of a [`Stats`] snapshot. The evaluation is pure — snapshot, previous state and
//! the broker's uptime in, new state out — so every rule is tested without a clock;
//! `alerts/watch.rs` runs it on a timer and tells the log and the webhook.
//!
//! An alert is raised when its condition holds at an evaluation and clears by itself at
//! the first evaluation where it no longer does; while it lasts it keeps its start time.

use super::circuit::CircuitState;
use super::stats::{LaneStats, Stats};
use crate::config::AlertsConfig;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};

pub use super::alert::{Alert, AlertKind, Severity};

/// The evaluation's memory between runs: the active alerts, each lane's 429 baseline
/// and recent retry counts.
#[derive(Debug, Clone, Default)]
pub(crate) struct AlertState {
    pub(crate) active: BTreeMap<(AlertKind, String), Alert>,
    baselines: BTreeMap<String, Baseline>,
    retries: BTreeMap<String, VecDeque<(f64, u64)>>,
}

#[derive(Debug, Clone, Copy)]
struct Baseline {
    share: f64,
    at: f64,
}

/// How fast the 429 baseline follows the last minute's share (an exponential average
/// with this time constant): slow, so a storm stands out against it.
const BASELINE_SECS: f64 = 600.0;
/// Retry counts are kept this long (the backoff percentiles' window).
const RETRY_WINDOW_SECS: f64 = 300.0;
const TIER_ADVICE: &str =
    "a higher rate-limit tier would likely pay for itself; or lower the configured limits to the tier's, coalesce and cache more";

impl AlertState {
    /// The active alerts, in kind then lane order.
    pub(crate) fn alerts(&self) -> Vec<Alert> {
        self.active.values().cloned().collect()
    }
}

/// What one evaluation changed, as told to an [`AlertSink`] and POSTed to the webhook.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AlertChanges {
    /// Alerts raised by this evaluation.
    pub raised: Vec<Alert>,
    /// Alerts that cleared by themselves at this evaluation.
    pub cleared: Vec<Alert>,
    /// Every alert active after it.
    pub active: Vec<Alert>,
}

impl AlertChanges {
    /// Nothing was raised or cleared.
    pub fn is_empty(&self) -> bool {
        self.raised.is_empty() && self.cleared.is_empty()
    }
}

pub(crate) fn changes(before: &AlertState, after: &AlertState) -> AlertChanges {
    AlertChanges {
        active: after.alerts(),
        raised: after
            .active
            .iter()
            .filter(|(k, _)| !before.active.contains_key(k))
            .map(|(_, a)| a.clone())
            .collect(),
        cleared: before
            .active
            .iter()
            .filter(|(k, _)| !after.active.contains_key(k))
            .map(|(_, a)| a.clone())
            .collect(),
    }
}

/// The conditions that hold now, before start times are carried over.
struct Found {
    kind: AlertKind,
    severity: Severity,
    lane: Option<String>,
    value: f64,
    threshold: f64,
    message: String,
    advice: Option<String>,
}

/// The new state from a snapshot, the previous state and the broker's uptime `now`
/// (seconds; the snapshot's own `uptime_secs` in production).
pub(crate) fn evaluate(
    stats: &Stats,
    prev: &AlertState,
    now: f64,
    cfg: &AlertsConfig,
) -> AlertState {
    let mut found = Vec::new();
    let mut baselines = BTreeMap::new();
    let mut retries = BTreeMap::new();
    for lane in &stats.lanes {
        let baseline = prev.baselines.get(&lane.model).copied();
        let recent = last_minute_share(lane);
        if let Some(f) = spike(lane, recent, baseline.map_or(0.0, |b| b.share), cfg) {
            found.push(f);
        }
        // The baseline learns slowly, storms included: a level that lasts for minutes
        // becomes the lane's normal (the hour-share alert still reports it).
        let next = match baseline {
            None => Baseline {
                share: 0.0,
                at: now,
            },
            Some(b) => {
                let w = 1.0 - (-(now - b.at).max(0.0) / BASELINE_SECS).exp();
                Baseline {
                    share: b.share + (recent - b.share) * w,
                    at: now,
                }
            }
        };
        baselines.insert(lane.model.clone(), next);

        let mut samples = prev.retries.get(&lane.model).cloned().unwrap_or_default();
        samples.push_back((now, lane.retries));
        while samples.len() > 1 && samples[1].0 <= now - RETRY_WINDOW_SECS {
            samples.pop_front();
        }
        let since = |secs: f64| {
            let base = samples
                .iter()
                .rev()
                .find(|(t, _)| *t <= now - secs)
                .or(samples.front())
                .map_or(lane.retries, |(_, r)| *r);
            lane.retries.saturating_sub(base)
        };
        let (last_minute, last_window) = (since(60.0), since(RETRY_WINDOW_SECS));
        retries.insert(lane.model.clone(), samples);
        lane_rules(lane, last_minute, last_window, cfg, &mut found);
    }
    broker_rules(stats, cfg, &mut found);

    let active = found
        .into_iter()
        .map(|f| {
            let key = (f.kind, f.lane.clone().unwrap_or_default());
            let started = prev.active.get(&key).map_or(now, |a| a.started_at_secs);
            let alert = Alert {
                kind: f.kind,
                severity: f.severity,
                lane: f.lane,
                started_at_secs: started,
                age_secs: (now - started).max(0.0),
                value: f.value,
                threshold: f.threshold,
                message: f.message,
                advice: f.advice,
            };
            (key, alert)
        })
        .collect();
    AlertState {
        active,
        baselines,
        retries,
    }
}

fn last_minute_share(lane: &LaneStats) -> f64 {
    if lane.requests_last_minute == 0 {
        0.0
    } else {
        (lane.rate_limited_last_minute as f64 / lane.requests_last_minute as f64).min(1.0)
    }
}

fn spike(lane: &LaneStats, recent: f64, baseline: f64, cfg: &AlertsConfig) -> Option<Found> {
    let threshold = (baseline * cfg.rate_limited_spike_factor).max(cfg.rate_limited_spike_share);
    (lane.rate_limited_last_minute >= cfg.min_rate_limited && recent > threshold).then(|| Found {
        kind: AlertKind::RateLimitedSpike,
        severity: Severity::Critical,
        lane: Some(lane.model.clone()),
        value: recent,
        threshold,
        message: format!(
            "{} of {} attempts got 429 over the last minute ({:.1}%, baseline {:.2}%)",
            lane.rate_limited_last_minute,
            lane.requests_last_minute,
            recent * 100.0,
            baseline * 100.0
        ),
        advice: Some("another client is likely using the same key, or the provider lowered the limits; check the key's usage and the configured limits".into()),
    })
}

fn lane_rules(
    lane: &LaneStats,
    retries_minute: u64,
    retries_window: u64,
    cfg: &AlertsConfig,
    out: &mut Vec<Found>,
) {
    let model = || Some(lane.model.clone());
    if lane.rate_limited_last_hour >= cfg.min_rate_limited
        && lane.rate_limited_share > cfg.rate_limited_share
    {
        out.push(Found {
            kind: AlertKind::RateLimitedShare,
            severity: Severity::Warning,
            lane: model(),
            value: lane.rate_limited_share,
            threshold: cfg.rate_limited_share,
            message: format!(
                "{:.2}% of attempts got 429 over the last hour",
                lane.rate_limited_share * 100.0
            ),
            advice: Some(TIER_ADVICE.into()),
        });
    }
    if retries_minute >= cfg.retry_storm_per_min {
        out.push(Found {
            kind: AlertKind::RetryStorm,
            severity: Severity::Warning,
            lane: model(),
            value: retries_minute as f64,
            threshold: cfg.retry_storm_per_min as f64,
            message: format!("{retries_minute} retries over the last minute"),
            advice: None,
        });
    }
    // A p95 of a handful of backoffs is noise: it needs as many retries as 429s do.
    if retries_window >= cfg.min_rate_limited && lane.backoff_wait_p95_secs > cfg.backoff_p95_secs {
        out.push(Found {
            kind: AlertKind::BackoffP95,
            severity: Severity::Warning,
            lane: model(),
            value: lane.backoff_wait_p95_secs,
            threshold: cfg.backoff_p95_secs,
            message: format!(
                "p95 backoff wait is {:.1}s over the last 5 minutes",
                lane.backoff_wait_p95_secs
            ),
            advice: Some(TIER_ADVICE.into()),
        });
    }
    let dry_within = cfg.dry_within.as_secs_f64();
    let driest = lane
        .buckets
        .iter()
        .filter_map(|b| b.time_to_exhaustion_secs.map(|t| (t, b)))
        .filter(|(t, _)| *t < dry_within)
        .min_by(|a, b| a.0.total_cmp(&b.0));
    if let Some((t, b)) = driest {
        out.push(Found {
            kind: AlertKind::BucketDry,
            severity: Severity::Warning,
            lane: model(),
            value: t,
            threshold: dry_within,
            message: format!(
                "the {} bucket runs dry in {t:.0}s at the current burn",
                b.bucket
            ),
            advice: Some("requests will queue; fall back down a ladder or raise the tier".into()),
        });
    }
    if lane.circuit == CircuitState::Open {
        out.push(Found {
            kind: AlertKind::CircuitOpen,
            severity: Severity::Critical,
            lane: model(),
            value: 1.0,
            threshold: 1.0,
            message: "circuit open: nothing is sent to this lane".into(),
            advice: Some(
                "the provider keeps failing; ladders fall through to the next rung".into(),
            ),
        });
    }
}

fn broker_rules(stats: &Stats, cfg: &AlertsConfig, out: &mut Vec<Found>) {
    let per_hour = stats.cost_burn_usd_per_min * 60.0;
    if let Some(budget) = cfg.cost_budget_per_hour.filter(|b| per_hour > *b) {
        out.push(Found {
            kind: AlertKind::CostBurn,
            severity: Severity::Warning,
            lane: None,
            value: per_hour,
            threshold: budget,
            message: format!(
                "spending ${per_hour:.2}/hour over the last minute (budget ${budget:.2}/hour)"
            ),
            advice: Some(
                "use cheaper rungs, fewer agents, or raise alerts.cost_budget_per_hour".into(),
            ),
        });
    }
    if stats.quota_store_degraded {
        out.push(Found {
            kind: AlertKind::QuotaStoreDegraded,
            severity: Severity::Critical,
            lane: None,
            value: 1.0,
            threshold: 1.0,
            message:
                "the shared quota store is unreachable; admitting with this process's local share"
                    .into(),
            advice: None,
        });
    }
}

mod watch;
mod webhook;

pub use watch::AlertSink;
pub(crate) use watch::{spawn as spawn_watch, Current};

#[cfg(test)]
mod tests;
