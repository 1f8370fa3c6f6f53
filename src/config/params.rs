//! Which request parameters a model accepts, as data: named presets (`[param_presets.NAME]`
//! in the config, the built-in ones in `defaults.toml`) that each model picks with
//! `params = "NAME"`, and what the broker does with a request that breaks them
//! (`on_unsupported = "refuse" | "drop"`).
//!
//! The providers answer such a request with a 400 that no retry or fallback can fix; the
//! broker checks the rules in the caller's task instead (see `broker/policy.rs`), so the
//! request is refused with an error naming the parameter, or sent without it.
//!
//! The rules a preset can state (every list names parameters as the request spells them:
//! `temperature`, `top_p`, `top_k`, `stop`, `thinking`, `reasoning_effort`, `tool_choice`,
//! `parallel_tool_calls`, `response_format`):
//!
//! | key | meaning |
//! |---|---|
//! | `unsupported` | must not be set at all |
//! | `only_default` | `temperature` / `top_p`: accepted only at their default, 1 |
//! | `exclusive` | pairs that must not be set together (`[["temperature", "top_p"]]`) |
//! | `max_stop` | the most stop sequences |
//! | `max_cache_breakpoints` | the most `cache_control` breakpoints (tools, system, messages) |
//! | `with_thinking_unsupported` | with extended thinking on: must not be set |
//! | `with_thinking_only_default` | with extended thinking on: only at their default, 1 |
//! | `with_thinking_tool_choice` | with extended thinking on: the `tool_choice` kinds allowed (`auto`, `none`, `any`, `tool`) |
//! | `tool_choices` | the `tool_choice` kinds allowed at all (Claude 5.1+ refuse forcing a tool: `["auto", "none"]`) |
//! | `thinking_types` | the kinds of `thinking` accepted: `enabled` (budget), `adaptive` (Claude Opus 4.7+: only `["adaptive"]`) |
//! | `efforts` | the `reasoning_effort` values accepted (`none`, `minimal`, `low`, `medium`, `high`, `xhigh`, `max`) |
//!
//! "Thinking on" is either kind of thinking. Without `thinking_types`, `efforts` or
//! `tool_choices`, every value is accepted. On Anthropic, `reasoning_effort` is sent as
//! `output_config.effort`.

use super::problem::Problem;
use super::raw::RawParamRules;
use crate::types::{ReasoningEffort, ThinkingKind};
use std::collections::BTreeMap;

/// A request parameter a model may refuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Param {
    /// `temperature`.
    Temperature,
    /// `top_p`.
    TopP,
    /// `top_k`.
    TopK,
    /// `stop` (Anthropic `stop_sequences`).
    Stop,
    /// Anthropic extended `thinking`.
    Thinking,
    /// OpenAI `reasoning_effort`.
    ReasoningEffort,
    /// `tool_choice`.
    ToolChoice,
    /// `parallel_tool_calls` (Anthropic `disable_parallel_tool_use`).
    ParallelToolCalls,
    /// `response_format` (structured output; on Anthropic a forced tool).
    ResponseFormat,
}

impl Param {
    /// Every parameter, in the order checks report them.
    pub const ALL: [Param; 9] = [
        Param::Temperature,
        Param::TopP,
        Param::TopK,
        Param::Stop,
        Param::Thinking,
        Param::ReasoningEffort,
        Param::ToolChoice,
        Param::ParallelToolCalls,
        Param::ResponseFormat,
    ];

    /// The name as the request (and the config) spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Param::Temperature => "temperature",
            Param::TopP => "top_p",
            Param::TopK => "top_k",
            Param::Stop => "stop",
            Param::Thinking => "thinking",
            Param::ReasoningEffort => "reasoning_effort",
            Param::ToolChoice => "tool_choice",
            Param::ParallelToolCalls => "parallel_tool_calls",
            Param::ResponseFormat => "response_format",
        }
    }

    fn parse(s: &str) -> Option<Param> {
        Param::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

impl std::fmt::Display for Param {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A kind of `tool_choice`, for [`ParamRules::with_thinking_tool_choice`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ToolChoiceKind {
    /// `auto`.
    Auto,
    /// `none`.
    None,
    /// `any` (OpenAI `required`).
    Any,
    /// A named tool.
    Tool,
}

impl ToolChoiceKind {
    /// The name as the config spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            ToolChoiceKind::Auto => "auto",
            ToolChoiceKind::None => "none",
            ToolChoiceKind::Any => "any",
            ToolChoiceKind::Tool => "tool",
        }
    }

    fn parse(s: &str) -> Option<ToolChoiceKind> {
        [
            ToolChoiceKind::Auto,
            ToolChoiceKind::None,
            ToolChoiceKind::Any,
            ToolChoiceKind::Tool,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// What a model accepts (a preset, see the module doc). The default accepts everything.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ParamRules {
    /// The preset's name (`claude-4-5`), for messages; empty for the accept-all default.
    pub preset: String,
    /// Parameters that must not be set.
    pub unsupported: Vec<Param>,
    /// Parameters accepted only at their default (1).
    pub only_default: Vec<Param>,
    /// Pairs that must not be set together.
    pub exclusive: Vec<(Param, Param)>,
    /// The most stop sequences, if limited.
    pub max_stop: Option<usize>,
    /// The most cache breakpoints, if limited.
    pub max_cache_breakpoints: Option<usize>,
    /// With thinking on: parameters that must not be set.
    pub with_thinking_unsupported: Vec<Param>,
    /// With thinking on: parameters accepted only at their default (1).
    pub with_thinking_only_default: Vec<Param>,
    /// With thinking on: the `tool_choice` kinds allowed; `None`: any.
    pub with_thinking_tool_choice: Option<Vec<ToolChoiceKind>>,
    /// The `tool_choice` kinds allowed at all; `None`: any.
    pub tool_choices: Option<Vec<ToolChoiceKind>>,
    /// The kinds of thinking accepted; `None`: both.
    pub thinking_types: Option<Vec<ThinkingKind>>,
    /// The effort values accepted; `None`: all.
    pub efforts: Option<Vec<ReasoningEffort>>,
}

/// What the broker does with a request that breaks its model's [`ParamRules`]
/// (`on_unsupported` per model).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum OnUnsupported {
    /// Refuse it in the caller's task with an error naming the parameter (the default).
    #[default]
    Refuse,
    /// Send it without the parameter, with a warning in the log.
    Drop,
}

/// The presets of a config, validated (`param_presets.NAME`).
pub(super) fn presets(
    raw: BTreeMap<String, RawParamRules>,
) -> Result<BTreeMap<String, ParamRules>, Problem> {
    raw.into_iter()
        .map(|(name, r)| rules(&name, r).map(|rules| (name, rules)))
        .collect()
}

fn params(path: &str, names: Option<Vec<String>>) -> Result<Vec<Param>, Problem> {
    names
        .unwrap_or_default()
        .iter()
        .map(|n| {
            Param::parse(n).ok_or_else(|| {
                let known: Vec<&str> = Param::ALL.iter().map(|p| p.as_str()).collect();
                Problem::new(
                    path,
                    format!(
                        "names unknown parameter {n:?} (known: {})",
                        known.join(", ")
                    ),
                )
            })
        })
        .collect()
}

fn numeric(path: &str, ps: Vec<Param>) -> Result<Vec<Param>, Problem> {
    match ps
        .iter()
        .find(|p| !matches!(p, Param::Temperature | Param::TopP))
    {
        Some(p) => Err(Problem::new(
            path,
            format!("can only name temperature and top_p, not {p}"),
        )),
        None => Ok(ps),
    }
}

/// A list of names, each parsed by `parse`; `None` stays `None`.
fn names<T>(
    path: &str,
    list: Option<Vec<String>>,
    parse: impl Fn(&str) -> Option<T>,
    known: &[&str],
) -> Result<Option<Vec<T>>, Problem> {
    let Some(list) = list else {
        return Ok(None);
    };
    list.iter()
        .map(|n| {
            parse(n).ok_or_else(|| {
                Problem::new(
                    path,
                    format!("names {n:?}: use one of {}", known.join(", ")),
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

const TOOL_CHOICE_KINDS: [&str; 4] = ["auto", "none", "any", "tool"];

fn rules(name: &str, r: RawParamRules) -> Result<ParamRules, Problem> {
    let path = |k: &str| format!("param_presets.{name}.{k}");
    let mut exclusive = Vec::new();
    for (i, pair) in r.exclusive.unwrap_or_default().into_iter().enumerate() {
        let at = format!("{}[{i}]", path("exclusive"));
        let ps = params(&at, Some(pair))?;
        match ps[..] {
            [a, b] if a != b => exclusive.push((a, b)),
            _ => return Err(Problem::new(at, "must name two different parameters")),
        }
    }
    let with_thinking_tool_choice = names(
        &path("with_thinking_tool_choice"),
        r.with_thinking_tool_choice,
        ToolChoiceKind::parse,
        &TOOL_CHOICE_KINDS,
    )?;
    let tool_choices = names(
        &path("tool_choices"),
        r.tool_choices,
        ToolChoiceKind::parse,
        &TOOL_CHOICE_KINDS,
    )?;
    let thinking_types = names(
        &path("thinking_types"),
        r.thinking_types,
        ThinkingKind::parse,
        &ThinkingKind::ALL.map(ThinkingKind::as_str),
    )?;
    let efforts = names(
        &path("efforts"),
        r.efforts,
        ReasoningEffort::parse,
        &ReasoningEffort::ALL.map(ReasoningEffort::as_str),
    )?;
    Ok(ParamRules {
        preset: name.to_string(),
        unsupported: params(&path("unsupported"), r.unsupported)?,
        only_default: numeric(
            &path("only_default"),
            params(&path("only_default"), r.only_default)?,
        )?,
        exclusive,
        max_stop: r.max_stop,
        max_cache_breakpoints: r.max_cache_breakpoints,
        with_thinking_unsupported: params(
            &path("with_thinking_unsupported"),
            r.with_thinking_unsupported,
        )?,
        with_thinking_only_default: numeric(
            &path("with_thinking_only_default"),
            params(
                &path("with_thinking_only_default"),
                r.with_thinking_only_default,
            )?,
        )?,
        with_thinking_tool_choice,
        tool_choices,
        thinking_types,
        efforts,
    })
}

pub(super) fn on_unsupported(path: &str, v: Option<&str>) -> Result<OnUnsupported, Problem> {
    match v {
        None | Some("refuse") => Ok(OnUnsupported::Refuse),
        Some("drop") => Ok(OnUnsupported::Drop),
        Some(other) => Err(Problem::new(
            path,
            format!("must be \"refuse\" or \"drop\", not {other:?}"),
        )),
    }
}

/// The preset a model without `params` gets: by its wire and its family (`family.rs`:
/// for Anthropic by the Claude generation, for OpenAI reasoning models the wire names
/// starting `o1`, `o3`, `o4` or `gpt-5`). The names refer to the built-in presets; a
/// config that replaces the defaults and defines none of them gets the accept-all
/// default.
pub(super) fn default_preset(wire: super::Wire, wire_model: &str) -> &'static str {
    match wire {
        super::Wire::Anthropic => super::family::claude_family(wire_model).preset(),
        super::Wire::OpenAi | super::Wire::Responses => {
            if super::family::openai_family(wire_model) == super::family::OpenAiFamily::Reasoning {
                super::family::openai_reasoning_preset(wire_model)
            } else if wire == super::Wire::Responses {
                "openai-responses"
            } else {
                "openai"
            }
        }
    }
}
