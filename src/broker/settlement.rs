//! Settlement: an attempt's outcome comes back (`Finished`), the lane's buckets are
//! settled from the estimate reserved to the usage billed (and the shared store too),
//! the server's rate-limit headers are adopted, and a completion is counted and answered.
//! A failure's settlement is here as well; what follows it is in `failure.rs`.

use super::bucket::Cost;
use super::circuit::Transition;
use super::job::{int, Job};
use super::state::{reply_all, BrokerState};
use crate::config::{Limits, ModelConfig};
use crate::provider::{ProviderError, ProviderFailure, ProviderReply, RateLimitSnapshot};
use crate::types::Usage;
use tokio::time::Instant;

impl BrokerState {
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
        if outcome.is_ok() {
            self.lanes[lane_idx].observe_service(job.sent_at, now);
        }
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

    /// Adopts what the server's headers say: its limits (`limits_change.rs`), and what
    /// remains of each bucket. Right after a change of limits the server's `remaining`
    /// only caps the levels: a shortfall then says nothing about others' usage.
    pub(crate) fn adopt(&mut self, lane_idx: usize, snap: &RateLimitSnapshot, now: Instant) {
        use super::bucket::BucketKind as K;
        let windows = [
            snap.requests,
            snap.input_tokens,
            snap.output_tokens,
            snap.tokens,
        ];
        if windows.iter().all(Option::is_none) {
            // No rate-limit headers (a proxy, a simulator): nothing to learn or adopt,
            // here or in the shared store.
            return;
        }
        let relimited = self.learn_limits(lane_idx, snap, now);
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
                if relimited {
                    b.adopt_remaining(remaining as f64, now);
                } else {
                    b.observe_remaining(remaining as f64, slack, now);
                }
            }
        }
        if !relimited {
            self.share_observe(lane_idx, snap, slack);
        }
    }

    fn on_success(&mut self, mut job: Box<Job>, reply: ProviderReply, now: Instant) {
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
        // A span nobody subscribes to records nothing (each record still costs a call).
        if !job.span.is_disabled() {
            let span = &job.span;
            span.record(
                "gen_ai.response.model",
                reply.completion.provider_model.as_str(),
            );
            span.record("gen_ai.usage.input_tokens", int(usage.total_input()));
            span.record("gen_ai.usage.output_tokens", int(usage.output_tokens));
            span.record(
                "gen_ai.usage.cache_read.input_tokens",
                int(usage.cache_read_input_tokens),
            );
            span.record(
                "gen_ai.usage.cache_creation.input_tokens",
                int(usage.cache_creation_input_tokens),
            );
        }
        job.record_end("ok", || self.wire_of(lane_idx));
        let lane = &mut self.lanes[lane_idx];
        let cost = lane.model.cost(&usage);
        let plan = job.prepared.rungs.get(job.rung);
        let estimated = plan.map(|p| p.est_input);
        lane.counters.on_completion(&usage, cost, estimated, now);
        if let Some(plan) = plan {
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
        self.totals.on_answer(job.prepared.summary, job.rung > 0);
        let mut completion = reply.completion;
        completion.model = model;
        self.coalescing.forget(&job);
        reply_all(&mut self.tickets, &mut job, Ok(completion));
    }

    /// The wire (`anthropic`, `openai`) of a lane's provider: the GenAI provider name.
    pub(crate) fn wire_of(&self, lane_idx: usize) -> Option<&'static str> {
        let provider = &self.lanes.get(lane_idx)?.model.provider;
        self.config.providers.get(provider).map(|p| p.wire.as_str())
    }

    /// Settles a failed attempt. A failure answered before generation (429, 529, 5xx,
    /// timeouts) is billed nothing, though the request counts. A stream that had started
    /// and then failed or was cancelled is billed what it produced (Anthropic also its
    /// input, reported at the stream's start): that is settled on the buckets, spent, and
    /// wasted, since the caller got no completion for it.
    pub(crate) fn settle_failure(&mut self, job: &Job, err: &ProviderError, now: Instant) {
        let lane_idx = job.lane;
        let lane = &mut self.lanes[lane_idx];
        let partial = err.partial_usage();
        let charged = Self::actual_cost(&lane.model, &partial);
        lane.buckets.settle(&job.reserved, &charged, now);
        self.share_settle(lane_idx, job.shared, &job.reserved, &charged);
        let lane = &mut self.lanes[lane_idx];
        let wasted = lane.model.cost(&partial);
        let cancelled = matches!(err, ProviderError::Cancelled { .. });
        lane.counters
            .on_failure(err.status(), &partial, wasted, cancelled, now);
    }
}
