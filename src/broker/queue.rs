//! A lane's queue, as three ordered indexes, so that no operation walks it:
//!
//! - `ready`: jobs that may go now, in queue order (a `BTreeMap` from order to job). The
//!   head is the first entry. Arrivals take increasing orders from 0; retries take
//!   decreasing orders from −1, so a retry goes ahead of every arrival, as it always has.
//!   A retry of a job that arrived on this lane goes back to its own arrival order
//!   instead ([`LaneQueue::push_at`]): ahead of every later arrival, and behind the
//!   earlier ones, so retries (a lane's 429s come in bursts) keep their arrival order.
//! - `waiting`: jobs backing off before a retry, by the instant they may go; moved into
//!   `ready` (keeping their order) when that instant comes.
//! - `deadlines`: jobs that may still move down their ladder, by the instant their
//!   `max_wait` runs out. It also lists exactly the jobs an open circuit sends down.
//!
//! A queued job keeps its [`QueueSlot`], so removing it from the middle (it waited too
//! long, its callers gave up, the circuit opened) is exact. Each operation is O(log n) in
//! the lane's queue length; a message costs that per job it admits, moves or removes.

use super::bucket::Cost;
use std::collections::{BTreeMap, BTreeSet};
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

impl QueueSlot {
    /// Its place in the queue order (lower goes first).
    pub(crate) fn order(&self) -> i64 {
        self.order
    }
}

/// The jobs queued on one lane, in order, with their summed cost.
#[derive(Debug, Default)]
pub(crate) struct LaneQueue {
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
}

impl LaneQueue {
    pub(crate) fn new() -> Self {
        LaneQueue {
            next_front: -1,
            ..LaneQueue::default()
        }
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
        self.push_at(id, order, not_before, deadline, cost, now)
    }

    /// Queues job `id` back at `order`, the order it was given when it arrived on this
    /// lane (see [`QueueSlot::order`]), which no other job holds.
    pub(crate) fn push_at(
        &mut self,
        id: u64,
        order: i64,
        not_before: Instant,
        deadline: Option<Instant>,
        cost: Cost,
        now: Instant,
    ) -> QueueSlot {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn lane(_now: Instant) -> LaneQueue {
        LaneQueue::new()
    }

    fn cost(input: f64) -> Cost {
        Cost::request(input, 10.0)
    }

    /// Pops the head until the ready queue is empty.
    fn drain(l: &mut LaneQueue) -> Vec<u64> {
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
    fn a_retry_pushed_back_at_its_arrival_order_keeps_its_place() {
        let t0 = Instant::now();
        let mut l = lane(t0);
        let a = l.push(1, false, t0, None, cost(1.0), t0);
        let b = l.push(2, false, t0, None, cost(1.0), t0);
        l.push(3, false, t0, None, cost(1.0), t0);
        // 1 and 2 are sent, then retried, 2 first.
        l.remove(1, &a);
        l.remove(2, &b);
        l.push_at(2, b.order(), t0, None, cost(1.0), t0);
        l.push_at(1, a.order(), t0, None, cost(1.0), t0);
        assert_eq!(drain(&mut l), vec![1, 2, 3]);
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
