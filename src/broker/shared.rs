//! The broker's side of a shared quota store (the design is in `crate::quota`): a
//! lane's admission gate, the verdicts coming back, settles, shared 429 pauses, learned
//! foreign usage and circuit openings going out, and the fall-back to a local share of
//! each limit while the store is unreachable.
//!
//! With the memory store (the default) none of this runs: `BrokerState::quota` is
//! `None`, every lane's `shared` is `None`, and [`Lane::gate`] is the lane's own
//! all-or-nothing `try_admit`, as before.

use super::bucket::{Admission, BucketSet, Cost, SERVER_LAG};
use super::error::BrokerError;
use super::lane::Lane;
use super::state::BrokerState;
use crate::provider::RateLimitSnapshot;
use crate::quota::link::{StoreCall, StoreEvent, StoreLink};
use crate::quota::{Batch, Verdict, WaitReason};
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::time::Instant;

/// The broker's link to the shared store and what it knows of the store's health.
pub(crate) struct SharedQuota {
    pub(crate) link: StoreLink,
    /// Admitting locally with `share` of each limit (the store is unreachable).
    pub(crate) degraded: bool,
    /// `[quota] local_share`; `None`: 1 / processes last seen.
    pub(crate) local_share: Option<f64>,
}

/// A lane's state with a shared store.
#[derive(Debug, Default)]
pub(crate) struct SharedLane {
    /// The jobs whose admission the store is deciding (the ready queue from its head, in
    /// order), with the costs asked for. One batch per lane at a time, so the queue's
    /// order holds.
    pub(crate) pending: Option<Vec<(u64, Cost)>>,
    /// The store said the head fits no earlier than this.
    pub(crate) retry_at: Option<Instant>,
    /// Admitting locally (with the local share) while the store is down.
    pub(crate) degraded: bool,
}

/// Most jobs one admission call asks for (one round trip admits up to this many).
pub(crate) const BATCH: usize = 32;

/// What the gate says about the head of a lane.
pub(crate) enum Gate {
    /// Decided here and now (the memory store, a degraded store, a known wait).
    Decided(Admission),
    /// Ask the store (see `BrokerState::ask_store`).
    Ask,
    /// The store is deciding; its verdict comes as a message.
    Pending,
}

/// `cost` as one amount per bucket of `buckets`, in their order.
pub(crate) fn amounts(buckets: &BucketSet, cost: &Cost) -> Vec<f64> {
    buckets
        .buckets()
        .iter()
        .map(|b| cost.for_bucket(b.kind))
        .collect()
}

impl Lane {
    /// May the head of the queue, costing `cost`, go now? With a healthy shared store
    /// the answer is the store's, asked for and delivered later; otherwise the lane's
    /// own buckets'.
    pub(crate) fn gate(&mut self, link: Option<&SharedQuota>, cost: &Cost, now: Instant) -> Gate {
        let (Some(_), Some(sh)) = (link, self.shared.as_mut()) else {
            return Gate::Decided(self.buckets.try_admit(cost, now));
        };
        if sh.degraded {
            return Gate::Decided(self.buckets.try_admit(cost, now));
        }
        if let Some(t) = sh.retry_at {
            if t > now {
                return Gate::Decided(Admission::NotBefore(t));
            }
            sh.retry_at = None;
        }
        if sh.pending.is_some() {
            return Gate::Pending;
        }
        // What can never fit is decided here (the mirror has the same limits).
        if let verdict @ Admission::NeverFits { .. } = self.buckets.check(cost, now) {
            return Gate::Decided(verdict);
        }
        Gate::Ask
    }
}

impl BrokerState {
    /// Asks the store to admit lane `lane_idx`'s ready jobs from the head, as many as may
    /// go in flight (at most [`BATCH`]), stopping before one that can never fit.
    pub(crate) fn ask_store(&mut self, lane_idx: usize, now: Instant) {
        let Some(q) = &self.quota else { return };
        let Some(lane) = self.lanes.get(lane_idx) else {
            return;
        };
        let room = self
            .config
            .broker
            .max_in_flight
            .saturating_sub(lane.in_flight)
            .clamp(1, BATCH);
        let mut batch = Vec::new();
        for id in lane.ready_ids(room) {
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
                sh.retry_at = Some(super::time::after(now, Duration::from_millis(100)));
            }
            self.pump(lane_idx, now);
            return;
        };
        lane.buckets.set_levels(&batch.levels, now);
        match batch.then {
            Some(Verdict::Wait { wait, reason }) => {
                let until = super::time::after(now, wait);
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
                            super::bucket::BucketKind::Requests,
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
                    self.lanes[lane_idx].remove(id, &slot);
                }
            }
            self.dispatch(id, cost, now);
        } else if let Some(q) = &self.quota {
            let delta = amounts(&self.lanes[lane_idx].buckets, &cost);
            q.link.call(StoreCall::Settle {
                lane: lane_idx,
                delta,
            });
        }
    }

    /// The share of each limit this process uses while the store is down.
    fn local_share(&self) -> f64 {
        self.quota.as_ref().map_or(1.0, |q| {
            q.local_share
                .unwrap_or_else(|| 1.0 / q.link.processes() as f64)
                .clamp(0.01, 1.0)
        })
    }

    fn on_store_down(&mut self, now: Instant) {
        let share = self.local_share();
        let Some(q) = self.quota.as_mut() else { return };
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
                        .scaled(&lane.model.limits, lane.model.burst, share, now);
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
                lane.buckets = BucketSet::new(&lane.model.limits, lane.model.burst, now)
                    .with_server_lag(SERVER_LAG);
            }
        }
        for i in 0..self.lanes.len() {
            self.pump(i, now);
        }
    }

    /// The store to tell about lane `lane_idx`, if it is shared and the store is up.
    fn live(&self, lane_idx: usize) -> Option<&StoreLink> {
        let q = self.quota.as_ref()?;
        let lane = self.lanes.get(lane_idx)?;
        (!q.degraded && lane.shared.is_some()).then_some(&q.link)
    }

    /// Settles a job admitted through the store there too.
    pub(crate) fn share_settle(
        &self,
        lane_idx: usize,
        shared: bool,
        reserved: &Cost,
        actual: &Cost,
    ) {
        if !shared {
            return;
        }
        let Some(link) = self.live(lane_idx) else {
            return;
        };
        let buckets = &self.lanes[lane_idx].buckets;
        let delta: Vec<f64> = amounts(buckets, reserved)
            .iter()
            .zip(amounts(buckets, actual))
            .map(|(r, a)| r - a)
            .collect();
        if delta.iter().any(|d| d.abs() > 1e-9) {
            link.call(StoreCall::Settle {
                lane: lane_idx,
                delta,
            });
        }
    }

    /// Tells the store what the server says remains (others outside the store show up
    /// as a shortfall).
    pub(crate) fn share_observe(&self, lane_idx: usize, snap: &RateLimitSnapshot, slack: f64) {
        use super::bucket::BucketKind as K;
        let Some(link) = self.live(lane_idx) else {
            return;
        };
        let buckets = &self.lanes[lane_idx].buckets;
        let mut any = false;
        let mut remaining = Vec::new();
        let mut slacks = Vec::new();
        for b in buckets.buckets() {
            let (window, s) = match b.kind {
                K::Requests => (snap.requests, 0.0),
                K::InputTokens => (snap.input_tokens, slack),
                K::OutputTokens => (snap.output_tokens, slack),
                K::Tokens => (snap.tokens, 0.0),
            };
            let r = window.and_then(|w| w.remaining).map(|r| r as f64);
            any |= r.is_some();
            remaining.push(r);
            slacks.push(s);
        }
        if any {
            link.call(StoreCall::Observe {
                lane: lane_idx,
                remaining,
                slack: slacks,
            });
        }
    }

    /// A 429 on lane `lane_idx`: pause the lane for everyone, and count what the
    /// refused request reserved as others' usage.
    pub(crate) fn share_429(&self, lane_idx: usize, reserved: &Cost, pause: Duration) {
        let Some(link) = self.live(lane_idx) else {
            return;
        };
        link.call(StoreCall::Pause {
            lane: lane_idx,
            for_: pause,
        });
        link.call(StoreCall::Penalize {
            lane: lane_idx,
            reserved: amounts(&self.lanes[lane_idx].buckets, reserved),
        });
    }

    /// The lane's circuit opened: open it for everyone for the cool-down.
    pub(crate) fn share_circuit(&self, lane_idx: usize) {
        let Some(link) = self.live(lane_idx) else {
            return;
        };
        link.call(StoreCall::Circuit {
            lane: lane_idx,
            for_: self.config.broker.circuit_cooldown,
        });
    }

    /// (store name, degraded, processes seen, outages) for the stats.
    pub(crate) fn quota_figures(&self) -> (String, bool, u64, u64) {
        match &self.quota {
            None => ("memory".into(), false, 1, 0),
            Some(q) => (
                "redis".into(),
                q.degraded,
                q.link.processes() as u64,
                q.link.health.outages.load(Ordering::Acquire),
            ),
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
    mailbox: &super::mailbox::BrokerMailbox,
) -> SharedQuota {
    use crate::quota::link::LaneSpec;
    use crate::quota::BucketSpec;
    let specs = lanes
        .iter_mut()
        .map(|lane| {
            let fingerprint = lane_fingerprint(&lane.model.provider, endpoints);
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
        mailbox.send(super::BrokerMsg::Store(event))
    });
    SharedQuota {
        link,
        degraded: false,
        local_share: config.quota.local_share,
    }
}

/// The fingerprint that names provider `provider`'s API key in Redis (never the key);
/// a provider without a key is named by its config name.
pub(crate) fn lane_fingerprint(
    provider: &str,
    endpoints: &std::collections::HashMap<String, crate::provider::Endpoint>,
) -> String {
    use crate::quota::key_fingerprint;
    match endpoints.get(provider).and_then(|e| e.key.as_ref()) {
        Some(key) => key_fingerprint(key.expose()),
        None => key_fingerprint(&format!("no key, provider {provider}")),
    }
}
