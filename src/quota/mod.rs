//! Where the quota lives: in this process (the default), or in Redis, shared by every
//! process that uses the same API key under the same namespace (`[quota]` in the
//! config; `quotaswarm run --quota-store redis://HOST:PORT/DB`).
//!
//! | file | holds |
//! |---|---|
//! | `script.lua` | the one Lua script: refill from Redis `TIME`, all-or-nothing debit, settle, learned foreign usage, shared pause and circuit |
//! | `store.rs` | [`RedisQuota`]: the script's client, the process heartbeat, the shared reuse cache |
//! | `link.rs` | the task between the broker actor and Redis: calls out, verdicts back as messages, health and reconnection |
//! | `fingerprint.rs` | [`key_fingerprint`]: the keyed hash that names an API key in Redis |
//!
//! # DESIGN: per-request admission through the store, answered by message
//!
//! The broker actor never awaits I/O. With the Redis store, a lane whose head job may go
//! hands the ready queue from its head — up to 32 jobs and the lane's free in-flight
//! slots, with their costs — to the link task and waits for the verdict message (one
//! such batch per lane at a time, so queue order holds). The link runs the script, which
//! admits the costs in order, each all-or-nothing over every bucket, until one does not
//! fit, and sends back how many were admitted (they are dispatched) and why the next was
//! not: `Wait(until)` (the lane's timer is set to that exact instant) or `NeverFits`. Settles, 429 pauses, learned foreign usage and
//! circuit openings are fire-and-forget calls on the same link.
//!
//! We chose this over leasing slices of capacity: the acceptance figure is the combined
//! makespan of several processes within 10 % of the ideal with zero 429s, and a lease
//! strands capacity in whichever process holds it (idle leftovers until returned, lost
//! outright if the process dies), which costs makespan exactly when processes compete.
//! Per-request admission keeps one exact bucket per lane for everyone; its price is one
//! loopback-or-LAN round trip (about 0.3 ms, see BENCHMARKS.md) per batch of admissions,
//! small against a model call of seconds, and the round trips of different lanes overlap
//! (one multiplexed connection, a task per call). Redis's own clock drives refill, so the
//! processes' clocks never need to agree.
//!
//! # Fail-safe
//!
//! Two calls in a row that fail or take longer than [`OP_TIMEOUT`] (an admission is
//! retried once first) mark the store down: every lane switches to local admission with `local_share` of each limit (default: an even
//! split by the processes seen in the heartbeat set), `Stats::quota_store_degraded` and
//! `quotaswarm_quota_store_degraded` go up, and the link pings with backoff (100 ms
//! doubling to 2 s) until Redis answers; then shared admission resumes. A process that
//! cannot reach Redis at start has seen no heartbeat set, so it divides by `[quota]
//! expected_processes` (default 4) instead of taking the whole limit.

mod fingerprint;
pub(crate) mod link;
mod store;

pub use fingerprint::key_fingerprint;
pub use store::{Batch, BucketSpec, RedisQuota, CONNECT_TIMEOUT, OP_TIMEOUT, PROCESS_TTL};

use std::time::Duration;

/// The Redis keys of one lane (one key fingerprint and wire model). They share the hash
/// tag `{fingerprint:model}`, so the script touching them runs on Redis Cluster too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaneKeys {
    /// The hash of bucket levels and learned rates.
    pub buckets: String,
    /// The shared pause after a 429 (expires when the pause ends).
    pub pause: String,
    /// The shared open circuit (expires when the cool-down ends).
    pub circuit: String,
    prefix: String,
}

impl LaneKeys {
    /// The keys under `namespace` for key `fingerprint` and wire model `model`.
    pub fn new(namespace: &str, fingerprint: &str, model: &str) -> Self {
        let clean = |s: &str| s.replace(['{', '}'], "_");
        let prefix = format!("{namespace}:{{{}:{}}}", clean(fingerprint), clean(model));
        LaneKeys {
            buckets: format!("{prefix}:buckets"),
            pause: format!("{prefix}:pause"),
            circuit: format!("{prefix}:circuit"),
            prefix,
        }
    }

    /// The key of a reused completion: request key `key` (hex) of key encoding
    /// `version`, so entries written by another encoding are never read.
    pub fn reuse(&self, version: u8, key: &str) -> String {
        format!("{}:reuse:v{version}:{key}", self.prefix)
    }
}

/// The store's answer to "may this go now?".
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Verdict {
    /// Debited from every bucket; the levels after, in bucket order.
    Admitted {
        /// Each bucket's level after the debit.
        levels: Vec<f64>,
    },
    /// Nothing debited; try again after `wait`.
    Wait {
        /// How long until it fits (exact for [`WaitReason::Buckets`]).
        wait: Duration,
        /// What holds it back.
        reason: WaitReason,
    },
    /// Larger than one minute's limit of bucket `bucket` (index in bucket order).
    NeverFits {
        /// The bucket's index.
        bucket: usize,
        /// Its limit per minute.
        max: f64,
    },
}

/// Why a [`Verdict::Wait`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitReason {
    /// Some bucket holds too little until then.
    Buckets,
    /// A process saw a 429 and paused the lane for everyone.
    Paused,
    /// A process opened the lane's circuit for everyone.
    CircuitOpen,
}

/// Why a call to the quota store failed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum QuotaError {
    /// The URL is not one the Redis client accepts.
    #[error("quota store URL {url:?} is not usable: {message} (expected redis://HOST:PORT/DB)")]
    BadUrl {
        /// The URL as given.
        url: String,
        /// What the client said.
        message: String,
    },
    /// Redis did not answer (down, unreachable, or slower than the timeout).
    #[error("quota store unreachable: {0} (the broker falls back to its local share until Redis answers)")]
    Unreachable(String),
    /// Redis answered something the script never returns.
    #[error("quota store protocol error: {0}")]
    Protocol(String),
}

impl QuotaError {
    fn unreachable(e: &redis::RedisError) -> Self {
        QuotaError::Unreachable(e.to_string())
    }
}
