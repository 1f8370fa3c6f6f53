//! A lane adopting new limits (the policy is in `learned_limits.rs`): from the server's
//! `-limit` headers on one of its responses, or from the shared quota store, where
//! another process put what its responses said. The lane's buckets take the new limits
//! (capacity and refill follow; what was spent stays spent), the shared store's link is
//! told, and the change is logged once: `warn` when some limit went down (the config
//! said more than the key has), `info` otherwise.

use super::learned_limits::{as_vec, per_bucket};
use super::state::BrokerState;
use crate::config::Limits;
use crate::provider::RateLimitSnapshot;
use tokio::time::Instant;

impl BrokerState {
    /// Adopts the limits `snap` reports for lane `lane_idx` where they differ from those
    /// in effect (and the model learns). Returns whether they changed.
    pub(crate) fn learn_limits(
        &mut self,
        lane_idx: usize,
        snap: &RateLimitSnapshot,
        now: Instant,
    ) -> bool {
        let Some(lane) = self.lanes.get_mut(lane_idx) else {
            return false;
        };
        let Some(before) = lane.limits.observe(snap, now) else {
            return false;
        };
        self.apply_limits(lane_idx, before, "the server's rate-limit headers", now);
        let remaining = per_bucket(&self.lanes[lane_idx].limits.current(), snap, |w| {
            w.remaining
        });
        self.share_limits(lane_idx, remaining, now);
        true
    }

    /// The shared store holds limits `figures` for lane `lane_idx` (per bucket): another
    /// process (or this one) learned them from the server. Adopted where they differ.
    pub(crate) fn on_shared_limits(
        &mut self,
        lane_idx: usize,
        figures: &[Option<f64>],
        now: Instant,
    ) {
        let Some(lane) = self.lanes.get_mut(lane_idx) else {
            return;
        };
        let Some(before) = lane.limits.adopt(figures, now) else {
            return;
        };
        self.apply_limits(lane_idx, before, "the shared quota store", now);
        let n = figures.len();
        self.share_limits(lane_idx, vec![None; n], now);
        self.pump(lane_idx, now);
    }

    /// Lane `lane_idx`'s buckets take its limits in effect (its local share of them while
    /// the shared store is down); logs the change from `before`.
    fn apply_limits(&mut self, lane_idx: usize, before: Limits, from: &str, now: Instant) {
        let share = match &self.quota {
            Some(q) if q.degraded => q.local_share(),
            _ => 1.0,
        };
        let lane = &mut self.lanes[lane_idx];
        let after = lane.limits.current();
        lane.buckets
            .set_limits(&after, lane.model.burst, share, now);
        let lowered = as_vec(&after)
            .iter()
            .zip(as_vec(&before))
            .any(|(a, b)| *a < b);
        let model = &lane.model.name;
        let source = lane.limits.source().as_str();
        if lowered {
            tracing::warn!(model = %model, ?before, ?after, source, "limits lowered to the server's figures, from {from}");
        } else {
            tracing::info!(model = %model, ?before, ?after, source, "limits raised to the server's figures, from {from}");
        }
    }
}
