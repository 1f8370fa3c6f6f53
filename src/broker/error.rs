//! The broker layer's errors: what a caller of `complete` can get back.

use super::bucket::BucketKind;
use crate::provider::ProviderError;
use serde::Serialize;
use std::time::Duration;

/// One rung's failure, for errors that span a ladder ([`BrokerError::AllRungsFailed`]).
/// Serialises as `{"model": …, "error": "<the error's text>"}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct RungError {
    /// The rung's config model name.
    pub model: String,
    /// Why it failed on this rung: [`BrokerError::Provider`] (the provider's final
    /// answer there), [`BrokerError::WaitedTooLong`], [`BrokerError::CircuitOpen`],
    /// [`BrokerError::NeverFits`] or [`BrokerError::ContextTooLarge`].
    #[serde(serialize_with = "as_text")]
    pub error: BrokerError,
}

fn as_text<S: serde::Serializer>(e: &BrokerError, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(e)
}

/// What is wrong with a request that [`BrokerError::InvalidRequest`] refused. Found in
/// the caller's task, before anything reaches the broker; nothing was sent.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidRequest {
    /// `messages` is empty.
    #[error("messages is empty: a request needs at least one user message")]
    NoMessages,
    /// A message has no content blocks.
    #[error("messages[{index}] has no content")]
    EmptyMessage {
        /// The message's position in `messages`.
        index: usize,
    },
    /// A message's content is only empty (or blank) text.
    #[error("messages[{index}] has only empty text")]
    BlankMessage {
        /// The message's position in `messages`.
        index: usize,
    },
    /// The request's content (system, messages, tools) is larger than any provider
    /// accepts in one request.
    #[error("the request carries about {bytes} bytes of content, over the {max}-byte limit of one request")]
    TooLarge {
        /// About how many bytes it carries.
        bytes: usize,
        /// The most one request may carry ([`MAX_REQUEST_BYTES`](super::MAX_REQUEST_BYTES)).
        max: usize,
    },
    /// `max_tokens` is 0.
    #[error("max_tokens must be at least 1")]
    MaxTokensZero,
    /// `max_tokens` is larger than the context window of every model the request may use.
    #[error("max_tokens {max_tokens} exceeds the context window of every model the request may use (at most {limit} tokens): lower max_tokens")]
    MaxTokensTooLarge {
        /// The request's `max_tokens`.
        max_tokens: u32,
        /// The largest context window among the models it may use.
        limit: u64,
    },
    /// `temperature` is NaN or outside 0..=2.
    #[error("temperature must be between 0 and 2, not {0}")]
    Temperature(f32),
    /// `top_p` is NaN or outside 0..=1.
    #[error("top_p must be between 0 and 1, not {0}")]
    TopP(f32),
    /// `options.floor` names a rung past the end of the target's ladder.
    #[error("floor {floor} is past the end of the ladder, whose last rung is {last}")]
    FloorPastLadder {
        /// The requested floor.
        floor: usize,
        /// The ladder's last rung (0 for a single model).
        last: usize,
    },
    /// A model the request may use refuses one of its parameters (its `params` preset
    /// in the config says so) and the model's `on_unsupported` is `refuse`: the
    /// provider would answer 400. Nothing was sent.
    #[error("model {model} refuses `{param}`: {reason}; remove it from the request, or set models.{model}.on_unsupported = \"drop\" to send the request without it")]
    UnsupportedParameter {
        /// The config model name.
        model: String,
        /// The parameter.
        param: crate::config::Param,
        /// Why the model refuses it.
        reason: String,
    },
    /// Extended thinking's budget is below the API's minimum of 1,024 tokens or not
    /// below `max_tokens` (which includes it).
    #[error("thinking budget_tokens {budget} must be at least 1024 and below max_tokens {max_tokens} (max_tokens includes the thinking budget): raise max_tokens or lower the budget")]
    ThinkingBudget {
        /// The request's `budget_tokens`.
        budget: u32,
        /// The request's `max_tokens`.
        max_tokens: u32,
    },
    /// The request places more prompt-cache breakpoints (`cache_control` on tools,
    /// system and message blocks) than a model it may use accepts.
    #[error("model {model} accepts at most {max} cache breakpoints, the request places {count}: remove some cache_control marks")]
    TooManyCacheBreakpoints {
        /// The config model name.
        model: String,
        /// Breakpoints the request places.
        count: usize,
        /// The most the model accepts.
        max: usize,
    },
    /// The request has a trim policy, but even its newest turn does not fit the budget.
    #[error("cannot trim to {budget} input tokens: the newest turn alone needs about {newest} (with {fixed} for system and tools)")]
    CannotTrim {
        /// The budget it had to fit (the policy's, or less for the models' limits).
        budget: u64,
        /// Estimated tokens of the newest turn.
        newest: u64,
        /// Estimated tokens of the system prompt and tools.
        fixed: u64,
    },
}

/// Why a completion failed. Transient trouble (429s, overload, timeouts) is retried and
/// fallen back on inside the broker; what reaches the caller is final.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum BrokerError {
    /// The request is malformed (no messages, `max_tokens` of 0, an out-of-range
    /// temperature, an empty turn, ...) or cannot be trimmed to its budget; the
    /// [`InvalidRequest`] says which. Nothing was sent.
    #[error("invalid request: {0}")]
    InvalidRequest(InvalidRequest),
    /// The request's target names neither a model nor a ladder of the config.
    #[error("unknown model or ladder {0:?}: check the config's [models] and [ladders]")]
    UnknownTarget(String),
    /// The request needs more of one bucket than a whole minute's limit: waiting can
    /// never help. The message says which part is too large (the input estimate, or the
    /// `max_tokens` output reservation) and what to change. Nothing was sent.
    #[error("{}", never_fits_message(self))]
    NeverFits {
        /// The config model name.
        model: String,
        /// The bucket that is too small: `requests`, `input_tokens`, `output_tokens` or
        /// `tokens`.
        bucket: &'static str,
        /// What the request needs from it (estimated tokens, or requests).
        need: u64,
        /// The bucket's limit per minute.
        max: u64,
        /// The request's estimated input tokens on this model.
        input: u64,
        /// The request's `max_tokens` (reserved as output).
        max_tokens: u64,
    },
    /// The estimated input plus `max_tokens` exceeds the model's context window. The
    /// message says which part is too large. Nothing was sent.
    #[error("{}", context_message(self))]
    ContextTooLarge {
        /// The config model name.
        model: String,
        /// Estimated input tokens.
        input: u64,
        /// The request's `max_tokens` (reserved as output).
        max_tokens: u64,
        /// The model's context window, in tokens.
        max: u64,
    },
    /// The provider's final answer for a request on one model: a non-retryable error,
    /// or a retryable one after the last attempt.
    ///
    /// The text includes the provider's error; it is also this error's
    /// [`source`](std::error::Error::source).
    #[error("model {model} failed: {error}")]
    Provider {
        /// The config model name.
        model: String,
        /// What the provider (or the transport) reported.
        #[source]
        error: ProviderError,
    },
    /// A request waited longer than its `max_wait` (or the broker's `ladder_max_wait`)
    /// for a rung that was busy, paused after a 429 or backing off. Reached the caller
    /// only when no lower rung could take it; otherwise it is one entry of
    /// [`BrokerError::AllRungsFailed`].
    #[error("waited {:.1}s for model {model}, longer than the request's max_wait of {:.1}s", .waited.as_secs_f64(), .max_wait.as_secs_f64())]
    WaitedTooLong {
        /// The config model name.
        model: String,
        /// How long it had waited.
        waited: Duration,
        /// How long it was allowed to wait.
        max_wait: Duration,
    },
    /// The provider kept answering with rate limits (429, or 529/503 overloaded) for
    /// longer than the request would wait: the broker's `rate_limit_patience_secs`, or
    /// the request's `max_wait` if longer. Rate limits are waited through, not counted against
    /// `max_attempts`; this is the end of that wait.
    #[error("model {model} was still rate-limited after {:.1}s and {rate_limited} rate-limit answers (429/529/503), the request's patience being {:.1}s; the last answer: {error}. Something else spends this key's quota (another process: share it with [quota] store = \"redis\"), or the configured limits are above the key's tier: lower rpm/tpm in the config, or raise max_wait or [broker] rate_limit_patience_secs", .waited.as_secs_f64(), .patience.as_secs_f64())]
    RateLimitedTooLong {
        /// The config model name.
        model: String,
        /// How long it had waited on the model, retries and backoffs included.
        waited: Duration,
        /// Rate-limit answers it got there.
        rate_limited: u32,
        /// How long it was willing to wait.
        patience: Duration,
        /// The last rate-limit answer (boxed: keeps `BrokerError` small).
        #[source]
        error: Box<ProviderError>,
    },
    /// The model's circuit breaker is open after repeated failures: nothing is sent to
    /// it until its cool-down ends. Reached the caller only when no lower rung could take
    /// the request; otherwise it is one entry of [`BrokerError::AllRungsFailed`].
    #[error("model {model} is failing and its circuit is open for {:.1}s more", .retry_in.as_secs_f64())]
    CircuitOpen {
        /// The config model name.
        model: String,
        /// How long until the circuit lets a probe through.
        retry_in: Duration,
    },
    /// The request was cancelled before it completed: its caller stopped listening (a
    /// dropped stream), or the agent that asked was cut (a swarm deadline, a stop or an
    /// interrupt), so nothing more is asked on its behalf.
    #[error("the request was cancelled")]
    Cancelled,
    /// A ladder request failed on every rung it was allowed to use; one entry per rung,
    /// in ladder order.
    #[error("every rung failed: {}", fmt_rungs(.0))]
    AllRungsFailed(Vec<RungError>),
    /// The broker stopped (or died) before it could answer. Every call still waiting
    /// then gets this at once, and so does every later call.
    #[error("the broker has stopped")]
    BrokerStopped,
}

fn fmt_rungs(rungs: &[RungError]) -> String {
    // Every per-rung error names its model.
    rungs
        .iter()
        .enumerate()
        .map(|(i, r)| format!("{}. {}", i + 1, r.error))
        .collect::<Vec<_>>()
        .join("; ")
}

impl BrokerError {
    pub(crate) fn never_fits(
        model: &str,
        bucket: BucketKind,
        need: f64,
        max: f64,
        input: u64,
        max_tokens: u64,
    ) -> Self {
        BrokerError::NeverFits {
            model: model.to_string(),
            bucket: bucket.as_str(),
            need: need.ceil() as u64,
            max: max as u64,
            input,
            max_tokens,
        }
    }
}

/// What to change when `input` + `max_tokens` exceed `max`: whichever part is too large
/// on its own, or either.
fn fix_for_sum(input: u64, max_tokens: u64, max: u64) -> String {
    if input >= max {
        "the input alone is too large: trim the history (set a trim policy)".to_string()
    } else if max_tokens >= max {
        format!(
            "max_tokens alone is too large: lower max_tokens (to at most {} with this input)",
            max - input
        )
    } else {
        format!(
            "lower max_tokens (to at most {}) or trim the history",
            max - input
        )
    }
}

fn never_fits_message(e: &BrokerError) -> String {
    let BrokerError::NeverFits {
        model,
        bucket,
        need,
        max,
        input,
        max_tokens,
    } = e
    else {
        return String::new();
    };
    let head = format!("request can never fit model {model}");
    match *bucket {
        "output_tokens" => format!(
            "{head}: max_tokens {max_tokens} is more than its output limit of {max} tokens per minute (otpm), which the broker reserves up front; lower max_tokens (to at most {max}) or raise otpm"
        ),
        "input_tokens" => format!(
            "{head}: its input, about {need} tokens (estimated), is more than the input limit of {max} tokens per minute (itpm); trim the history (set a trim policy) or raise itpm"
        ),
        "tokens" => format!(
            "{head}: about {input} input tokens (estimated) + max_tokens {max_tokens} = {need} is more than its limit of {max} tokens per minute (tpm); {}",
            fix_for_sum(*input, *max_tokens, *max)
        ),
        other => format!(
            "{head}: needs {need} {other} but the limit is {max} per minute; raise the limit"
        ),
    }
}

fn context_message(e: &BrokerError) -> String {
    let BrokerError::ContextTooLarge {
        model,
        input,
        max_tokens,
        max,
    } = e
    else {
        return String::new();
    };
    format!(
        "request too large for model {model}: about {input} input tokens (estimated) + max_tokens {max_tokens} = {} exceed its {max}-token context window; {}",
        input + max_tokens,
        fix_for_sum(*input, *max_tokens, *max)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context(input: u64, max_tokens: u64) -> String {
        BrokerError::ContextTooLarge {
            model: "sonnet".into(),
            input,
            max_tokens,
            max: 200_000,
        }
        .to_string()
    }

    #[test]
    fn a_context_overflow_names_the_part_that_is_too_large() {
        let e = context(10, 300_000);
        assert!(e.contains("about 10 input tokens"), "{e}");
        assert!(e.contains("max_tokens 300000"), "{e}");
        assert!(
            e.contains("max_tokens alone is too large: lower max_tokens"),
            "{e}"
        );
        assert!(!e.contains("about 300010"), "{e}");
        let e = context(250_000, 100);
        assert!(
            e.contains("the input alone is too large: trim the history"),
            "{e}"
        );
        let e = context(150_000, 60_000);
        assert!(
            e.contains("lower max_tokens (to at most 50000) or trim the history"),
            "{e}"
        );
    }

    #[test]
    fn never_fits_says_which_part_to_change() {
        let out = BrokerError::never_fits(
            "sonnet",
            BucketKind::OutputTokens,
            100_000.0,
            8_000.0,
            12,
            100_000,
        );
        let e = out.to_string();
        assert!(e.contains("max_tokens 100000"), "{e}");
        assert!(e.contains("lower max_tokens"), "{e}");
        assert!(!e.contains("trim the history"), "{e}");
        let e = BrokerError::never_fits(
            "sonnet",
            BucketKind::InputTokens,
            40_000.0,
            30_000.0,
            40_000,
            100,
        )
        .to_string();
        assert!(
            e.contains("about 40000 tokens") && e.contains("trim the history"),
            "{e}"
        );
        let e =
            BrokerError::never_fits("gpt-4o", BucketKind::Tokens, 40_010.0, 30_000.0, 10, 40_000)
                .to_string();
        assert!(
            e.contains("max_tokens alone is too large: lower max_tokens"),
            "{e}"
        );
    }
}
