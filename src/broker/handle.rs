//! `BrokerHandle`: what agents hold. Work that needs no shared state happens here, in the
//! caller's task, before the message is sent: validation, the canonical key, token
//! estimation (with the shared per-message cache) and trimming. The broker then does only
//! bookkeeping: hash look-ups, bucket arithmetic and O(log n) queue operations.
//!
//! Validation refuses, with a typed [`InvalidRequest`], everything that could make the
//! broker misbehave; and a `max_wait` beyond [`MAX_WAIT`] is clamped to it, so no option a
//! caller can set reaches the broker in a form it cannot handle.
//!
//! Also here, per rung the request may use: the parameter policy (a parameter the model
//! refuses is refused, or dropped from that rung's copy: `policy.rs`) and the automatic
//! prompt-cache breakpoints (Anthropic models: `cache_points.rs`). A rung that needs
//! either gets its own copy of the request ([`RungPlan::request`]); the canonical key and
//! the estimates are the caller's request's.

use super::bucket::{Bucket, BucketKind};
use super::error::{BrokerError, InvalidRequest};
use super::job::{Prepared, RungPlan};
use super::key::{canonical_key, RequestKey};
use super::mailbox::{BrokerMailbox, BrokerMsg};
use super::rung_request::{check_params, usable_rungs, RungContext, Variant};
use super::stats::Stats;
use super::stream::CompletionStream;
use crate::config::{Config, Limits, ModelConfig};
use crate::provider::Endpoint;
use crate::tokens::{Encoding, Estimator, PER_MESSAGE};
use crate::trim::{prepend_summary, trim_to_budget, Trimmed};
use crate::types::{Completion, CompletionRequest, ContentBlock, Message};
use crate::types::{Thinking, TrimPolicy};
use futures_util::future::Either;
use ractor::concurrency::oneshot;
use ractor::RpcReplyPort;
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// The longest `max_wait` a request may ask for (one year); a longer one, up to
/// `Duration::MAX`, is clamped to it.
pub const MAX_WAIT: Duration = Duration::from_secs(365 * 24 * 3600);

/// The most content one request may carry, in bytes of text (system, messages, tool
/// definitions and inputs): 32 MiB, the largest request body the providers accept.
pub const MAX_REQUEST_BYTES: usize = 32 * 1024 * 1024;

/// What agents hold to ask the broker for completions. Cheap to clone; every clone talks
/// to the same broker.
///
/// Validation, trimming, keying and token estimation run in the calling task, so the
/// broker itself only does bookkeeping per message (hash look-ups, bucket arithmetic,
/// O(log n) queue operations). Once the broker has stopped, every call errs with
/// [`BrokerError::BrokerStopped`].
#[derive(Clone)]
pub struct BrokerHandle {
    pub(crate) mailbox: BrokerMailbox,
    pub(crate) config: Arc<Config>,
    pub(crate) estimator: Arc<Estimator>,
    /// For models that estimate with the provider's `count_tokens` (`count_tokens_rpm`).
    pub(crate) counter: Arc<TokenCounter>,
    /// Issues each call's ticket, shared by every clone: how a caller that gives up
    /// tells the broker which request it no longer waits for.
    pub(crate) tickets: Arc<AtomicU64>,
    /// The reuse window's completions and counters (see `reuse.rs`).
    pub(crate) reuse: Arc<super::reuse::ReuseCache>,
    /// The active alerts, as the alert watcher last evaluated them.
    pub(crate) alerts: Arc<super::alerts::Current>,
}

/// Calls to `count_tokens`, under their own request bucket per model (separate from
/// the Messages limits, as the provider keeps it).
pub(crate) struct TokenCounter {
    pub(crate) endpoints: HashMap<String, Endpoint>,
    pub(crate) buckets: Mutex<HashMap<String, Bucket>>,
}

impl TokenCounter {
    /// Waits (in the caller's task) for the model's count_tokens bucket, then counts.
    /// `None` when the model does not use count_tokens or the call failed (the tiktoken
    /// estimate is used then).
    async fn count(&self, model: &ModelConfig, req: &CompletionRequest) -> Option<u64> {
        let rpm = model.count_tokens_rpm?;
        let endpoint = self.endpoints.get(&model.provider)?;
        loop {
            let now = Instant::now();
            let wait = {
                let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
                let b = buckets.entry(model.name.clone()).or_insert_with(|| {
                    Bucket::new(BucketKind::Requests, rpm, Duration::from_secs(60), now)
                });
                match b.wait_for(1.0, now) {
                    Some(w) if w.is_zero() => {
                        b.debit(1.0, now);
                        None
                    }
                    Some(w) => Some(w),
                    None => return None,
                }
            };
            match wait {
                None => break,
                Some(w) => tokio::time::sleep(w).await,
            }
        }
        // The model's headers (an `anthropic-beta`) go to the counter too.
        let with_model = (!model.headers.is_empty())
            .then(|| model.with_extras(std::sync::Arc::new(req.clone())));
        let req = with_model.as_deref().unwrap_or(req);
        match endpoint.count_tokens(&model.model, req).await? {
            Ok(n) => Some(n),
            Err(f) => {
                tracing::debug!(model = %model.name, error = %f.error, "count_tokens failed; using the tiktoken estimate");
                None
            }
        }
    }
}

impl BrokerHandle {
    /// The validated configuration the broker runs with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The broker's token estimator (shared cache and per-model calibration), e.g. to
    /// count a history the way the broker will.
    pub fn estimator(&self) -> &Estimator {
        &self.estimator
    }

    /// Messages sent to the broker and not yet handled (an atomic read).
    pub fn mailbox_depth(&self) -> u64 {
        self.mailbox.counters.depth()
    }

    /// Asks for one completion of `req.target` (a model or a ladder).
    ///
    /// Bad input is refused at once ([`BrokerError::InvalidRequest`],
    /// [`BrokerError::UnknownTarget`], and [`BrokerError::NeverFits`] /
    /// [`BrokerError::ContextTooLarge`] when no rung could ever take it). Otherwise the
    /// call waits until the request has been admitted, sent and answered, with retries
    /// and fallbacks done inside; an identical request already in flight is joined
    /// instead of sent again. The completion's `model` names the rung that answered.
    ///
    /// Dropping the returned future gives the request up: if no other caller waits for
    /// the same answer, it leaves the queue without spending quota, and a failed attempt
    /// is not retried. (An attempt already sent runs to its end and is settled.)
    pub fn complete(
        &self,
        req: CompletionRequest,
    ) -> impl Future<Output = Result<Completion, BrokerError>> + Send + '_ {
        // Every caller that waits holds this future for as long as it waits (100,000 of
        // them in a large swarm), so it holds as little as it can: the preparation is
        // boxed and freed once done (inline, it and this function's argument would keep
        // two copies of the request, ~0.9 KB); once the request is handed to the broker,
        // only the reply channel and the give-up guard are left (`submit`); the reuse
        // window's rarer path is boxed. 504 bytes a caller before, 96 now.
        let preparation = Box::pin(self.prepare_summarized(req));
        async move {
            // A block, so that the prepared request's room ends before the wait.
            let waiting = {
                let prepared = preparation.await?;
                let window = super::reuse::ReuseCache::window(&self.config, &prepared);
                if window.is_zero() {
                    Either::Left(self.submit(prepared))
                } else {
                    Either::Right(Box::pin(self.complete_reused(prepared, window)))
                }
            };
            waiting.await
        }
    }

    /// [`BrokerHandle::complete`] of a prepared request with a reuse window: answered
    /// from the window when it holds the answer, else sent and the answer kept there.
    async fn complete_reused(
        &self,
        prepared: Prepared,
        window: Duration,
    ) -> Result<Completion, BrokerError> {
        if let Some(c) = Box::pin(self.reuse.lookup(&self.config, &prepared, window)).await {
            return Ok(c);
        }
        let key = prepared.key;
        let first = prepared.rungs.first().map(|r| r.model.clone());
        let reply = self.submit(prepared).await;
        if let (Ok(c), Some(first)) = (&reply, first) {
            self.reuse.store(key, &first, c, window);
        }
        reply
    }

    /// Hands a prepared request to the broker now, and returns the wait for its one
    /// reply: a future that holds only the reply channel and the guard that gives the
    /// request up if the future is dropped first.
    fn submit(
        &self,
        prepared: Prepared,
    ) -> impl Future<Output = Result<Completion, BrokerError>> + Send + 'static {
        let ticket = self.ticket();
        let (tx, rx) = oneshot();
        let port: RpcReplyPort<_> = tx.into();
        let sent = self
            .mailbox
            .send(BrokerMsg::Complete(Box::new(prepared), ticket, port));
        let give_up = sent.then(|| self.mailbox.give_up(ticket));
        async move {
            let Some(give_up) = give_up else {
                return Err(BrokerError::BrokerStopped);
            };
            let reply = rx.await.map_or(Err(BrokerError::BrokerStopped), |r| *r);
            give_up.disarm();
            reply
        }
    }

    fn ticket(&self) -> u64 {
        self.tickets.fetch_add(1, Ordering::Relaxed)
    }

    /// Asks for a streamed completion: deltas as they arrive, then the completion (see
    /// [`CompletionStream`]). Admission, retries and fallback are as for
    /// [`BrokerHandle::complete`], but streams are never coalesced. Input errors come
    /// back at once; later ones arrive on the stream. Dropping the stream cancels the
    /// request.
    pub async fn stream(&self, req: CompletionRequest) -> Result<CompletionStream, BrokerError> {
        let prepared = self.prepare_summarized(req).await?;
        let ticket = self.ticket();
        let (sink, stream) = super::stream::channel(self.mailbox.give_up(ticket));
        if !self
            .mailbox
            .send(BrokerMsg::Stream(Box::new(prepared), ticket, sink))
        {
            return Err(BrokerError::BrokerStopped);
        }
        Ok(stream)
    }

    /// A statistics snapshot, built by the broker in time proportional to the lanes and
    /// the recent events each lane keeps for its sliding windows. Errs only with
    /// [`BrokerError::BrokerStopped`].
    pub async fn stats(&self) -> Result<Stats, BrokerError> {
        let (tx, rx) = oneshot();
        if !self.mailbox.send(BrokerMsg::Stats(tx.into())) {
            return Err(BrokerError::BrokerStopped);
        }
        let mut stats = rx.await.map_err(|_| BrokerError::BrokerStopped)?;
        stats.reused = self.reuse.hits.load(Ordering::Acquire);
        stats.reused_tokens_saved = self.reuse.tokens_saved.load(Ordering::Acquire);
        stats.reused_usd_saved = self.reuse.usd_saved();
        stats.alerts = self.alerts.get();
        Ok(stats)
    }

    /// [`BrokerHandle::prepare`], then, when the trim policy asks for it, replaces the
    /// dropped turns with a summary.
    async fn prepare_summarized(&self, req: CompletionRequest) -> Result<Prepared, BrokerError> {
        let (mut prepared, dropped) = self.prepare_with_dropped(req, Keying::WhenUsed)?;
        let provider_counts = prepared.rungs.iter().any(|r| {
            self.config
                .model(&r.model)
                .is_some_and(|m| m.count_tokens_rpm.is_some())
        });
        if provider_counts {
            Box::pin(self.count_with_provider(&mut prepared)).await;
        }
        let summarize = prepared
            .request
            .options
            .trim
            .as_ref()
            .is_some_and(|t| t.summarize);
        if summarize && !dropped.is_empty() {
            return Box::pin(self.with_summary(prepared, &dropped)).await;
        }
        Ok(prepared)
    }

    /// Validates, trims (when the request has a trim policy), keys and estimates `req`,
    /// as [`BrokerHandle::complete`] does first, without sending anything: a dry run that
    /// shows what each rung would reserve.
    ///
    /// Unlike `complete`, it does not summarise trimmed turns and does not ask the
    /// provider's `count_tokens`: the estimates are tiktoken's, calibrated. Errs with
    /// [`BrokerError::InvalidRequest`] or [`BrokerError::UnknownTarget`]. A `max_wait`
    /// over [`MAX_WAIT`] comes back clamped to it.
    pub fn prepare(&self, req: CompletionRequest) -> Result<Prepared, BrokerError> {
        self.prepare_with_dropped(req, Keying::Always)
            .map(|(p, _)| p)
    }

    /// Whether `req`, whose first rung is `first`, can be matched by its key: joined to
    /// an identical request in flight (coalescing), or answered from the reuse window.
    /// The same conditions the broker and [`super::reuse::ReuseCache`] check, so a
    /// request for which this is false is never looked up by its key.
    fn key_used(&self, req: &CompletionRequest, first: Option<&str>) -> bool {
        (self.config.broker.coalesce && req.options.coalesce)
            || !super::reuse::ReuseCache::window_for(&self.config, req, first).is_zero()
    }

    fn prepare_with_dropped(
        &self,
        mut req: CompletionRequest,
        keying: Keying,
    ) -> Result<(Prepared, Vec<Message>), BrokerError> {
        validate(&req).map_err(BrokerError::InvalidRequest)?;
        let rungs = self
            .config
            .rungs(&req.target)
            .ok_or_else(|| BrokerError::UnknownTarget(req.target.clone()))?;
        validate_for_rungs(&req, &rungs, &self.config).map_err(BrokerError::InvalidRequest)?;
        let usable = usable_rungs(&req, &rungs);
        check_params(&req, &rungs[..usable], &self.config).map_err(BrokerError::InvalidRequest)?;
        if let Some(w) = req.options.max_wait.as_mut() {
            *w = (*w).min(MAX_WAIT);
        }
        let mut dropped = Vec::new();
        let mut trimmed_tokens = 0;
        if let Some(policy) = req.options.trim.clone() {
            let t = self.trim(&req, &rungs, policy.max_input_tokens)?;
            trimmed_tokens = t.dropped_tokens;
            req.messages = t.messages;
            dropped = t.dropped;
        }
        // The hash is most of the caller's own cost for a short request; a request that
        // neither coalesces nor is reused is never looked up by it.
        let keyed = match keying {
            Keying::Always => true,
            Keying::WhenUsed => self.key_used(&req, rungs.first().map(String::as_str)),
        };
        let key = if keyed {
            canonical_key(&req)
        } else {
            RequestKey::UNKEYED
        };
        let mut plans = Vec::with_capacity(rungs.len());
        let mut variants: Vec<(Variant, Arc<CompletionRequest>)> = Vec::new();
        for (i, model) in rungs.into_iter().enumerate() {
            let Some(m) = self.config.model(&model) else {
                return Err(BrokerError::UnknownTarget(model));
            };
            let raw = self
                .estimator
                .raw_input(Encoding::for_model(&m.model), &req);
            let est = self.estimator.calibrated(&model, &m.model, raw);
            let (request, cache_prefixes) = if i < usable {
                let ctx = RungContext {
                    config: &self.config,
                    estimator: &self.estimator,
                };
                ctx.rung_request(&mut req, m, est, &mut variants)
            } else {
                (None, Vec::new())
            };
            plans.push(RungPlan {
                model,
                raw_input: raw,
                est_input: est,
                provider_counted: false,
                request,
                cache_prefixes,
            });
        }
        let prepared = Prepared {
            request: Arc::new(req),
            key,
            rungs: plans,
            trimmed_tokens,
            summary: false,
        };
        Ok((prepared, dropped))
    }

    /// Trims `req`'s history to the policy's budget and to what every rung can ever
    /// take (its context window and one minute of its input limit).
    fn trim(
        &self,
        req: &CompletionRequest,
        rungs: &[String],
        policy_budget: u64,
    ) -> Result<Trimmed, BrokerError> {
        let max_out = u64::from(req.max_tokens);
        let mut budget = policy_budget;
        let mut factor: f64 = 1.0;
        let mut encodings = Vec::new();
        for name in rungs {
            let Some(m) = self.config.model(name) else {
                return Err(BrokerError::UnknownTarget(name.clone()));
            };
            // No trimming helps when max_tokens alone takes the room input would need.
            let input = || {
                let raw = self.estimator.raw_input(Encoding::for_model(&m.model), req);
                self.estimator.calibrated(name, &m.model, raw)
            };
            if max_out >= m.context_window {
                return Err(BrokerError::ContextTooLarge {
                    model: name.clone(),
                    input: input(),
                    max_tokens: max_out,
                    max: m.context_window,
                });
            }
            let minute = match m.limits {
                Limits::Split { itpm, .. } => itpm as u64,
                Limits::Combined { tpm, .. } => {
                    if max_out as f64 >= tpm {
                        let input = input();
                        return Err(BrokerError::NeverFits {
                            model: name.clone(),
                            bucket: "tokens",
                            need: input + max_out,
                            max: tpm as u64,
                            input,
                            max_tokens: max_out,
                        });
                    }
                    (tpm as u64).saturating_sub(max_out)
                }
            };
            budget = budget
                .min(m.context_window.saturating_sub(max_out))
                .min(minute);
            factor = factor.max(self.estimator.factor(name, &m.model));
            let enc = Encoding::for_model(&m.model);
            if !encodings.contains(&enc) {
                encodings.push(enc);
            }
        }
        // What the request costs besides its messages (system, tools, priming).
        let mut bare = req.clone();
        bare.messages.clear();
        let fixed = encodings
            .iter()
            .map(|e| self.estimator.raw_input(*e, &bare))
            .max()
            .unwrap_or(0);
        let fixed = (fixed as f64 * factor).ceil() as u64;
        let message_budget = budget.saturating_sub(fixed);
        let count = |m: &Message| {
            let raw = encodings
                .iter()
                .map(|e| self.estimator.message_tokens(*e, m) + PER_MESSAGE)
                .max()
                .unwrap_or(0);
            (raw as f64 * factor).ceil() as u64
        };
        trim_to_budget(&req.messages, message_budget, count).ok_or_else(|| {
            BrokerError::InvalidRequest(InvalidRequest::CannotTrim {
                budget,
                newest: req.messages.last().map(count).unwrap_or(0),
                fixed,
            })
        })
    }

    /// For rungs configured to use the provider's `count_tokens`, replaces the estimate
    /// with the provider's count.
    async fn count_with_provider(&self, prepared: &mut Prepared) {
        for i in 0..prepared.rungs.len() {
            let Some(model) = self.config.model(&prepared.rungs[i].model) else {
                continue;
            };
            if model.count_tokens_rpm.is_none() {
                continue;
            }
            if let Some(n) = self.counter.count(model, &prepared.request).await {
                prepared.rungs[i].est_input = n;
                prepared.rungs[i].raw_input = n;
                prepared.rungs[i].provider_counted = true;
            }
        }
    }

    /// Replaces the trimmed turns with a summary made on the ladder's cheapest rung
    /// (through the broker, like any request).
    async fn with_summary(
        &self,
        prepared: Prepared,
        dropped: &[Message],
    ) -> Result<Prepared, BrokerError> {
        let cheapest = prepared
            .rungs
            .last()
            .map(|r| r.model.clone())
            .unwrap_or_default();
        let mut transcript = String::new();
        for m in dropped {
            let who = match m.role {
                crate::types::Role::User => "User",
                crate::types::Role::Assistant => "Assistant",
            };
            transcript.push_str(&format!("{who}: {}\n", m.text()));
        }
        // Keep the summary request itself small: its newest part matters most.
        let keep = transcript.len().saturating_sub(24_000);
        let start = (keep..=transcript.len())
            .find(|i| transcript.is_char_boundary(*i))
            .unwrap_or(0);
        let mut summary_req = CompletionRequest::prompt(
            cheapest,
            format!(
                "Summarise this earlier part of a conversation in a few sentences, keeping facts and decisions:\n\n{}",
                &transcript[start..]
            ),
        )
        .max_tokens(300);
        summary_req.options.trim = Some(TrimPolicy::new(8_000));
        // Prepared like any request (its own policy never summarises), marked so that
        // its answer is counted as a summary, not as one of the callers' completions.
        let (mut summary_prepared, _) = self.prepare_with_dropped(summary_req, Keying::WhenUsed)?;
        self.count_with_provider(&mut summary_prepared).await;
        summary_prepared.summary = true;
        let summary = self.submit(summary_prepared).await?;
        let mut req = (*prepared.request).clone();
        prepend_summary(&mut req.messages, &summary.text());
        // Trim again (without summarising) in case the summary pushed it over the budget.
        if let Some(t) = req.options.trim.as_mut() {
            t.summarize = false;
        }
        let trimmed = prepared.trimmed_tokens;
        let mut again = self.prepare(req)?;
        again.trimmed_tokens += trimmed;
        Ok(again)
    }
}

/// Whether preparing a request computes its canonical key.
#[derive(Clone, Copy)]
enum Keying {
    /// Always: [`BrokerHandle::prepare`] shows the key the request has.
    Always,
    /// Only when coalescing or the reuse window can use it (the broker's own paths).
    WhenUsed,
}

/// Checks what needs no config: messages, content, sampling parameters.
fn validate(req: &CompletionRequest) -> Result<(), InvalidRequest> {
    if req.messages.is_empty() {
        return Err(InvalidRequest::NoMessages);
    }
    if req.max_tokens == 0 {
        return Err(InvalidRequest::MaxTokensZero);
    }
    // The budget is part of max_tokens: the output reservation (max_tokens) and the
    // settled output (output_tokens, thinking included) already count it.
    if let Some(budget) = req.thinking.and_then(Thinking::budget_tokens) {
        if budget < Thinking::MIN_BUDGET || budget >= req.max_tokens {
            return Err(InvalidRequest::ThinkingBudget {
                budget,
                max_tokens: req.max_tokens,
            });
        }
    }
    if let Some(t) = req.temperature {
        // `contains` is false for NaN.
        if !(0.0..=2.0).contains(&t) {
            return Err(InvalidRequest::Temperature(t));
        }
    }
    if let Some(p) = req.top_p {
        if !(0.0..=1.0).contains(&p) {
            return Err(InvalidRequest::TopP(p));
        }
    }
    for (index, m) in req.messages.iter().enumerate() {
        if m.content.is_empty() {
            return Err(InvalidRequest::EmptyMessage { index });
        }
        let blank = m
            .content
            .iter()
            .all(|b| matches!(b, ContentBlock::Text { text, .. } if text.trim().is_empty()));
        if blank {
            return Err(InvalidRequest::BlankMessage { index });
        }
    }
    let bytes = content_bytes(req);
    if bytes > MAX_REQUEST_BYTES {
        return Err(InvalidRequest::TooLarge {
            bytes,
            max: MAX_REQUEST_BYTES,
        });
    }
    Ok(())
}

/// Checks what depends on the models the request may use: its floor and `max_tokens`.
fn validate_for_rungs(
    req: &CompletionRequest,
    rungs: &[String],
    config: &Config,
) -> Result<(), InvalidRequest> {
    let last = rungs.len().saturating_sub(1);
    if let Some(floor) = req.options.floor {
        if floor > last {
            return Err(InvalidRequest::FloorPastLadder { floor, last });
        }
    }
    let allowed = req.options.floor.map_or(last, |f| f.min(last));
    let limit = rungs
        .iter()
        .take(allowed + 1)
        .filter_map(|name| config.model(name))
        .map(|m| m.context_window)
        .max();
    match limit {
        Some(limit) if u64::from(req.max_tokens) > limit => {
            Err(InvalidRequest::MaxTokensTooLarge {
                max_tokens: req.max_tokens,
                limit,
            })
        }
        _ => Ok(()),
    }
}

/// About how many bytes one block carries.
fn block_bytes(b: &ContentBlock) -> usize {
    match b {
        ContentBlock::Text { text, .. } => text.len(),
        ContentBlock::ToolUse { id, name, input } => id.len() + name.len() + value_bytes(input),
        ContentBlock::ToolResult {
            tool_use_id,
            content,
            ..
        } => tool_use_id.len() + content.iter().map(block_bytes).sum::<usize>(),
        ContentBlock::Image { source, .. } => value_bytes(source),
        ContentBlock::Thinking {
            thinking,
            signature,
        } => thinking.len() + signature.len(),
        ContentBlock::RedactedThinking { data } => data.len(),
        ContentBlock::Document { source, .. } => value_bytes(source),
        ContentBlock::Raw(block) => block.values().map(value_bytes).sum(),
        ContentBlock::Reasoning {
            id,
            summary,
            encrypted_content,
        } => {
            id.len()
                + summary.iter().map(String::len).sum::<usize>()
                + encrypted_content.as_ref().map_or(0, String::len)
        }
    }
}

/// About how many bytes of content `req` carries (text as is, structured parts by their
/// strings), without serialising it.
fn content_bytes(req: &CompletionRequest) -> usize {
    let mut n = req.system.iter().map(block_bytes).sum::<usize>();
    for m in &req.messages {
        for b in &m.content {
            n = n.saturating_add(block_bytes(b));
        }
    }
    for t in &req.tools {
        n = n.saturating_add(
            t.name.len()
                + t.description.as_ref().map_or(0, String::len)
                + value_bytes(&t.input_schema),
        );
    }
    n.saturating_add(req.stop.iter().map(String::len).sum::<usize>())
}

fn value_bytes(v: &serde_json::Value) -> usize {
    use serde_json::Value;
    match v {
        Value::String(s) => s.len() + 2,
        Value::Array(a) => a.iter().map(value_bytes).fold(2, usize::saturating_add),
        Value::Object(o) => o
            .iter()
            .map(|(k, v)| k.len() + 3 + value_bytes(v))
            .fold(2, usize::saturating_add),
        _ => 8,
    }
}
