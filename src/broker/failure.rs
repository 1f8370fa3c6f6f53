//! After a failed attempt: the lane's circuit is told, a 429 pauses the lane (and
//! penalises its refill), and the pure decision of `retry.rs` is applied — retry on the
//! same lane after a backoff, move down the ladder, or reply with every rung's error. A
//! rate-limit answer is counted apart from the attempts (`Job::rate_limited`): it is
//! waited through for as long as the request's patience, not charged to `max_attempts`.

use super::bucket::Cost;
use super::circuit::Transition;
use super::error::{BrokerError, RungError};
use super::job::Job;
use super::retry::{self, Decision};
use super::state::{reply_all, BrokerState};
use super::time::after;
use crate::provider::{ProviderError, ProviderFailure};
use rand::Rng;
use tokio::time::Instant;

impl BrokerState {
    pub(crate) fn on_failure(&mut self, mut job: Box<Job>, failure: ProviderFailure, now: Instant) {
        let lane_idx = job.lane;
        let err = failure.error;
        self.settle_failure(&job, &err, now);
        let lane = &mut self.lanes[lane_idx];
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
        let lane = &mut self.lanes[lane_idx];
        if matches!(err, ProviderError::RateLimited { .. })
            && !lane.limits.changed_since(job.sent_at)
        {
            // We admitted it, yet the server refused: someone else shares the key, or the
            // server enforces over a shorter window. Count what we reserved as others'
            // consumption: the lane's refill drops by that much and recovers over a few
            // minutes of clean responses. (Not when it was admitted under limits since
            // replaced by the server's: those were wrong, and are no more.)
            lane.buckets.penalize(&job.reserved, now);
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
        if retry::is_rate_limit(&err) {
            job.rate_limited = job.rate_limited.saturating_add(1);
        }
        // On its last rung a request waits as long as it takes, whatever its `max_wait`
        // (which bounds the wait for a rung with a lower one to go to): a `max_wait`
        // longer than the broker's patience extends it, a shorter one does not cut it.
        let patience = job
            .prepared
            .request
            .options
            .max_wait
            .map_or(self.config.broker.rate_limit_patience, |w| {
                w.max(self.config.broker.rate_limit_patience)
            });
        let spent = retry::Spent {
            attempts: job.attempt,
            rate_limited: job.rate_limited,
            waited: now.saturating_duration_since(job.enqueued_at),
            patience,
        };
        let u: f64 = self.rng.random();
        let decision = retry::decide(&err, spent, lower, answered, &self.config.broker, u);
        if let (ProviderError::RateLimited { .. }, Decision::Retry(d)) = (&err, decision) {
            self.lanes[lane_idx].pause_until(after(now, d));
            self.share_429(lane_idx, &job.reserved, d);
        } else if let (ProviderError::RateLimited { .. }, Decision::MoveDown) = (&err, decision) {
            let d = retry::delay(&err, 0, &self.config.broker, u);
            self.lanes[lane_idx].pause_until(after(now, d));
            self.share_429(lane_idx, &job.reserved, d);
        }
        // Integers as `i64`: the OpenTelemetry export sends unsigned ones as strings.
        let (attempt, rate_limited) = (i64::from(job.attempt), i64::from(job.rate_limited));
        let status = err.status().map(i64::from);
        job.span.in_scope(|| match decision {
            // Its own event name, so that a trace viewer shows retries at a glance.
            Decision::Retry(delay) => {
                let retry_in_ms = super::job::int(delay.as_millis() as u64);
                tracing::info!(model = %model, error = %err, status, retry_in_ms, attempt, rate_limited, "attempt failed; retrying")
            }
            _ => {
                tracing::info!(model = %model, error = %err, status, ?decision, attempt, rate_limited, "attempt failed")
            }
        });
        match decision {
            Decision::Retry(delay) => {
                self.lanes[lane_idx].counters.on_retry(delay, now);
                job.not_before = after(now, delay);
                job.reserved = Cost::default();
                // `on_finished` pumps the lane next, which sets its timer.
                self.enqueue(job, true, now);
            }
            Decision::OutOfPatience => {
                let final_err = BrokerError::RateLimitedTooLong {
                    model,
                    waited: spent.waited,
                    rate_limited: job.rate_limited,
                    patience,
                    error: Box::new(err),
                };
                self.move_down_or_fail(job, final_err, false, now);
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
        mut job: Box<Job>,
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
                job.rate_limited = 0;
                job.place = None;
                job.not_before = now;
                job.enqueued_at = now;
                job.reserved = Cost::default();
                let to = job.model().to_string();
                job.span.in_scope(
                    || tracing::info!(from = %from, to = %to, "falling back down the ladder"),
                );
                self.totals.on_fallback(format!("{from}->{to}"), false);
                self.enqueue(job, false, now);
                self.pump(lane, now);
                return;
            }
        }
        self.totals.on_failed();
        job.record_end("error", || self.wire_of(job.lane));
        self.coalescing.forget(&job);
        let reply = if job.errors.len() > 1 {
            Err(BrokerError::AllRungsFailed(std::mem::take(&mut job.errors)))
        } else {
            Err(err)
        };
        reply_all(&mut self.tickets, &mut job, reply);
    }
}
