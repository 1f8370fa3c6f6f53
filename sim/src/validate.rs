//! Strict validation (`sim.strict_validation`): what the real APIs refuse beyond a
//! malformed body: unknown fields, parameter combinations a model rejects (e.g.
//! `temperature` with `top_p` on newer Claude models, `max_tokens` or sampling
//! parameters on OpenAI reasoning models), tool results without their call. A client
//! that sends them would pass against a lax double and fail in production, so the
//! simulator refuses them too. Each check returns the refusal's message (and for OpenAI
//! its `param` and `code`); the wires wrap them in their error bodies.

use quotaswarm::config::family::claude_version;
use serde_json::Value;
use std::collections::HashSet;

/// Top-level fields `POST /v1/messages` accepts.
const ANTHROPIC_FIELDS: &[&str] = &[
    "model",
    "max_tokens",
    "messages",
    "system",
    "temperature",
    "top_p",
    "top_k",
    "stop_sequences",
    "stream",
    "tools",
    "tool_choice",
    "metadata",
    "thinking",
    "service_tier",
    "cache_control",
    "container",
    "mcp_servers",
    "context_management",
    "output_config",
    "inference_geo",
];

/// Top-level fields `POST /v1/messages/count_tokens` accepts (the real endpoint refuses
/// the rest, `max_tokens` included).
const COUNT_TOKENS_FIELDS: &[&str] = &[
    "model",
    "messages",
    "system",
    "tools",
    "tool_choice",
    "thinking",
    "cache_control",
    "output_config",
    "mcp_servers",
    "context_management",
];

/// Top-level fields `POST /v1/chat/completions` accepts.
const OPENAI_FIELDS: &[&str] = &[
    "model",
    "messages",
    "max_tokens",
    "max_completion_tokens",
    "temperature",
    "top_p",
    "n",
    "stream",
    "stream_options",
    "stop",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "seed",
    "response_format",
    "user",
    "safety_identifier",
    "prompt_cache_key",
    "prompt_cache_retention",
    "service_tier",
    "reasoning_effort",
    "frequency_penalty",
    "presence_penalty",
    "logprobs",
    "top_logprobs",
    "logit_bias",
    "metadata",
    "store",
    "modalities",
    "audio",
    "prediction",
    "web_search_options",
    "verbosity",
    "functions",
    "function_call",
];

/// Top-level fields a local OpenAI-compatible server (vLLM) takes beyond OpenAI's: its
/// sampling and structured-output extras, which clients send in `extra_body`. Accepted
/// from requests served without a key (`routes.rs`), as such a server would.
const LOCAL_SERVER_FIELDS: &[&str] = &[
    "top_k",
    "min_p",
    "repetition_penalty",
    "length_penalty",
    "min_tokens",
    "ignore_eos",
    "stop_token_ids",
    "skip_special_tokens",
    "include_stop_str_in_output",
    "guided_json",
    "guided_regex",
    "guided_choice",
    "structured_outputs",
    "chat_template_kwargs",
];

/// `body` without the fields only a local server takes ([`LOCAL_SERVER_FIELDS`]), to
/// check the rest as OpenAI would.
pub(super) fn without_local_fields(body: &Value) -> Value {
    match body {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| !LOCAL_SERVER_FIELDS.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// OpenAI allows at most this many stop sequences.
const MAX_STOPS: usize = 4;

/// The first top-level field of `body` not in `known`.
fn unknown_field<'a>(body: &'a Value, known: &[&str]) -> Option<&'a str> {
    body.as_object()?
        .keys()
        .map(String::as_str)
        .find(|k| !known.contains(k))
}

/// Anthropic: unknown top-level fields of a Messages (or count_tokens) body.
pub(super) fn anthropic_fields(body: &Value, count_tokens: bool) -> Result<(), String> {
    let known = if count_tokens {
        COUNT_TOKENS_FIELDS
    } else {
        ANTHROPIC_FIELDS
    };
    match unknown_field(body, known) {
        Some(f) => Err(format!("{f}: Extra inputs are not permitted")),
        None => Ok(()),
    }
}

/// Anthropic: parameter combinations the model refuses (Claude 4.5 and later:
/// `temperature` with `top_p`).
pub(super) fn anthropic_parameters(model: &str, body: &Value) -> Result<(), String> {
    let set = |f: &str| body.get(f).is_some_and(|v| !v.is_null());
    let newer = claude_version(model).is_some_and(|v| v >= (4, 5));
    if newer && set("temperature") && set("top_p") {
        return Err(
            "`temperature` and `top_p` cannot both be specified for this model. Please use only one."
                .into(),
        );
    }
    Ok(())
}

fn role(m: &Value) -> Option<&str> {
    m.get("role").and_then(Value::as_str)
}

/// Anthropic: every `tool_use` of an assistant turn needs a `tool_result` in the next
/// (user) turn.
pub(super) fn anthropic_tool_results(messages: &[Value]) -> Result<(), String> {
    let ids = |m: &Value, kind: &str, field: &str| -> Vec<String> {
        m.get("content")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|b| b.get("type").and_then(Value::as_str) == Some(kind))
            .filter_map(|b| b.get(field).and_then(Value::as_str).map(String::from))
            .collect()
    };
    for (i, m) in messages.iter().enumerate() {
        if role(m) != Some("assistant") {
            continue;
        }
        let uses = ids(m, "tool_use", "id");
        if uses.is_empty() {
            continue;
        }
        let answered: HashSet<String> = messages
            .get(i + 1)
            .filter(|n| role(n) == Some("user"))
            .map(|n| ids(n, "tool_result", "tool_use_id").into_iter().collect())
            .unwrap_or_default();
        let missing: Vec<&str> = uses
            .iter()
            .filter(|u| !answered.contains(*u))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            return Err(format!(
                "messages.{i}: `tool_use` ids were found without `tool_result` blocks immediately after: {}. \
                 Each `tool_use` block must have a corresponding `tool_result` block in the next message.",
                missing.join(", ")
            ));
        }
    }
    Ok(())
}

/// An OpenAI refusal: message, `param`, `code`.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct OpenAiRefusal {
    pub message: String,
    pub param: Option<String>,
    pub code: Option<&'static str>,
}

fn refusal(message: String, param: Option<&str>, code: Option<&'static str>) -> OpenAiRefusal {
    OpenAiRefusal {
        message,
        param: param.map(String::from),
        code,
    }
}

/// OpenAI model family by wire name (the contract's rule): reasoning = `o1*`, `o3*`,
/// `o4*`, `gpt-5*`, as `config::family` decides it for the client side.
pub(super) fn openai_reasoning(model: &str) -> bool {
    quotaswarm::config::family::openai_family(model)
        == quotaswarm::config::family::OpenAiFamily::Reasoning
}

/// OpenAI: unknown fields, the reasoning models' parameter rules, stop sequences, and
/// unanswered tool calls.
pub(super) fn openai(model: &str, body: &Value) -> Result<(), OpenAiRefusal> {
    if let Some(f) = unknown_field(body, OPENAI_FIELDS) {
        return Err(refusal(
            format!("Unrecognized request argument supplied: {f}"),
            None,
            None,
        ));
    }
    let stops = match body.get("stop") {
        Some(Value::Array(a)) => a.len(),
        Some(Value::String(_)) => 1,
        _ => 0,
    };
    if openai_reasoning(model) {
        for field in ["temperature", "top_p"] {
            if let Some(v) = body.get(field).and_then(Value::as_f64) {
                if v != 1.0 {
                    return Err(refusal(
                        format!("Unsupported value: '{field}' does not support {v} with this model. Only the default (1) value is supported."),
                        Some(field),
                        Some("unsupported_value"),
                    ));
                }
            }
        }
        if body.get("stop").is_some_and(|s| !s.is_null()) {
            return Err(refusal(
                "Unsupported parameter: 'stop' is not supported with this model.".into(),
                Some("stop"),
                Some("unsupported_parameter"),
            ));
        }
        if body.get("max_tokens").is_some_and(|s| !s.is_null()) {
            return Err(refusal(
                "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.".into(),
                Some("max_tokens"),
                Some("unsupported_parameter"),
            ));
        }
    }
    if let Some(e) = body.get("reasoning_effort").filter(|e| !e.is_null()) {
        reasoning_effort(model, e)?;
    }
    if stops > MAX_STOPS {
        return Err(refusal(
            format!("Invalid 'stop': array too long. Expected an array with maximum length {MAX_STOPS}, but got an array with length {stops} instead."),
            Some("stop"),
            Some("array_above_max_length"),
        ));
    }
    openai_tool_results(body)
}

/// OpenAI: `reasoning_effort` only on reasoning models, and only a value the model takes
/// (`config::family::openai_efforts`, the rule the client's presets follow).
fn reasoning_effort(model: &str, e: &Value) -> Result<(), OpenAiRefusal> {
    if !openai_reasoning(model) {
        return Err(refusal(
            "Unsupported parameter: 'reasoning_effort' is not supported with this model.".into(),
            Some("reasoning_effort"),
            Some("unsupported_parameter"),
        ));
    }
    let takes = quotaswarm::config::family::openai_efforts(model);
    match e.as_str() {
        Some(v) if takes.iter().any(|t| t.as_str() == v) => Ok(()),
        _ => {
            let names: Vec<String> = takes.iter().map(|t| format!("'{}'", t.as_str())).collect();
            Err(refusal(
                format!(
                    "Invalid value: {e}. Supported values are: {}.",
                    names.join(", ")
                ),
                Some("reasoning_effort"),
                Some("invalid_value"),
            ))
        }
    }
}

/// Every `tool_calls` id of an assistant message needs a `tool` message right after it.
fn openai_tool_results(body: &Value) -> Result<(), OpenAiRefusal> {
    let messages = body
        .get("messages")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    for (i, m) in messages.iter().enumerate() {
        if role(m) != Some("assistant") {
            continue;
        }
        let ids: Vec<&str> = m
            .get("tool_calls")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|c| c.get("id").and_then(Value::as_str))
            .collect();
        let answered: HashSet<&str> = messages[i + 1..]
            .iter()
            .take_while(|n| role(n) == Some("tool"))
            .filter_map(|n| n.get("tool_call_id").and_then(Value::as_str))
            .collect();
        let missing: Vec<&str> = ids
            .into_iter()
            .filter(|id| !answered.contains(id))
            .collect();
        if !missing.is_empty() {
            return Err(refusal(
                format!("An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. The following tool_call_ids did not have response messages: {}", missing.join(", ")),
                Some(&format!("messages.[{}].role", i + 1)),
                None,
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn refuses_unknown_fields_by_name() {
        let b = json!({"model": "m", "messages": [], "max_tokens": 1, "frobnicate": 1});
        assert_eq!(
            anthropic_fields(&b, false),
            Err("frobnicate: Extra inputs are not permitted".into())
        );
        let c = json!({"model": "m", "messages": [], "max_tokens": 1});
        assert!(anthropic_fields(&c, true)
            .unwrap_err()
            .starts_with("max_tokens:"));
        let o = json!({"model": "gpt-4o", "messages": [], "frobnicate": 1});
        assert_eq!(
            openai("gpt-4o", &o).unwrap_err().message,
            "Unrecognized request argument supplied: frobnicate"
        );
    }

    #[test]
    fn reads_claude_versions() {
        assert_eq!(claude_version("claude-sonnet-4-5"), Some((4, 5)));
        assert_eq!(claude_version("claude-sonnet-4-5-20250929"), Some((4, 5)));
        assert_eq!(claude_version("claude-opus-4-20250514"), Some((4, 0)));
        assert_eq!(claude_version("claude-3-5-haiku-20241022"), Some((3, 5)));
        assert_eq!(claude_version("gpt-4o"), None);
        let both = json!({"temperature": 0.5, "top_p": 0.9});
        assert!(anthropic_parameters("claude-sonnet-4-5", &both).is_err());
        assert!(anthropic_parameters("claude-sonnet-4-20250514", &both).is_ok());
    }

    #[test]
    fn refuses_unanswered_tool_uses() {
        let ms = vec![
            json!({"role": "user", "content": "go"}),
            json!({"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}]}),
            json!({"role": "user", "content": "never mind"}),
        ];
        let e = anthropic_tool_results(&ms).unwrap_err();
        assert!(e.starts_with("messages.1: `tool_use` ids were found without `tool_result` blocks immediately after: toolu_1."), "{e}");
        let o = json!({"messages": [
            {"role": "user", "content": "go"},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}},
                {"id": "call_2", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "r"}
        ]});
        let e = openai("gpt-4o", &o).unwrap_err();
        assert!(
            e.message
                .ends_with("did not have response messages: call_2"),
            "{e:?}"
        );
    }

    #[test]
    fn applies_the_reasoning_models_rules() {
        let t = json!({"temperature": 0.2});
        let e = openai("o3-mini", &t).unwrap_err();
        assert_eq!(
            (e.param.as_deref(), e.code),
            (Some("temperature"), Some("unsupported_value"))
        );
        assert!(openai("gpt-4o", &t).is_ok());
        assert!(openai("gpt-5", &json!({"temperature": 1})).is_ok());
        let e = openai("gpt-5-mini", &json!({"stop": ["x"]})).unwrap_err();
        assert_eq!(e.code, Some("unsupported_parameter"));
        let e = openai("o4-mini", &json!({"max_tokens": 5})).unwrap_err();
        assert_eq!(e.param.as_deref(), Some("max_tokens"));
        let e = openai("gpt-4o", &json!({"stop": ["a", "b", "c", "d", "e"]})).unwrap_err();
        assert_eq!(e.code, Some("array_above_max_length"));
        assert!(openai("gpt-5.2", &json!({"reasoning_effort": "xhigh"})).is_ok());
        assert!(openai("gpt-5.6-sol", &json!({"reasoning_effort": "max"})).is_ok());
        let e = openai("gpt-5", &json!({"reasoning_effort": "max"})).unwrap_err();
        assert_eq!(e.code, Some("invalid_value"));
        assert!(
            e.message.ends_with("'minimal', 'low', 'medium', 'high'."),
            "{e:?}"
        );
        let e = openai("gpt-4o", &json!({"reasoning_effort": "low"})).unwrap_err();
        assert_eq!(e.param.as_deref(), Some("reasoning_effort"));
    }
}
