//! The broker layer's errors: what a caller of `complete` can get back.

use super::bucket::BucketKind;
use crate::provider::ProviderError;
use serde::Serialize;

/// One rung's failure, for errors that span a ladder ([`BrokerError::AllRungsFailed`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct RungError {
    /// The rung's config model name.
    pub model: String,
    /// Why it failed, as text (the rung's own error's `Display`).
    pub error: String,
}

/// Why a completion failed. Transient trouble (429s, overload, timeouts) is retried and
/// fallen back on inside the broker; what reaches the caller is final.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum BrokerError {
    /// The request is malformed (no messages, `max_tokens` of 0, an out-of-range
    /// temperature, an empty turn) or cannot be trimmed to its budget. Nothing was sent.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
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
    #[error("model {model} failed: {error}")]
    Provider {
        /// The config model name.
        model: String,
        /// What the provider (or the transport) reported.
        error: ProviderError,
    },
    /// The request was cancelled before it completed: the agent that asked was cut (a
    /// swarm deadline, a stop or an interrupt), so nothing more is asked on its behalf.
    #[error("the request was cancelled")]
    Cancelled,
    /// A ladder request failed on every rung it was allowed to use; one entry per rung,
    /// in ladder order.
    #[error("every rung failed: {}", fmt_rungs(.0))]
    AllRungsFailed(Vec<RungError>),
    /// The broker stopped before it could answer.
    #[error("the broker has stopped")]
    BrokerStopped,
}

fn fmt_rungs(rungs: &[RungError]) -> String {
    rungs
        .iter()
        .enumerate()
        .map(|(i, r)| format!("{}. {}: {}", i + 1, r.model, r.error))
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
