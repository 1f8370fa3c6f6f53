//! Model families, decided from the wire model name. One rule for the whole crate: the
//! encoders, the default parameter preset of a model and the simulator's validation all
//! ask it.
//!
//! OpenAI ([`openai_family`]): which output-cap field a model takes, whether the system
//! prompt goes as a `developer` message, and whether `reasoning_effort` is sent.
//!
//! OpenAI documents it model by model; by name:
//! - reasoning: names starting `o1`, `o3`, `o4`, `gpt-5` or `gpt-6` (the GPT-6 models,
//!   Astra, Sol, Terra and Luna, are reasoning models too). They reject `max_tokens`
//!   (the cap is `max_completion_tokens`, reasoning tokens included), take the system
//!   prompt as a `developer` message, and accept `reasoning_effort`;
//! - legacy: `gpt-3.5*`, `gpt-4` and `gpt-4-*` (not `gpt-4o*` nor `gpt-4.1*`). Older
//!   deployments of these (and compatible servers imitating them) know only `max_tokens`;
//! - everything else (`gpt-4o`, `gpt-4.1`, unknown names): `max_completion_tokens`, the
//!   current field.

use crate::types::ReasoningEffort;

/// How an OpenAI model wants its request shaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenAiFamily {
    /// o-series, gpt-5 and gpt-6: `developer` role, `max_completion_tokens`, `reasoning_effort`.
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
    if ["o1", "o3", "o4", "gpt-5", "gpt-6"]
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

/// The `reasoning_effort` values an OpenAI reasoning model takes, by its name (the
/// models' pages, "Reasoning.effort supports"): the o-series `low`, `medium`, `high`;
/// gpt-5 adds `minimal`; gpt-5.1 has `none` instead; gpt-5.2 to 5.5 add `xhigh`; gpt-5.6
/// and later add `max`. GPT-6 (developers.openai.com/api/docs/models): `none` to `max`
/// on gpt-6-sol, Terra and Luna; `low` to `max` on Astra and on Sol from 6.1 on, which
/// reject `none`. Other models take none.
pub fn openai_efforts(model: &str) -> &'static [ReasoningEffort] {
    use ReasoningEffort::{High, Low, Max, Medium, Minimal, None, XHigh};
    if openai_family(model) != OpenAiFamily::Reasoning {
        return &[];
    }
    if let Some(rejects_none) = gpt6_rejects_none(model) {
        return if rejects_none {
            &[Low, Medium, High, XHigh, Max]
        } else {
            &[None, Low, Medium, High, XHigh, Max]
        };
    }
    match gpt5_minor(model) {
        Option::None => &[Low, Medium, High],
        Some(0) => &[Minimal, Low, Medium, High],
        Some(1) => &[None, Low, Medium, High],
        Some(2..=5) => &[None, Low, Medium, High, XHigh],
        Some(_) => &[None, Low, Medium, High, XHigh, Max],
    }
}

/// The built-in preset of an OpenAI reasoning model (by its effort values).
pub fn openai_reasoning_preset(model: &str) -> &'static str {
    match gpt6_rejects_none(model) {
        Some(true) => return "gpt-6-astra",
        Some(false) => return "gpt-6",
        Option::None => {}
    }
    match gpt5_minor(model) {
        None => "openai-reasoning",
        Some(0) => "gpt-5",
        Some(1) => "gpt-5-1",
        Some(2..=5) => "gpt-5-2",
        Some(_) => "gpt-5-6",
    }
}

/// For a GPT-6 name (`gpt-6-luna`, `gpt-6.2-sol`), whether it rejects effort `none`:
/// Astra always, Sol from 6.1 on (the 6.1 and 6.2 Sol pages: "The API rejects requests
/// that set reasoning effort to none"); `None` for names that are not GPT-6 ones.
fn gpt6_rejects_none(model: &str) -> Option<bool> {
    let lower = model.to_ascii_lowercase();
    let name = lower.strip_prefix("ft:").unwrap_or(&lower);
    let rest = name.strip_prefix("gpt-6")?;
    let (minor, tier) = match rest.strip_prefix('.') {
        Some(r) => {
            let digits: String = r.chars().take_while(char::is_ascii_digit).collect();
            (digits.parse().unwrap_or(0u32), &r[digits.len()..])
        }
        Option::None if rest.is_empty() || rest.starts_with('-') => (0, rest),
        Option::None => return Option::None,
    };
    Some(tier.contains("astra") || (tier.contains("sol") && minor >= 1))
}

/// The minor version of a gpt-5 name (`gpt-5`, `gpt-5-mini` → 0; `gpt-5.2-pro` → 2);
/// `None` for other names.
fn gpt5_minor(model: &str) -> Option<u32> {
    let lower = model.to_ascii_lowercase();
    let name = lower.strip_prefix("ft:").unwrap_or(&lower);
    let rest = name.strip_prefix("gpt-5")?;
    match rest.strip_prefix('.') {
        Some(minor) => minor
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .and_then(|d| d.parse().ok()),
        None if rest.is_empty() || rest.starts_with('-') => Some(0),
        None => Option::None,
    }
}

/// How a Claude model thinks and takes structured output, by generation (Anthropic's
/// models overview, "adaptive thinking", "effort" and "structured outputs" pages):
///
/// | family | thinking | effort | structured output | forced tool | sampling |
/// |---|---|---|---|---|---|
/// | `Legacy` (before 4.5, unknown names) | budget | – | forced tool | yes | yes |
/// | `Claude45` (Sonnet/Haiku/Opus 4.5) | budget | – | native | yes | yes |
/// | `Claude46` (Opus/Sonnet 4.6) | adaptive, budget (deprecated) | low–high, max | native | yes | yes |
/// | `Adaptive` (Opus 4.7, 4.8, Mythos Preview, Claude 5) | adaptive only | low–high, xhigh, max | native | yes | defaults only |
/// | `Claude51` (Claude 5.1 and later: Fable 5.1, the 5.5 models) | adaptive only | low–high, xhigh, max | native | no | defaults only |
///
/// "Forced tool": `tool_choice` `any` or `tool` (the 5.1+ models answer it with a 400);
/// "sampling": `temperature` / `top_p` other than 1, or `top_k` (Claude 4.7 and later
/// answer them with a 400). Unknown names are `Legacy`: structured output as a forced
/// tool works on every model that takes tools.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClaudeFamily {
    /// Before Claude 4.5, and names that are not Claude's.
    Legacy,
    /// Claude 4.5.
    Claude45,
    /// Claude Opus 4.6 and Sonnet 4.6.
    Claude46,
    /// Claude Opus 4.7 to Claude 5.0: adaptive thinking only.
    Adaptive,
    /// Claude 5.1 and later: also no forced tool.
    Claude51,
}

impl ClaudeFamily {
    /// Whether budget thinking (`{"type": "enabled"}`) is accepted.
    pub fn budget_thinking(self) -> bool {
        matches!(
            self,
            ClaudeFamily::Legacy | ClaudeFamily::Claude45 | ClaudeFamily::Claude46
        )
    }

    /// Whether adaptive thinking (`{"type": "adaptive"}`) is accepted.
    pub fn adaptive_thinking(self) -> bool {
        !matches!(self, ClaudeFamily::Legacy | ClaudeFamily::Claude45)
    }

    /// The `output_config.effort` values accepted (empty: the field is refused).
    pub fn efforts(self) -> &'static [ReasoningEffort] {
        use ReasoningEffort::{High, Low, Max, Medium, XHigh};
        match self {
            ClaudeFamily::Legacy | ClaudeFamily::Claude45 => &[],
            ClaudeFamily::Claude46 => &[Low, Medium, High, Max],
            ClaudeFamily::Adaptive | ClaudeFamily::Claude51 => &[Low, Medium, High, XHigh, Max],
        }
    }

    /// Whether structured output is native (`output_config.format`) rather than a
    /// forced tool.
    pub fn native_structured_output(self) -> bool {
        self != ClaudeFamily::Legacy
    }

    /// Whether `tool_choice` may force a tool (`any`, `tool`).
    pub fn forced_tool(self) -> bool {
        self != ClaudeFamily::Claude51
    }

    /// Whether `temperature` / `top_p` other than 1 and `top_k` are accepted.
    pub fn sampling(self) -> bool {
        !matches!(self, ClaudeFamily::Adaptive | ClaudeFamily::Claude51)
    }

    /// The built-in parameter preset for this family (`defaults.toml`).
    pub fn preset(self) -> &'static str {
        match self {
            ClaudeFamily::Legacy => "claude",
            ClaudeFamily::Claude45 => "claude-4-5",
            ClaudeFamily::Claude46 => "claude-4-6",
            ClaudeFamily::Adaptive => "claude-adaptive",
            ClaudeFamily::Claude51 => "claude-5-1",
        }
    }
}

/// `(major, minor)` of a Claude model name: its first one- or two-digit numbers
/// (`claude-sonnet-4-5-20250929` → (4, 5), `claude-opus-4-20250514` → (4, 0),
/// `claude-3-7-sonnet-latest` → (3, 7), `claude-opus-5` → (5, 0)); `None` for names
/// that do not start `claude-` or carry no version.
pub fn claude_version(model: &str) -> Option<(u32, u32)> {
    // Case-insensitive prefix without lowercasing a copy: the numbers are digits.
    let rest = model
        .get(..7)
        .filter(|p| p.eq_ignore_ascii_case("claude-"))
        .and_then(|_| model.get(7..))?;
    let mut numbers = rest
        .split('-')
        .filter(|p| p.len() <= 2)
        .filter_map(|p| p.parse::<u32>().ok());
    let major = numbers.next()?;
    Some((major, numbers.next().unwrap_or(0)))
}

/// The family of Claude wire model `model` (see [`ClaudeFamily`]).
pub fn claude_family(model: &str) -> ClaudeFamily {
    if model.eq_ignore_ascii_case("claude-mythos-preview") {
        return ClaudeFamily::Adaptive;
    }
    match claude_version(model) {
        Some(v) if v >= (5, 1) => ClaudeFamily::Claude51,
        Some(v) if v >= (4, 7) => ClaudeFamily::Adaptive,
        Some(v) if v >= (4, 6) => ClaudeFamily::Claude46,
        Some(v) if v >= (4, 5) => ClaudeFamily::Claude45,
        _ => ClaudeFamily::Legacy,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openai_effort_values_follow_the_generation() {
        use ReasoningEffort::*;
        assert_eq!(openai_efforts("o3"), [Low, Medium, High]);
        assert_eq!(openai_efforts("gpt-5-mini"), [Minimal, Low, Medium, High]);
        assert_eq!(openai_efforts("gpt-5.1"), [None, Low, Medium, High]);
        assert!(openai_efforts("gpt-5.4-pro").contains(&XHigh));
        assert!(!openai_efforts("gpt-5.5").contains(&Max));
        assert!(openai_efforts("gpt-5.6-sol").contains(&Max));
        assert!(openai_efforts("gpt-4o").is_empty());
        assert_eq!(openai_reasoning_preset("gpt-5.6-luna"), "gpt-5-6");
        assert_eq!(openai_reasoning_preset("o4-mini"), "openai-reasoning");
        assert_eq!(
            openai_efforts("gpt-6-luna"),
            [None, Low, Medium, High, XHigh, Max]
        );
        assert_eq!(openai_efforts("gpt-6-sol")[0], None);
        assert_eq!(
            openai_efforts("gpt-6.2-sol"),
            [Low, Medium, High, XHigh, Max]
        );
        assert_eq!(openai_efforts("gpt-6.1-terra")[0], None);
        assert_eq!(openai_efforts("gpt-6-astra")[0], Low);
        assert_eq!(openai_reasoning_preset("gpt-6-luna"), "gpt-6");
        assert_eq!(openai_reasoning_preset("gpt-6.2-sol"), "gpt-6-astra");
        assert_eq!(openai_reasoning_preset("gpt-6.2-astra"), "gpt-6-astra");
    }

    #[test]
    fn claude_families_follow_the_generation() {
        for (m, f) in [
            ("claude-3-7-sonnet-20250219", ClaudeFamily::Legacy),
            ("claude-opus-4-1", ClaudeFamily::Legacy),
            ("claude-sonnet-4-20250514", ClaudeFamily::Legacy),
            ("llama-3", ClaudeFamily::Legacy),
            ("claude-sonnet-4-5-20250929", ClaudeFamily::Claude45),
            ("claude-haiku-4-5", ClaudeFamily::Claude45),
            ("claude-opus-4-6", ClaudeFamily::Claude46),
            ("claude-sonnet-4-6", ClaudeFamily::Claude46),
            ("claude-opus-4-7", ClaudeFamily::Adaptive),
            ("claude-opus-4-8", ClaudeFamily::Adaptive),
            ("claude-mythos-preview", ClaudeFamily::Adaptive),
            ("claude-opus-5", ClaudeFamily::Adaptive),
            ("claude-sonnet-5", ClaudeFamily::Adaptive),
            ("claude-fable-5-1", ClaudeFamily::Claude51),
            ("claude-opus-5-5", ClaudeFamily::Claude51),
            ("claude-haiku-5-5", ClaudeFamily::Claude51),
        ] {
            assert_eq!(claude_family(m), f, "{m}");
        }
        assert!(
            ClaudeFamily::Claude46.budget_thinking() && ClaudeFamily::Claude46.adaptive_thinking()
        );
        assert!(!ClaudeFamily::Adaptive.budget_thinking());
        assert!(!ClaudeFamily::Claude45.adaptive_thinking());
        assert!(!ClaudeFamily::Legacy.native_structured_output());
        assert!(!ClaudeFamily::Claude51.forced_tool() && ClaudeFamily::Adaptive.forced_tool());
        assert!(!ClaudeFamily::Claude46
            .efforts()
            .contains(&ReasoningEffort::XHigh));
    }

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
            "gpt-6-luna",
            "gpt-6.2-sol",
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

    /// The built-in presets a model gets by its name agree with its family: the same
    /// effort values, kinds of thinking and forced tools (the simulator follows the
    /// family, the broker the preset).
    #[test]
    fn the_built_in_presets_agree_with_the_families() {
        use crate::types::ThinkingKind;
        let claude = [
            "claude-sonnet-4-5",
            "claude-opus-4-6",
            "claude-opus-4-7",
            "claude-opus-5-5",
            "claude-sonnet-5-5",
            "claude-haiku-5-5",
        ];
        let openai = [
            "o3",
            "gpt-5",
            "gpt-5.1",
            "gpt-5.4",
            "gpt-5.6-terra",
            "gpt-6-luna",
            "gpt-6.2-sol",
        ];
        let mut toml = String::new();
        for (i, m) in claude.iter().chain(&openai).enumerate() {
            let (provider, limits) = if m.starts_with("claude") {
                ("anthropic", "itpm = 30000\notpm = 8000")
            } else {
                ("openai", "tpm = 30000")
            };
            toml.push_str(&format!(
                "[models.m{i}]\nprovider = \"{provider}\"\nmodel = \"{m}\"\nrpm = 50\n{limits}\n"
            ));
        }
        let c = crate::config::Config::from_toml_str_over_defaults(&toml, "test").unwrap();
        for (i, m) in claude.iter().chain(&openai).enumerate() {
            let rules = &c.model(&format!("m{i}")).unwrap().params;
            let family_efforts = if m.starts_with("claude") {
                claude_family(m).efforts()
            } else {
                openai_efforts(m)
            };
            let efforts = rules.efforts.clone().unwrap_or_default();
            let refused = rules
                .unsupported
                .contains(&crate::config::Param::ReasoningEffort);
            assert_eq!(
                if refused { &[][..] } else { &efforts[..] },
                family_efforts,
                "{m} ({})",
                rules.preset
            );
            if m.starts_with("claude") {
                let f = claude_family(m);
                let kinds = rules
                    .thinking_types
                    .clone()
                    .unwrap_or(ThinkingKind::ALL.to_vec());
                assert_eq!(
                    kinds.contains(&ThinkingKind::Enabled),
                    f.budget_thinking(),
                    "{m}"
                );
                assert_eq!(
                    kinds.contains(&ThinkingKind::Adaptive),
                    f.adaptive_thinking(),
                    "{m}"
                );
                let forced = rules
                    .tool_choices
                    .as_ref()
                    .is_none_or(|k| k.contains(&crate::config::ToolChoiceKind::Any));
                assert_eq!(forced, f.forced_tool(), "{m}");
            }
        }
    }
}
