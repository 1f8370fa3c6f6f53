//! The broker's state and the bookkeeping behind each message: coalesce, choose a rung,
//! queue, admit, dispatch, settle, retry or fall back, reply, drop abandoned work.
//!
//! Cost per message: hash look-ups, bucket arithmetic, and O(log n) queue operations (n
//! the lane's queue length, see `lane.rs`) for each job the message admits, moves down or
//! removes. Nothing walks a queue. Choosing a rung is O(rungs).
//!
//! Nothing here panics or returns an error, whatever the request: time arithmetic
//! saturates (`time.rs`), and every failure of one request travels in its reply.

use super::bucket::{Admission, Cost};
use super::circuit::Transition;
use super::error::{BrokerError, RungError};
use super::job::{Job, Prepared, Reply, Waiter};
use super::lane::Lane;
use super::mailbox::BrokerMailbox;
use super::retry::{self, Decision};
use super::stats::{self, LaneStats, Stats};
use super::stream::StreamSink;
use super::time::{after, FAR};
use super::BrokerMsg;
use crate::config::{Config, Limits, ModelConfig};
use crate::provider::{Dispatch, EventSink, ProviderMsg, Reporter};
use crate::provider::{ProviderError, ProviderFailure, ProviderReply, RateLimitSnapshot};
use crate::tokens::Estimator;
use crate::types::Usage;
use hdrhistogram::Histogram;
use ractor::ActorRef;
use rand::Rng;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

pub(crate) struct BrokerState {
    pub(crate) config: Arc<Config>,
    pub(crate) estimator: Arc<Estimator>,
    pub(crate) mailbox: BrokerMailbox,
    pub(crate) lanes: Vec<Lane>,
    pub(crate) lane_of: HashMap<String, usize>,
    pub(crate) providers: HashMap<String, ActorRef<ProviderMsg>>,
    pub(crate) jobs: HashMap<u64, Job>,
    /// Canonical key → the job in flight or queued for it.
    pub(crate) by_key: HashMap<u64, u64>,
    pub(crate) next_id: u64,
    pub(crate) started: Instant,
    pub(crate) totals: Totals,
    pub(crate) handling: Histogram<u64>,
    pub(crate) rng: rand::rngs::SmallRng,
    /// Providers whose endpoint has answered at least once (any HTTP response): only
    /// these get retries when nothing listens (see `retry::fails_fast`).
    pub(crate) answered: HashSet<String>,
    /// Caller ticket → the job that caller waits for (see `on_abandon`).
    pub(crate) tickets: HashMap<u64, u64>,
    /// The next attempt's token (see `Job::in_flight`).
    pub(crate) next_attempt: u64,
    /// The shared quota store, when `[quota] store = "redis"` (see `shared.rs`).
    pub(crate) quota: Option<super::shared::SharedQuota>,
}

#[derive(Debug, Default)]
pub(crate) struct Totals {
    pub(crate) requests: u64,
    pub(crate) completed: u64,
    pub(crate) failed: u64,
    pub(crate) refused: u64,
    pub(crate) merged: u64,
    pub(crate) merged_tokens_saved: u64,
    pub(crate) merged_usd_saved: f64,
    /// Moves down a ladder by `from->to`, at admission and after failures.
    pub(crate) fallbacks: BTreeMap<String, u64>,
    /// The part of `fallbacks` decided at admission.
    pub(crate) fallbacks_at_admission: BTreeMap<String, u64>,
    /// Completions from a lower rung than the request's first.
    pub(crate) fallback_answers: u64,
    /// Completions of the broker's own summary requests (not in `completed`).
    pub(crate) summaries: u64,
    pub(crate) trimmed_tokens: u64,
}

/// Who asked: a caller awaiting one reply, or a stream.
pub(crate) enum Caller {
    Reply(Waiter),
    Stream(u64, StreamSink),
}

/// Gives every waiter (and the stream, if any) the final reply, exactly once, and
/// forgets their tickets.
fn reply_all(tickets: &mut HashMap<u64, u64>, job: &mut Job, reply: Reply) {
    for w in std::mem::take(&mut job.waiters) {
        tickets.remove(&w.ticket);
        // A waiter that gave up (closed port) does not disturb the others.
        let _ = w.port.send(reply.clone());
    }
    if let Some((ticket, sink)) = job.sink.take() {
        tickets.remove(&ticket);
        sink.finish(reply);
    }
}

impl BrokerState {
    // ---- Complete -------------------------------------------------------------------

    pub(crate) fn on_complete(&mut self, prepared: Prepared, caller: Caller, now: Instant) {
        self.totals.requests += 1;
        self.totals.trimmed_tokens += prepared.trimmed_tokens;
        // Streams are exempt from coalescing (see `stream.rs`).
        let (waiter, sink) = match caller {
            Caller::Reply(w) => (Some(w), None),
            Caller::Stream(t, s) => (None, Some((t, s))),
        };
        let coalesce =
            self.config.broker.coalesce && prepared.request.options.coalesce && sink.is_none();
        let waiter = match waiter {
            Some(w) if coalesce => match self.join_inflight(&prepared, w) {
                None => return,
                Some(w) => Some(w),
            },
            other => other,
        };
        let Some((rung, lane)) = self.choose_rung(&prepared, 0, now) else {
            self.totals.refused += 1;
            let err = self.refusal(&prepared, now);
            if let Some(w) = waiter {
                let _ = w.port.send(Err(err.clone()));
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
            let path = format!("{first}->{model}");
            *self.totals.fallbacks.entry(path.clone()).or_default() += 1;
            *self.totals.fallbacks_at_admission.entry(path).or_default() += 1;
        }
        let id = self.next_id;
        self.next_id += 1;
        let key = coalesce.then_some(prepared.key);
        if let Some(k) = key {
            self.by_key.insert(k, id);
        }
        if let Some(w) = &waiter {
            self.tickets.insert(w.ticket, id);
        }
        if let Some((t, _)) = &sink {
            self.tickets.insert(*t, id);
        }
        let span = super::job::completion_span(&prepared.request, model);
        let job = Job {
            span,
            id,
            prepared,
            rung,
            attempt: 0,
            not_before: now,
            enqueued_at: now,
            reserved: Cost::default(),
            waiters: waiter.into_iter().collect(),
            sink,
            queued: None,
            in_flight: None,
            errors: Vec::new(),
            coalesce_key: key,
            lane,
            shared: false,
        };
        self.enqueue(job, false, now);
        self.pump(lane, now);
    }

    /// Attaches `waiter` to the identical request in flight, if there is one (and counts
    /// what that saved); gives the waiter back otherwise.
    fn join_inflight(&mut self, prepared: &Prepared, waiter: Waiter) -> Option<Waiter> {
        let Some(job) = self
            .by_key
            .get(&prepared.key)
            .and_then(|id| self.jobs.get_mut(id))
        else {
            return Some(waiter);
        };
        self.tickets.insert(waiter.ticket, job.id);
        job.waiters.push(waiter);
        job.span.record("merged", job.waiters.len() as u64 - 1);
        self.totals.merged += 1;
        let est_input = prepared.rungs.get(job.rung).map_or(0, |r| r.est_input);
        let max_out = u64::from(prepared.request.max_tokens);
        self.totals.merged_tokens_saved += est_input + max_out;
        if let Some(lane) = self.lanes.get(job.lane) {
            let usage = Usage {
                input_tokens: est_input,
                output_tokens: max_out,
                ..Usage::default()
            };
            self.totals.merged_usd_saved += lane.model.cost(&usage);
        }
        None
    }

    /// The first rung from `from` whose projected wait is within the request's max wait;
    /// if none is, the one with the shortest wait. Rungs that can never fit are skipped.
    fn choose_rung(&self, p: &Prepared, from: usize, now: Instant) -> Option<(usize, usize)> {
        let max_wait = self.wait_limit(p);
        let mut best: Option<(Duration, usize, usize)> = None;
        for rung in from..=p.last_rung() {
            let Some(&lane_idx) = p.rungs.get(rung).and_then(|r| self.lane_of.get(&r.model)) else {
                continue;
            };
            let lane = &self.lanes[lane_idx];
            if self.context_overflow(p, rung, lane).is_some() {
                continue;
            }
            // An open circuit sends the request down the ladder while there is a lower
            // rung; on the last rung it waits for the probe like any other wait.
            if rung < p.last_rung() && !lane.circuit.may_send(now) {
                continue;
            }
            let cost = lane.cost_of(p, rung, now);
            let Some(wait) = lane.projected_wait(&cost, now) else {
                continue;
            };
            if max_wait.is_none_or(|m| wait <= m) {
                return Some((rung, lane_idx));
            }
            if best.is_none_or(|(w, _, _)| wait < w) {
                best = Some((wait, rung, lane_idx));
            }
        }
        best.map(|(_, rung, lane)| (rung, lane))
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

    /// Queues `job` on its lane: at the back, or at the front for a retry.
    fn enqueue(&mut self, mut job: Job, front: bool, now: Instant) {
        let deadline = self.deadline(&job);
        let Some(lane) = self.lanes.get_mut(job.lane) else {
            return;
        };
        let cost = lane.cost_of(&job.prepared, job.rung, now);
        job.queued = Some(lane.push(job.id, front, job.not_before, deadline, cost, now));
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
    pub(crate) fn take_queued(&mut self, id: u64) -> Option<Job> {
        let job = self.jobs.get(&id)?;
        job.queued?;
        let mut job = self.jobs.remove(&id)?;
        if let (Some(slot), Some(lane)) = (job.queued.take(), self.lanes.get_mut(job.lane)) {
            lane.remove(id, &slot);
        }
        Some(job)
    }

    /// Drops `job`, whose callers have all gone: nothing more is spent on it.
    fn drop_abandoned(&mut self, mut job: Job) {
        job.span.record("outcome", "abandoned");
        self.forget_key(&job);
        // Nobody listens; this only forgets the tickets.
        reply_all(&mut self.tickets, &mut job, Err(BrokerError::Cancelled));
    }

    // ---- Admission ------------------------------------------------------------------

    /// Moves on the lane's jobs whose `max_wait` has run out, then sends every job that
    /// may go now, in queue order; then sets the lane's one timer for the next instant
    /// something can change.
    pub(crate) fn pump(&mut self, lane_idx: usize, now: Instant) {
        if lane_idx >= self.lanes.len() {
            return;
        }
        self.expire(lane_idx, now);
        self.lanes[lane_idx].promote(now);
        let max_in_flight = self.config.broker.max_in_flight;
        // What keeps the head of the queue from going, and until when.
        let mut blocked_until: Option<Instant> = None;
        loop {
            let lane = &mut self.lanes[lane_idx];
            if lane.queue_len() == 0 || lane.in_flight >= max_in_flight {
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
            let Some(id) = lane.head() else {
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
                super::shared::Gate::Decided(v) => v,
                // The store's verdict comes as a message, which pumps the lane again.
                super::shared::Gate::Ask => {
                    self.ask_store(lane_idx, now);
                    break;
                }
                super::shared::Gate::Pending => break,
            };
            match verdict {
                Admission::Admitted => {
                    if let Some(job) = self.jobs.get_mut(&id) {
                        job.shared = false;
                        if let Some(slot) = job.queued.take() {
                            self.lanes[lane_idx].remove(id, &slot);
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
        let wake = [blocked_until, lane.next_change()]
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
        while let Some(id) = self.lanes[lane_idx].expired(now) {
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
        while let Some(id) = self.lanes[lane_idx].first_movable() {
            let Some(job) = self.take_queued(id) else {
                break; // cannot happen: every deadline belongs to a queued job
            };
            let err = circuit_open(&self.lanes[lane_idx], now);
            self.move_down_or_fail(job, err, true, now);
            moved = true;
        }
        moved && self.lanes[lane_idx].queue_len() > 0
    }

    pub(crate) fn on_tick(&mut self, lane_idx: usize, now: Instant) {
        if let Some(lane) = self.lanes.get_mut(lane_idx) {
            lane.timer.fired(now);
            self.pump(lane_idx, now);
        }
    }

    // ---- Abandon --------------------------------------------------------------------

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

    pub(crate) fn dispatch(&mut self, id: u64, cost: Cost, now: Instant) {
        let token = self.next_attempt;
        self.next_attempt += 1;
        let Some(job) = self.jobs.get_mut(&id) else {
            return;
        };
        let Some(lane) = self.lanes.get_mut(job.lane) else {
            return;
        };
        job.attempt += 1;
        job.reserved = cost;
        job.in_flight = Some(token);
        if job.attempt == 1 {
            let waited = now.saturating_duration_since(job.enqueued_at);
            lane.counters.on_queue_wait(waited, now);
            job.span.record("waited_ms", waited.as_millis() as u64);
        }
        job.span.record("attempt", job.attempt);
        job.span.record("lane", lane.model.name.as_str());
        lane.in_flight += 1;
        lane.counters.on_sent(now);
        if lane.circuit.on_send(now) == Some(Transition::HalfOpened) {
            job.span.in_scope(
                || tracing::info!(model = %lane.model.name, "circuit half-open: sending a probe"),
            );
        }
        let lane_idx = job.lane;
        let request = job.prepared.request_for(job.rung);
        let wire_model = lane.model.model.clone();
        let provider = self.providers.get(&lane.model.provider).cloned();
        let mailbox = self.mailbox.clone();
        // Reports exactly once, even if the attempt panics or is dropped (`Reporter`).
        let on_done = Reporter::new(Box::new(move |outcome| {
            mailbox.send(BrokerMsg::Finished(Box::new(super::Finished {
                job: id,
                lane: lane_idx,
                attempt: token,
                outcome,
            })));
        }));
        let stream = job
            .sink
            .as_ref()
            .map(|(_, s)| Arc::new(s.clone()) as Arc<dyn EventSink>);
        let dispatch = Box::new(Dispatch {
            wire_model,
            request,
            on_done,
            stream,
        });
        // If the provider actor is gone, the attempt fails as a connection error, reported
        // through the mailbox like any outcome and retried like one (the supervisor
        // restarts the actor).
        let unavailable = |why: String| {
            tracing::warn!(error = %why, "dispatch failed");
            Err(ProviderFailure::from(ProviderError::Connection {
                message: format!("provider actor unavailable: {why}"),
            }))
        };
        match provider {
            Some(p) => match p.cast(ProviderMsg::Dispatch(dispatch)) {
                Ok(()) => {}
                Err(ractor::MessagingErr::SendErr(ProviderMsg::Dispatch(d))) => {
                    d.on_done
                        .report(unavailable("its mailbox is closed".into()));
                }
                // Any other error dropped the dispatch, whose `Reporter` reported it.
                Err(e) => tracing::warn!(error = %e, "dispatch failed"),
            },
            None => dispatch
                .on_done
                .report(unavailable("no provider actor for this model".into())),
        }
    }

    // ---- Finished -------------------------------------------------------------------

    pub(crate) fn on_finished(
        &mut self,
        id: u64,
        lane_idx: usize,
        attempt: u64,
        outcome: Result<ProviderReply, ProviderFailure>,
        now: Instant,
    ) {
        let Some(job) = self.jobs.get(&id) else {
            return;
        };
        if job.lane != lane_idx || job.in_flight != Some(attempt) {
            return; // a stale or repeated report
        }
        let Some(mut job) = self.jobs.remove(&id) else {
            return;
        };
        job.in_flight = None;
        self.lanes[lane_idx].in_flight = self.lanes[lane_idx].in_flight.saturating_sub(1);
        match outcome {
            Ok(reply) => self.on_success(job, reply, now),
            Err(failure) => self.on_failure(job, failure, now),
        }
        self.pump(lane_idx, now);
    }

    /// What an attempt with `usage` cost the lane's buckets. Output tokens include any
    /// thinking (Anthropic) or reasoning (OpenAI) tokens, as the providers count them.
    pub(crate) fn actual_cost(model: &ModelConfig, usage: &Usage) -> Cost {
        match model.limits {
            // Anthropic ITPM: uncached input + cache writes; cache reads are free, except
            // for models that count them (`cache_reads_count`, Claude Haiku 3.5 and older).
            Limits::Split { .. } => {
                let reads = if model.cache_reads_count {
                    usage.cache_read_input_tokens
                } else {
                    0
                };
                Cost::request(
                    (usage.input_tokens + usage.cache_creation_input_tokens + reads) as f64,
                    usage.output_tokens as f64,
                )
            }
            // OpenAI TPM: every prompt token, cached or not, plus output.
            Limits::Combined { .. } => {
                Cost::request(usage.total_input() as f64, usage.output_tokens as f64)
            }
        }
    }

    fn adopt(&mut self, lane_idx: usize, snap: &RateLimitSnapshot, now: Instant) {
        use super::bucket::BucketKind as K;
        let lane = &mut self.lanes[lane_idx];
        // Anthropic rounds token `remaining` to the nearest thousand: allow for it.
        let slack = if matches!(lane.model.limits, Limits::Split { .. }) {
            500.0
        } else {
            0.0
        };
        let pairs = [
            (K::Requests, snap.requests, 0.0),
            (K::InputTokens, snap.input_tokens, slack),
            (K::OutputTokens, snap.output_tokens, slack),
            (K::Tokens, snap.tokens, 0.0),
        ];
        for (kind, window, slack) in pairs {
            let Some(remaining) = window.and_then(|w| w.remaining) else {
                continue;
            };
            if let Some(b) = lane.buckets.get_mut(kind) {
                b.observe_remaining(remaining as f64, slack, now);
            }
        }
        self.share_observe(lane_idx, snap, slack);
    }

    fn on_success(&mut self, mut job: Job, reply: ProviderReply, now: Instant) {
        let lane_idx = job.lane;
        let lane = &mut self.lanes[lane_idx];
        let usage = reply.completion.usage;
        let actual = Self::actual_cost(&lane.model, &usage);
        lane.buckets.settle(&job.reserved, &actual, now);
        if let Some(plan) = job.prepared.rungs.get(job.rung) {
            let min = lane.model.min_cache_tokens;
            lane.warm.observe(&plan.cache_prefixes, &usage, min, now);
        }
        self.share_settle(lane_idx, job.shared, &job.reserved, &actual);
        let lane = &mut self.lanes[lane_idx];
        if lane.circuit.on_success() == Some(Transition::Closed) {
            job.span
                .in_scope(|| tracing::info!(model = %lane.model.name, "circuit closed"));
        }
        job.span.record(
            "gen_ai.response.model",
            reply.completion.provider_model.as_str(),
        );
        job.span
            .record("gen_ai.usage.input_tokens", usage.total_input());
        job.span
            .record("gen_ai.usage.output_tokens", usage.output_tokens);
        job.span.record("outcome", "ok");
        let cost = lane.model.cost(&usage);
        let c = &mut lane.counters;
        c.on_status(Some(200), now);
        c.completions += 1;
        c.on_usage(&usage, cost, now);
        let plan = job.prepared.rungs.get(job.rung).cloned();
        if let Some(plan) = &plan {
            c.estimated_input += plan.est_input;
            c.charged_input += usage.total_input();
            if !plan.provider_counted {
                self.estimator
                    .observe(&plan.model, plan.raw_input, usage.total_input());
            }
        }
        let model = lane.model.name.clone();
        if !self.answered.contains(&lane.model.provider) {
            self.answered.insert(lane.model.provider.clone());
        }
        self.adopt(lane_idx, &reply.rate_limits, now);
        if job.prepared.summary {
            self.totals.summaries += 1;
        } else {
            self.totals.completed += 1;
            if job.rung > 0 {
                self.totals.fallback_answers += 1;
            }
        }
        let mut completion = reply.completion;
        completion.model = model;
        self.forget_key(&job);
        reply_all(&mut self.tickets, &mut job, Ok(completion));
    }

    fn on_failure(&mut self, mut job: Job, failure: ProviderFailure, now: Instant) {
        let lane_idx = job.lane;
        let err = failure.error;
        let lane = &mut self.lanes[lane_idx];
        // A failure answered before generation (429, 529, 5xx, timeouts) is billed
        // nothing, though the request counts. A stream that had started and then failed
        // or was cancelled is billed what it produced (Anthropic also its input, reported
        // at the stream's start): that is settled on the buckets, spent, and wasted,
        // since the caller got no completion for it.
        let partial = err.partial_usage();
        let charged = Self::actual_cost(&lane.model, &partial);
        lane.buckets.settle(&job.reserved, &charged, now);
        self.share_settle(lane_idx, job.shared, &job.reserved, &charged);
        let lane = &mut self.lanes[lane_idx];
        let wasted = lane.model.cost(&partial);
        lane.counters.on_usage(&partial, wasted, now);
        lane.counters.wasted_usd += wasted;
        if matches!(err, ProviderError::Cancelled { .. }) {
            lane.counters.cancelled_streams += 1;
        }
        lane.counters.on_status(err.status(), now);
        lane.counters.failures += 1;
        let model = lane.model.name.clone();
        if err.endpoint_answered() && !self.answered.contains(&lane.model.provider) {
            self.answered.insert(lane.model.provider.clone());
        }
        let answered = self.answered.contains(&lane.model.provider);
        if retry::model_unavailable(&err) {
            // An unknown or retired model: nothing it could answer; later requests skip
            // the rung until a probe after the cool-down.
            if lane.circuit.trip(now) == Some(Transition::Opened) {
                job.span.in_scope(
                    || tracing::warn!(model = %model, error = %err, "circuit opened: the model is unavailable"),
                );
            }
        } else if err.is_failure_of_model() && !retry::fails_fast(&err, answered) {
            if lane.circuit.on_failure(now) == Some(Transition::Opened) {
                job.span
                    .in_scope(|| tracing::warn!(model = %model, error = %err, "circuit opened"));
                self.share_circuit(lane_idx);
            }
        } else {
            lane.circuit.on_neutral();
        }
        if matches!(err, ProviderError::RateLimited { .. }) {
            // We admitted it, yet the server refused: someone else shares the key, or the
            // server enforces over a shorter window. Count what we reserved as others'
            // consumption: the lane's refill drops by that much and recovers over a few
            // minutes of clean responses.
            self.lanes[lane_idx].buckets.penalize(&job.reserved, now);
        }
        self.adopt(lane_idx, &failure.rate_limits, now);
        if job.abandoned() {
            // Nobody waits for it any more: no retry, no fallback.
            job.span.in_scope(
                || tracing::debug!(model = %model, error = %err, "attempt failed; its callers have gone"),
            );
            self.drop_abandoned(job);
            return;
        }
        let lower = job.rung < job.prepared.last_rung();
        let u: f64 = self.rng.random();
        let decision = retry::decide(&err, job.attempt, lower, answered, &self.config.broker, u);
        if let (ProviderError::RateLimited { .. }, Decision::Retry(d)) = (&err, decision) {
            self.lanes[lane_idx].pause_until(after(now, d));
            self.share_429(lane_idx, &job.reserved, d);
        } else if let (ProviderError::RateLimited { .. }, Decision::MoveDown) = (&err, decision) {
            let d = retry::delay(&err, 0, &self.config.broker, u);
            self.lanes[lane_idx].pause_until(after(now, d));
            self.share_429(lane_idx, &job.reserved, d);
        }
        job.span.in_scope(|| {
            tracing::info!(model = %model, error = %err, ?decision, attempt = job.attempt, "attempt failed")
        });
        match decision {
            Decision::Retry(delay) => {
                let lane = &mut self.lanes[lane_idx];
                lane.counters.retries += 1;
                lane.counters.on_backoff(delay, now);
                job.not_before = after(now, delay);
                job.reserved = Cost::default();
                // `on_finished` pumps the lane next, which sets its timer.
                self.enqueue(job, true, now);
            }
            Decision::MoveDown | Decision::GiveUp => {
                let final_err = match err {
                    // The caller dropped its stream: there is nothing to retry for.
                    ProviderError::Cancelled { .. } => BrokerError::Cancelled,
                    error => BrokerError::Provider { model, error },
                };
                let may_move = decision == Decision::MoveDown;
                self.move_down_or_fail(job, final_err, may_move, now);
            }
        }
    }

    /// Records `err` for the job's rung, then tries the next rung or replies with the
    /// error (all the rungs' errors, if it tried several).
    pub(crate) fn move_down_or_fail(
        &mut self,
        mut job: Job,
        err: BrokerError,
        may_move: bool,
        now: Instant,
    ) {
        job.errors.push(RungError {
            model: job.model().to_string(),
            error: err.clone(),
        });
        if may_move && job.rung < job.prepared.last_rung() {
            if let Some((rung, lane)) = self.choose_rung(&job.prepared, job.rung + 1, now) {
                let from = job.model().to_string();
                job.rung = rung;
                job.lane = lane;
                job.attempt = 0;
                job.not_before = now;
                job.enqueued_at = now;
                job.reserved = Cost::default();
                let to = job.model().to_string();
                job.span.in_scope(
                    || tracing::info!(from = %from, to = %to, "falling back down the ladder"),
                );
                *self
                    .totals
                    .fallbacks
                    .entry(format!("{from}->{to}"))
                    .or_default() += 1;
                self.enqueue(job, false, now);
                self.pump(lane, now);
                return;
            }
        }
        self.totals.failed += 1;
        job.span.record("outcome", "error");
        self.forget_key(&job);
        let reply = if job.errors.len() > 1 {
            Err(BrokerError::AllRungsFailed(std::mem::take(&mut job.errors)))
        } else {
            Err(err)
        };
        reply_all(&mut self.tickets, &mut job, reply);
    }

    fn forget_key(&mut self, job: &Job) {
        if let Some(k) = job.coalesce_key {
            if self.by_key.get(&k) == Some(&job.id) {
                self.by_key.remove(&k);
            }
        }
    }

    // ---- Stats ----------------------------------------------------------------------

    pub(crate) fn snapshot(&self, now: Instant) -> Stats {
        let lanes: Vec<_> = self
            .lanes
            .iter()
            .map(|l| stats::lane_stats(l, now))
            .collect();
        let counters = &self.mailbox.counters;
        let q = |p: f64| {
            if self.handling.is_empty() {
                0.0
            } else {
                self.handling.value_at_quantile(p) as f64
            }
        };
        let [backoff_p50, backoff_p95] = stats::merged_quantiles(
            self.lanes.iter().map(|l| &l.counters.backoff_wait),
            now,
            [0.5, 0.95],
        );
        let sum = |f: fn(&LaneStats) -> u64| lanes.iter().map(f).sum::<u64>();
        let limited_hour = sum(|l| l.rate_limited_last_hour);
        let requests_hour: u64 = self
            .lanes
            .iter()
            .map(|l| l.counters.recent_requests.last_hour(now))
            .sum();
        let share_429 = stats::share(limited_hour, requests_hour);
        let (quota_store, quota_store_degraded, quota_processes, quota_store_outages) =
            self.quota_figures();
        Stats {
            advice: stats::advice(
                backoff_p95,
                share_429,
                self.totals.merged,
                self.totals.requests,
            ),
            in_flight: lanes.iter().map(|l| l.in_flight as u64).sum(),
            queue_depth: lanes.iter().map(|l| l.queue_depth as u64).sum(),
            rate_limited_last_minute: sum(|l| l.rate_limited_last_minute),
            rate_limited_last_hour: limited_hour,
            rate_limited_share: share_429,
            overloaded: sum(|l| l.overloaded),
            server_errors: sum(|l| l.server_errors),
            backoff_wait_p50_secs: backoff_p50,
            backoff_wait_p95_secs: backoff_p95,
            input_tokens: sum(|l| l.input_tokens),
            output_tokens: sum(|l| l.output_tokens),
            cache_read_tokens: sum(|l| l.cache_read_tokens),
            cache_write_tokens: sum(|l| l.cache_write_tokens),
            cache_hit_share: stats::cache_hit_share(
                sum(|l| l.input_tokens),
                sum(|l| l.cache_read_tokens),
                sum(|l| l.cache_write_tokens),
            ),
            cache_saved_tokens: sum(|l| l.cache_saved_tokens),
            cache_saved_usd: lanes.iter().map(|l| l.cache_saved_usd).sum(),
            cost_burn_usd_per_min: lanes.iter().map(|l| l.cost_burn_usd_per_min).sum(),
            wasted_usd: lanes.iter().map(|l| l.wasted_usd).sum(),
            uptime_secs: now.saturating_duration_since(self.started).as_secs_f64(),
            mailbox_depth: counters.depth(),
            messages_received: counters.received.load(std::sync::atomic::Ordering::Acquire),
            messages_handled: counters.handled.load(std::sync::atomic::Ordering::Acquire),
            handling_p50_us: q(0.5),
            handling_p99_us: q(0.99),
            requests: self.totals.requests,
            completed: self.totals.completed,
            failed: self.totals.failed,
            refused: self.totals.refused,
            merged: self.totals.merged,
            merged_tokens_saved: self.totals.merged_tokens_saved,
            merged_usd_saved: self.totals.merged_usd_saved,
            retries: lanes.iter().map(|l| l.retries).sum(),
            rate_limited: lanes.iter().map(|l| l.rate_limited).sum(),
            fallbacks: self.totals.fallbacks.clone(),
            fallbacks_at_admission: self.totals.fallbacks_at_admission.clone(),
            fallback_answers: self.totals.fallback_answers,
            summaries: self.totals.summaries,
            trimmed_tokens: self.totals.trimmed_tokens,
            cost_usd: lanes.iter().map(|l| l.cost_usd).sum(),
            lanes,
            quota_store,
            quota_store_degraded,
            quota_processes,
            quota_store_outages,
            // Counted in the callers' tasks; `BrokerHandle::stats` fills them in.
            reused: 0,
            reused_tokens_saved: 0,
            reused_usd_saved: 0.0,
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
