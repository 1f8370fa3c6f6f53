//! OpenAI model families, decided from the wire model name: which output-cap field a
//! model takes, whether the system prompt goes as a `developer` message, and whether
//! `reasoning_effort` is sent. One rule for the whole crate: the OpenAI encoder, the
//! default parameter preset of a model and the simulator's validation all ask it.
//!
//! OpenAI documents it model by model; by name:
//! - reasoning: names starting `o1`, `o3`, `o4` or `gpt-5`. They reject `max_tokens`
//!   (the cap is `max_completion_tokens`, reasoning tokens included), take the system
//!   prompt as a `developer` message, and accept `reasoning_effort`;
//! - legacy: `gpt-3.5*`, `gpt-4` and `gpt-4-*` (not `gpt-4o*` nor `gpt-4.1*`). Older
//!   deployments of these (and compatible servers imitating them) know only `max_tokens`;
//! - everything else (`gpt-4o`, `gpt-4.1`, unknown names): `max_completion_tokens`, the
//!   current field.

/// How an OpenAI model wants its request shaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenAiFamily {
    /// o-series and gpt-5: `developer` role, `max_completion_tokens`, `reasoning_effort`.
    Reasoning,
    /// gpt-3.5 and gpt-4 (not 4o / 4.1): `max_tokens`.
    Legacy,
    /// Every other model: `max_completion_tokens`, `system` role.
    Standard,
}

impl OpenAiFamily {
    /// Whether the output cap is sent as the deprecated `max_tokens`.
    pub fn uses_max_tokens(self) -> bool {
        self == OpenAiFamily::Legacy
    }

    /// Whether the system prompt is a `developer` message.
    pub fn uses_developer_role(self) -> bool {
        self == OpenAiFamily::Reasoning
    }

    /// Whether `reasoning_effort` is sent (other models reject it).
    pub fn takes_reasoning_effort(self) -> bool {
        self == OpenAiFamily::Reasoning
    }
}

/// The family of OpenAI wire model `model` (case-insensitive; a fine-tune `ft:` prefix
/// is looked through).
pub fn openai_family(model: &str) -> OpenAiFamily {
    let lower = model.to_ascii_lowercase();
    let name = lower.strip_prefix("ft:").unwrap_or(&lower);
    if ["o1", "o3", "o4", "gpt-5"]
        .iter()
        .any(|p| name.starts_with(p))
    {
        OpenAiFamily::Reasoning
    } else if name.starts_with("gpt-3.5") || name == "gpt-4" || name.starts_with("gpt-4-") {
        OpenAiFamily::Legacy
    } else {
        OpenAiFamily::Standard
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasoning_models_are_the_o_series_and_gpt_5() {
        for m in [
            "o1",
            "o1-mini",
            "o3",
            "o3-mini-2025-01-31",
            "o4-mini",
            "gpt-5",
            "gpt-5-mini",
            "gpt-5.1",
            "GPT-5",
            "ft:o4-mini:org::abc",
        ] {
            assert_eq!(openai_family(m), OpenAiFamily::Reasoning, "{m}");
        }
    }

    #[test]
    fn legacy_models_are_gpt_3_5_and_gpt_4_but_not_4o_or_4_1() {
        for m in [
            "gpt-3.5-turbo",
            "gpt-3.5-turbo-0125",
            "gpt-4",
            "gpt-4-turbo",
            "gpt-4-0613",
            "gpt-4-32k",
        ] {
            assert_eq!(openai_family(m), OpenAiFamily::Legacy, "{m}");
        }
        for m in [
            "gpt-4o",
            "gpt-4o-mini",
            "gpt-4.1",
            "gpt-4.1-nano",
            "gpt-4.5-preview",
        ] {
            assert_eq!(openai_family(m), OpenAiFamily::Standard, "{m}");
        }
    }

    #[test]
    fn unknown_names_are_standard() {
        for m in ["", "llama-3", "omni", "chatgpt-4o-latest", "gpt-oss-20b"] {
            assert_eq!(openai_family(m), OpenAiFamily::Standard, "{m}");
        }
        assert!(OpenAiFamily::Legacy.uses_max_tokens());
        assert!(!OpenAiFamily::Standard.uses_max_tokens());
        assert!(OpenAiFamily::Reasoning.uses_developer_role());
        assert!(OpenAiFamily::Reasoning.takes_reasoning_effort());
        assert!(!OpenAiFamily::Standard.takes_reasoning_effort());
    }
}
