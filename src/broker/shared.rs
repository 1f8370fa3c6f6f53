//! The broker's side of a shared quota store (the design is in `crate::quota`), as
//! data and decisions: what the broker knows of the store's health, each lane's pending
//! question, the gate that says whether a lane's head may go, and what the broker tells
//! the store (settles, shared 429 pauses, learned foreign usage, circuit openings).
//! The exchange itself (asking, verdicts, the store going down and up) is in
//! `shared_store.rs`.
//!
//! With the memory store (the default) none of this runs: `BrokerState::quota` is
//! `None`, every lane's `shared` is `None`, and the gate is the lane's own
//! all-or-nothing `try_admit`, as before.

use super::bucket::{Admission, BucketKind, BucketSet, Cost};
use crate::provider::RateLimitSnapshot;
use crate::quota::link::{StoreCall, StoreLink};
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::time::Instant;

/// The broker's link to the shared store and what it knows of the store's health.
pub(crate) struct SharedQuota {
    pub(crate) link: StoreLink,
    /// Admitting locally with `share` of each limit (the store is unreachable).
    pub(crate) degraded: bool,
    /// `[quota] local_share`; `None`: 1 / processes last seen.
    pub(crate) local_share: Option<f64>,
    /// `[quota] expected_processes`: the divisor before any process was seen.
    pub(crate) expected_processes: usize,
}

/// A lane's state with a shared store.
#[derive(Debug, Default)]
pub(crate) struct SharedLane {
    /// The jobs whose admission the store is deciding (the ready queue from its head, in
    /// order), with the costs asked for. One batch per lane at a time, so the queue's
    /// order holds.
    pub(crate) pending: Option<Vec<(u64, Cost)>>,
    /// The store said the head fits no earlier than this.
    pub(crate) retry_at: Option<Instant>,
    /// Admitting locally (with the local share) while the store is down.
    pub(crate) degraded: bool,
}

/// Most jobs one admission call asks for (one round trip admits up to this many).
pub(crate) const BATCH: usize = 32;

/// What the gate says about the head of a lane.
pub(crate) enum Gate {
    /// Decided here and now (the memory store, a degraded store, a known wait).
    Decided(Admission),
    /// Ask the store (see `shared_store.rs`).
    Ask,
    /// The store is deciding; its verdict comes as a message.
    Pending,
}

/// `cost` as one amount per bucket of `buckets`, in their order.
pub(crate) fn amounts(buckets: &BucketSet, cost: &Cost) -> Vec<f64> {
    buckets
        .buckets()
        .iter()
        .map(|b| cost.for_bucket(b.kind))
        .collect()
}

impl SharedLane {
    /// May the head of the queue, costing `cost`, go now? With a healthy store the
    /// answer is the store's, asked for and delivered later; while it is down, or
    /// while the store's last word still holds, the lane's own `buckets`'.
    pub(crate) fn gate(&mut self, buckets: &mut BucketSet, cost: &Cost, now: Instant) -> Gate {
        if self.degraded {
            return Gate::Decided(buckets.try_admit(cost, now));
        }
        if let Some(t) = self.retry_at {
            if t > now {
                return Gate::Decided(Admission::NotBefore(t));
            }
            self.retry_at = None;
        }
        if self.pending.is_some() {
            return Gate::Pending;
        }
        // What can never fit is decided here (the mirror has the same limits).
        if let verdict @ Admission::NeverFits { .. } = buckets.check(cost, now) {
            return Gate::Decided(verdict);
        }
        Gate::Ask
    }
}

impl SharedQuota {
    /// The share of each limit this process uses while the store is down.
    pub(crate) fn local_share(&self) -> f64 {
        // Never having reached Redis, this process cannot know how many share the key:
        // it assumes `expected_processes` rather than taking the whole limit.
        let processes = self
            .link
            .processes_seen()
            .unwrap_or(self.expected_processes)
            .max(1);
        self.local_share
            .unwrap_or_else(|| 1.0 / processes as f64)
            .clamp(0.01, 1.0)
    }

    // What the broker tells the store about a lane goes only to a live store (see
    // `BrokerState::live` in `shared_store.rs`).

    /// Settles a job admitted through the store there too: what it reserved on lane
    /// `lane` (with `buckets`) less what it cost.
    pub(crate) fn settle(&self, lane: usize, buckets: &BucketSet, reserved: &Cost, actual: &Cost) {
        let delta: Vec<f64> = amounts(buckets, reserved)
            .iter()
            .zip(amounts(buckets, actual))
            .map(|(r, a)| r - a)
            .collect();
        if delta.iter().any(|d| d.abs() > 1e-9) {
            self.link.call(StoreCall::Settle { lane, delta });
        }
    }

    /// Tells the store what the server says remains (others outside the store show up
    /// as a shortfall).
    pub(crate) fn observe(
        &self,
        lane: usize,
        buckets: &BucketSet,
        snap: &RateLimitSnapshot,
        slack: f64,
    ) {
        use BucketKind as K;
        let mut any = false;
        let mut remaining = Vec::new();
        let mut slacks = Vec::new();
        for b in buckets.buckets() {
            let (window, s) = match b.kind {
                K::Requests => (snap.requests, 0.0),
                K::InputTokens => (snap.input_tokens, slack),
                K::OutputTokens => (snap.output_tokens, slack),
                K::Tokens => (snap.tokens, 0.0),
            };
            let r = window.and_then(|w| w.remaining).map(|r| r as f64);
            any |= r.is_some();
            remaining.push(r);
            slacks.push(s);
        }
        if any {
            self.link.call(StoreCall::Observe {
                lane,
                remaining,
                slack: slacks,
            });
        }
    }

    /// A 429 on lane `lane`: pause the lane for everyone, and count what the refused
    /// request reserved as others' usage.
    pub(crate) fn rate_limited(
        &self,
        lane: usize,
        buckets: &BucketSet,
        reserved: &Cost,
        pause: Duration,
    ) {
        self.link.call(StoreCall::Pause { lane, for_: pause });
        self.link.call(StoreCall::Penalize {
            lane,
            reserved: amounts(buckets, reserved),
        });
    }

    /// Lane `lane`'s circuit opened: open it for everyone for `cooldown`.
    pub(crate) fn circuit_opened(&self, lane: usize, cooldown: Duration) {
        self.link.call(StoreCall::Circuit {
            lane,
            for_: cooldown,
        });
    }

    /// Gives capacity admitted for a job that no longer waits back to everyone.
    pub(crate) fn give_back(&self, lane: usize, buckets: &BucketSet, cost: &Cost) {
        self.link.call(StoreCall::Settle {
            lane,
            delta: amounts(buckets, cost),
        });
    }

    /// (store name, degraded, processes seen, outages) for the stats.
    pub(crate) fn figures(store: Option<&SharedQuota>) -> (String, bool, u64, u64) {
        match store {
            None => ("memory".into(), false, 1, 0),
            Some(q) => (
                "redis".into(),
                q.degraded,
                q.link.processes() as u64,
                q.link.health.outages.load(Ordering::Acquire),
            ),
        }
    }
}

/// The fingerprint that names provider `provider`'s API key in Redis (never the key);
/// a provider without a key is named by its config name.
pub(crate) fn lane_fingerprint(
    provider: &str,
    endpoints: &std::collections::HashMap<String, crate::provider::Endpoint>,
) -> String {
    use crate::quota::key_fingerprint;
    match endpoints.get(provider).and_then(|e| e.key.as_ref()) {
        Some(key) => key_fingerprint(key.expose()),
        None => key_fingerprint(&format!("no key, provider {provider}")),
    }
}
