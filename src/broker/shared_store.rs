//! The broker's exchange with a shared quota store (the data and the gate are in
//! `shared.rs`; the store itself in `crate::quota`): starting the link, asking the store
//! to admit a lane's ready jobs, acting on its verdicts, and falling back to a local
//! share of each limit while it is unreachable (and back when it returns).

use super::bucket::{Admission, BucketKind, BucketSet, Cost, SERVER_LAG};
use super::error::BrokerError;
use super::lane::Lane;
use super::mailbox::{BrokerMailbox, BrokerMsg};
use super::shared::{amounts, SharedLane, SharedQuota, BATCH};
use super::state::BrokerState;
use super::time::after;
use crate::provider::RateLimitSnapshot;
use crate::quota::link::{StoreCall, StoreEvent, StoreLink};
use crate::quota::{Batch, Verdict, WaitReason};
use std::time::Duration;
use tokio::time::Instant;

impl BrokerState {
    /// Asks the store to admit lane `lane_idx`'s ready jobs from the head, as many as may
    /// go in flight (at most [`BATCH`]), stopping before one that can never fit.
    pub(crate) fn ask_store(&mut self, lane_idx: usize, now: Instant) {
        let Some(q) = &self.quota else { return };
        let Some(lane) = self.lanes.get(lane_idx) else {
            return;
        };
        let room = lane
            .max_in_flight(self.config.broker.max_in_flight)
            .saturating_sub(lane.in_flight)
            .clamp(1, BATCH);
        let mut batch = Vec::new();
        for id in lane.queue.ready_ids(room) {
            let Some(job) = self.jobs.get(&id) else { break };
            if job.abandoned() && !batch.is_empty() {
                break; // the pump drops it when it reaches the head
            }
            let cost = lane.cost_of(&job.prepared, job.rung, now);
            if !batch.is_empty()
                && matches!(lane.buckets.check(&cost, now), Admission::NeverFits { .. })
            {
                break;
            }
            batch.push((id, cost));
        }
        if batch.is_empty() {
            return;
        }
        let call = StoreCall::Admit {
            lane: lane_idx,
            jobs: batch.iter().map(|(id, _)| *id).collect(),
            costs: batch
                .iter()
                .map(|(_, c)| amounts(&lane.buckets, c))
                .collect(),
        };
        q.link.call(call);
        if let Some(sh) = self.lanes[lane_idx].shared.as_mut() {
            sh.pending = Some(batch);
        }
    }

    /// An event from the store link.
    pub(crate) fn on_store(&mut self, event: StoreEvent, now: Instant) {
        match event {
            StoreEvent::Verdict { lane, jobs, batch } => self.on_verdict(lane, &jobs, batch, now),
            StoreEvent::Limits { lane, limits } => self.on_shared_limits(lane, &limits, now),
            StoreEvent::Down => self.on_store_down(now),
            StoreEvent::Up => self.on_store_up(now),
        }
    }

    fn on_verdict(&mut self, lane_idx: usize, ids: &[u64], batch: Option<Batch>, now: Instant) {
        let Some(lane) = self.lanes.get_mut(lane_idx) else {
            return;
        };
        let Some(sh) = lane.shared.as_mut() else {
            return;
        };
        let asked = match sh.pending.take() {
            Some(p) if p.iter().map(|(id, _)| *id).eq(ids.iter().copied()) => p,
            other => {
                sh.pending = other;
                return; // not this lane's question (cannot happen)
            }
        };
        let Some(batch) = batch else {
            // The store failed; `Down` came first, so the lane admits locally now.
            // Should it not have (a lane the link does not know), look again later
            // rather than ask in a loop.
            if !sh.degraded {
                sh.retry_at = Some(after(now, Duration::from_millis(100)));
            }
            self.pump(lane_idx, now);
            return;
        };
        lane.buckets.set_levels(&batch.levels, now);
        match batch.then {
            Some(Verdict::Wait { wait, reason }) => {
                let until = after(now, wait);
                sh.retry_at = Some(until);
                match reason {
                    WaitReason::Paused => lane.pause_until(until),
                    WaitReason::CircuitOpen => lane.circuit.open_shared(until),
                    WaitReason::Buckets => {}
                }
            }
            Some(Verdict::NeverFits { .. }) => {
                // The mirror said it fits (same limits): only a change of limits between
                // processes gets here. Take the store's word.
                if let Some(&(id, cost)) = asked.get(batch.admitted) {
                    if let Some(job) = self.take_queued(id) {
                        let err = BrokerError::never_fits(
                            &self.lanes[lane_idx].model.name,
                            BucketKind::Requests,
                            cost.requests,
                            0.0,
                            job.prepared.est_input(job.rung),
                            u64::from(job.prepared.request.max_tokens),
                        );
                        self.move_down_or_fail(job, err, true, now);
                    }
                }
            }
            _ => {}
        }
        for &(id, cost) in asked.iter().take(batch.admitted) {
            self.take_admitted(lane_idx, id, cost, now);
        }
        self.pump(lane_idx, now);
    }

    /// Job `id` was admitted through the store: dispatch it if it still waits on this
    /// lane, or give its capacity back to everyone.
    fn take_admitted(&mut self, lane_idx: usize, id: u64, cost: Cost, now: Instant) {
        let still_queued = self
            .jobs
            .get(&id)
            .is_some_and(|j| j.lane == lane_idx && j.queued.is_some() && !j.abandoned());
        if still_queued {
            if let Some(job) = self.jobs.get_mut(&id) {
                job.shared = true;
                if let Some(slot) = job.queued.take() {
                    self.lanes[lane_idx].queue.remove(id, &slot);
                }
            }
            self.dispatch(id, cost, now);
        } else if let Some(q) = &self.quota {
            q.give_back(lane_idx, &self.lanes[lane_idx].buckets, &cost);
        }
    }

    fn on_store_down(&mut self, now: Instant) {
        let Some(q) = self.quota.as_mut() else { return };
        let share = q.local_share();
        if q.degraded {
            return;
        }
        q.degraded = true;
        tracing::warn!(
            share,
            "quota store down: admitting with the local share of each limit"
        );
        for lane in &mut self.lanes {
            if let Some(sh) = lane.shared.as_mut() {
                sh.degraded = true;
                sh.retry_at = None;
                lane.buckets =
                    lane.buckets
                        .scaled(&lane.limits.current(), lane.model.burst, share, now);
            }
        }
        for i in 0..self.lanes.len() {
            self.pump(i, now);
        }
    }

    fn on_store_up(&mut self, now: Instant) {
        let Some(q) = self.quota.as_mut() else { return };
        if !q.degraded {
            return;
        }
        q.degraded = false;
        tracing::info!("quota store back: shared admission resumes");
        for lane in &mut self.lanes {
            if let Some(sh) = lane.shared.as_mut() {
                sh.degraded = false;
                sh.retry_at = None;
                // Full limits again; the store's next answer sets the levels.
                lane.buckets = BucketSet::new(&lane.limits.current(), lane.model.burst, now)
                    .with_server_lag(SERVER_LAG);
            }
        }
        for i in 0..self.lanes.len() {
            self.pump(i, now);
        }
    }

    /// The store and lane `lane_idx`'s buckets, if the lane is shared and the store is
    /// up: only then is the store told about the lane.
    fn live(&self, lane_idx: usize) -> Option<(&SharedQuota, &BucketSet)> {
        let q = self.quota.as_ref()?;
        let lane = self.lanes.get(lane_idx)?;
        (!q.degraded && lane.shared.is_some()).then_some((q, &lane.buckets))
    }

    /// Settles a job admitted through the store there too.
    pub(crate) fn share_settle(
        &self,
        lane_idx: usize,
        shared: bool,
        reserved: &Cost,
        actual: &Cost,
    ) {
        if let Some((q, buckets)) = self.live(lane_idx).filter(|_| shared) {
            q.settle(lane_idx, buckets, reserved, actual);
        }
    }

    /// Tells the store what the server says remains on lane `lane_idx`.
    pub(crate) fn share_observe(&self, lane_idx: usize, snap: &RateLimitSnapshot, slack: f64) {
        if let Some((q, buckets)) = self.live(lane_idx) {
            q.observe(lane_idx, buckets, snap, slack);
        }
    }

    /// Lane `lane_idx` took new limits: the link uses them from now on, and the store
    /// keeps them for the other processes (`remaining`: what the server said is left).
    /// Sent whatever the store's health, so the link is never left with stale limits.
    pub(crate) fn share_limits(&self, lane_idx: usize, remaining: Vec<Option<f64>>, now: Instant) {
        use crate::quota::BucketSpec;
        let (Some(q), Some(lane)) = (self.quota.as_ref(), self.lanes.get(lane_idx)) else {
            return;
        };
        if lane.shared.is_none() {
            return;
        }
        // The full limits (the buckets may hold a local share while the store is down).
        let full = BucketSet::new(&lane.limits.current(), lane.model.burst, now);
        let buckets = full
            .buckets()
            .iter()
            .map(|b| BucketSpec {
                limit_per_min: b.limit(),
                capacity: b.capacity(),
            })
            .collect();
        q.link.call(StoreCall::Limits {
            lane: lane_idx,
            buckets,
            remaining,
        });
    }

    /// A 429 on lane `lane_idx`: pause it for everyone (see `SharedQuota::rate_limited`).
    pub(crate) fn share_429(&self, lane_idx: usize, reserved: &Cost, pause: Duration) {
        if let Some((q, buckets)) = self.live(lane_idx) {
            q.rate_limited(lane_idx, buckets, reserved, pause);
        }
    }

    /// Lane `lane_idx`'s circuit opened: open it for everyone for the cool-down.
    pub(crate) fn share_circuit(&self, lane_idx: usize) {
        if let Some((q, _)) = self.live(lane_idx) {
            q.circuit_opened(lane_idx, self.config.broker.circuit_cooldown);
        }
    }
}

/// Starts the link to the shared store for `lanes` and marks them shared. A lane's
/// Redis keys are named by its provider's key fingerprint (never the key) and its wire
/// model; a provider without a key is named by its config name.
pub(crate) fn start_link(
    quota: crate::quota::RedisQuota,
    lanes: &mut [Lane],
    config: &crate::config::Config,
    endpoints: &std::collections::HashMap<String, crate::provider::Endpoint>,
    mailbox: &BrokerMailbox,
) -> SharedQuota {
    use crate::quota::link::LaneSpec;
    use crate::quota::BucketSpec;
    let specs = lanes
        .iter_mut()
        .map(|lane| {
            let fingerprint = super::shared::lane_fingerprint(&lane.model.provider, endpoints);
            lane.shared = Some(SharedLane::default());
            LaneSpec {
                keys: quota.lane(&fingerprint, &lane.model.model),
                buckets: lane
                    .buckets
                    .buckets()
                    .iter()
                    .map(|b| BucketSpec {
                        limit_per_min: b.limit(),
                        capacity: b.capacity(),
                    })
                    .collect(),
                server_lag: SERVER_LAG,
            }
        })
        .collect();
    let mailbox = mailbox.clone();
    let link = StoreLink::spawn(quota, specs, move |event| {
        mailbox.send(BrokerMsg::Store(event))
    });
    SharedQuota {
        link,
        degraded: false,
        local_share: config.quota.local_share,
        expected_processes: config.quota.expected_processes,
    }
}
