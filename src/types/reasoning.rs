//! Thinking (Anthropic) and reasoning effort (Anthropic `output_config.effort`, OpenAI
//! `reasoning_effort`).
//!
//! Anthropic has two kinds of thinking: budget thinking (`{"type": "enabled",
//! "budget_tokens": N}`), the only kind before Claude 4.6 and deprecated on 4.6, and
//! adaptive thinking (`{"type": "adaptive"}`), where the model decides how much to think,
//! steered by the effort level. Claude Opus 4.7 and later refuse budget thinking with a
//! 400, models before 4.6 refuse adaptive thinking. Which kind a model takes is in its
//! parameter preset (`thinking_types`), so the broker refuses the other before sending.
//!
//! [`ReasoningEffort`] is one scale for both vendors; each model accepts a subset of it
//! (its preset's `efforts`), and the wire sends it where the vendor wants it.

use serde::{Deserialize, Serialize};

/// Anthropic thinking, in the wire's own shape (`{"type": "enabled", "budget_tokens": N}`
/// or `{"type": "adaptive"}`).
///
/// A budget is part of `max_tokens` (the API requires `budget_tokens` ≥ 1,024 and
/// `< max_tokens`). Thinking tokens are output tokens either way: billed at the output
/// price and counted against output tokens per minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
#[non_exhaustive]
pub enum Thinking {
    /// Budget thinking: at most `budget_tokens` tokens of thinking.
    Enabled {
        /// The most tokens the model may think for.
        budget_tokens: u32,
    },
    /// Adaptive thinking: the model decides whether and how much to think (steered by
    /// the request's effort, `output_config.effort`).
    Adaptive,
}

/// The kinds of [`Thinking`], as the wire's `type` and the config's `thinking_types`
/// spell them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ThinkingKind {
    /// `enabled` (budget thinking).
    Enabled,
    /// `adaptive`.
    Adaptive,
}

impl ThinkingKind {
    /// Both kinds.
    pub const ALL: [ThinkingKind; 2] = [ThinkingKind::Enabled, ThinkingKind::Adaptive];

    /// The name as the wire and the config spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            ThinkingKind::Enabled => "enabled",
            ThinkingKind::Adaptive => "adaptive",
        }
    }

    /// The kind named `s`.
    pub fn parse(s: &str) -> Option<ThinkingKind> {
        ThinkingKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl Thinking {
    /// Budget thinking with this budget.
    pub fn budget(budget_tokens: u32) -> Self {
        Thinking::Enabled { budget_tokens }
    }

    /// Adaptive thinking.
    pub fn adaptive() -> Self {
        Thinking::Adaptive
    }

    /// The budget, for budget thinking.
    pub fn budget_tokens(self) -> Option<u32> {
        match self {
            Thinking::Enabled { budget_tokens } => Some(budget_tokens),
            Thinking::Adaptive => None,
        }
    }

    /// Which kind this is.
    pub fn kind(self) -> ThinkingKind {
        match self {
            Thinking::Enabled { .. } => ThinkingKind::Enabled,
            Thinking::Adaptive => ThinkingKind::Adaptive,
        }
    }

    /// The smallest budget the API accepts.
    pub const MIN_BUDGET: u32 = 1024;
}

/// How hard a model thinks: OpenAI's `reasoning_effort` and Anthropic's
/// `output_config.effort`, on one scale. No model takes every value (a model's preset
/// lists the ones it takes, `efforts`):
///
/// - OpenAI reasoning models: `minimal` (gpt-5), `low`, `medium` (the default), `high`;
///   `none` (gpt-5.1 and later: no reasoning) and `xhigh` (newer gpt-5.x models);
/// - Anthropic (Claude Opus 4.5 and 4.6+): `low`, `medium`, `high` (the default on most
///   models: the same as not setting it), `max` (Opus 4.6 / Sonnet 4.6 and later) and
///   `xhigh` (Opus 4.7 and later).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum ReasoningEffort {
    /// No reasoning at all (OpenAI gpt-5.1 and later).
    None,
    /// Fewest reasoning tokens (OpenAI gpt-5).
    Minimal,
    /// Low.
    Low,
    /// Medium.
    Medium,
    /// High.
    High,
    /// Extra high, for long agentic work (newer OpenAI gpt-5.x, Claude Opus 4.7 and later).
    #[serde(rename = "xhigh")]
    XHigh,
    /// Anthropic's highest level, with no limit on tokens spent.
    Max,
}

impl ReasoningEffort {
    /// Every value, lowest first.
    pub const ALL: [ReasoningEffort; 7] = [
        ReasoningEffort::None,
        ReasoningEffort::Minimal,
        ReasoningEffort::Low,
        ReasoningEffort::Medium,
        ReasoningEffort::High,
        ReasoningEffort::XHigh,
        ReasoningEffort::Max,
    ];

    /// The value as the wires and the config spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            ReasoningEffort::None => "none",
            ReasoningEffort::Minimal => "minimal",
            ReasoningEffort::Low => "low",
            ReasoningEffort::Medium => "medium",
            ReasoningEffort::High => "high",
            ReasoningEffort::XHigh => "xhigh",
            ReasoningEffort::Max => "max",
        }
    }

    /// The value named `s`.
    pub fn parse(s: &str) -> Option<ReasoningEffort> {
        ReasoningEffort::ALL.into_iter().find(|e| e.as_str() == s)
    }
}

impl std::fmt::Display for ReasoningEffort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn thinking_serialises_in_the_wire_shape() {
        assert_eq!(
            serde_json::to_value(Thinking::budget(2048)).unwrap(),
            json!({"type": "enabled", "budget_tokens": 2048})
        );
        assert_eq!(
            serde_json::to_value(Thinking::adaptive()).unwrap(),
            json!({"type": "adaptive"})
        );
        let back: Thinking = serde_json::from_value(json!({"type": "adaptive"})).unwrap();
        assert_eq!(back, Thinking::Adaptive);
        assert_eq!(Thinking::budget(5).budget_tokens(), Some(5));
        assert_eq!(Thinking::adaptive().budget_tokens(), None);
    }

    #[test]
    fn efforts_round_trip_by_name() {
        for e in ReasoningEffort::ALL {
            assert_eq!(ReasoningEffort::parse(e.as_str()), Some(e));
            assert_eq!(serde_json::to_value(e).unwrap(), json!(e.as_str()));
        }
        assert_eq!(ReasoningEffort::parse("extreme"), None);
        assert!(ReasoningEffort::High < ReasoningEffort::XHigh);
    }
}
