//! The `QuotaBroker` actor.
//!
//! Role: owns every lane (bucket set + queue), the in-flight map, the coalescing index and
//! the statistics; admits requests only when they fit, dispatches them to provider
//! actors, settles usage, retries, falls back, and replies exactly once per waiter.
//!
//! Messages: `Complete` and `Stream` (from agents, through `BrokerHandle`), `Abandon`
//! (from a caller that stopped waiting), `Finished` (from each attempt's task), `Overdue`
//! (from an attempt that never reported), `Tick` (from each lane's one timer task), `Store` (from the shared quota
//! store's link), `Stats`. Each goes to one `on_*` method of `BrokerState`; `state.rs`
//! says which file holds which concern.
//!
//! They come through the inbox (`mailbox.rs`): each ractor message, `Drain`, has the
//! actor handle every message waiting there, one by one in the order they were sent.
//!
//! Invariants: `handle` never awaits I/O, never returns `Err` and never panics, whatever
//! the request (a failure travels in the reply); every `Complete` gets exactly one reply.
//! Attempts run in tasks of their own (`dispatch.rs`), not in child actors: a dispatch is
//! one task spawn. If the actor dies anyway (a bug), its state is dropped with every reply port in it, and its inbox is closed, dropping every
//! message not yet handled: each caller still waiting gets `BrokerStopped` at once, and
//! so does every later call (the inbox refuses it).

use super::job::Waiter;
use super::lane::{Lane, LaneTimer};
use super::mailbox::{BrokerMailbox, BrokerMsg, Drain, Inbox};
use super::state::{BrokerState, Caller};
use super::stats::{MailboxCounters, Totals};
use crate::config::Config;
use crate::provider::Endpoint;
use crate::tokens::Estimator;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use rand::SeedableRng;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::time::Instant;

pub(crate) struct QuotaBroker;

pub(crate) struct BrokerArgs {
    /// The shared quota store's client, when `[quota] store = "redis"`.
    pub(crate) quota: Option<crate::quota::RedisQuota>,
    pub(crate) config: Arc<Config>,
    pub(crate) estimator: Arc<Estimator>,
    pub(crate) counters: Arc<MailboxCounters>,
    pub(crate) inbox: Arc<Inbox>,
    pub(crate) endpoints: HashMap<String, Endpoint>,
    /// Test seam: a pause added to every message's handling (to observe mailbox depth).
    pub(crate) handling_delay: Option<std::time::Duration>,
}

pub(crate) struct State {
    core: BrokerState,
    handling_delay: Option<std::time::Duration>,
    /// The last batch's buffer, emptied, handed back to the inbox for its capacity.
    spare: Vec<BrokerMsg>,
}

impl Drop for State {
    /// However the actor ends (stopped, or a bug's panic), what waits in its inbox is
    /// dropped now and later sends are refused: no caller waits on a dead broker.
    fn drop(&mut self) {
        let mailbox = &self.core.mailbox;
        mailbox.inbox.close(&mailbox.counters);
    }
}

impl Actor for QuotaBroker {
    type Msg = Drain;
    type State = State;
    type Arguments = BrokerArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Drain>,
        args: BrokerArgs,
    ) -> Result<State, ActorProcessingErr> {
        let now = Instant::now();
        let endpoints = args
            .endpoints
            .iter()
            .map(|(name, e)| (name.clone(), Arc::new(e.clone())))
            .collect();
        let mailbox = BrokerMailbox {
            actor: myself.clone(),
            counters: args.counters,
            inbox: args.inbox,
        };
        let mut lanes = Vec::new();
        let mut lane_of = rustc_hash::FxHashMap::default();
        for (name, model) in &args.config.models {
            let idx = lanes.len();
            lane_of.insert(name.clone(), idx);
            let timer = LaneTimer::spawn(mailbox.clone(), idx);
            lanes.push(Lane::new(model.clone(), &args.config.broker, timer, now));
        }
        let quota = args.quota.map(|q| {
            super::shared_store::start_link(q, &mut lanes, &args.config, &args.endpoints, &mailbox)
        });
        let handling = hdrhistogram::Histogram::new_with_bounds(1, 60_000_000, 2)?;
        let core = BrokerState {
            config: args.config.clone(),
            estimator: args.estimator,
            mailbox,
            lanes,
            lane_of,
            endpoints,
            jobs: Default::default(),
            coalescing: Default::default(),
            next_id: 1,
            started: now,
            totals: Totals::default(),
            handling,
            rng: jitter_rng(args.config.broker.jitter_seed),
            answered: Default::default(),
            tickets: Default::default(),
            next_attempt: 1,
            quota,
        };
        Ok(State {
            core,
            handling_delay: args.handling_delay,
            spare: Vec::new(),
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<Drain>,
        _: Drain,
        state: &mut State,
    ) -> Result<(), ActorProcessingErr> {
        let inbox = state.core.mailbox.inbox.clone();
        let mut batch = inbox.take(std::mem::take(&mut state.spare));
        // A message not handled when this future is dropped (the actor killed during the
        // test seam's delay) is dropped with `batch`, closing its reply port.
        for msg in batch.drain(..) {
            if let Some(d) = state.handling_delay {
                tokio::time::sleep(d).await;
            }
            state.core.handle(msg);
        }
        state.spare = batch;
        if inbox.done() {
            // More came meanwhile: one more `Drain`, behind whatever else ractor holds
            // (a stop), rather than a loop here.
            let _ = myself.cast(Drain);
        }
        Ok(())
    }
}

impl BrokerState {
    /// Handles one message from the inbox, timing it for the handling-time histogram.
    fn handle(&mut self, msg: BrokerMsg) {
        let started = std::time::Instant::now();
        let now = Instant::now();
        match msg {
            BrokerMsg::Complete(prepared, ticket, port) => {
                self.on_complete(*prepared, Caller::Reply(Waiter { ticket, port }), now)
            }
            BrokerMsg::Stream(prepared, ticket, sink) => {
                self.on_complete(*prepared, Caller::Stream(ticket, sink), now)
            }
            BrokerMsg::Abandon(ticket) => self.on_abandon(ticket, now),
            BrokerMsg::Finished(f) => self.on_finished(f.job, f.lane, f.attempt, f.outcome, now),
            BrokerMsg::Overdue {
                job,
                lane,
                attempt,
                deltas,
            } => self.on_overdue(job, lane, attempt, deltas, now),
            BrokerMsg::Tick(lane) => self.on_tick(lane, now),
            BrokerMsg::Store(event) => self.on_store(event, now),
            BrokerMsg::Stats(reply) => self.on_stats(reply, now),
            #[cfg(test)]
            BrokerMsg::Panic => panic!("a bug in the broker (test seam)"),
        }
        let us = started.elapsed().as_micros() as u64;
        let _ = self.handling.record(us.clamp(1, 60_000_000));
        self.mailbox.counters.handled.fetch_add(1, Ordering::AcqRel);
    }
}

/// The backoff jitter's generator: seeded from the OS, so every process and every restart
/// draws its own waits (a shared seed would retry them in step, the herd full jitter
/// exists to break up); `[broker] jitter_seed` pins it for tests.
fn jitter_rng(seed: Option<u64>) -> rand::rngs::SmallRng {
    match seed {
        Some(seed) => rand::rngs::SmallRng::seed_from_u64(seed),
        // `from_os_rng` would panic if the OS had no randomness to give; the clock and
        // the process id still differ between processes and restarts.
        None => rand::rngs::SmallRng::try_from_os_rng().unwrap_or_else(|_| {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
            rand::rngs::SmallRng::seed_from_u64(nanos ^ u64::from(std::process::id()) << 32)
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::jitter_rng;
    use rand::Rng;

    fn draws(mut rng: rand::rngs::SmallRng) -> [u64; 2] {
        [rng.random(), rng.random()]
    }

    #[test]
    fn a_configured_seed_pins_the_jitter_and_the_os_seed_differs_per_broker() {
        assert_eq!(draws(jitter_rng(Some(7))), draws(jitter_rng(Some(7))));
        assert_ne!(draws(jitter_rng(Some(7))), draws(jitter_rng(Some(8))));
        // Two OS-seeded generators agree on 128 bits with probability 2^-128.
        assert_ne!(draws(jitter_rng(None)), draws(jitter_rng(None)));
    }
}
