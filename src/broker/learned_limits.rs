//! The pure policy "adopt the server's limits": a lane's limits in effect, where they
//! came from, and whether what the server (or the shared store) reports replaces them.
//!
//! A model's configured limits are a starting point. Every response's `-limit` headers
//! (`anthropic-ratelimit-{requests,input-tokens,output-tokens}-limit`,
//! `x-ratelimit-limit-{requests,tokens}`) say the limits the key really has; whenever one
//! differs from the lane's, the reported figure becomes the lane's (up or down), unless
//! the model pins its configured limits (`limits = "config"`). A model configured
//! without limits starts from placeholders ([`UNKNOWN_LIMIT`]) and one request in flight,
//! until every one of its buckets has had a limit reported.
//!
//! Anthropic's combined `anthropic-ratelimit-tokens-limit` is not a bucket of a split
//! lane (it is derived from the input and output limits) and is ignored there; a limit of
//! 0 is ignored (a malformed or placeholder figure would otherwise stop the lane for
//! good). Nothing here knows buckets or time: `lane.rs` and `limits_change.rs` apply a
//! change.

use crate::config::{LimitPolicy, Limits, UNKNOWN_LIMIT};
use crate::provider::{LimitWindow, RateLimitSnapshot};
use tokio::time::Instant;

/// Where a lane's limits in effect come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LimitSource {
    /// The configured limits (no server figure has differed yet, or they are pinned).
    Config,
    /// The server's figures, from this process's responses or the shared store.
    Server,
    /// Nothing configured and no figure from the server yet for some bucket.
    Unknown,
}

impl LimitSource {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            LimitSource::Config => "config",
            LimitSource::Server => "server",
            LimitSource::Unknown => "unknown",
        }
    }
}

/// Two limits differ when they are more than this apart (servers report whole numbers;
/// a configured figure may have a fraction).
const SAME: f64 = 0.5;

/// A lane's limits in effect and their origin.
#[derive(Debug, Clone)]
pub(crate) struct LaneLimits {
    policy: LimitPolicy,
    current: Limits,
    /// Whether some figure in effect came from a server.
    learned: bool,
    /// Times the limits in effect changed.
    pub(crate) changes: u64,
    /// When they last changed.
    changed_at: Option<Instant>,
}

impl LaneLimits {
    /// The configured `limits` under `policy` (placeholders for [`LimitPolicy::Discover`]).
    pub(crate) fn new(policy: LimitPolicy, limits: Limits) -> Self {
        LaneLimits {
            policy,
            current: limits,
            learned: false,
            changes: 0,
            changed_at: None,
        }
    }

    /// The limits in effect.
    pub(crate) fn current(&self) -> Limits {
        self.current
    }

    /// Where they come from.
    pub(crate) fn source(&self) -> LimitSource {
        // Only a model configured without limits holds placeholders: a configured figure
        // of 10^9 or more is a (generous) limit, not an unknown one.
        let placeholder = |l: &f64| *l >= UNKNOWN_LIMIT;
        if self.policy == LimitPolicy::Discover && as_vec(&self.current).iter().any(placeholder) {
            LimitSource::Unknown
        } else if self.learned {
            LimitSource::Server
        } else {
            LimitSource::Config
        }
    }

    /// The most attempts the lane may have in flight: one while a limit is unknown,
    /// else `max` (`[broker] max_in_flight`).
    pub(crate) fn in_flight_cap(&self, max: usize) -> usize {
        if self.source() == LimitSource::Unknown {
            1
        } else {
            max
        }
    }

    /// Whether the limits changed after an attempt sent at `sent_at` was admitted: a 429
    /// of such an attempt says the old limits were wrong, not that others use the key.
    pub(crate) fn changed_since(&self, sent_at: Option<Instant>) -> bool {
        match (self.changed_at, sent_at) {
            (Some(changed), Some(sent)) => changed >= sent,
            _ => false,
        }
    }

    /// Takes the limits `snap` reports at `now`, bucket by bucket, where they differ from
    /// those in effect (and the policy learns). Returns the limits that were in effect
    /// before, if anything changed.
    pub(crate) fn observe(&mut self, snap: &RateLimitSnapshot, now: Instant) -> Option<Limits> {
        self.adopt(&reported(&self.current, snap), now)
    }

    /// Takes `figures` (per bucket in bucket order, `None` where unknown: what the shared
    /// store holds), as [`LaneLimits::observe`] does.
    pub(crate) fn adopt(&mut self, figures: &[Option<f64>], now: Instant) -> Option<Limits> {
        if self.policy == LimitPolicy::Pinned {
            return None;
        }
        let mut next = as_vec(&self.current);
        let mut changed = false;
        for (limit, figure) in next.iter_mut().zip(figures) {
            let Some(f) = figure.filter(|f| f.is_finite() && *f > 0.0) else {
                continue;
            };
            if (f - *limit).abs() > SAME {
                *limit = f;
                changed = true;
            }
        }
        if !changed {
            return None;
        }
        let before = self.current;
        self.current = with_vec(&before, &next);
        self.learned = true;
        self.changes += 1;
        self.changed_at = Some(now);
        Some(before)
    }
}

/// The per-minute limit of each bucket of `limits`, in bucket order (requests, then
/// input and output tokens, or tokens).
pub(crate) fn as_vec(limits: &Limits) -> Vec<f64> {
    match *limits {
        Limits::Split { rpm, itpm, otpm } => vec![rpm, itpm, otpm],
        Limits::Combined { rpm, tpm } => vec![rpm, tpm],
    }
}

/// `limits`'s style with the figures `v` (in bucket order; missing ones kept).
fn with_vec(limits: &Limits, v: &[f64]) -> Limits {
    let at = |i: usize, old: f64| v.get(i).copied().unwrap_or(old);
    match *limits {
        Limits::Split { rpm, itpm, otpm } => Limits::Split {
            rpm: at(0, rpm),
            itpm: at(1, itpm),
            otpm: at(2, otpm),
        },
        Limits::Combined { rpm, tpm } => Limits::Combined {
            rpm: at(0, rpm),
            tpm: at(1, tpm),
        },
    }
}

/// The limits `snap` reports for a lane of `limits`'s style, in bucket order (`None`
/// where it reports none).
pub(crate) fn reported(limits: &Limits, snap: &RateLimitSnapshot) -> Vec<Option<f64>> {
    per_bucket(limits, snap, |w| w.limit)
}

/// One figure (`field`) of each window of `snap` that is a bucket of a lane of
/// `limits`'s style, in bucket order (`None` where it reports none).
pub(crate) fn per_bucket(
    limits: &Limits,
    snap: &RateLimitSnapshot,
    field: fn(&LimitWindow) -> Option<u64>,
) -> Vec<Option<f64>> {
    let get = |w: Option<LimitWindow>| w.as_ref().and_then(field).map(|x| x as f64);
    match limits {
        Limits::Split { .. } => vec![
            get(snap.requests),
            get(snap.input_tokens),
            get(snap.output_tokens),
        ],
        Limits::Combined { .. } => vec![get(snap.requests), get(snap.tokens)],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(rpm: f64, itpm: f64, otpm: f64) -> Limits {
        Limits::Split { rpm, itpm, otpm }
    }

    fn window(limit: u64) -> Option<LimitWindow> {
        Some(LimitWindow {
            limit: Some(limit),
            ..LimitWindow::default()
        })
    }

    fn anthropic(rpm: u64, itpm: u64, otpm: u64) -> RateLimitSnapshot {
        RateLimitSnapshot {
            requests: window(rpm),
            input_tokens: window(itpm),
            output_tokens: window(otpm),
            // The combined figure is not a bucket of a split lane.
            tokens: window(itpm + otpm),
            ..RateLimitSnapshot::default()
        }
    }

    #[test]
    fn server_figures_replace_configured_ones_up_and_down_once() {
        let t0 = Instant::now();
        let mut l = LaneLimits::new(LimitPolicy::Learn, split(50.0, 30_000.0, 8_000.0));
        assert_eq!(l.source(), LimitSource::Config);
        let before = l.observe(&anthropic(200, 120_000, 2_000), t0);
        assert_eq!(before, Some(split(50.0, 30_000.0, 8_000.0)));
        assert_eq!(l.current(), split(200.0, 120_000.0, 2_000.0));
        assert_eq!(l.source(), LimitSource::Server);
        // The same figures again: no change, nothing to log.
        assert_eq!(l.observe(&anthropic(200, 120_000, 2_000), t0), None);
        assert_eq!(l.changes, 1);
        // An attempt sent before the change was admitted under the old limits.
        assert!(l.changed_since(Some(t0)));
        assert!(!l.changed_since(Some(t0 + std::time::Duration::from_millis(1))));
        assert!(!l.changed_since(None));
    }

    #[test]
    fn pinned_limits_ignore_the_server() {
        let t0 = Instant::now();
        let mut l = LaneLimits::new(LimitPolicy::Pinned, split(50.0, 30_000.0, 8_000.0));
        assert_eq!(l.observe(&anthropic(200, 120_000, 2_000), t0), None);
        assert_eq!(l.current(), split(50.0, 30_000.0, 8_000.0));
        assert_eq!(l.source(), LimitSource::Config);
        assert_eq!(l.in_flight_cap(64), 64);
    }

    #[test]
    fn missing_zero_and_fractional_figures_are_handled() {
        let t0 = Instant::now();
        let mut l = LaneLimits::new(LimitPolicy::Learn, split(50.4, 30_000.0, 8_000.0));
        let mut s = RateLimitSnapshot {
            requests: window(50),    // within rounding of 50.4
            input_tokens: window(0), // ignored
            ..RateLimitSnapshot::default()
        };
        assert_eq!(l.observe(&s, t0), None);
        assert_eq!(l.observe(&RateLimitSnapshot::default(), t0), None);
        s.output_tokens = window(9_000);
        assert!(l.observe(&s, t0).is_some());
        assert_eq!(l.current(), split(50.4, 30_000.0, 9_000.0));
    }

    #[test]
    fn an_unconfigured_model_has_one_in_flight_until_every_limit_is_known() {
        let t0 = Instant::now();
        let u = UNKNOWN_LIMIT;
        let mut l = LaneLimits::new(LimitPolicy::Discover, split(u, u, u));
        assert_eq!(l.source(), LimitSource::Unknown);
        assert_eq!(l.in_flight_cap(64), 1);
        let s = RateLimitSnapshot {
            requests: window(1_000),
            ..RateLimitSnapshot::default()
        };
        assert!(l.observe(&s, t0).is_some());
        assert_eq!(l.in_flight_cap(64), 1, "token limits still unknown");
        assert!(l.observe(&anthropic(1_000, 400_000, 80_000), t0).is_some());
        assert_eq!(l.source(), LimitSource::Server);
        assert_eq!(l.in_flight_cap(64), 64);
    }

    #[test]
    fn a_configured_limit_of_a_billion_is_a_limit_not_an_unknown() {
        let l = LaneLimits::new(LimitPolicy::Learn, split(10_000.0, 5e9, 2e9));
        assert_eq!(l.source(), LimitSource::Config);
        assert_eq!(l.in_flight_cap(64), 64);
        let pinned = LaneLimits::new(LimitPolicy::Pinned, split(1e10, 1e10, 1e10));
        assert_eq!(pinned.in_flight_cap(64), 64);
    }

    #[test]
    fn combined_lanes_read_the_openai_token_figure() {
        let t0 = Instant::now();
        let mut l = LaneLimits::new(
            LimitPolicy::Learn,
            Limits::Combined {
                rpm: 500.0,
                tpm: 30_000.0,
            },
        );
        let s = RateLimitSnapshot {
            requests: window(5_000),
            tokens: window(800_000),
            ..RateLimitSnapshot::default()
        };
        assert!(l.observe(&s, t0).is_some());
        assert_eq!(
            l.current(),
            Limits::Combined {
                rpm: 5_000.0,
                tpm: 800_000.0
            }
        );
        // What the shared store holds takes the same path.
        assert!(l.adopt(&[None, Some(900_000.0)], t0).is_some());
        assert_eq!(as_vec(&l.current()), vec![5_000.0, 900_000.0]);
    }
}
