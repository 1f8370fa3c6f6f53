//! The parameter policy, pure: which of a request's parameters a model refuses, by the
//! model's [`ParamRules`] (config data, see `config/params.rs`).
//!
//! The providers answer a parameter they refuse with a 400 that no retry or fallback can
//! fix (Claude 4.5+ with `temperature` and `top_p`, an OpenAI reasoning model with
//! `temperature` 0.2 or `stop`, more than 4 stop sequences on OpenAI, ...). The caller's
//! task checks each rung the request may use before anything is sent (`handle.rs`):
//!
//! - `on_unsupported = "refuse"` (the default): the request is refused with
//!   [`InvalidRequest::UnsupportedParameter`](super::InvalidRequest::UnsupportedParameter),
//!   naming the model and the parameter. For a ladder, any rung the request may use (down
//!   to its floor) that refuses it refuses the whole request, at once: whether it is
//!   refused should not depend on which rung happens to be free when it is admitted.
//! - `on_unsupported = "drop"`: that rung gets its own copy of the request without the
//!   parameter (with a `tracing::warn!`); other rungs still get it as the caller wrote it.
//!
//! Dropping removes the whole parameter (all the stop sequences, not the fifth); of two
//! parameters that may not be set together, the second of the pair is dropped. Rules are
//! checked in a fixed order, each on what is left after the drops before it (a dropped
//! `thinking` no longer restricts `top_p`).

use crate::config::{Param, ParamRules, ToolChoiceKind};
use crate::types::{CompletionRequest, ReasoningEffort, ThinkingKind, ToolChoice};

/// Why a model refuses one parameter of a request.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Reason {
    /// The model does not accept it at all.
    Unsupported,
    /// Accepted only at its default, 1.
    OnlyDefault(f32),
    /// Not together with this other parameter.
    Together(Param),
    /// More stop sequences than the model takes.
    TooMany { count: usize, max: usize },
    /// Not with extended thinking on.
    WithThinking,
    /// Only at its default, 1, with extended thinking on.
    WithThinkingOnlyDefault(f32),
    /// This tool choice is not allowed with extended thinking on.
    ToolChoiceWithThinking {
        kind: ToolChoiceKind,
        allowed: Vec<ToolChoiceKind>,
    },
    /// This tool choice is not allowed on this model at all.
    ToolChoiceKind {
        kind: ToolChoiceKind,
        allowed: Vec<ToolChoiceKind>,
    },
    /// This kind of thinking is not accepted (budget thinking on Claude Opus 4.7+).
    ThinkingType {
        kind: ThinkingKind,
        allowed: Vec<ThinkingKind>,
    },
    /// This effort value is not accepted.
    Effort {
        value: ReasoningEffort,
        allowed: Vec<ReasoningEffort>,
    },
}

/// `a, b, c` of the names.
fn list<T: Copy>(items: &[T], name: impl Fn(T) -> &'static str) -> String {
    let names: Vec<&str> = items.iter().map(|&i| name(i)).collect();
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

/// One parameter a model refuses, and why.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Violation {
    pub(crate) param: Param,
    pub(crate) reason: Reason,
}

impl Violation {
    /// What is wrong, for the error message.
    pub(crate) fn describe(&self) -> String {
        let p = self.param;
        match &self.reason {
            Reason::Unsupported => format!("`{p}` is not supported by this model"),
            Reason::OnlyDefault(v) => {
                format!("`{p}` may only be 1 (its default) on this model, not {v}")
            }
            Reason::Together(other) => {
                format!("`{other}` and `{p}` cannot both be set for this model: use only one")
            }
            Reason::TooMany { count, max } => {
                format!("at most {max} stop sequences are accepted, not {count}")
            }
            Reason::WithThinking if p == Param::ResponseFormat => format!(
                "`{p}` cannot be set with extended thinking on (structured output forces a tool, which thinking does not allow)"
            ),
            Reason::WithThinking => format!("`{p}` cannot be set with extended thinking on"),
            Reason::WithThinkingOnlyDefault(v) => {
                format!("`{p}` may only be 1 with extended thinking on, not {v}")
            }
            Reason::ToolChoiceWithThinking { kind, allowed } => format!(
                "`tool_choice` {} cannot be used with extended thinking on (only {})",
                kind.as_str(),
                list(allowed, ToolChoiceKind::as_str)
            ),
            Reason::ToolChoiceKind { kind, allowed } => format!(
                "`tool_choice` {} is not accepted by this model (only {}): it cannot be forced to call a tool",
                kind.as_str(),
                list(allowed, ToolChoiceKind::as_str)
            ),
            Reason::ThinkingType { kind, allowed } => format!(
                "`thinking` of type \"{}\" is not accepted by this model (it takes: {}){}",
                kind.as_str(),
                list(allowed, ThinkingKind::as_str),
                if *kind == ThinkingKind::Enabled {
                    ": use adaptive thinking, steered by `reasoning_effort`"
                } else {
                    ": use budget thinking"
                }
            ),
            Reason::Effort { value, allowed } => format!(
                "`{p}` \"{value}\" is not accepted by this model (it takes: {})",
                list(allowed, ReasoningEffort::as_str)
            ),
        }
    }
}

/// The parameters of a request as the rules see them.
#[derive(Debug, Clone, Default)]
struct View {
    temperature: Option<f32>,
    top_p: Option<f32>,
    top_k: bool,
    stop: usize,
    thinking: Option<ThinkingKind>,
    reasoning_effort: Option<ReasoningEffort>,
    tool_choice: Option<ToolChoiceKind>,
    parallel_tool_calls: bool,
    response_format: bool,
}

impl View {
    fn of(req: &CompletionRequest) -> View {
        View {
            temperature: req.temperature,
            top_p: req.top_p,
            top_k: req.top_k.is_some(),
            stop: req.stop.len(),
            thinking: req.thinking.map(|t| t.kind()),
            reasoning_effort: req.reasoning_effort,
            tool_choice: req.tool_choice.as_ref().map(kind_of),
            parallel_tool_calls: req.parallel_tool_calls.is_some(),
            response_format: req.response_format.is_some(),
        }
    }

    fn is_set(&self, p: Param) -> bool {
        match p {
            Param::Temperature => self.temperature.is_some(),
            Param::TopP => self.top_p.is_some(),
            Param::TopK => self.top_k,
            Param::Stop => self.stop > 0,
            Param::Thinking => self.thinking.is_some(),
            Param::ReasoningEffort => self.reasoning_effort.is_some(),
            Param::ToolChoice => self.tool_choice.is_some(),
            Param::ParallelToolCalls => self.parallel_tool_calls,
            Param::ResponseFormat => self.response_format,
        }
    }

    /// The value of a numeric parameter (temperature, top_p).
    fn value(&self, p: Param) -> Option<f32> {
        match p {
            Param::Temperature => self.temperature,
            Param::TopP => self.top_p,
            _ => None,
        }
    }

    fn clear(&mut self, p: Param) {
        match p {
            Param::Temperature => self.temperature = None,
            Param::TopP => self.top_p = None,
            Param::TopK => self.top_k = false,
            Param::Stop => self.stop = 0,
            Param::Thinking => self.thinking = None,
            Param::ReasoningEffort => self.reasoning_effort = None,
            Param::ToolChoice => self.tool_choice = None,
            Param::ParallelToolCalls => self.parallel_tool_calls = false,
            Param::ResponseFormat => self.response_format = false,
        }
    }
}

fn kind_of(c: &ToolChoice) -> ToolChoiceKind {
    match c {
        ToolChoice::Auto => ToolChoiceKind::Auto,
        ToolChoice::None => ToolChoiceKind::None,
        ToolChoice::Any => ToolChoiceKind::Any,
        _ => ToolChoiceKind::Tool,
    }
}

/// Every parameter of `req` that `rules` refuse, in the order they are checked, each
/// checked on what the ones before it leave (as if they were dropped).
pub(crate) fn violations(req: &CompletionRequest, rules: &ParamRules) -> Vec<Violation> {
    let mut v = View::of(req);
    let mut out = Vec::new();
    let mut refuse = |v: &mut View, param: Param, reason: Reason| {
        v.clear(param);
        out.push(Violation { param, reason });
    };
    for &p in &rules.unsupported {
        if v.is_set(p) {
            refuse(&mut v, p, Reason::Unsupported);
        }
    }
    if let Some((kind, allowed)) = outside(&rules.thinking_types, v.thinking) {
        let reason = Reason::ThinkingType { kind, allowed };
        refuse(&mut v, Param::Thinking, reason);
    }
    if let Some((value, allowed)) = outside(&rules.efforts, v.reasoning_effort) {
        let reason = Reason::Effort { value, allowed };
        refuse(&mut v, Param::ReasoningEffort, reason);
    }
    if let Some((kind, allowed)) = outside(&rules.tool_choices, v.tool_choice) {
        let reason = Reason::ToolChoiceKind { kind, allowed };
        refuse(&mut v, Param::ToolChoice, reason);
    }
    for &p in &rules.only_default {
        if let Some(x) = v.value(p).filter(|x| *x != 1.0) {
            refuse(&mut v, p, Reason::OnlyDefault(x));
        }
    }
    for &(a, b) in &rules.exclusive {
        if v.is_set(a) && v.is_set(b) {
            refuse(&mut v, b, Reason::Together(a));
        }
    }
    if let Some(max) = rules.max_stop {
        if v.stop > max {
            let count = v.stop;
            refuse(&mut v, Param::Stop, Reason::TooMany { count, max });
        }
    }
    if v.thinking.is_some() {
        for &p in &rules.with_thinking_unsupported {
            if v.is_set(p) {
                refuse(&mut v, p, Reason::WithThinking);
            }
        }
        for &p in &rules.with_thinking_only_default {
            if let Some(x) = v.value(p).filter(|x| *x != 1.0) {
                refuse(&mut v, p, Reason::WithThinkingOnlyDefault(x));
            }
        }
        if let (Some(allowed), Some(kind)) = (&rules.with_thinking_tool_choice, v.tool_choice) {
            if !allowed.contains(&kind) {
                let allowed = allowed.clone();
                refuse(
                    &mut v,
                    Param::ToolChoice,
                    Reason::ToolChoiceWithThinking { kind, allowed },
                );
            }
        }
    }
    out
}

/// `value` with the `allowed` list, when a list is given and `value` is set but not in it.
fn outside<T: Copy + PartialEq>(allowed: &Option<Vec<T>>, value: Option<T>) -> Option<(T, Vec<T>)> {
    match (allowed, value) {
        (Some(allowed), Some(v)) if !allowed.contains(&v) => Some((v, allowed.clone())),
        _ => None,
    }
}

/// Removes `params` from `req` (the whole parameter each).
pub(crate) fn drop_params(req: &mut CompletionRequest, params: &[Param]) {
    for p in params {
        match p {
            Param::Temperature => req.temperature = None,
            Param::TopP => req.top_p = None,
            Param::TopK => req.top_k = None,
            Param::Stop => req.stop.clear(),
            Param::Thinking => req.thinking = None,
            Param::ReasoningEffort => req.reasoning_effort = None,
            Param::ToolChoice => req.tool_choice = None,
            Param::ParallelToolCalls => req.parallel_tool_calls = None,
            Param::ResponseFormat => req.response_format = None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::types::ReasoningEffort;

    /// The rules of `model`: the defaults' models, `o4-mini`, `gpt-4o`, and one Claude model per
    /// generation, each with the preset its name picks: `sonnet-4` (before 4.5),
    /// `sonnet-4-5`, `opus-4-6`, `opus-4-7`, `opus-5-5`.
    fn rules(model: &str) -> ParamRules {
        let mut toml = String::from(
            "[models.o4-mini]\nprovider = \"openai\"\nrpm = 500\ntpm = 200000\n\
                [models.gpt-4o]\nprovider = \"openai\"\nrpm = 500\ntpm = 30000\n",
        );
        for (name, wire) in [
            ("sonnet-4", "claude-sonnet-4-20250514"),
            ("sonnet-4-5", "claude-sonnet-4-5"),
            ("opus-4-6", "claude-opus-4-6"),
            ("opus-4-7", "claude-opus-4-7"),
            ("opus-5-5", "claude-opus-5-5"),
        ] {
            toml.push_str(&format!(
                "[models.{name}]\nprovider = \"anthropic\"\nmodel = \"{wire}\"\nrpm = 50\nitpm = 30000\notpm = 8000\n"
            ));
        }
        let c = Config::from_toml_str_over_defaults(&toml, "test").unwrap();
        c.model(model).unwrap().params.clone()
    }

    fn params(vs: &[Violation]) -> Vec<Param> {
        vs.iter().map(|v| v.param).collect()
    }

    #[test]
    fn claude_4_5_refuses_temperature_with_top_p_naming_top_p() {
        let req = CompletionRequest::prompt("sonnet", "hi")
            .temperature(0.2)
            .top_p(0.9);
        let v = violations(&req, &rules("sonnet-4-5"));
        assert_eq!(params(&v), [Param::TopP]);
        assert!(v[0]
            .describe()
            .contains("`temperature` and `top_p` cannot both be set"));
        let alone = CompletionRequest::prompt("sonnet", "hi").temperature(0.2);
        assert!(violations(&alone, &rules("sonnet-4-5")).is_empty());
    }

    #[test]
    fn an_openai_reasoning_model_takes_temperature_only_at_1_and_no_stop() {
        let req = CompletionRequest::prompt("o4-mini", "hi")
            .temperature(0.2)
            .stop("END");
        let v = violations(&req, &rules("o4-mini"));
        assert_eq!(params(&v), [Param::Stop, Param::Temperature]);
        assert!(v[1].describe().contains("not 0.2"), "{}", v[1].describe());
        let at_one = CompletionRequest::prompt("o4-mini", "hi").temperature(1.0);
        assert!(violations(&at_one, &rules("o4-mini")).is_empty());
    }

    #[test]
    fn openai_takes_at_most_four_stop_sequences_and_no_top_k_or_thinking() {
        let mut req = CompletionRequest::prompt("gpt-4o", "hi")
            .top_k(5)
            .thinking(2048);
        req.stop = (0..5).map(|i| format!("S{i}")).collect();
        let v = violations(&req, &rules("gpt-4o"));
        assert_eq!(params(&v), [Param::TopK, Param::Thinking, Param::Stop]);
        assert_eq!(
            v[2].reason,
            Reason::TooMany { count: 5, max: 4 },
            "{}",
            v[2].describe()
        );
        req.stop.truncate(4);
        assert_eq!(violations(&req, &rules("gpt-4o")).len(), 2);
    }

    #[test]
    fn with_thinking_claude_refuses_sampling_and_a_forced_tool() {
        let req = CompletionRequest::prompt("sonnet", "hi")
            .max_tokens(4096)
            .thinking(2048)
            .temperature(0.5)
            .top_k(10)
            .tool_choice(ToolChoice::Any);
        let v = violations(&req, &rules("sonnet-4-5"));
        assert_eq!(
            params(&v),
            [Param::TopK, Param::Temperature, Param::ToolChoice]
        );
        let fine = CompletionRequest::prompt("sonnet", "hi")
            .max_tokens(4096)
            .thinking(2048)
            .temperature(1.0)
            .tool_choice(ToolChoice::Auto);
        assert!(violations(&fine, &rules("sonnet-4-5")).is_empty());
    }

    #[test]
    fn with_thinking_claude_refuses_structured_output_which_forces_a_tool() {
        let schema =
            crate::types::OutputSchema::new("answer", serde_json::json!({"type": "object"}));
        let req = CompletionRequest::prompt("sonnet", "hi")
            .max_tokens(4096)
            .thinking(2048)
            .response_format(schema.clone());
        let v = violations(&req, &rules("sonnet-4"));
        assert_eq!(params(&v), [Param::ResponseFormat]);
        assert!(
            v[0].describe().contains("forces a tool"),
            "{}",
            v[0].describe()
        );
        let without = CompletionRequest::prompt("sonnet", "hi").response_format(schema.clone());
        assert!(violations(&without, &rules("sonnet-4")).is_empty());
        // From Claude 4.5 on, structured output is native: it works with thinking on.
        let native = CompletionRequest::prompt("sonnet", "hi")
            .max_tokens(4096)
            .thinking(2048)
            .response_format(schema);
        assert!(violations(&native, &rules("sonnet-4-5")).is_empty());
    }

    #[test]
    fn anthropic_refuses_reasoning_effort_and_dropping_removes_what_was_named() {
        let mut req = CompletionRequest::prompt("sonnet", "hi")
            .reasoning_effort(ReasoningEffort::High)
            .temperature(0.3)
            .top_p(0.5);
        let v = violations(&req, &rules("sonnet-4-5"));
        assert_eq!(params(&v), [Param::ReasoningEffort, Param::TopP]);
        drop_params(&mut req, &params(&v));
        assert_eq!(req.reasoning_effort, None);
        assert_eq!(req.top_p, None);
        assert_eq!(req.temperature, Some(0.3), "the first of the pair stays");
        assert!(violations(&req, &rules("sonnet-4-5")).is_empty());
    }

    #[test]
    fn each_generation_takes_its_own_kind_of_thinking() {
        let budget = CompletionRequest::prompt("m", "hi")
            .max_tokens(4096)
            .thinking(2048);
        let adaptive = CompletionRequest::prompt("m", "hi").adaptive_thinking();
        let refused = |req: &CompletionRequest, m: &str| params(&violations(req, &rules(m)));
        assert!(refused(&budget, "sonnet-4-5").is_empty());
        assert_eq!(refused(&adaptive, "sonnet-4-5"), [Param::Thinking]);
        assert!(refused(&budget, "opus-4-6").is_empty());
        assert!(refused(&adaptive, "opus-4-6").is_empty());
        for m in ["opus-4-7", "opus-5-5"] {
            let v = violations(&budget, &rules(m));
            assert_eq!(params(&v), [Param::Thinking], "{m}");
            let why = v[0].describe();
            assert!(
                why.contains("\"enabled\" is not accepted") && why.contains("adaptive"),
                "{why}"
            );
            assert!(refused(&adaptive, m).is_empty(), "{m}");
        }
    }

    #[test]
    fn effort_values_are_refused_where_the_family_lacks_them() {
        let at = |e| CompletionRequest::prompt("m", "hi").reasoning_effort(e);
        let refused = |e, m: &str| params(&violations(&at(e), &rules(m)));
        assert!(refused(ReasoningEffort::Max, "opus-4-6").is_empty());
        assert_eq!(
            refused(ReasoningEffort::XHigh, "opus-4-6"),
            [Param::ReasoningEffort]
        );
        assert!(refused(ReasoningEffort::XHigh, "opus-4-7").is_empty());
        assert_eq!(
            refused(ReasoningEffort::Minimal, "opus-5-5"),
            [Param::ReasoningEffort]
        );
        assert_eq!(
            refused(ReasoningEffort::Max, "o4-mini"),
            [Param::ReasoningEffort]
        );
        assert_eq!(
            refused(ReasoningEffort::None, "o4-mini"),
            [Param::ReasoningEffort]
        );
        assert!(refused(ReasoningEffort::Low, "o4-mini").is_empty());
        let v = violations(&at(ReasoningEffort::XHigh), &rules("opus-4-6"));
        assert_eq!(
            v[0].describe(),
            "`reasoning_effort` \"xhigh\" is not accepted by this model (it takes: low, medium, high, max)"
        );
    }

    #[test]
    fn claude_5_1_and_later_refuse_a_forced_tool_and_sampling() {
        let req = CompletionRequest::prompt("m", "hi")
            .tool_choice(ToolChoice::Any)
            .temperature(0.2)
            .top_k(5);
        let v = violations(&req, &rules("opus-5-5"));
        assert_eq!(
            params(&v),
            [Param::TopK, Param::ToolChoice, Param::Temperature]
        );
        assert!(
            v[1].describe().contains("cannot be forced"),
            "{}",
            v[1].describe()
        );
        let v = violations(&req, &rules("opus-4-7"));
        assert_eq!(params(&v), [Param::TopK, Param::Temperature]);
    }
}
