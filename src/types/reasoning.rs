//! Extended thinking (Anthropic) and reasoning effort (OpenAI reasoning models).

use serde::{Deserialize, Serialize};

/// Anthropic extended thinking: the wire's `{"type": "enabled", "budget_tokens": N}`.
///
/// The budget is part of `max_tokens` (the API requires `budget_tokens` ≥ 1,024 and
/// `< max_tokens`) and thinking tokens are output tokens: billed at the output price and
/// counted against output tokens per minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Thinking {
    /// The most tokens the model may think for.
    pub budget_tokens: u32,
}

impl Thinking {
    /// Thinking with this budget.
    pub fn budget(budget_tokens: u32) -> Self {
        Thinking { budget_tokens }
    }

    /// The smallest budget the API accepts.
    pub const MIN_BUDGET: u32 = 1024;
}

/// How hard an OpenAI reasoning model thinks (`reasoning_effort`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum ReasoningEffort {
    /// Fewest reasoning tokens (some models only).
    Minimal,
    /// Low.
    Low,
    /// Medium (the API's default).
    Medium,
    /// High.
    High,
}
