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
    /// never help. Nothing was sent.
    #[error("request can never fit model {model}: needs {need} {bucket} but the limit is {max} per minute; trim the history (set a trim policy) or raise the limit")]
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
    },
    /// The estimated input plus `max_tokens` exceeds the model's context window. Nothing
    /// was sent.
    #[error("request too large for model {model}: about {need} input tokens + max_tokens exceeds the {max}-token context window; trim the history or lower max_tokens")]
    ContextTooLarge {
        /// The config model name.
        model: String,
        /// Estimated input tokens.
        need: u64,
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
    pub(crate) fn never_fits(model: &str, bucket: BucketKind, need: f64, max: f64) -> Self {
        BrokerError::NeverFits {
            model: model.to_string(),
            bucket: bucket.as_str(),
            need: need.ceil() as u64,
            max: max as u64,
        }
    }
}
