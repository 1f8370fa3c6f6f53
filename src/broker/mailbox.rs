//! What the broker actor receives ([`BrokerMsg`]) and the mailbox every message goes
//! through: an inbox the actor empties a batch at a time, with the counters that make the
//! mailbox depth (sent − handled) an atomic read, without a message.
//!
//! Why an inbox beside ractor's mailbox: a ractor message costs a boxed message, the
//! actor loop's select over its ports and often a task wake, for every message. Here a
//! sender pushes onto the inbox under a short lock, and casts the actor one [`Drain`]
//! only when the inbox had none pending; the actor handles everything there in one
//! `handle`, in the order it was sent. With many callers most sends cost the push alone.

use super::give_up::GiveUp;
use super::job::{Prepared, ReplyPort};
use super::stats::{MailboxCounters, Stats};
use super::stream::StreamSink;
use crate::provider::{ProviderFailure, ProviderReply};
use ractor::{ActorRef, RpcReplyPort};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

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

/// The one ractor message of the broker actor: handle what waits in the inbox.
pub(crate) struct Drain;

/// The messages sent and not yet taken by the actor.
#[derive(Default)]
pub(crate) struct Inbox {
    state: Mutex<InboxState>,
}

#[derive(Default)]
struct InboxState {
    messages: Vec<BrokerMsg>,
    /// A [`Drain`] is cast and its handling has not yet looked at the inbox for the last
    /// time: a sender need not cast another.
    scheduled: bool,
    /// The actor has stopped: nothing more is accepted.
    closed: bool,
}

impl Inbox {
    fn lock(&self) -> MutexGuard<'_, InboxState> {
        // Nothing panics while holding the lock; a poisoned one is still consistent.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes every message waiting, in the order they were sent, leaving `spare` (empty,
    /// kept for its capacity) in their place.
    pub(crate) fn take(&self, spare: Vec<BrokerMsg>) -> Vec<BrokerMsg> {
        std::mem::replace(&mut self.lock().messages, spare)
    }

    /// The actor is done with a batch: true if more messages came meanwhile (the caller
    /// then casts another [`Drain`]), false if the inbox is empty and the next sender
    /// casts one.
    pub(crate) fn done(&self) -> bool {
        let mut s = self.lock();
        s.scheduled = !s.messages.is_empty();
        s.scheduled
    }

    /// The actor has stopped: refuses every later message and drops those waiting (their
    /// callers' reply ports close: `BrokerStopped`), counted as handled so the depth stays
    /// true.
    pub(crate) fn close(&self, counters: &MailboxCounters) {
        let dropped = {
            let mut s = self.lock();
            s.closed = true;
            std::mem::take(&mut s.messages)
        };
        counters
            .handled
            .fetch_add(dropped.len() as u64, Ordering::AcqRel);
    }
}

#[derive(Clone)]
pub(crate) struct BrokerMailbox {
    pub(crate) actor: ActorRef<Drain>,
    pub(crate) counters: Arc<MailboxCounters>,
    pub(crate) inbox: Arc<Inbox>,
}

impl BrokerMailbox {
    /// Sends `msg`; returns false if the broker has stopped.
    pub(crate) fn send(&self, msg: BrokerMsg) -> bool {
        self.counters.received.fetch_add(1, Ordering::AcqRel);
        let cast = {
            let mut s = self.inbox.lock();
            if s.closed {
                drop(s);
                drop(msg);
                // Never delivered: count it as handled so the depth stays true.
                self.counters.handled.fetch_add(1, Ordering::AcqRel);
                return false;
            }
            s.messages.push(msg);
            !std::mem::replace(&mut s.scheduled, true)
        };
        if cast && self.actor.cast(Drain).is_err() {
            // The actor is gone without closing its inbox (it closes it as its state is
            // dropped, which may not have happened yet): nothing there will be handled.
            self.inbox.close(&self.counters);
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
