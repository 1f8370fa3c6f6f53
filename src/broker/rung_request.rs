//! What differs per rung of a request, decided in the caller's task (`handle.rs`): the
//! parameter policy (a parameter the rung's model refuses is refused, or dropped from the
//! rung's copy, see `policy.rs`) and the automatic prompt-cache breakpoints (Anthropic
//! models, see `cache_points.rs`). A rung that needs either gets its own copy of the
//! request ([`RungPlan::request`](super::RungPlan::request)); rungs that need the same
//! changes share one. For models whose cache reads are free against the input limit, the
//! prefixes the request marks are listed too, so the lane can reserve less for a prefix
//! it knows is cached (`warm.rs`).

use super::cache_points;
use super::error::InvalidRequest;
use super::policy;
use super::warm::CachedPrefix;
use crate::config::{Config, ModelConfig, OnUnsupported, Param, Wire};
use crate::tokens::{Encoding, Estimator, PER_MESSAGE};
use crate::types::{CacheControl, CompletionRequest};
use std::sync::Arc;

/// What a rung's request needs from the broker: the config (to know each provider's wire)
/// and the estimator (to size prefixes).
pub(crate) struct RungContext<'a> {
    pub(crate) config: &'a Config,
    pub(crate) estimator: &'a Estimator,
}

impl RungContext<'_> {
    /// The request as rung model `m` gets it, when it differs from `req`: without the
    /// parameters `m` drops (`on_unsupported = "drop"`, see `policy.rs`), with the cache
    /// breakpoints the broker places for it (see `cache_points.rs`). Rungs that need the
    /// same changes share one copy (`variants`). Also returns the prefixes the rung's
    /// request marks, where the lane may reserve less for them (see `warm.rs`).
    /// `est_input` is the request's calibrated input estimate on `m`.
    pub(crate) fn rung_request(
        &self,
        req: &mut CompletionRequest,
        m: &ModelConfig,
        est_input: u64,
        variants: &mut Vec<(Variant, Arc<CompletionRequest>)>,
    ) -> (Option<Arc<CompletionRequest>>, Vec<CachedPrefix>) {
        let dropped: Vec<Param> = if m.on_unsupported == OnUnsupported::Drop {
            let found = policy::violations(req, &m.params);
            for v in &found {
                tracing::warn!(
                    model = %m.name,
                    param = %v.param,
                    reason = %v.describe(),
                    "sending the request without a parameter the model refuses (on_unsupported = \"drop\")"
                );
            }
            found.into_iter().map(|v| v.param).collect()
        } else {
            Vec::new()
        };
        let anthropic = self.anthropic(m);
        let existing = if anthropic {
            cache_points::existing(req)
        } else {
            Vec::new()
        };
        // No prefix is longer than the whole request: its parts' sizes add up to the
        // input estimate, each rounded up once (tools, system, every message). A request
        // well below the model's minimum cacheable prefix can get no breakpoint, and
        // needs no sizes to know it. (Twice the estimate: the calibration may rise
        // between the estimate and the sizes, when another caller's answer lands.)
        let parts = req.messages.len() as u64 + 2;
        let auto = anthropic
            && req.options.auto_cache.unwrap_or(m.auto_cache)
            && est_input.saturating_mul(2).saturating_add(parts) >= m.min_cache_tokens;
        // Sizes are needed to place breakpoints, and to remember cached prefixes where
        // reads are free against the input limit (see `warm.rs`).
        let remember = anthropic && !m.cache_reads_count;
        let sizes = (auto || (remember && !existing.is_empty())).then(|| self.prefix_sizes(req, m));
        let points = match (&sizes, auto) {
            (Some(sizes), true) => {
                let max = m
                    .params
                    .max_cache_breakpoints
                    .unwrap_or(ANTHROPIC_MAX_BREAKPOINTS);
                cache_points::choose(
                    &cache_points::candidates(req, sizes),
                    &existing,
                    m.min_cache_tokens,
                    m.cache_ttl,
                    max,
                )
            }
            _ => Vec::new(),
        };
        let prefixes = match &sizes {
            Some(sizes) if remember => {
                let mut all = existing;
                all.extend(points.iter().map(|(s, c)| (*s, c.ttl)));
                all.sort_by_key(|(s, _)| *s);
                cache_points::prefixes(req, &all, sizes)
            }
            _ => Vec::new(),
        };
        if dropped.is_empty() && points.is_empty() {
            return (None, prefixes);
        }
        let variant = Variant { dropped, points };
        if let Some((_, r)) = variants.iter().find(|(v, _)| *v == variant) {
            return (Some(r.clone()), prefixes);
        }
        let mut copy = req.clone();
        policy::drop_params(&mut copy, &variant.dropped);
        cache_points::apply(&mut copy, &variant.points);
        let copy = Arc::new(copy);
        variants.push((variant, copy.clone()));
        (Some(copy), prefixes)
    }

    /// Whether model `m` speaks the Anthropic wire: only there does the broker place
    /// cache breakpoints (as the request says, `options.auto_cache`, else as the model's
    /// config says).
    fn anthropic(&self, m: &ModelConfig) -> bool {
        self.config
            .providers
            .get(&m.provider)
            .is_some_and(|p| p.wire == Wire::Anthropic)
    }

    /// The estimated tokens of `req`'s tools, system prompt and each message on model
    /// `m`, calibrated like the input estimate. (`req` is only borrowed mutably to count
    /// its parts without copying them; it is left as it was.)
    fn prefix_sizes(&self, req: &mut CompletionRequest, m: &ModelConfig) -> cache_points::Sizes {
        let enc = Encoding::for_model(&m.model);
        let factor = self.estimator.factor(&m.name, &m.model);
        let scale = |raw: u64| (raw as f64 * factor).ceil() as u64;
        let messages = std::mem::take(&mut req.messages);
        let system = std::mem::take(&mut req.system);
        let tools = self.estimator.raw_input(enc, req);
        req.system = system;
        let with_system = self.estimator.raw_input(enc, req);
        req.messages = messages;
        cache_points::Sizes {
            tools: scale(tools),
            system: scale(with_system.saturating_sub(tools)),
            messages: req
                .messages
                .iter()
                .map(|msg| scale(self.estimator.message_tokens(enc, msg) + PER_MESSAGE))
                .collect(),
        }
    }
}

/// The most cache breakpoints an Anthropic request may carry, for a model whose
/// parameter preset does not say.
const ANTHROPIC_MAX_BREAKPOINTS: usize = 4;

/// What makes one rung's request differ from the caller's: parameters dropped and
/// breakpoints placed.
#[derive(Debug, PartialEq)]
pub(crate) struct Variant {
    dropped: Vec<Param>,
    points: Vec<(cache_points::Spot, CacheControl)>,
}

/// How many of `rungs` the request may use (down to its floor).
pub(crate) fn usable_rungs(req: &CompletionRequest, rungs: &[String]) -> usize {
    let end = rungs.len().saturating_sub(1);
    req.options.floor.map_or(end, |f| f.min(end)) + 1
}

/// Refuses `req` if a model it may use refuses one of its parameters and is set to
/// refuse (see `policy.rs`), or if it places more cache breakpoints than a model takes.
pub(crate) fn check_params(
    req: &CompletionRequest,
    rungs: &[String],
    config: &Config,
) -> Result<(), InvalidRequest> {
    let placed = cache_points::existing(req).len();
    for m in rungs.iter().filter_map(|name| config.model(name)) {
        if let Some(max) = m.params.max_cache_breakpoints.filter(|max| placed > *max) {
            return Err(InvalidRequest::TooManyCacheBreakpoints {
                model: m.name.clone(),
                count: placed,
                max,
            });
        }
        if m.on_unsupported == OnUnsupported::Refuse {
            if let Some(v) = policy::violations(req, &m.params).into_iter().next() {
                return Err(InvalidRequest::UnsupportedParameter {
                    model: m.name.clone(),
                    param: v.param,
                    reason: v.describe(),
                });
            }
        }
    }
    Ok(())
}
