//! The OpenAI Responses wire: `POST /v1/responses`, with the same keys, `x-ratelimit-*`
//! headers, 429 bodies and buckets as Chat Completions (`openai.rs`).
//!
//! A request is checked in its own shape (`input` items, function-call pairing, the
//! replayed reasoning items), then read as the Chat Completions body it amounts to
//! ([`as_chat`]: `instructions` a system message, items messages, `function_call` /
//! `function_call_output` tool calls and tool messages, flat tools nested, `text.format`
//! a `response_format`, `reasoning.effort` a `reasoning_effort`), so admission, token
//! counts, prompt caching, tool decisions, reasoning tokens and JSON answers are exactly
//! Chat Completions'. The answer is rendered back as a `response` (`responses_body.rs`).
//!
//! Reasoning items: a reasoning model's answer starts with one (`rs_…`), whose
//! `encrypted_content` (sent when `include` asks for `reasoning.encrypted_content`) is
//! the simulator's keyed signature of its id. Replayed, an item with edited content is
//! refused (400 `invalid_encrypted_content`), and one without content under
//! `store: false` is not found (404), as the real API does for items it never stored.

use super::openai::{self, Admitted, Answer, Asked, Reject};
use super::responses_body::{self, encrypted_content, Rendered};
use super::{reply, validate, Seen, Simulator};
use quotaswarm::provider::{HttpRequest, StreamingResponse};
use serde_json::{json, Map, Value};
use std::collections::HashSet;

/// Output cap charged when a request names none.
const DEFAULT_MAX_OUTPUT: u64 = 4096;

/// The Chat Completions fields whose values shape the answer (of the converted body).
const SHAPING: &[&str] = &[
    "model",
    "messages",
    "max_completion_tokens",
    "temperature",
    "top_p",
    "tools",
    "tool_choice",
    "response_format",
    "reasoning_effort",
];

/// The request fields the simulator knows (strict validation refuses others).
const FIELDS: &[&str] = &[
    "model",
    "input",
    "instructions",
    "max_output_tokens",
    "max_tool_calls",
    "temperature",
    "top_p",
    "top_logprobs",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "text",
    "reasoning",
    "include",
    "store",
    "stream",
    "stream_options",
    "metadata",
    "user",
    "safety_identifier",
    "prompt_cache_key",
    "prompt_cache_retention",
    "service_tier",
    "truncation",
    "background",
    "previous_response_id",
    "conversation",
    "prompt",
];

pub(super) async fn create(sim: &Simulator, request: &HttpRequest) -> StreamingResponse {
    let mut seen = Seen::default();
    let result = answer(sim, request, &mut seen).await;
    openai::respond(sim, result, seen)
}

async fn answer(sim: &Simulator, request: &HttpRequest, seen: &mut Seen) -> Result<Answer, Reject> {
    let (body, model, spec) = openai::prelude(sim, request, seen)?;
    let items = input_items(&body)?;
    check_items(sim, &body, &items)?;
    let chat = as_chat(&model, &body, &items);
    if sim.inner.strict {
        if let Some(f) = body
            .as_object()
            .and_then(|o| o.keys().find(|k| !FIELDS.contains(&k.as_str())))
        {
            return Err(Reject::invalid(
                format!("Unknown parameter: '{f}'."),
                Some(f),
                Some("unknown_parameter"),
            ));
        }
        validate::openai(&model, &chat).map_err(|r| Reject {
            param: r.param,
            code: r.code,
            ..Reject::invalid(r.message, None, None)
        })?;
    }
    let max_out = openai::positive_int(&body, "max_output_tokens")?.unwrap_or(DEFAULT_MAX_OUTPUT);
    let streamed = openai::stream_flag(&body)?;
    let asked = Asked {
        max_out,
        n: 1,
        hash: reply::shaping_hash(&chat, SHAPING),
        window_param: "input",
    };
    let mut admitted: Admitted = openai::admit_and_say(sim, seen, &model, &spec, &chat, asked)?;
    let Some(choice) = admitted.answers.pop() else {
        return Err(Reject::invalid("no answer was made", None, None));
    };
    let rendered = Rendered::new(
        sim,
        &model,
        &body,
        &choice,
        admitted.prompt,
        admitted.cached.read,
    );
    if streamed {
        let (frames, error) = responses_body::stream_frames(&rendered);
        let plan = admitted.into_plan(sim, &model, choice.tokens(), frames, error);
        return Ok(Answer::Stream(Box::new(plan)));
    }
    admitted
        .settle(sim, &model, choice.tokens(), choice.tokens())
        .await;
    seen.output = choice.tokens();
    Ok(Answer::Json(rendered.response("completed")))
}

/// The `input` as a list of items (a string is one user message).
fn input_items(body: &Value) -> Result<Vec<Value>, Reject> {
    match body.get("input") {
        None | Some(Value::Null) => Err(Reject::invalid(
            "Missing required parameter: 'input'.",
            Some("input"),
            Some("missing_required_parameter"),
        )),
        Some(Value::String(text)) => Ok(vec![json!({"role": "user", "content": text})]),
        Some(Value::Array(items)) => Ok(items.clone()),
        Some(_) => Err(Reject::invalid(
            "Invalid type for 'input': expected one of a string or array of input items.",
            Some("input"),
            Some("invalid_type"),
        )),
    }
}

fn text<'v>(v: &'v Value, key: &str) -> &'v str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// An item's type (`message` when it has a role and no type).
fn kind(item: &Value) -> &str {
    match item.get("type").and_then(Value::as_str) {
        Some(t) => t,
        None if item.get("role").is_some() => "message",
        None => "",
    }
}

/// The items' own rules: every `function_call_output` answers an earlier
/// `function_call`; under strict validation every call is answered; replayed reasoning
/// items carry the content the simulator gave them.
fn check_items(sim: &Simulator, body: &Value, items: &[Value]) -> Result<(), Reject> {
    let stored = body.get("store").and_then(Value::as_bool).unwrap_or(true);
    let mut calls: Vec<&str> = Vec::new();
    let mut answered: HashSet<&str> = HashSet::new();
    for (i, item) in items.iter().enumerate() {
        match kind(item) {
            "function_call" => calls.push(text(item, "call_id")),
            "function_call_output" => {
                let id = text(item, "call_id");
                if !calls.contains(&id) {
                    return Err(Reject::invalid(
                        format!("No tool call found for function call output with call_id {id}."),
                        Some("input"),
                        None,
                    ));
                }
                answered.insert(id);
            }
            "reasoning" => check_reasoning(sim, item, stored, i)?,
            "message" | "" => {}
            other => {
                if !["item_reference", "web_search_call", "file_search_call"].contains(&other) {
                    return Err(Reject::invalid(
                        format!("Invalid value: '{other}'."),
                        Some(&format!("input[{i}].type")),
                        Some("invalid_value"),
                    ));
                }
            }
        }
    }
    if sim.inner.strict {
        if let Some(open) = calls.iter().find(|c| !answered.contains(*c)) {
            return Err(Reject::invalid(
                format!("No tool output found for function call {open}."),
                Some("input"),
                None,
            ));
        }
    }
    Ok(())
}

fn check_reasoning(sim: &Simulator, item: &Value, stored: bool, i: usize) -> Result<(), Reject> {
    let id = text(item, "id");
    match item.get("encrypted_content").and_then(Value::as_str) {
        Some(content) if content == encrypted_content(sim.inner.seed, id) => Ok(()),
        Some(_) => Err(Reject::invalid(
            format!("The encrypted content for item {id} could not be verified."),
            Some(&format!("input[{i}].encrypted_content")),
            Some("invalid_encrypted_content"),
        )),
        // The simulator stores nothing: an item without its content is never found.
        None => Err(Reject {
            status: 404,
            message: if stored {
                format!("Item with id '{id}' not found.")
            } else {
                format!("Item with id '{id}' not found. Items are not persisted when `store` is set to false. Try again with `store` set to true, or remove this item from your input.")
            },
            ..Reject::invalid("", Some("input"), None)
        }),
    }
}

/// The Chat Completions body this request amounts to.
fn as_chat(model: &str, body: &Value, items: &[Value]) -> Value {
    let mut messages = Vec::new();
    if let Some(instructions) = body.get("instructions").filter(|v| v.is_string()) {
        messages.push(json!({"role": "system", "content": instructions}));
    }
    for item in items {
        match kind(item) {
            "message" => messages.push(json!({
                "role": text(item, "role"),
                "content": chat_content(item.get("content")),
            })),
            "function_call" => {
                let call = json!({"id": text(item, "call_id"), "type": "function",
                    "function": {"name": text(item, "name"), "arguments": text(item, "arguments")}});
                // Consecutive calls are one assistant turn.
                match messages.last_mut() {
                    Some(last) if last.get("tool_calls").is_some_and(Value::is_array) => {
                        if let Some(calls) = last["tool_calls"].as_array_mut() {
                            calls.push(call);
                        }
                    }
                    _ => messages
                        .push(json!({"role": "assistant", "content": null, "tool_calls": [call]})),
                }
            }
            "function_call_output" => messages.push(json!({
                "role": "tool",
                "tool_call_id": text(item, "call_id"),
                "content": item.get("output").map(output_text).unwrap_or_default(),
            })),
            _ => {}
        }
    }
    let mut chat = Map::new();
    chat.insert("model".into(), json!(model));
    chat.insert("messages".into(), Value::Array(messages));
    let mut copy = |from: &str, to: &str| {
        if let Some(v) = body.get(from).filter(|v| !v.is_null()) {
            chat.insert(to.into(), v.clone());
        }
    };
    copy("max_output_tokens", "max_completion_tokens");
    copy("temperature", "temperature");
    copy("top_p", "top_p");
    copy("parallel_tool_calls", "parallel_tool_calls");
    if let Some(tools) = body.get("tools").and_then(Value::as_array) {
        let nested: Vec<Value> = tools
            .iter()
            .filter(|t| text(t, "type") == "function")
            .map(|t| {
                let mut f = t.clone();
                if let Some(o) = f.as_object_mut() {
                    o.remove("type");
                }
                json!({"type": "function", "function": f})
            })
            .collect();
        chat.insert("tools".into(), Value::Array(nested));
    }
    match body.get("tool_choice") {
        Some(Value::Object(c)) if c.get("type").and_then(Value::as_str) == Some("function") => {
            let name = c.get("name").cloned().unwrap_or(Value::Null);
            chat.insert(
                "tool_choice".into(),
                json!({"type": "function", "function": {"name": name}}),
            );
        }
        Some(c @ Value::String(_)) => {
            chat.insert("tool_choice".into(), c.clone());
        }
        _ => {}
    }
    let format = body.get("text").and_then(|t| t.get("format"));
    match format.map(|f| text(f, "type")) {
        Some("json_schema") => {
            let f = format.cloned().unwrap_or(Value::Null);
            let schema = json!({"name": f.get("name"), "schema": f.get("schema"),
                                "strict": f.get("strict")});
            chat.insert(
                "response_format".into(),
                json!({"type": "json_schema", "json_schema": schema}),
            );
        }
        Some("json_object") => {
            chat.insert("response_format".into(), json!({"type": "json_object"}));
        }
        _ => {}
    }
    if let Some(effort) = body.get("reasoning").and_then(|r| r.get("effort")) {
        chat.insert("reasoning_effort".into(), effort.clone());
    }
    Value::Object(chat)
}

/// A message item's content as Chat Completions content: a string stays one; parts
/// become text and image parts.
fn chat_content(content: Option<&Value>) -> Value {
    match content {
        Some(Value::Array(parts)) => Value::Array(
            parts
                .iter()
                .filter_map(|p| match text(p, "type") {
                    "input_text" | "output_text" | "text" => {
                        Some(json!({"type": "text", "text": text(p, "text")}))
                    }
                    "refusal" => Some(json!({"type": "text", "text": text(p, "refusal")})),
                    "input_image" => Some(
                        json!({"type": "image_url", "image_url": {"url": text(p, "image_url")}}),
                    ),
                    _ => None,
                })
                .collect(),
        ),
        Some(Value::String(s)) => json!(s),
        _ => json!(""),
    }
}

/// A function call's output as text (a string, or the text of its parts).
fn output_text(output: &Value) -> String {
    match output {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts.iter().map(|p| text(p, "text")).collect(),
        other => other.to_string(),
    }
}
