//! A completion as unit tests script it: id `r` from model `m`, not reused.

use super::{Completion, ContentBlock, StopReason, Usage};

/// A reply of `content` that stopped for `stop_reason`, billed `usage`.
pub(crate) fn reply(
    content: Vec<ContentBlock>,
    stop_reason: StopReason,
    usage: Usage,
) -> Completion {
    Completion {
        id: "r".into(),
        model: "m".into(),
        provider_model: "m".into(),
        content,
        reused: false,
        stop_reason,
        stop_sequence: None,
        usage,
    }
}
