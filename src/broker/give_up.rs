//! The guard a caller holds while it waits for the broker: dropped before
//! [`GiveUp::disarm`] (the caller's future was dropped, the stream was dropped), it tells
//! the broker that the caller gave up, so work nobody waits for leaves the queue.
//!
//! It holds what to do on drop rather than the broker's mailbox, so the stream (which
//! holds one) need not know the broker's messages, which carry the stream's sink.

/// Runs its action once when dropped, unless disarmed first.
pub(crate) struct GiveUp {
    on_drop: Option<Box<dyn FnOnce() + Send + Sync>>,
}

impl GiveUp {
    pub(crate) fn new(on_drop: impl FnOnce() + Send + Sync + 'static) -> Self {
        GiveUp {
            on_drop: Some(Box::new(on_drop)),
        }
    }

    /// The caller got its answer: nothing to tell.
    pub(crate) fn disarm(mut self) {
        self.on_drop = None;
    }
}

impl Drop for GiveUp {
    fn drop(&mut self) {
        if let Some(f) = self.on_drop.take() {
            f();
        }
    }
}
