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
