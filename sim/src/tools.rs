//! Tool calls: the tools a request offers, its `tool_choice`, and whether (and which)
//! tool the simulator calls, deterministic from the request's hash.
//!
//! The rule, for a request that offers tools and with `sim.tool_calls` on:
//!
//! - a forced choice (Anthropic `any` / `tool`, OpenAI `required` / a named function)
//!   always calls a tool (the named one, or one picked by the hash);
//! - `none` never does;
//! - `auto` (or no choice): count the tool results since the last plain user turn (a
//!   user turn holding no tool result; OpenAI: since the last `user` message). With
//!   none yet, call a tool at `sim.tool_call_rate`; with some but fewer than
//!   `sim.tool_steps`, call another; then answer with text, so a tool loop ends.
//!
//! The call's input is generated to fit the tool's schema ([`super::schema`]); at
//! `sim.schema_violation_rate` a forced (schema-bound) call deliberately does not.

use super::reply;
use super::schema;
use serde_json::Value;

/// One tool a request offers.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct ToolSpec {
    pub name: String,
    pub schema: Value,
}

/// A request's `tool_choice`.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Choice {
    Auto,
    /// Any tool (Anthropic `any`, OpenAI `required`).
    Any,
    Named(String),
    None,
}

impl Choice {
    pub fn forced(&self) -> bool {
        matches!(self, Choice::Any | Choice::Named(_))
    }
}

/// The `[sim]` settings that decide tool calls.
#[derive(Debug, Clone, Copy)]
pub(super) struct Policy {
    pub enabled: bool,
    pub rate: f64,
    pub steps: u32,
    pub violation_rate: f64,
}

/// A call the simulator makes.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Call {
    pub name: String,
    pub input: Value,
    /// Output tokens the call costs (its name and arguments).
    pub tokens: u64,
}

/// A number in [0, 1) from `hash` and a `salt`, for rate decisions.
pub(super) fn unit(hash: u64, salt: u64) -> f64 {
    let h = reply::fnv1a(&(hash ^ salt).to_le_bytes());
    (h >> 11) as f64 / (1u64 << 53) as f64
}

/// Anthropic `tools` (custom tools: those with an `input_schema`).
pub(super) fn anthropic_tools(body: &Value) -> Vec<ToolSpec> {
    body.get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|t| {
            Some(ToolSpec {
                name: t.get("name")?.as_str()?.to_string(),
                schema: t.get("input_schema")?.clone(),
            })
        })
        .collect()
}

/// Anthropic `tool_choice`.
pub(super) fn anthropic_choice(body: &Value) -> Choice {
    let c = body.get("tool_choice");
    match c.and_then(|c| c.get("type")).and_then(Value::as_str) {
        Some("any") => Choice::Any,
        Some("none") => Choice::None,
        Some("tool") => match c.and_then(|c| c.get("name")).and_then(Value::as_str) {
            Some(n) => Choice::Named(n.to_string()),
            None => Choice::Any,
        },
        _ => Choice::Auto,
    }
}

/// OpenAI `tools` (functions; parameters default to an empty object).
pub(super) fn openai_tools(body: &Value) -> Vec<ToolSpec> {
    body.get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|t| {
            let f = t.get("function")?;
            Some(ToolSpec {
                name: f.get("name")?.as_str()?.to_string(),
                schema: f
                    .get("parameters")
                    .cloned()
                    .unwrap_or_else(|| serde_json::json!({"type": "object", "properties": {}})),
            })
        })
        .collect()
}

/// OpenAI `tool_choice`.
pub(super) fn openai_choice(body: &Value) -> Choice {
    match body.get("tool_choice") {
        Some(Value::String(s)) => match s.as_str() {
            "required" => Choice::Any,
            "none" => Choice::None,
            _ => Choice::Auto,
        },
        Some(Value::Object(o)) => {
            let name = o
                .get("function")
                .and_then(|f| f.get("name"))
                .and_then(Value::as_str);
            match name {
                Some(n) => Choice::Named(n.to_string()),
                None => Choice::Any,
            }
        }
        _ => Choice::Auto,
    }
}

fn blocks(m: &Value) -> &[Value] {
    m.get("content")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// Tool results since the last user turn that holds none (Anthropic).
pub(super) fn anthropic_loop_results(messages: &[Value]) -> usize {
    let mut n = 0;
    for m in messages.iter().rev() {
        if m.get("role").and_then(Value::as_str) != Some("user") {
            continue;
        }
        let results = blocks(m)
            .iter()
            .filter(|b| b.get("type").and_then(Value::as_str) == Some("tool_result"))
            .count();
        if results == 0 {
            break;
        }
        n += results;
    }
    n
}

/// `tool` messages since the last `user` message (OpenAI).
pub(super) fn openai_loop_results(messages: &[Value]) -> usize {
    messages
        .iter()
        .rev()
        .take_while(|m| m.get("role").and_then(Value::as_str) != Some("user"))
        .filter(|m| m.get("role").and_then(Value::as_str) == Some("tool"))
        .count()
}

/// Whether and which tool to call.
pub(super) fn decide(
    policy: Policy,
    tools: &[ToolSpec],
    choice: &Choice,
    loop_results: usize,
    hash: u64,
) -> Option<usize> {
    if !policy.enabled || tools.is_empty() {
        return None;
    }
    let pick = (reply::fnv1a(&hash.to_be_bytes()) % tools.len() as u64) as usize;
    match choice {
        Choice::None => None,
        Choice::Named(n) => Some(tools.iter().position(|t| &t.name == n).unwrap_or(pick)),
        Choice::Any => Some(pick),
        Choice::Auto => {
            let call = match loop_results {
                0 => unit(hash, 0x746f_6f6c) < policy.rate,
                n => (n as u64) < u64::from(policy.steps),
            };
            call.then_some(pick)
        }
    }
}

/// The call of `tool`: input generated from its schema (deliberately not fitting it when
/// `violate`).
pub(super) fn call(tool: &ToolSpec, hash: u64, violate: bool) -> Call {
    let mut input = schema::generate(&tool.schema, hash);
    if violate {
        input = schema::violate(&tool.schema, input);
    }
    let tokens = super::tokens::cl100k().count_ordinary(&input.to_string()) as u64
        + super::tokens::cl100k().count_ordinary(&tool.name) as u64
        + 3;
    Call {
        name: tool.name.clone(),
        input,
        tokens,
    }
}

/// Whether a schema-bound reply for `hash` should not fit its schema.
pub(super) fn violates(policy: Policy, hash: u64) -> bool {
    policy.violation_rate > 0.0 && unit(hash, 0x7669_6f6c) < policy.violation_rate
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn policy() -> Policy {
        Policy {
            enabled: true,
            rate: 0.5,
            steps: 2,
            violation_rate: 0.0,
        }
    }

    fn two_tools() -> Vec<ToolSpec> {
        anthropic_tools(&json!({"tools": [
            {"name": "a", "input_schema": {"type": "object"}},
            {"name": "b", "input_schema": {"type": "object"}},
            {"type": "web_search_20250305", "name": "web_search"}
        ]}))
    }

    #[test]
    fn forced_choices_always_call_and_none_never_does() {
        let t = two_tools();
        assert_eq!(t.len(), 2, "server tools are not ours to call");
        for h in 0..50 {
            assert!(decide(policy(), &t, &Choice::Any, 5, h).is_some());
            assert_eq!(
                decide(policy(), &t, &Choice::Named("b".into()), 5, h),
                Some(1)
            );
            assert_eq!(decide(policy(), &t, &Choice::None, 0, h), None);
        }
        let off = Policy {
            enabled: false,
            ..policy()
        };
        assert_eq!(decide(off, &t, &Choice::Any, 0, 1), None);
    }

    #[test]
    fn auto_calls_at_the_rate_then_continues_the_loop_then_stops() {
        let t = two_tools();
        let calls = (0..1000)
            .filter(|h| decide(policy(), &t, &Choice::Auto, 0, *h).is_some())
            .count();
        assert!((400..600).contains(&calls), "{calls}");
        assert!(decide(policy(), &t, &Choice::Auto, 1, 3).is_some());
        assert!(decide(policy(), &t, &Choice::Auto, 2, 3).is_none());
    }

    #[test]
    fn counts_tool_results_of_the_current_loop_only() {
        let result = json!({"role": "user", "content": [{"type": "tool_result", "tool_use_id": "x", "content": "r"}]});
        let asst = json!({"role": "assistant", "content": [{"type": "tool_use", "id": "x", "name": "a", "input": {}}]});
        let user = json!({"role": "user", "content": "go"});
        let ms = vec![
            user.clone(),
            asst.clone(),
            result.clone(),
            asst.clone(),
            result.clone(),
        ];
        assert_eq!(anthropic_loop_results(&ms), 2);
        let ms = vec![
            user.clone(),
            asst,
            result,
            json!({"role": "assistant", "content": "done"}),
            user,
        ];
        assert_eq!(anthropic_loop_results(&ms), 0);
        let o = vec![
            json!({"role": "user", "content": "go"}),
            json!({"role": "assistant", "tool_calls": []}),
            json!({"role": "tool", "tool_call_id": "c", "content": "r"}),
        ];
        assert_eq!(openai_loop_results(&o), 1);
    }

    #[test]
    fn reads_openai_tools_and_choices() {
        let b = json!({"tools": [{"type": "function", "function": {"name": "f"}}],
                       "tool_choice": {"type": "function", "function": {"name": "f"}}});
        assert_eq!(openai_tools(&b)[0].schema["type"], "object");
        assert_eq!(openai_choice(&b), Choice::Named("f".into()));
        assert_eq!(
            openai_choice(&json!({"tool_choice": "required"})),
            Choice::Any
        );
        assert_eq!(
            anthropic_choice(&json!({"tool_choice": {"type": "none"}})),
            Choice::None
        );
    }
}
