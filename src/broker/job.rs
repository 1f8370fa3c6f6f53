//! What the caller's task prepares ([`Prepared`]) and what the broker tracks (`Job`).

use super::bucket::Cost;
use super::error::{BrokerError, RungError};
use super::queue::QueueSlot;
use crate::types::{Completion, CompletionRequest};
use ractor::RpcReplyPort;
use std::sync::Arc;
use tokio::time::Instant;

pub(crate) type Reply = Result<Completion, BrokerError>;

/// Where a waiting caller's reply goes. Boxed: the channel's room for the value is taken
/// when the caller starts waiting, and a reply is ~200 bytes that 100,000 waiting callers
/// would hold empty; a box is 8, allocated only when the reply is sent.
pub(crate) type ReplyPort = RpcReplyPort<Box<Reply>>;

/// A caller awaiting one reply, with the ticket its `BrokerHandle` gave it (the caller
/// sends `Abandon(ticket)` if it stops waiting).
pub(crate) struct Waiter {
    pub(crate) ticket: u64,
    pub(crate) port: ReplyPort,
}

/// One rung of a [`Prepared`] request: the model and what the broker will reserve on it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RungPlan {
    /// Config model name.
    pub model: String,
    /// tiktoken count before calibration (what calibration learns against).
    pub raw_input: u64,
    /// Calibrated estimate, reserved against the input bucket.
    pub est_input: u64,
    /// The estimate is the provider's own count (`count_tokens`): nothing to calibrate.
    pub provider_counted: bool,
    /// The request as it is sent on this rung, when it differs from
    /// [`Prepared::request`]: parameters the model drops (`on_unsupported = "drop"`)
    /// removed, and the prompt-cache breakpoints the broker places for this model added.
    pub request: Option<Arc<CompletionRequest>>,
    /// The prefixes the request marks with cache breakpoints on this rung (only where
    /// cache reads are free against the input limit): what the lane checks against the
    /// prefixes it knows are cached, to reserve less (`warm.rs`).
    pub(crate) cache_prefixes: Vec<super::warm::CachedPrefix>,
}

/// A request validated, trimmed (when it has a trim policy), keyed and estimated, as
/// [`BrokerHandle::prepare`](super::BrokerHandle::prepare) returns it: what the broker
/// would queue, without sending anything. Read-only outside the crate.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Prepared {
    /// The request as it will be sent (after trimming).
    pub request: Arc<CompletionRequest>,
    /// The canonical key: equal for requests that would get the same answer, so they
    /// can share one call (coalescing).
    pub key: super::key::RequestKey,
    /// One plan per rung the target names (one for a model, several for a ladder), in
    /// ladder order.
    pub rungs: Vec<RungPlan>,
    /// Tokens removed by trimming.
    pub trimmed_tokens: u64,
    /// Made by the broker itself to summarise a history's trimmed turns: its answer is
    /// counted in `Stats::summaries`, not `Stats::completed`.
    pub(crate) summary: bool,
}

impl Prepared {
    /// The request as it is sent on `rung` (see [`RungPlan::request`]).
    pub fn request_for(&self, rung: usize) -> Arc<CompletionRequest> {
        self.rungs
            .get(rung)
            .and_then(|r| r.request.clone())
            .unwrap_or_else(|| self.request.clone())
    }

    /// The estimated input tokens on `rung` (0 for a rung it does not have).
    pub(crate) fn est_input(&self, rung: usize) -> u64 {
        self.rungs.get(rung).map_or(0, |r| r.est_input)
    }

    /// The cost of one attempt on `rung` when `cached` of its estimated input tokens
    /// will be read from the provider's cache (free against the input limit): the
    /// estimate less those, and `max_tokens` as output (thinking included).
    pub(crate) fn cost(&self, rung: usize, cached: u64) -> Cost {
        let input = self.est_input(rung).saturating_sub(cached) as f64;
        Cost::request(input, f64::from(self.request.max_tokens))
    }

    /// The last rung the request may use (its floor, or the ladder's end).
    pub(crate) fn last_rung(&self) -> usize {
        let end = self.rungs.len().saturating_sub(1);
        self.request.options.floor.map_or(end, |f| f.min(end))
    }
}

pub(crate) struct Job {
    pub(crate) id: u64,
    pub(crate) prepared: Prepared,
    pub(crate) rung: usize,
    /// Attempts on the current rung, the one in flight included.
    pub(crate) attempt: u32,
    /// Of those, the ones answered with a rate limit (they are waits, not failures:
    /// see `retry.rs`).
    pub(crate) rate_limited: u32,
    pub(crate) not_before: Instant,
    pub(crate) enqueued_at: Instant,
    /// Reserved on the lane while in flight.
    pub(crate) reserved: Cost,
    pub(crate) waiters: Vec<Waiter>,
    /// A streamed request's caller, with its ticket.
    pub(crate) sink: Option<(u64, super::stream::StreamSink)>,
    /// Where it sits in its lane's queue; `None` while in flight.
    pub(crate) queued: Option<QueueSlot>,
    /// Its lane and its order in that lane's queue, kept while in flight: a retry goes
    /// back there.
    pub(crate) place: Option<(usize, i64)>,
    /// The token of the attempt in flight, which its `Finished` must carry (any other
    /// report for this job is stale).
    pub(crate) in_flight: Option<u64>,
    pub(crate) errors: Vec<RungError>,
    /// Registered for coalescing under its request's key (`prepared.key`).
    pub(crate) coalesced: bool,
    /// The lane this job is queued on or in flight on.
    pub(crate) lane: usize,
    /// Admitted through the shared quota store (so it is settled there too).
    pub(crate) shared: bool,
    /// When its attempt in flight was sent (for the lane's observed latency).
    pub(crate) sent_at: Option<Instant>,
    /// One span per completion, with OpenTelemetry GenAI attribute names; closed when the
    /// job replies. Retries, fallbacks and circuit changes are events inside it.
    pub(crate) span: tracing::Span,
}

/// A count as a span field: OpenTelemetry's integers are signed 64-bit, and the export
/// (`tracing-opentelemetry`) sends an unsigned `tracing` value as a string, so the
/// completion span records counts as `i64`.
pub(crate) fn int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The span of one completion (fields filled in as they become known). The `otel.*`
/// fields are read by the OpenTelemetry export (`monitor::otlp`): the span kind, and an
/// error status when the completion failed.
pub(crate) fn completion_span(request: &CompletionRequest, first_model: &str) -> tracing::Span {
    tracing::info_span!(
        "gen_ai.completion",
        otel.kind = "client",
        otel.status_code = tracing::field::Empty,
        gen_ai.operation.name = "chat",
        gen_ai.provider.name = tracing::field::Empty,
        gen_ai.request.model = %request.target,
        gen_ai.request.max_tokens = i64::from(request.max_tokens),
        gen_ai.response.model = tracing::field::Empty,
        gen_ai.usage.input_tokens = tracing::field::Empty,
        gen_ai.usage.output_tokens = tracing::field::Empty,
        gen_ai.usage.cache_read.input_tokens = tracing::field::Empty,
        gen_ai.usage.cache_creation.input_tokens = tracing::field::Empty,
        lane = %first_model,
        attempt = 0i64,
        rate_limited = 0i64,
        rung = 0i64,
        fallback = false,
        waited_ms = tracing::field::Empty,
        merged = 0i64,
        outcome = tracing::field::Empty,
    )
}

impl Job {
    /// Nobody waits for the answer any more: every caller dropped its reply port (or
    /// sent `Abandon`) and the stream, if any, is gone.
    pub(crate) fn abandoned(&self) -> bool {
        self.waiters.iter().all(|w| w.port.is_closed())
            && self.sink.as_ref().is_none_or(|(_, s)| s.is_closed())
    }

    /// Records how the completion ended on its span: `outcome` (`ok`, `error`), the
    /// provider's wire (`gen_ai.provider.name`), the rung that answered last and whether
    /// that was a fallback, and the rate-limit answers met there. Nothing to do when no
    /// subscriber wants the span.
    pub(crate) fn record_end<'a>(&self, outcome: &str, provider: impl FnOnce() -> Option<&'a str>) {
        let span = &self.span;
        if span.is_disabled() {
            return;
        }
        span.record("outcome", outcome);
        if outcome == "error" {
            span.record("otel.status_code", "ERROR");
        }
        if let Some(p) = provider() {
            span.record("gen_ai.provider.name", p);
        }
        span.record("rung", int(self.rung as u64));
        span.record("fallback", self.rung > 0);
        span.record("rate_limited", i64::from(self.rate_limited));
    }

    pub(crate) fn model(&self) -> &str {
        self.prepared
            .rungs
            .get(self.rung)
            .map_or("", |r| r.model.as_str())
    }
}
