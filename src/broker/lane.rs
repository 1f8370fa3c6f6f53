//! A lane: one (provider, model) with its bucket set, its queue, its pause after a 429,
//! its circuit, its timer and its counters. Bookkeeping only; the broker acts on it.
//!
//! Its queue is in `queue.rs`.

use super::bucket::{BucketSet, Cost};
use super::circuit::Circuit;
use super::job::Prepared;
use super::learned_limits::LaneLimits;
use super::mailbox::{BrokerMailbox, BrokerMsg};
use super::queue::LaneQueue;
use super::shared::{Gate, SharedLane, SharedQuota};
use super::stats::{cache_hit_share, share, BucketStats, LaneCounters, LaneStats};
use super::warm::WarmPrefixes;
use crate::config::{BrokerConfig, ModelConfig};
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

pub(crate) struct Lane {
    pub(crate) model: ModelConfig,
    pub(crate) buckets: BucketSet,
    pub(crate) queue: LaneQueue,
    pub(crate) in_flight: usize,
    /// No sends before this instant (after a 429).
    pub(crate) paused_until: Option<Instant>,
    pub(crate) circuit: Circuit,
    pub(crate) timer: LaneTimer,
    pub(crate) counters: LaneCounters,
    /// With a shared quota store: the admission asked for and the store's last word
    /// (see `shared.rs`); `None` with the memory store.
    pub(crate) shared: Option<SharedLane>,
    /// The prefixes the provider has cached for this lane, as its responses showed.
    pub(crate) warm: WarmPrefixes,
    /// How long a successful call here takes: a moving average of what was observed
    /// (zero until the first), for the placement of ladder requests.
    pub(crate) service: Duration,
    /// The limits in effect (configured, or learned from the server) and their origin.
    pub(crate) limits: LaneLimits,
}

/// The weight of the newest observation in a lane's average latency.
const SERVICE_WEIGHT: f64 = 0.2;

impl Lane {
    pub(crate) fn new(
        model: ModelConfig,
        cfg: &BrokerConfig,
        timer: LaneTimer,
        now: Instant,
    ) -> Self {
        let buckets = BucketSet::new(&model.limits, model.burst, now)
            .with_server_lag(super::bucket::SERVER_LAG);
        let limits = LaneLimits::new(model.limit_policy, model.limits);
        Lane {
            limits,
            model,
            buckets,
            queue: LaneQueue::new(),
            in_flight: 0,
            paused_until: None,
            circuit: Circuit::new(cfg.circuit_threshold, cfg.circuit_cooldown),
            timer,
            counters: LaneCounters::new(),
            shared: None,
            warm: WarmPrefixes::default(),
            service: Duration::ZERO,
        }
    }

    /// A call sent at `sent_at` succeeded at `now`: one more latency observed.
    pub(crate) fn observe_service(&mut self, sent_at: Option<Instant>, now: Instant) {
        let Some(sent) = sent_at else {
            return;
        };
        let took = now.saturating_duration_since(sent);
        self.service = if self.service.is_zero() {
            took
        } else {
            self.service
                .mul_f64(1.0 - SERVICE_WEIGHT)
                .saturating_add(took.mul_f64(SERVICE_WEIGHT))
        };
    }

    /// How long until an in-flight slot is free for a request with `ahead` requests
    /// queued before it, at `max_in_flight` slots: whole rounds of the observed latency.
    pub(crate) fn busy_wait(&self, ahead: usize, max_in_flight: usize) -> Duration {
        let slots = max_in_flight.max(1);
        let work = self.in_flight + ahead + 1;
        if work <= slots {
            return Duration::ZERO;
        }
        let rounds = (work - slots).div_ceil(slots);
        self.service
            .saturating_mul(u32::try_from(rounds).unwrap_or(u32::MAX))
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

    /// The most attempts this lane may have in flight (`max`: `[broker] max_in_flight`;
    /// one while a limit is still unknown).
    pub(crate) fn max_in_flight(&self, max: usize) -> usize {
        self.limits.in_flight_cap(max)
    }

    pub(crate) fn pause_until(&mut self, until: Instant) {
        self.paused_until = Some(self.paused_until.map_or(until, |t| t.max(until)));
    }

    /// How long a new request of `cost` would wait here, queue included; `None` if it can
    /// never fit. `queued`: the request is already the last of this lane's queue (its
    /// own cost is not ahead of it).
    pub(crate) fn projected_wait(
        &self,
        cost: &Cost,
        queued: bool,
        now: Instant,
    ) -> Option<Duration> {
        let total = &self.queue.queued_cost;
        let ahead = if queued {
            Cost {
                requests: (total.requests - cost.requests).max(0.0),
                input_tokens: (total.input_tokens - cost.input_tokens).max(0.0),
                output_tokens: (total.output_tokens - cost.output_tokens).max(0.0),
            }
        } else {
            *total
        };
        let wait = self.buckets.projected_wait(&ahead, cost, now)?;
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

    /// May the head of the queue, costing `cost`, go now? With a healthy shared store
    /// the answer is the store's, asked for and delivered later (see `shared.rs`);
    /// otherwise the lane's own buckets'.
    pub(crate) fn gate(&mut self, store: Option<&SharedQuota>, cost: &Cost, now: Instant) -> Gate {
        match (store, self.shared.as_mut()) {
            (Some(_), Some(sh)) => sh.gate(&mut self.buckets, cost, now),
            _ => Gate::Decided(self.buckets.try_admit(cost, now)),
        }
    }

    /// The lane as monitoring sees it.
    pub(crate) fn stats(&self, now: Instant) -> LaneStats {
        let lane = self;
        let c = &lane.counters;
        let queue = LaneCounters::wait_quantiles(&c.queue_wait, now);
        let backoff = LaneCounters::wait_quantiles(&c.backoff_wait, now);
        let buckets = lane
            .buckets
            .buckets()
            .iter()
            .map(|b| {
                let level = b.level(now);
                BucketStats {
                    bucket: b.kind.as_str().to_string(),
                    limit_per_min: b.limit(),
                    capacity: b.capacity(),
                    level,
                    headroom_pct: (level / b.capacity() * 100.0).max(0.0),
                    burn_per_sec: b.burn_rate(now),
                    refill_per_sec: b.rate(),
                    time_to_exhaustion_secs: b.time_to_exhaustion(now),
                }
            })
            .collect();
        LaneStats {
            model: lane.model.name.clone(),
            provider_model: lane.model.model.clone(),
            limit_source: lane.limits.source().as_str().to_string(),
            limit_changes: lane.limits.changes,
            queue_depth: lane.queue.queue_len(),
            in_flight: lane.in_flight,
            paused_for_secs: lane
                .paused_until
                .map_or(0.0, |t| t.saturating_duration_since(now).as_secs_f64()),
            circuit: lane.circuit.state(now),
            circuit_opened: lane.circuit.opened,
            buckets,
            requests: c.requests,
            completions: c.completions,
            failures: c.failures,
            retries: c.retries,
            attempts_abandoned: c.attempts_abandoned,
            status: c.status.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            rate_limited: c.count_status(429),
            rate_limited_last_minute: c.recent_429.last_minute(now),
            rate_limited_last_hour: c.recent_429.last_hour(now),
            rate_limited_share: share(
                c.recent_429.last_hour(now),
                c.recent_requests.last_hour(now),
            ),
            overloaded: c.count_status(529) + c.count_status(503),
            server_errors: c
                .status
                .iter()
                .filter(|(s, _)| **s >= 500)
                .map(|(_, n)| n)
                .sum(),
            transport_errors: c.transport_errors,
            cancelled_streams: c.cancelled_streams,
            requests_last_minute: c.recent_requests.last_minute(now),
            queue_wait_p50_secs: queue[0],
            queue_wait_p95_secs: queue[1],
            backoff_wait_p50_secs: backoff[0],
            backoff_wait_p95_secs: backoff[1],
            input_tokens: c.input_tokens,
            output_tokens: c.output_tokens,
            cache_read_tokens: c.cache_read_tokens,
            cache_write_tokens: c.cache_write_tokens,
            cache_hit_share: cache_hit_share(
                c.input_tokens,
                c.cache_read_tokens,
                c.cache_write_tokens,
            ),
            cache_saved_tokens: match lane.model.limits {
                crate::config::Limits::Split { .. } if !lane.model.cache_reads_count => {
                    c.cache_read_tokens
                }
                _ => 0,
            },
            cache_saved_usd: lane.model.prices.map_or(0.0, |p| {
                p.cache_savings(
                    c.cache_read_tokens,
                    c.cache_write_tokens,
                    c.cache_write_1h_tokens,
                )
            }),
            estimated_input_tokens: c.estimated_input,
            charged_input_tokens: c.charged_input,
            estimation_error_pct: if c.charged_input == 0 {
                0.0
            } else {
                (c.estimated_input as f64 - c.charged_input as f64) / c.charged_input as f64 * 100.0
            },
            priced: lane.model.prices.is_some(),
            cost_usd: c.cost_usd,
            cost_burn_usd_per_min: c.cost_burn_per_min(now),
            wasted_usd: c.wasted_usd,
        }
    }
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
