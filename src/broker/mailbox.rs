//! What the broker actor receives ([`BrokerMsg`]) and the mailbox wrapper every message
//! goes through, so the mailbox depth (sent − handled) is an atomic read, without a
//! message.

use super::give_up::GiveUp;
use super::job::{Prepared, ReplyPort};
use super::stats::{MailboxCounters, Stats};
use super::stream::StreamSink;
use crate::provider::{ProviderFailure, ProviderReply};
use ractor::{ActorRef, RpcReplyPort};
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// A provider's outcome for one attempt of one job.
pub(crate) struct Finished {
    pub(crate) job: u64,
    pub(crate) lane: usize,
    /// The attempt's token (see `Job::in_flight`).
    pub(crate) attempt: u64,
    pub(crate) outcome: Result<ProviderReply, ProviderFailure>,
}

/// What the broker actor handles (see `actor.rs`).
pub(crate) enum BrokerMsg {
    /// A request, the caller's ticket and its reply port.
    Complete(Box<Prepared>, u64, ReplyPort),
    /// A streamed request, the caller's ticket and its stream.
    Stream(Box<Prepared>, u64, StreamSink),
    /// The caller holding this ticket stopped waiting.
    Abandon(u64),
    Finished(Box<Finished>),
    /// An attempt's watchdog fired: it has not reported within its timeout and grace
    /// (see `overdue.rs`); `deltas` it had streamed to the caller.
    Overdue {
        job: u64,
        lane: usize,
        attempt: u64,
        deltas: u64,
    },
    Tick(usize),
    Stats(RpcReplyPort<Stats>),
    /// From the shared quota store's link (see `shared_store.rs`).
    Store(crate::quota::link::StoreEvent),
    /// Test seam: makes `handle` panic, as a bug would.
    #[cfg(test)]
    Panic,
}

#[derive(Clone)]
pub(crate) struct BrokerMailbox {
    pub(crate) actor: ActorRef<BrokerMsg>,
    pub(crate) counters: Arc<MailboxCounters>,
}

impl BrokerMailbox {
    /// Sends `msg`; returns false if the broker has stopped.
    pub(crate) fn send(&self, msg: BrokerMsg) -> bool {
        self.counters.received.fetch_add(1, Ordering::AcqRel);
        if self.actor.cast(msg).is_err() {
            // Never delivered: count it as handled so the depth stays true.
            self.counters.handled.fetch_add(1, Ordering::AcqRel);
            return false;
        }
        true
    }

    /// The guard a caller holding `ticket` keeps while it waits: dropped early, it sends
    /// `Abandon(ticket)`. Fails only when the broker has stopped, and then there is
    /// nothing to undo.
    pub(crate) fn give_up(&self, ticket: u64) -> GiveUp {
        let mailbox = self.clone();
        GiveUp::new(move || {
            mailbox.send(BrokerMsg::Abandon(ticket));
        })
    }
}
