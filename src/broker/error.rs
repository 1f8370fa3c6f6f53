//! The broker layer's errors: what a caller of `complete` can get back.

use super::bucket::BucketKind;
use crate::provider::ProviderError;
use serde::Serialize;

/// One rung's failure, for errors that span a ladder.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RungError {
    pub model: String,
    pub error: String,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BrokerError {
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    #[error("unknown model or ladder {0:?}: check the config's [models] and [ladders]")]
    UnknownTarget(String),
    #[error("request can never fit model {model}: needs {need} {bucket} but the limit is {max} per minute; trim the history (set a trim policy) or raise the limit")]
    NeverFits {
        model: String,
        bucket: &'static str,
        need: u64,
        max: u64,
    },
    #[error("request too large for model {model}: about {need} input tokens + max_tokens exceeds the {max}-token context window; trim the history or lower max_tokens")]
    ContextTooLarge { model: String, need: u64, max: u64 },
    #[error("model {model} failed: {error}")]
    Provider { model: String, error: ProviderError },
    #[error("every rung failed: {}", fmt_rungs(.0))]
    AllRungsFailed(Vec<RungError>),
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
