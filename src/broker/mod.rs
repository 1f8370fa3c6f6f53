//! The QuotaBroker: per-model lanes (buckets + queues), admission without 429s, retries as
//! queue entries, coalescing, fallback down a ladder, circuit breakers, statistics.
//!
//! | file | holds |
//! |---|---|
//! | [`bucket`] | pure token buckets and the all-or-nothing bucket set |
//! | [`lane`] | one (provider, model): buckets, queue, pause, circuit, counters |
//! | [`retry`] | the pure retry / fallback decision and backoff with full jitter |
//! | [`circuit`] | the pure circuit breaker |
//! | [`key`] | the canonical key used for coalescing |
//! | [`handle`] | `BrokerHandle`: validation, estimation and keying in the caller's task |
//! | [`state`] | the broker's bookkeeping behind each message |
//! | [`actor`] | the ractor actor |
//! | [`stats`] | counters and the `Stats` snapshot |
//! | [`stream`] | streamed completions: deltas straight to the caller, cancel on drop |

pub mod actor;
pub mod bucket;
pub mod circuit;
mod error;
pub mod handle;
pub mod job;
pub mod key;
pub mod lane;
mod mailbox;
pub mod retry;
pub mod state;
pub mod stats;
pub mod stream;

pub use circuit::CircuitState;
pub use error::{BrokerError, RungError};
pub use handle::BrokerHandle;
pub use stats::{LaneStats, Stats};
pub use stream::{CompletionStream, StreamItem};

use crate::config::Config;
use crate::provider::{Endpoint, ProviderFailure, ProviderReply};
use crate::tokens::Estimator;
use job::{Prepared, Reply};
use ractor::{Actor, ActorRef, RpcReplyPort};
use std::collections::HashMap;
use std::sync::Arc;

/// A provider's outcome for one attempt of one job.
pub struct Finished {
    pub job: u64,
    pub lane: usize,
    pub attempt: u32,
    pub outcome: Result<ProviderReply, ProviderFailure>,
}

pub enum BrokerMsg {
    Complete(Box<Prepared>, RpcReplyPort<Reply>),
    Stream(Box<Prepared>, stream::StreamSink),
    Finished(Box<Finished>),
    Tick(usize),
    Stats(RpcReplyPort<Stats>),
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("provider {provider}: {message}")]
    Provider { provider: String, message: String },
    #[error("cannot start the broker actor: {0}")]
    Spawn(String),
}

/// Options for [`start`].
#[derive(Default)]
pub struct StartOptions {
    /// Test seam: slows every message's handling (to observe the mailbox depth).
    pub handling_delay: Option<std::time::Duration>,
}

/// A running broker.
pub struct Broker {
    pub handle: BrokerHandle,
    pub actor: ActorRef<BrokerMsg>,
}

impl Broker {
    pub fn stop(&self) {
        self.actor.stop(None);
    }
}

/// Starts a broker over `endpoints`.
pub async fn start(
    config: Config,
    endpoints: HashMap<String, Endpoint>,
    options: StartOptions,
) -> Result<Broker, StartError> {
    let config = Arc::new(config);
    let estimator = Arc::new(Estimator::new(config.broker.safety_margin));
    let counters = Arc::new(stats::MailboxCounters::default());
    let counter = Arc::new(handle::TokenCounter {
        endpoints: endpoints.clone(),
        buckets: std::sync::Mutex::new(HashMap::new()),
    });
    let args = actor::BrokerArgs {
        config: config.clone(),
        estimator: estimator.clone(),
        counters: counters.clone(),
        endpoints,
        handling_delay: options.handling_delay,
    };
    let (actor, _) = Actor::spawn(None, actor::QuotaBroker, args)
        .await
        .map_err(|e| StartError::Spawn(e.to_string()))?;
    let handle = BrokerHandle {
        mailbox: mailbox::BrokerMailbox {
            actor: actor.clone(),
            counters,
        },
        config,
        estimator,
        counter,
    };
    Ok(Broker { handle, actor })
}
