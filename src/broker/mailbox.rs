//! The broker's mailbox wrapper: every message to the broker goes through it, so the
//! mailbox depth (sent − handled) is an atomic read, without a message.

use super::stats::MailboxCounters;
use super::BrokerMsg;
use ractor::ActorRef;
use std::sync::atomic::Ordering;
use std::sync::Arc;

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
}

/// Held by a caller while it waits for the broker: dropped before [`GiveUp::disarm`] (the
/// caller's future was dropped, the stream was dropped), it tells the broker that the
/// caller holding `ticket` gave up, so work nobody waits for leaves the queue.
pub(crate) struct GiveUp {
    mailbox: BrokerMailbox,
    ticket: u64,
    armed: bool,
}

impl GiveUp {
    pub(crate) fn new(mailbox: BrokerMailbox, ticket: u64) -> Self {
        GiveUp {
            mailbox,
            ticket,
            armed: true,
        }
    }

    /// The caller got its answer: nothing to tell.
    pub(crate) fn disarm(mut self) {
        self.armed = false;
    }
}

impl Drop for GiveUp {
    fn drop(&mut self) {
        if self.armed {
            // Fails only when the broker has stopped, and then there is nothing to undo.
            self.mailbox.send(BrokerMsg::Abandon(self.ticket));
        }
    }
}
