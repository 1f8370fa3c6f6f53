//! The broker's state: the lanes (each with its buckets, queue, circuit and counters),
//! the jobs queued or in flight, the coalescing index, the callers' tickets, the totals
//! and the shared store — composed here, acted on by one file per concern:
//!
//! - `admission.rs`: choose a rung, queue, pump each lane (the lane scheduler);
//! - `dispatch.rs`: start an admitted attempt over its lane's endpoint;
//! - `settlement.rs`: settle an attempt's usage, adopt rate-limit headers, answer;
//! - `failure.rs`: after a failed attempt, retry, fall back or fail;
//! - `shared_store.rs`: the exchange with a shared quota store;
//! - `snapshot.rs`: the `Stats` snapshot.
//!
//! Nothing there panics or returns an error, whatever the request: time arithmetic
//! saturates (`time.rs`), and every failure of one request travels in its reply.

use super::coalescing::Coalescing;
use super::job::{Job, Reply, Waiter};
use super::lane::Lane;
use super::mailbox::BrokerMailbox;
use super::shared::SharedQuota;
use super::stats::Totals;
use super::stream::StreamSink;
use crate::config::Config;
use crate::provider::Endpoint;
use crate::tokens::Estimator;
use hdrhistogram::Histogram;
use rustc_hash::{FxHashMap, FxHashSet};
use std::sync::Arc;
use tokio::time::Instant;

pub(crate) struct BrokerState {
    pub(crate) config: Arc<Config>,
    pub(crate) estimator: Arc<Estimator>,
    pub(crate) mailbox: BrokerMailbox,
    pub(crate) lanes: Vec<Lane>,
    pub(crate) lane_of: FxHashMap<String, usize>,
    /// The endpoints by provider name, each attempt's `Arc` handed to its task.
    pub(crate) endpoints: FxHashMap<String, Arc<Endpoint>>,
    /// By id. Fx, not SipHash: the keys are the broker's own counters and config names,
    /// nothing a caller chooses, and these maps are looked up several times a message.
    /// Boxed: the map then holds a pointer per slot, not a ~400-byte job in every slot,
    /// empty ones included (with 100,000 requests queued, ~58 MB of slots against ~47 MB
    /// of boxed jobs and pointers).
    pub(crate) jobs: FxHashMap<u64, Box<Job>>,
    pub(crate) coalescing: Coalescing,
    pub(crate) next_id: u64,
    pub(crate) started: Instant,
    pub(crate) totals: Totals,
    pub(crate) handling: Histogram<u64>,
    pub(crate) rng: rand::rngs::SmallRng,
    /// Providers whose endpoint has answered at least once (any HTTP response): only
    /// these get retries when nothing listens (see `retry::fails_fast`).
    pub(crate) answered: FxHashSet<String>,
    /// Caller ticket → the job that caller waits for (see `on_abandon`).
    pub(crate) tickets: FxHashMap<u64, u64>,
    /// The next attempt's token (see `Job::in_flight`).
    pub(crate) next_attempt: u64,
    /// The shared quota store, when `[quota] store = "redis"` (see `shared.rs`,
    /// `shared_store.rs`).
    pub(crate) quota: Option<SharedQuota>,
}

/// Who asked: a caller awaiting one reply, or a stream.
pub(crate) enum Caller {
    Reply(Waiter),
    Stream(u64, StreamSink),
}

/// Gives every waiter (and the stream, if any) the final reply, exactly once, and
/// forgets their tickets.
pub(crate) fn reply_all(tickets: &mut FxHashMap<u64, u64>, job: &mut Job, reply: Reply) {
    let mut waiters = std::mem::take(&mut job.waiters);
    // The last one to be answered gets `reply` itself (most jobs have one caller): only
    // the others' answers are copies.
    let last = if job.sink.is_none() {
        waiters.pop()
    } else {
        None
    };
    for w in waiters {
        tickets.remove(&w.ticket);
        // A waiter that gave up (closed port) does not disturb the others.
        let _ = w.port.send(Box::new(reply.clone()));
    }
    if let Some(w) = last {
        tickets.remove(&w.ticket);
        let _ = w.port.send(Box::new(reply));
    } else if let Some((ticket, sink)) = job.sink.take() {
        tickets.remove(&ticket);
        sink.finish(reply);
    }
}
