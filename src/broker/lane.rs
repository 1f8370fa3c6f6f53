//! A lane: one (provider, model) with its bucket set, its FIFO queue, its pause after a
//! 429, its circuit and its counters. Pure bookkeeping; the broker acts on it.

use super::bucket::{BucketSet, Cost};
use super::circuit::Circuit;
use super::stats::LaneCounters;
use crate::config::{BrokerConfig, ModelConfig};
use std::collections::VecDeque;
use std::time::Duration;
use tokio::time::Instant;

pub(crate) struct Lane {
    pub(crate) model: ModelConfig,
    pub(crate) buckets: BucketSet,
    /// Job ids, oldest first.
    pub(crate) queue: VecDeque<u64>,
    /// The summed cost of the queue (for projections).
    pub(crate) queued_cost: Cost,
    pub(crate) in_flight: usize,
    /// No sends before this instant (after a 429).
    pub(crate) paused_until: Option<Instant>,
    pub(crate) circuit: Circuit,
    /// The earliest wake-up already armed.
    pub(crate) armed: Option<Instant>,
    pub(crate) counters: LaneCounters,
}

impl Lane {
    pub(crate) fn new(model: ModelConfig, cfg: &BrokerConfig, now: Instant) -> Self {
        let buckets = BucketSet::new(&model.limits, model.burst, now)
            .with_server_lag(super::bucket::SERVER_LAG);
        Lane {
            model,
            buckets,
            queue: VecDeque::new(),
            queued_cost: Cost::default(),
            in_flight: 0,
            paused_until: None,
            circuit: Circuit::new(cfg.circuit_threshold, cfg.circuit_cooldown),
            armed: None,
            counters: LaneCounters::new(),
        }
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

    pub(crate) fn push_back(&mut self, id: u64, cost: &Cost) {
        self.queue.push_back(id);
        add(&mut self.queued_cost, cost, 1.0);
    }

    pub(crate) fn push_front(&mut self, id: u64, cost: &Cost) {
        self.queue.push_front(id);
        add(&mut self.queued_cost, cost, 1.0);
    }

    pub(crate) fn remove(&mut self, index: usize, cost: &Cost) -> Option<u64> {
        let id = self.queue.remove(index)?;
        add(&mut self.queued_cost, cost, -1.0);
        if self.queue.is_empty() {
            self.queued_cost = Cost::default();
        }
        Some(id)
    }
}

fn add(total: &mut Cost, c: &Cost, sign: f64) {
    total.requests = (total.requests + sign * c.requests).max(0.0);
    total.input_tokens = (total.input_tokens + sign * c.input_tokens).max(0.0);
    total.output_tokens = (total.output_tokens + sign * c.output_tokens).max(0.0);
}
