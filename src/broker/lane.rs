//! A lane: one (provider, model) with its bucket set, its queue, its pause after a 429,
//! its circuit, its timer and its counters. Bookkeeping only; the broker acts on it.
//!
//! The queue is three ordered indexes, so that no operation walks it:
//!
//! - `ready`: jobs that may go now, in queue order (a `BTreeMap` from order to job). The
//!   head is the first entry. Arrivals take increasing orders from 0; retries take
//!   decreasing orders from −1, so a retry goes ahead of every arrival, as it always has.
//! - `waiting`: jobs backing off before a retry, by the instant they may go; moved into
//!   `ready` (keeping their order) when that instant comes.
//! - `deadlines`: jobs that may still move down their ladder, by the instant their
//!   `max_wait` runs out. It also lists exactly the jobs an open circuit sends down.
//!
//! A queued job keeps its [`QueueSlot`], so removing it from the middle (it waited too
//! long, its callers gave up, the circuit opened) is exact. Each operation is O(log n) in
//! the lane's queue length; a message costs that per job it admits, moves or removes.

use super::bucket::{BucketSet, Cost};
use super::circuit::Circuit;
use super::job::Prepared;
use super::mailbox::BrokerMailbox;
use super::stats::LaneCounters;
use super::warm::WarmPrefixes;
use super::BrokerMsg;
use crate::config::{BrokerConfig, ModelConfig};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// Where a queued job sits in its lane, kept on the job.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct QueueSlot {
    /// Queue order: lower goes first.
    order: i64,
    /// Set while the job was queued behind a backoff (in `waiting`, or since moved to
    /// `ready`).
    not_before: Option<Instant>,
    /// When its `max_wait` runs out; set only for jobs that may move down the ladder.
    deadline: Option<Instant>,
    /// What it would cost (summed into `queued_cost`).
    cost: Cost,
}

pub(crate) struct Lane {
    pub(crate) model: ModelConfig,
    pub(crate) buckets: BucketSet,
    /// Order → job id, for jobs that may go now.
    ready: BTreeMap<i64, u64>,
    /// (not before, order, job id), for retries backing off.
    waiting: BTreeSet<(Instant, i64, u64)>,
    /// (deadline, order, job id), for jobs with a lower rung to move to.
    deadlines: BTreeSet<(Instant, i64, u64)>,
    next_back: i64,
    next_front: i64,
    /// The summed cost of the queue (for projections).
    pub(crate) queued_cost: Cost,
    pub(crate) in_flight: usize,
    /// No sends before this instant (after a 429).
    pub(crate) paused_until: Option<Instant>,
    pub(crate) circuit: Circuit,
    pub(crate) timer: LaneTimer,
    pub(crate) counters: LaneCounters,
    /// With a shared quota store: the admission asked for and the store's last word
    /// (see `shared.rs`); `None` with the memory store.
    pub(crate) shared: Option<super::shared::SharedLane>,
    /// The prefixes the provider has cached for this lane, as its responses showed.
    pub(crate) warm: WarmPrefixes,
}

impl Lane {
    pub(crate) fn new(
        model: ModelConfig,
        cfg: &BrokerConfig,
        timer: LaneTimer,
        now: Instant,
    ) -> Self {
        let buckets = BucketSet::new(&model.limits, model.burst, now)
            .with_server_lag(super::bucket::SERVER_LAG);
        Lane {
            model,
            buckets,
            ready: BTreeMap::new(),
            waiting: BTreeSet::new(),
            deadlines: BTreeSet::new(),
            next_back: 0,
            next_front: -1,
            queued_cost: Cost::default(),
            in_flight: 0,
            paused_until: None,
            circuit: Circuit::new(cfg.circuit_threshold, cfg.circuit_cooldown),
            timer,
            counters: LaneCounters::new(),
            shared: None,
            warm: WarmPrefixes::default(),
        }
    }

    /// What one attempt of `p` on `rung` costs this lane's buckets now: its estimate,
    /// less the prefix the provider has cached (see `warm.rs`).
    pub(crate) fn cost_of(&self, p: &Prepared, rung: usize, now: Instant) -> Cost {
        let cached = p
            .rungs
            .get(rung)
            .map_or(0, |r| self.warm.cached_tokens(&r.cache_prefixes, now));
        p.cost(rung, cached)
    }

    pub(crate) fn pause_until(&mut self, until: Instant) {
        self.paused_until = Some(self.paused_until.map_or(until, |t| t.max(until)));
    }

    /// How long a new request of `cost` would wait here, queue included; `None` if it can
    /// never fit.
    pub(crate) fn projected_wait(&self, cost: &Cost, now: Instant) -> Option<Duration> {
        let wait = self.buckets.projected_wait(&self.queued_cost, cost, now)?;
        let paused = self
            .paused_until
            .map_or(Duration::ZERO, |t| t.saturating_duration_since(now));
        let circuit = if self.circuit.may_send(now) {
            Duration::ZERO
        } else {
            self.circuit
                .open_until()
                .map_or(Duration::ZERO, |t| t.saturating_duration_since(now))
        };
        Some(wait.max(paused).max(circuit))
    }

    /// Jobs queued here (ready or backing off).
    pub(crate) fn queue_len(&self) -> usize {
        self.ready.len() + self.waiting.len()
    }

    /// Queues job `id` at the back (an arrival) or the front (a retry). It may go from
    /// `not_before`, and moves down its ladder at `deadline` if it has one.
    pub(crate) fn push(
        &mut self,
        id: u64,
        front: bool,
        not_before: Instant,
        deadline: Option<Instant>,
        cost: Cost,
        now: Instant,
    ) -> QueueSlot {
        let order = if front {
            let o = self.next_front;
            self.next_front = self.next_front.saturating_sub(1);
            o
        } else {
            let o = self.next_back;
            self.next_back = self.next_back.saturating_add(1);
            o
        };
        let slot = QueueSlot {
            order,
            not_before: (not_before > now).then_some(not_before),
            deadline,
            cost,
        };
        match slot.not_before {
            Some(t) => {
                self.waiting.insert((t, order, id));
            }
            None => {
                self.ready.insert(order, id);
            }
        }
        if let Some(d) = deadline {
            self.deadlines.insert((d, order, id));
        }
        add(&mut self.queued_cost, &cost, 1.0);
        slot
    }

    /// Takes job `id`, queued at `slot`, out of the queue.
    pub(crate) fn remove(&mut self, id: u64, slot: &QueueSlot) {
        let was_ready = self.ready.remove(&slot.order).is_some();
        if let (false, Some(t)) = (was_ready, slot.not_before) {
            self.waiting.remove(&(t, slot.order, id));
        }
        if let Some(d) = slot.deadline {
            self.deadlines.remove(&(d, slot.order, id));
        }
        add(&mut self.queued_cost, &slot.cost, -1.0);
        if self.queue_len() == 0 {
            self.queued_cost = Cost::default();
        }
    }

    /// Moves the retries whose backoff has ended into `ready`.
    pub(crate) fn promote(&mut self, now: Instant) {
        while let Some(&(t, order, id)) = self.waiting.first() {
            if t > now {
                break;
            }
            self.waiting.pop_first();
            self.ready.insert(order, id);
        }
    }

    /// The first `k` jobs of `ready`, in queue order.
    pub(crate) fn ready_ids(&self, k: usize) -> Vec<u64> {
        self.ready.values().take(k).copied().collect()
    }

    /// The job at the head of `ready`.
    pub(crate) fn head(&self) -> Option<u64> {
        self.ready.first_key_value().map(|(_, id)| *id)
    }

    /// A job whose deadline has passed, if any (it stays queued until removed).
    pub(crate) fn expired(&self, now: Instant) -> Option<u64> {
        self.deadlines
            .first()
            .filter(|(d, _, _)| *d <= now)
            .map(|(_, _, id)| *id)
    }

    /// The first job that may still move down the ladder, whatever its deadline.
    pub(crate) fn first_movable(&self) -> Option<u64> {
        self.deadlines.first().map(|(_, _, id)| *id)
    }

    /// The next instant something queued changes by itself: a backoff ends or a
    /// deadline passes.
    pub(crate) fn next_change(&self) -> Option<Instant> {
        let backoff = self.waiting.first().map(|(t, _, _)| *t);
        let deadline = self.deadlines.first().map(|(d, _, _)| *d);
        [backoff, deadline].into_iter().flatten().min()
    }
}

fn add(total: &mut Cost, c: &Cost, sign: f64) {
    total.requests = (total.requests + sign * c.requests).max(0.0);
    total.input_tokens = (total.input_tokens + sign * c.input_tokens).max(0.0);
    total.output_tokens = (total.output_tokens + sign * c.output_tokens).max(0.0);
}

/// A lane's one timer: a task that sleeps until the instant the lane last asked for and
/// then sends the broker `Tick(lane)`. Asking for an earlier instant moves the one sleep
/// (through a `watch` channel) instead of starting another task, so a lane never has more
/// than one timer alive. The task ends when the broker's state (and with it the sender)
/// is dropped.
pub(crate) struct LaneTimer {
    tx: watch::Sender<Option<Instant>>,
    /// The wake-up asked for and not yet handled.
    armed: Option<Instant>,
}

impl LaneTimer {
    /// Spawns the timer task of lane `lane`.
    pub(crate) fn spawn(mailbox: BrokerMailbox, lane: usize) -> Self {
        let (tx, rx) = watch::channel(None);
        tokio::spawn(sleeper(rx, mailbox, lane));
        LaneTimer { tx, armed: None }
    }

    /// A timer with no task behind it (for tests of the queue alone).
    #[cfg(test)]
    pub(crate) fn idle() -> Self {
        let (tx, _) = watch::channel(None);
        LaneTimer { tx, armed: None }
    }

    /// Wakes the lane at `at`, unless a wake-up at or before `at` (and after `now`) is
    /// already set: that one will look again.
    pub(crate) fn arm(&mut self, at: Instant, now: Instant) {
        if self.armed.is_some_and(|a| a > now && a <= at) {
            return;
        }
        self.armed = Some(at);
        self.tx.send_replace(Some(at));
    }

    /// A `Tick` arrived: a wake-up that has passed is no longer set.
    pub(crate) fn fired(&mut self, now: Instant) {
        if self.armed.is_some_and(|a| a <= now) {
            self.armed = None;
        }
    }
}

async fn sleeper(mut rx: watch::Receiver<Option<Instant>>, mailbox: BrokerMailbox, lane: usize) {
    loop {
        let at = *rx.borrow_and_update();
        if let Some(at) = at {
            tokio::select! {
                _ = tokio::time::sleep_until(at) => {
                    if !mailbox.send(BrokerMsg::Tick(lane)) {
                        return;
                    }
                }
                changed = rx.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    continue;
                }
            }
        }
        // Fired, or nothing to wait for: sleep until the broker asks again.
        if rx.changed().await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn lane(now: Instant) -> Lane {
        let config = Config::from_toml_str(
            "[providers.p]\nkind = \"sim\"\nwire = \"anthropic\"\n\
             [models.m]\nprovider = \"p\"\nrpm = 60\nitpm = 6000\notpm = 6000\n",
            "test",
        )
        .expect("config");
        let model = config.models["m"].clone();
        Lane::new(model, &config.broker, LaneTimer::idle(), now)
    }

    fn cost(input: f64) -> Cost {
        Cost::request(input, 10.0)
    }

    /// Pops the head until the ready queue is empty.
    fn drain(l: &mut Lane) -> Vec<u64> {
        let mut out = Vec::new();
        while let Some(id) = l.head() {
            l.ready.pop_first();
            out.push(id);
        }
        out
    }

    #[test]
    fn arrivals_go_in_order_and_a_retry_goes_ahead_once_its_backoff_ends() {
        let t0 = Instant::now();
        let mut l = lane(t0);
        for id in 1..=3 {
            l.push(id, false, t0, None, cost(1.0), t0);
        }
        let later = t0 + Duration::from_secs(5);
        l.push(9, true, later, None, cost(1.0), t0);
        assert_eq!(l.queue_len(), 4);
        l.promote(t0 + Duration::from_secs(4));
        assert_eq!(l.head(), Some(1), "still backing off");
        assert_eq!(l.next_change(), Some(later));
        l.promote(later);
        assert_eq!(drain(&mut l), vec![9, 1, 2, 3]);
    }

    #[test]
    fn a_job_removed_from_the_middle_leaves_every_index_and_its_cost() {
        let t0 = Instant::now();
        let mut l = lane(t0);
        let d = t0 + Duration::from_secs(10);
        let a = l.push(1, false, t0, Some(d), cost(100.0), t0);
        let b = l.push(2, false, t0, Some(d), cost(200.0), t0);
        let c = l.push(
            3,
            true,
            t0 + Duration::from_secs(1),
            Some(d),
            cost(300.0),
            t0,
        );
        assert_eq!(l.queued_cost.input_tokens, 600.0);
        l.remove(2, &b);
        assert_eq!(l.queue_len(), 2);
        assert_eq!(l.queued_cost.input_tokens, 400.0);
        l.remove(3, &c);
        assert_eq!(l.next_change(), Some(d), "the backoff entry is gone");
        assert_eq!(l.first_movable(), Some(1));
        l.remove(1, &a);
        assert_eq!(l.queue_len(), 0);
        assert_eq!(l.first_movable(), None);
        assert_eq!(l.next_change(), None);
        assert_eq!(l.queued_cost, Cost::default());
    }

    #[test]
    fn a_retry_removed_after_its_backoff_ended_leaves_the_ready_queue() {
        let t0 = Instant::now();
        let mut l = lane(t0);
        let nb = t0 + Duration::from_secs(1);
        let slot = l.push(7, true, nb, None, cost(1.0), t0);
        l.promote(nb);
        assert_eq!(l.head(), Some(7));
        l.remove(7, &slot);
        assert_eq!(l.head(), None);
        assert_eq!(l.queue_len(), 0);
    }

    #[test]
    fn deadlines_come_due_in_order() {
        let t0 = Instant::now();
        let mut l = lane(t0);
        let s = |n| t0 + Duration::from_secs(n);
        let late = l.push(1, false, t0, Some(s(20)), cost(1.0), t0);
        l.push(2, false, t0, None, cost(1.0), t0);
        let early = l.push(3, false, t0, Some(s(10)), cost(1.0), t0);
        assert_eq!(l.expired(s(9)), None);
        assert_eq!(l.next_change(), Some(s(10)));
        assert_eq!(l.expired(s(10)), Some(3));
        l.remove(3, &early);
        assert_eq!(l.expired(s(15)), None);
        assert_eq!(l.expired(s(20)), Some(1));
        l.remove(1, &late);
        assert_eq!(l.expired(s(1000)), None, "job 2 has no deadline");
        assert_eq!(l.head(), Some(2));
    }
}
