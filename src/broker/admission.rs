//! Admission, the lane scheduler: a new request chooses its rung (coalescing first, see
//! `coalescing.rs`) — for a ladder, the rung projected to finish it first after its
//! preference for higher rungs (`placement.rs`) — and is queued on that rung's lane. Each
//! lane's pump first re-places the last queued ladder jobs that another rung would now
//! finish sooner, then sends what may go now in queue order — bounded by `max_in_flight`, the lane's pause after a 429, its
//! circuit and its buckets (or the shared store's gate, `shared.rs`) — moves down its
//! ladder what waited too long or sits behind an open circuit, and drops what nobody
//! waits for; then it sets the lane's one timer for the next change.
//!
//! Cost per message: hash look-ups, bucket arithmetic, and O(log n) queue operations (n
//! the lane's queue length, see `queue.rs`) for each job the message admits, moves down
//! or removes. Nothing walks a queue. Choosing a rung is O(rungs); re-placing looks at
//! each lane's last queued job, O(lanes × rungs) a pump when the config has ladders.

use super::bucket::{Admission, Cost};
use super::error::{BrokerError, RungError};
use super::job::{Job, Prepared};
use super::lane::Lane;
use super::placement::{self, Ask, RungView};
use super::shared::Gate;
use super::state::{reply_all, BrokerState, Caller};
use super::time::{after, FAR};
use std::time::Duration;
use tokio::time::Instant;

/// The most jobs one lane's tail gives up to other rungs in one pump (the rest move at
/// its next pump), so that a message's cost stays bounded.
const MOVES_PER_LANE: usize = 8;

impl BrokerState {
    pub(crate) fn on_complete(&mut self, prepared: Prepared, caller: Caller, now: Instant) {
        self.totals.on_request(prepared.trimmed_tokens);
        // Streams are exempt from coalescing (see `stream.rs`).
        let (waiter, sink) = match caller {
            Caller::Reply(w) => (Some(w), None),
            Caller::Stream(t, s) => (None, Some((t, s))),
        };
        let coalesce =
            self.config.broker.coalesce && prepared.request.options.coalesce && sink.is_none();
        let waiter = match waiter {
            Some(w) if coalesce => {
                let ticket = w.ticket;
                match self
                    .coalescing
                    .join(&prepared, w, &mut self.jobs, &self.lanes)
                {
                    Ok(id) => {
                        self.tickets.insert(ticket, id);
                        return;
                    }
                    Err(w) => Some(w),
                }
            }
            other => other,
        };
        let Some((rung, lane)) = self.choose_rung(&prepared, 0, now) else {
            self.totals.on_refused();
            let err = self.refusal(&prepared, now);
            if let Some(w) = waiter {
                let _ = w.port.send(Box::new(Err(err.clone())));
            }
            if let Some((_, s)) = sink {
                s.finish(Err(err));
            }
            return;
        };
        let first = prepared.rungs.first().map_or("", |r| r.model.as_str());
        let model = prepared.rungs.get(rung).map_or("", |r| r.model.as_str());
        if rung > 0 {
            // Admitted below the first rung (it was exhausted, paused or open): a fallback.
            self.totals.on_fallback(format!("{first}->{model}"), true);
        }
        let id = self.next_id;
        self.next_id += 1;
        let key = coalesce.then_some(prepared.key);
        if let Some(k) = key {
            self.coalescing.register(k, id);
        }
        if let Some(w) = &waiter {
            self.tickets.insert(w.ticket, id);
        }
        if let Some((t, _)) = &sink {
            self.tickets.insert(*t, id);
        }
        let span = super::job::completion_span(&prepared.request, model);
        // Boxed, as the job map holds them (see `BrokerState::jobs`).
        let job = Box::new(Job {
            span,
            id,
            prepared,
            rung,
            attempt: 0,
            rate_limited: 0,
            not_before: now,
            enqueued_at: now,
            reserved: Cost::default(),
            waiters: waiter.into_iter().collect(),
            sink,
            queued: None,
            place: None,
            in_flight: None,
            errors: Vec::new(),
            coalesced: coalesce,
            lane,
            shared: false,
            sent_at: None,
        });
        self.enqueue(job, false, now);
        self.pump(lane, now);
    }

    /// The rung from `from` on (and its lane) where `p` is projected to finish first,
    /// after its preference for higher rungs, among those within its max wait; if none
    /// is, the one with the shortest wait (see `placement.rs`).
    pub(crate) fn choose_rung(
        &self,
        p: &Prepared,
        from: usize,
        now: Instant,
    ) -> Option<(usize, usize)> {
        if from == p.last_rung() {
            // One rung left: placement takes its lone view whenever there is one (it is
            // the floor, so even an open circuit waits there), and there is one exactly
            // when the request fits its context and could ever fit its buckets. Saves
            // the projections on the common single-model request.
            let lane_idx = self.lane_idx(p, from)?;
            let lane = self.lanes.get(lane_idx)?;
            if self.context_overflow(p, from, lane).is_some() {
                return None;
            }
            let cost = lane.cost_of(p, from, now);
            return lane.buckets.fits_ever(&cost).then_some((from, lane_idx));
        }
        let views = self.rung_views(p, from, None, now);
        let rung = placement::place(&views, &self.placement_ask(p))?;
        Some((rung, self.lane_idx(p, rung)?))
    }

    /// What each rung of `p` from `from` on projects at `now`, for the rungs it could ever
    /// use. `queued_on`: the lane where `p` is already the last queued job.
    fn rung_views(
        &self,
        p: &Prepared,
        from: usize,
        queued_on: Option<usize>,
        now: Instant,
    ) -> Vec<RungView> {
        let max_in_flight = self.config.broker.max_in_flight;
        let mut views = Vec::with_capacity(p.rungs.len().saturating_sub(from));
        for rung in from..=p.last_rung() {
            let Some(lane_idx) = self.lane_idx(p, rung) else {
                continue;
            };
            let lane = &self.lanes[lane_idx];
            if self.context_overflow(p, rung, lane).is_some() {
                continue;
            }
            let cost = lane.cost_of(p, rung, now);
            let queued = queued_on == Some(lane_idx);
            let Some(wait) = lane.projected_wait(&cost, queued, now) else {
                continue;
            };
            let ahead = lane.queue.queue_len().saturating_sub(usize::from(queued));
            views.push(RungView {
                rung,
                fits: true,
                circuit_open: !lane.circuit.may_send(now),
                wait,
                busy: lane.busy_wait(ahead, lane.max_in_flight(max_in_flight)),
                service: lane.service,
            });
        }
        views
    }

    fn lane_idx(&self, p: &Prepared, rung: usize) -> Option<usize> {
        p.rungs
            .get(rung)
            .and_then(|r| self.lane_of.get(&r.model))
            .copied()
    }

    /// The floor, max wait and preference `p` is placed with.
    fn placement_ask(&self, p: &Prepared) -> Ask {
        Ask {
            floor: p.last_rung(),
            max_wait: self.wait_limit(p),
            prefer: p
                .request
                .options
                .prefer
                .or(self.config.broker.ladder_prefer)
                .or(self.wait_limit(p))
                .unwrap_or(Duration::MAX),
        }
    }

    /// Re-places the last queued jobs of every lane that another rung would now finish
    /// sooner (see `placement::replace`): each lane's tail moves while it gains, at most
    /// [`MOVES_PER_LANE`] jobs a pump. Only jobs on their first attempt that never moved
    /// down by a failure or a timeout move, and only between rungs of their own ladder
    /// within their floor. A lane other than `pumping` that receives a job is woken now
    /// (its timer), so its pump sends it; `pumping`'s own pump follows this.
    fn respill(&mut self, pumping: usize, now: Instant) {
        if self.config.ladders.is_empty() {
            return;
        }
        for source in 0..self.lanes.len() {
            for _ in 0..MOVES_PER_LANE {
                let Some(id) = self.lanes[source].queue.tail() else {
                    break;
                };
                let Some(job) = self.jobs.get(&id) else {
                    break; // cannot happen: every queued id has its job
                };
                let movable = job.prepared.last_rung() > 0
                    && job.errors.is_empty()
                    && job.attempt == 0
                    && !job.shared
                    && !job.abandoned();
                if !movable {
                    break;
                }
                let views = self.rung_views(&job.prepared, 0, Some(source), now);
                let ask = self.placement_ask(&job.prepared);
                let Some(rung) = placement::replace(&views, job.rung, &ask) else {
                    break;
                };
                let Some(target) = self.lane_idx(&job.prepared, rung) else {
                    break;
                };
                let Some(mut job) = self.take_queued(id) else {
                    break;
                };
                job.span.in_scope(|| {
                    tracing::debug!(rung, "re-placed on the rung that finishes it sooner")
                });
                job.rung = rung;
                job.lane = target;
                self.enqueue(job, false, now);
                if target != pumping {
                    self.lanes[target].timer.arm(now, now);
                }
            }
        }
    }

    fn context_overflow(&self, p: &Prepared, rung: usize, lane: &Lane) -> Option<BrokerError> {
        let input = p.est_input(rung);
        let max_tokens = u64::from(p.request.max_tokens);
        (input + max_tokens > lane.model.context_window).then(|| BrokerError::ContextTooLarge {
            model: lane.model.name.clone(),
            input,
            max_tokens,
            max: lane.model.context_window,
        })
    }

    /// Why no rung can take `p`: the first rung's reason, or every rung's.
    fn refusal(&self, p: &Prepared, now: Instant) -> BrokerError {
        let mut errs = Vec::new();
        for (rung, plan) in p.rungs.iter().enumerate().take(p.last_rung() + 1) {
            let Some(lane) = self
                .lane_of
                .get(&plan.model)
                .and_then(|&i| self.lanes.get(i))
            else {
                continue;
            };
            let err = self.context_overflow(p, rung, lane).unwrap_or_else(|| {
                match lane.buckets.check(&lane.cost_of(p, rung, now), now) {
                    Admission::NeverFits { bucket, need, max } => BrokerError::never_fits(
                        &plan.model,
                        bucket,
                        need,
                        max,
                        plan.est_input,
                        u64::from(p.request.max_tokens),
                    ),
                    // It fits the buckets and the context: the rung was skipped because
                    // its circuit is open.
                    _ => circuit_open(lane, now),
                }
            });
            errs.push(RungError {
                model: plan.model.clone(),
                error: err,
            });
        }
        match errs.len() {
            0 => BrokerError::UnknownTarget(p.request.target.clone()),
            1 => errs.remove(0).error,
            _ => BrokerError::AllRungsFailed(errs),
        }
    }

    /// Queues `job` on its lane: at the back, or for a retry back at its place.
    pub(crate) fn enqueue(&mut self, mut job: Box<Job>, front: bool, now: Instant) {
        let deadline = self.deadline(&job);
        let Some(lane) = self.lanes.get_mut(job.lane) else {
            return;
        };
        let cost = lane.cost_of(&job.prepared, job.rung, now);
        let place = job.place.filter(|(l, _)| front && *l == job.lane);
        let slot = match place {
            // A retry goes back to its place (see `queue.rs`).
            Some((_, order)) => {
                lane.queue
                    .push_at(job.id, order, job.not_before, deadline, cost, now)
            }
            None => lane
                .queue
                .push(job.id, front, job.not_before, deadline, cost, now),
        };
        job.place = Some((job.lane, slot.order()));
        job.queued = Some(slot);
        self.jobs.insert(job.id, job);
    }

    /// When a queued `job` stops waiting and moves down its ladder: `None` on its last
    /// rung (or floor), where it waits as long as it takes.
    fn deadline(&self, job: &Job) -> Option<Instant> {
        if job.rung >= job.prepared.last_rung() {
            return None;
        }
        let limit = self.wait_limit(&job.prepared).unwrap_or(FAR);
        Some(after(job.enqueued_at, limit))
    }

    /// Takes job `id` out of its lane's queue and out of the broker; `None` if it is not
    /// queued (unknown, or in flight).
    pub(crate) fn take_queued(&mut self, id: u64) -> Option<Box<Job>> {
        let job = self.jobs.get(&id)?;
        job.queued?;
        let mut job = self.jobs.remove(&id)?;
        if let (Some(slot), Some(lane)) = (job.queued.take(), self.lanes.get_mut(job.lane)) {
            lane.queue.remove(id, &slot);
        }
        Some(job)
    }

    /// Drops `job`, whose callers have all gone: nothing more is spent on it.
    pub(crate) fn drop_abandoned(&mut self, mut job: Box<Job>) {
        job.span.record("outcome", "abandoned");
        self.coalescing.forget(&job);
        // Nobody listens; this only forgets the tickets.
        reply_all(&mut self.tickets, &mut job, Err(BrokerError::Cancelled));
    }

    /// Moves on the lane's jobs whose `max_wait` has run out, then sends every job that
    /// may go now, in queue order; then sets the lane's one timer for the next instant
    /// something can change.
    pub(crate) fn pump(&mut self, lane_idx: usize, now: Instant) {
        if lane_idx >= self.lanes.len() {
            return;
        }
        self.expire(lane_idx, now);
        self.lanes[lane_idx].queue.promote(now);
        self.respill(lane_idx, now);
        let max_in_flight = self.config.broker.max_in_flight;
        // What keeps the head of the queue from going, and until when.
        let mut blocked_until: Option<Instant> = None;
        loop {
            let lane = &mut self.lanes[lane_idx];
            if lane.queue.queue_len() == 0 || lane.in_flight >= lane.max_in_flight(max_in_flight) {
                break;
            }
            if let Some(t) = lane.paused_until.filter(|t| *t > now) {
                blocked_until = Some(t);
                break;
            }
            if !lane.circuit.may_send(now) {
                if self.drain_open_circuit(lane_idx, now) {
                    continue;
                }
                blocked_until = self.lanes[lane_idx]
                    .circuit
                    .open_until()
                    .filter(|t| *t > now);
                break;
            }
            // The first job whose not-before time has come, in queue order.
            let Some(id) = lane.queue.head() else {
                break; // only retries backing off: the timer wakes for them
            };
            let Some(job) = self.jobs.get(&id) else {
                break; // cannot happen: every queued id has its job
            };
            if job.abandoned() {
                if let Some(job) = self.take_queued(id) {
                    self.drop_abandoned(job);
                }
                continue;
            }
            let cost = lane.cost_of(&job.prepared, job.rung, now);
            let verdict = match lane.gate(self.quota.as_ref(), &cost, now) {
                Gate::Decided(v) => v,
                // The store's verdict comes as a message, which pumps the lane again.
                Gate::Ask => {
                    self.ask_store(lane_idx, now);
                    break;
                }
                Gate::Pending => break,
            };
            match verdict {
                Admission::Admitted => {
                    if let Some(job) = self.jobs.get_mut(&id) {
                        job.shared = false;
                        if let Some(slot) = job.queued.take() {
                            self.lanes[lane_idx].queue.remove(id, &slot);
                        }
                    }
                    self.dispatch(id, cost, now);
                }
                Admission::NotBefore(t) => {
                    blocked_until = Some(t);
                    break;
                }
                Admission::NeverFits { bucket, need, max } => {
                    let model = lane.model.name.clone();
                    if let Some(job) = self.take_queued(id) {
                        let err = BrokerError::never_fits(
                            &model,
                            bucket,
                            need,
                            max,
                            job.prepared.est_input(job.rung),
                            u64::from(job.prepared.request.max_tokens),
                        );
                        self.move_down_or_fail(job, err, true, now);
                    }
                }
            }
        }
        let lane = &mut self.lanes[lane_idx];
        let wake = [blocked_until, lane.queue.next_change()]
            .into_iter()
            .flatten()
            .min();
        if let Some(t) = wake {
            lane.timer.arm(t, now);
        }
    }

    /// The longest `p` may wait on one rung: its own `max_wait`, or for a ladder the
    /// broker's default.
    fn wait_limit(&self, p: &Prepared) -> Option<Duration> {
        let ladder = p.last_rung() > 0;
        p.request
            .options
            .max_wait
            .or(ladder.then_some(self.config.broker.ladder_max_wait))
    }

    /// Moves down the ladder every job of the lane that has waited longer than its
    /// `max_wait` (only jobs with a lower rung have a deadline).
    fn expire(&mut self, lane_idx: usize, now: Instant) {
        while let Some(id) = self.lanes[lane_idx].queue.expired(now) {
            let Some(job) = self.take_queued(id) else {
                break; // cannot happen: every deadline belongs to a queued job
            };
            let err = BrokerError::WaitedTooLong {
                model: self.lanes[lane_idx].model.name.clone(),
                waited: now.saturating_duration_since(job.enqueued_at),
                max_wait: self.wait_limit(&job.prepared).unwrap_or(FAR),
            };
            self.move_down_or_fail(job, err, true, now);
        }
    }

    /// With the circuit open, the jobs that may go lower leave; returns whether any did
    /// and some remain.
    fn drain_open_circuit(&mut self, lane_idx: usize, now: Instant) -> bool {
        let mut moved = false;
        while let Some(id) = self.lanes[lane_idx].queue.first_movable() {
            let Some(job) = self.take_queued(id) else {
                break; // cannot happen: every deadline belongs to a queued job
            };
            let err = circuit_open(&self.lanes[lane_idx], now);
            self.move_down_or_fail(job, err, true, now);
            moved = true;
        }
        moved && self.lanes[lane_idx].queue.queue_len() > 0
    }

    pub(crate) fn on_tick(&mut self, lane_idx: usize, now: Instant) {
        if let Some(lane) = self.lanes.get_mut(lane_idx) {
            lane.timer.fired(now);
            self.pump(lane_idx, now);
        }
    }

    /// The caller holding `ticket` stopped waiting. If nobody else waits for its job, a
    /// queued job leaves the queue (spending nothing) and a job in flight will be
    /// neither retried nor moved down when its attempt ends.
    pub(crate) fn on_abandon(&mut self, ticket: u64, now: Instant) {
        let Some(id) = self.tickets.remove(&ticket) else {
            return; // already answered
        };
        let Some(job) = self.jobs.get_mut(&id) else {
            return;
        };
        job.waiters.retain(|w| w.ticket != ticket);
        if job.sink.as_ref().is_some_and(|(t, _)| *t == ticket) {
            job.sink = None;
        }
        if !job.waiters.is_empty() || job.sink.is_some() {
            return;
        }
        let lane = job.lane;
        if let Some(job) = self.take_queued(id) {
            self.drop_abandoned(job);
            // The head may have changed.
            self.pump(lane, now);
        }
    }
}

/// The error of a rung skipped because its circuit is open.
fn circuit_open(lane: &Lane, now: Instant) -> BrokerError {
    BrokerError::CircuitOpen {
        model: lane.model.name.clone(),
        retry_in: lane
            .circuit
            .open_until()
            .map_or(Duration::ZERO, |t| t.saturating_duration_since(now)),
    }
}
