//! The broker's view of each model's quota, as the vendors' rate-limit headers: a
//! statistics snapshot refreshed in the background (at most a second old), so answering
//! costs no message to the broker.

use super::errors::Wire;
use quotaswarm::broker::BucketStats;
use quotaswarm::BrokerHandle;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// The (limit, remaining) header names of an Anthropic rate-limit dimension (`tokens`,
/// `input-tokens`, ...), as static strings.
macro_rules! anthropic {
    ($dim:literal) => {
        Some((
            concat!("anthropic-ratelimit-", $dim, "-limit"),
            concat!("anthropic-ratelimit-", $dim, "-remaining"),
        ))
    };
}

/// The same for an OpenAI dimension (`requests`, `tokens`).
macro_rules! openai {
    ($dim:literal) => {
        Some((
            concat!("x-ratelimit-limit-", $dim),
            concat!("x-ratelimit-remaining-", $dim),
        ))
    };
}

/// The (limit, remaining) header names `wire` gives the broker's bucket `bucket`, if
/// it has them.
fn names(wire: Wire, bucket: &str) -> Option<(&'static str, &'static str)> {
    match (wire, bucket) {
        (Wire::Anthropic, "requests") => anthropic!("requests"),
        (Wire::Anthropic, "input_tokens") => anthropic!("input-tokens"),
        (Wire::Anthropic, "output_tokens") => anthropic!("output-tokens"),
        (Wire::Anthropic, "tokens") => anthropic!("tokens"),
        (Wire::OpenAi, "requests") => openai!("requests"),
        (Wire::OpenAi, "tokens" | "input_tokens") => openai!("tokens"),
        _ => None,
    }
}

/// Each config model's buckets, from the latest snapshot.
#[derive(Clone, Default)]
pub struct RateView {
    lanes: Arc<RwLock<HashMap<String, Vec<BucketStats>>>>,
}

impl RateView {
    /// Refreshes every second until the broker stops.
    pub fn spawn_refresh(&self, handle: BrokerHandle) {
        let lanes = self.lanes.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                let Ok(stats) = handle.stats().await else {
                    return;
                };
                let fresh = stats
                    .lanes
                    .into_iter()
                    .map(|l| (l.model, l.buckets))
                    .collect();
                *lanes.write().unwrap_or_else(|p| p.into_inner()) = fresh;
            }
        });
    }

    /// The rate-limit headers for `model` in `wire`'s names.
    pub fn headers(&self, model: &str, wire: Wire) -> Vec<(&'static str, String)> {
        let lanes = self.lanes.read().unwrap_or_else(|p| p.into_inner());
        let Some(buckets) = lanes.get(model) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for b in buckets {
            let limit = format!("{}", b.limit_per_min.round() as u64);
            let remaining = format!("{}", b.level.max(0.0).floor() as u64);
            if let Some((l, r)) = names(wire, &b.bucket) {
                out.push((l, limit));
                out.push((r, remaining));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_wire_names_its_buckets_as_its_vendor_does() {
        type Names = Option<(&'static str, &'static str)>;
        let cases: [(Wire, &str, Names); 5] = [
            (
                Wire::Anthropic,
                "input_tokens",
                Some((
                    "anthropic-ratelimit-input-tokens-limit",
                    "anthropic-ratelimit-input-tokens-remaining",
                )),
            ),
            (
                Wire::Anthropic,
                "requests",
                Some((
                    "anthropic-ratelimit-requests-limit",
                    "anthropic-ratelimit-requests-remaining",
                )),
            ),
            (
                Wire::OpenAi,
                "input_tokens",
                Some(("x-ratelimit-limit-tokens", "x-ratelimit-remaining-tokens")),
            ),
            (
                Wire::OpenAi,
                "requests",
                Some((
                    "x-ratelimit-limit-requests",
                    "x-ratelimit-remaining-requests",
                )),
            ),
            (Wire::OpenAi, "output_tokens", None),
        ];
        for (wire, bucket, want) in cases {
            assert_eq!(names(wire, bucket), want, "{bucket}");
        }
    }
}
