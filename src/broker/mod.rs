//! The QuotaBroker: per-model lanes (buckets + queues), admission without 429s, retries as
//! queue entries, coalescing, fallback down a ladder, circuit breakers, statistics.
//!
//! Start one with [`start`]; hand clones of its [`BrokerHandle`] to every agent. A
//! [`BrokerHandle::complete`] call validates, trims and estimates the request in the
//! caller's task, then waits until the broker has admitted it on a lane whose buckets can
//! take it, sent it, and settled the real usage. Failures come back as a [`BrokerError`];
//! [`BrokerHandle::stream`] gives the same admission for a streamed answer
//! ([`CompletionStream`]); [`BrokerHandle::stats`] gives a [`Stats`] snapshot.
//!
//! Inside (not part of the API), from the top down: each file imports only from files
//! below it.
//!
//! | file | holds |
//! |---|---|
//! | `actor.rs` | the ractor actor: routes each message to one `on_*` method |
//! | `handle.rs` | `BrokerHandle`: validation, trimming, estimation and keying in the caller's task |
//! | `rung_request.rs` | each rung's copy of a request: parameters dropped, breakpoints placed |
//! | `reuse.rs` | the reuse window: recent completions answered again, in process and through Redis |
//! | `admission.rs` | a new request's rung and queue; each lane's pump (the lane scheduler) |
//! | `dispatch.rs` | an admitted attempt started in a task of its own, over its lane's endpoint |
//! | `overdue.rs` | an attempt that never reports: its watchdog, and its abandonment |
//! | `settlement.rs` | an attempt's outcome: buckets settled on real usage, headers adopted, the answer |
//! | `failure.rs` | after a failed attempt: circuit, 429 pause, retry, fall back or fail |
//! | `limits_change.rs` | a lane adopting the server's limits (from headers or the shared store): buckets, store, log |
//! | `shared_store.rs` | the exchange with a shared quota store: ask, verdicts, down and up |
//! | `snapshot.rs` | the `Stats` snapshot |
//! | `alert.rs` | one alert's data (kind, severity, figures), shared by the rules and `Stats` |
//! | `alerts.rs` | alerts from the snapshot's windowed figures (pure); `alerts/` runs them on a timer and POSTs them |
//! | `state.rs` | `BrokerState`: composes the lanes, jobs, coalescing, tickets, totals and store |
//! | `coalescing.rs` | identical requests sharing one call: the key index and what it saved |
//! | `lane.rs` | one (provider, model): buckets, queue, pause, circuit, its one timer, counters |
//! | `learned_limits.rs` | the pure policy of a lane's limits: configured, learned from the server, or pinned |
//! | `shared.rs` | the shared store's data, the lane's admission gate, what is told to the store |
//! | `mailbox.rs` | the actor's messages and the mailbox wrapper that counts them |
//! | `job.rs` | what the caller's task prepares and what the broker tracks per request |
//! | `stream.rs` | streamed completions: deltas straight to the caller (bounded, with backpressure), cancel on drop |
//! | `give_up.rs` | the guard that tells the broker when a caller stops waiting |
//! | `queue.rs` | a lane's queue: ordered indexes, O(log n) per operation |
//! | `stats.rs` | counters (changed through their `on_*` methods) and the `Stats` types |
//! | `bucket.rs` | pure token buckets and the all-or-nothing bucket set |
//! | `window.rs` | fixed-memory windowed counters and histograms |
//! | `retry.rs` | the pure retry / fallback decision and backoff with full jitter |
//! | `circuit.rs` | the pure circuit breaker |
//! | `warm.rs` | a lane's memory of the prefixes the provider has cached, to reserve less for them |
//! | `key.rs` | the request key (SHA-256 of a canonical, versioned encoding) for coalescing and reuse |
//! | `placement.rs` | the pure placement of a ladder request on the rung projected to finish it first |
//! | `policy.rs` | the pure parameter policy: what a model refuses, by its config preset |
//! | `cache_points.rs` | the pure placement of automatic prompt-cache breakpoints |
//! | `error.rs` | `BrokerError` and the request's validation errors |
//! | `time.rs` | instant and duration arithmetic that saturates instead of panicking |

mod actor;
mod admission;
mod alert;
mod alerts;
mod bucket;
mod cache_points;
mod circuit;
mod coalescing;
mod dispatch;
mod error;
mod failure;
mod give_up;
mod handle;
mod job;
mod key;
mod lane;
mod learned_limits;
mod limits_change;
mod mailbox;
mod overdue;
mod placement;
mod policy;
mod queue;
mod retry;
mod reuse;
mod rung_request;
mod settlement;
mod shared;
mod shared_store;
mod snapshot;
mod state;
mod stats;
mod stream;
#[cfg(test)]
mod tests;
mod time;
mod warm;
mod window;

pub use alerts::{Alert, AlertChanges, AlertKind, AlertSink, Severity};
pub use circuit::CircuitState;
pub use error::{BrokerError, InvalidRequest, RungError};
pub use handle::BrokerHandle;
pub use handle::{MAX_REQUEST_BYTES, MAX_WAIT};
pub use job::{Prepared, RungPlan};
pub use key::RequestKey;
pub use stats::{BucketStats, LaneStats, Stats};
pub use stream::{CompletionStream, StreamItem, STREAM_BUFFER};

use crate::config::Config;
use crate::provider::Endpoint;
use crate::tokens::Estimator;
use mailbox::Drain;
use ractor::{Actor, ActorRef};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// Why [`start`] (or a swarm that starts a broker) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// A provider could not be set up: an unusable `base_url`, an HTTP client that could
    /// not be built, or a simulator that was needed but not running.
    #[error("provider {provider}: {message}")]
    Provider {
        /// The provider's config name (`[providers.NAME]`).
        provider: String,
        /// What was wrong with it.
        message: String,
    },
    /// The shared quota store's URL is unusable (`[quota] redis_url`).
    #[error("quota store: {0}")]
    QuotaStore(#[source] crate::quota::QuotaError),
    /// The broker actor could not be spawned.
    #[error("cannot start the broker actor: {0}")]
    Spawn(#[source] ractor::SpawnErr),
}

/// Options for [`start`]. `StartOptions::default()` is what production wants.
#[derive(Clone, Default)]
#[non_exhaustive]
pub struct StartOptions {
    /// Test seam: a pause added to the handling of every message, so a test can watch
    /// [`BrokerHandle::mailbox_depth`] rise. `None` (the default) adds nothing.
    pub handling_delay: Option<Duration>,
    /// Also told every alert raised or cleared (besides the log, `Stats` and the
    /// `[alerts] webhook_url`).
    pub alert_sink: Option<Arc<dyn AlertSink>>,
}

impl std::fmt::Debug for StartOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StartOptions")
            .field("handling_delay", &self.handling_delay)
            .field("alert_sink", &self.alert_sink.is_some())
            .finish()
    }
}

impl StartOptions {
    /// Sets [`StartOptions::handling_delay`].
    pub fn handling_delay(mut self, delay: Duration) -> Self {
        self.handling_delay = Some(delay);
        self
    }

    /// Sets [`StartOptions::alert_sink`].
    pub fn alert_sink(mut self, sink: Arc<dyn AlertSink>) -> Self {
        self.alert_sink = Some(sink);
        self
    }
}

/// A running broker, as returned by [`start`].
///
/// The broker runs until [`Broker::stop`] is called; dropping this value does not stop it
/// (handles held by agents keep working).
pub struct Broker {
    /// The handle to clone into every agent (and into the stats server).
    pub handle: BrokerHandle,
    actor: ActorRef<Drain>,
}

impl Broker {
    /// Stops the broker. Requests waiting for a reply then fail
    /// with [`BrokerError::BrokerStopped`], and so does every later call on a handle.
    ///
    /// The same holds if the broker actor dies of a bug: every pending and later call
    /// gets [`BrokerError::BrokerStopped`] at once, never a hang.
    pub fn stop(&self) {
        self.actor.stop(None);
    }
}

/// Starts a broker over `endpoints`, keyed by provider name (`[providers.NAME]` in the
/// config): one lane per configured model, each attempt a task over its provider's endpoint.
///
/// Each model's `provider` should name one of `endpoints`: a request admitted on a model
/// whose provider has no endpoint fails its attempts as connection errors. Errs with
/// [`StartError::Spawn`] if the actors cannot be spawned.
pub async fn start(
    config: Config,
    endpoints: HashMap<String, Endpoint>,
    options: StartOptions,
) -> Result<Broker, StartError> {
    let config = Arc::new(config);
    let estimator = Arc::new(Estimator::with_cache_entries(
        config.broker.safety_margin,
        config.broker.estimator_cache_entries,
    ));
    let counters = Arc::new(stats::MailboxCounters::default());
    let inbox = Arc::new(mailbox::Inbox::default());
    let counter = Arc::new(handle::TokenCounter {
        endpoints: endpoints.clone(),
        buckets: std::sync::Mutex::new(HashMap::new()),
    });
    let quota = match &config.quota.store {
        crate::config::QuotaStore::Redis { url } => Some(
            crate::quota::RedisQuota::new(url, &config.quota.namespace)
                .map_err(StartError::QuotaStore)?,
        ),
        _ => None,
    };
    let reuse_shared = quota.as_ref().map(|q| {
        let lanes = config
            .models
            .iter()
            .map(|(name, m)| {
                let fp = shared::lane_fingerprint(&m.provider, &endpoints);
                (name.clone(), q.lane(&fp, &m.model))
            })
            .collect();
        (q.clone(), lanes)
    });
    let args = actor::BrokerArgs {
        quota,
        config: config.clone(),
        estimator: estimator.clone(),
        counters: counters.clone(),
        inbox: inbox.clone(),
        endpoints,
        handling_delay: options.handling_delay,
    };
    let (actor, _) = Actor::spawn(None, actor::QuotaBroker, args)
        .await
        .map_err(StartError::Spawn)?;
    let handle = BrokerHandle {
        mailbox: mailbox::BrokerMailbox {
            actor: actor.clone(),
            counters,
            inbox,
        },
        config,
        estimator,
        counter,
        tickets: Arc::new(std::sync::atomic::AtomicU64::new(1)),
        reuse: Arc::new(reuse::ReuseCache::new(reuse_shared)),
        alerts: Arc::default(),
    };
    alerts::spawn_watch(
        handle.clone(),
        handle.config.alerts.clone(),
        options.alert_sink.into_iter().collect(),
    );
    Ok(Broker { handle, actor })
}
