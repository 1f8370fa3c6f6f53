//! The simulator's own token counting: tiktoken over the request's text, with
//! per-message overheads, times `token_factor`, rounded up.
//!
//! Claude's tokenizer is not public, so Anthropic models are counted with cl100k; OpenAI
//! models with the encoding tiktoken maps them to. The factor makes the simulator count
//! differently from any client-side estimate, as the real APIs do.

use serde_json::Value;
use tiktoken_rs::CoreBPE;

/// Tokens added per message (role markers) and once per request (reply priming).
pub(super) const PER_MESSAGE: usize = 3;
pub(super) const PRIMING: usize = 3;
/// A flat charge for an image block.
const IMAGE_TOKENS: usize = 1_600;

pub(super) fn cl100k() -> &'static CoreBPE {
    tiktoken_rs::cl100k_base_singleton()
}

/// The encoding tiktoken uses for an OpenAI model (o200k unless an older family).
pub fn openai_encoding(model: &str) -> &'static CoreBPE {
    let old = model == "gpt-4"
        || model.starts_with("gpt-4-")
        || model.starts_with("gpt-3.5")
        || model.starts_with("gpt-35");
    if old {
        cl100k()
    } else {
        tiktoken_rs::o200k_base_singleton()
    }
}

/// Loads both encodings (slow the first time: seconds in debug builds), so the first
/// request does not pay for it.
pub fn warm_up() {
    let _ = cl100k().count_ordinary("warm");
    let _ = tiktoken_rs::o200k_base_singleton().count_ordinary("warm");
}

pub fn scale(raw: usize, factor: f64) -> u64 {
    (raw as f64 * factor).ceil().max(0.0) as u64
}

/// Text-bearing tokens of any JSON value: strings as text, anything else as its JSON.
pub(super) fn value_tokens(bpe: &CoreBPE, v: &Value) -> usize {
    match v {
        Value::Null => 0,
        Value::String(s) => bpe.count_ordinary(s),
        other => bpe.count_ordinary(&other.to_string()),
    }
}

/// An Anthropic content block (or plain-string content).
pub(super) fn anthropic_content(bpe: &CoreBPE, content: &Value) -> usize {
    match content {
        Value::String(s) => bpe.count_ordinary(s),
        Value::Array(blocks) => blocks.iter().map(|b| anthropic_block(bpe, b)).sum(),
        other => value_tokens(bpe, other),
    }
}

pub(super) fn anthropic_block(bpe: &CoreBPE, block: &Value) -> usize {
    match block.get("type").and_then(Value::as_str) {
        Some("text") => value_tokens(bpe, block.get("text").unwrap_or(&Value::Null)),
        Some("tool_use") => {
            value_tokens(bpe, block.get("name").unwrap_or(&Value::Null))
                + value_tokens(bpe, block.get("input").unwrap_or(&Value::Null))
        }
        Some("tool_result") => block
            .get("content")
            .map(|c| anthropic_content(bpe, c))
            .unwrap_or(0),
        Some("image") => IMAGE_TOKENS,
        // The thinking text counts; its signature is not text the model reads.
        Some("thinking") => value_tokens(bpe, block.get("thinking").unwrap_or(&Value::Null)),
        _ => value_tokens(bpe, block),
    }
}

/// Raw tokens of the tools array (their JSON, which is what the model sees).
pub(super) fn tools_tokens(bpe: &CoreBPE, body: &Value) -> usize {
    match body.get("tools").and_then(Value::as_array) {
        Some(tools) => tools
            .iter()
            .map(|t| value_tokens(bpe, t) + PER_MESSAGE)
            .sum(),
        None => 0,
    }
}

/// Input tokens of an Anthropic Messages (or count_tokens) body.
pub fn anthropic_input(body: &Value, factor: f64) -> u64 {
    let bpe = cl100k();
    let mut raw = PRIMING;
    if let Some(system) = body.get("system") {
        raw += anthropic_content(bpe, system);
    }
    if let Some(messages) = body.get("messages").and_then(Value::as_array) {
        for m in messages {
            raw += PER_MESSAGE + anthropic_content(bpe, m.get("content").unwrap_or(&Value::Null));
        }
    }
    raw += tools_tokens(bpe, body);
    scale(raw, factor)
}

/// Prompt tokens of an OpenAI Chat Completions body (the cookbook's recipe).
pub fn openai_prompt(model: &str, body: &Value, factor: f64) -> u64 {
    let bpe = openai_encoding(model);
    let mut raw = PRIMING;
    if let Some(messages) = body.get("messages").and_then(Value::as_array) {
        raw += messages
            .iter()
            .map(|m| openai_message(bpe, m))
            .sum::<usize>();
    }
    raw += tools_tokens(bpe, body);
    scale(raw, factor)
}

/// Raw tokens of one Chat Completions message, its overhead included.
pub(super) fn openai_message(bpe: &CoreBPE, m: &Value) -> usize {
    let Some(fields) = m.as_object() else {
        return PER_MESSAGE;
    };
    let mut raw = PER_MESSAGE;
    for (key, value) in fields {
        raw += match (key.as_str(), value) {
            ("content", Value::Array(parts)) => parts
                .iter()
                .map(|p| match p.get("text") {
                    Some(t) => value_tokens(bpe, t),
                    None if p.get("type").and_then(Value::as_str) == Some("image_url") => {
                        IMAGE_TOKENS
                    }
                    None => value_tokens(bpe, p),
                })
                .sum(),
            ("name", v) => value_tokens(bpe, v) + 1,
            (_, v) => value_tokens(bpe, v),
        };
    }
    raw
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cookbook() -> Value {
        json!({"messages": [
            {"role": "system", "content": "You are a helpful, pattern-following assistant that translates corporate jargon into plain English."},
            {"role": "system", "name": "example_user", "content": "New synergies will help drive top-line growth."},
            {"role": "system", "name": "example_assistant", "content": "Things working well together will increase revenue."},
            {"role": "system", "name": "example_user", "content": "Let's circle back when we have more bandwidth to touch base on opportunities for increased leverage."},
            {"role": "system", "name": "example_assistant", "content": "Let's talk later when we're less busy about how to do better."},
            {"role": "user", "content": "This late pivot means we don't have time to boil the ocean for the client deliverable."}
        ]})
    }

    #[test]
    fn matches_the_cookbook_vectors_at_factor_one() {
        assert_eq!(openai_prompt("gpt-4o", &cookbook(), 1.0), 124);
        assert_eq!(openai_prompt("gpt-4", &cookbook(), 1.0), 129);
    }

    #[test]
    fn applies_the_token_factor_rounding_up() {
        let raw = openai_prompt("gpt-4o", &cookbook(), 1.0);
        assert_eq!(
            openai_prompt("gpt-4o", &cookbook(), 1.2),
            (124.0f64 * 1.2).ceil() as u64
        );
        assert!(raw < openai_prompt("gpt-4o", &cookbook(), 1.1));
    }

    #[test]
    fn counts_anthropic_system_messages_tools_and_tool_blocks() {
        let base = json!({"messages": [{"role": "user", "content": "hello there"}]});
        let more = json!({
            "system": "be brief",
            "tools": [{"name": "lookup", "input_schema": {"type": "object"}}],
            "messages": [
                {"role": "user", "content": "hello there"},
                {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "lookup", "input": {"q": "x"}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "result text"}]}
            ]
        });
        assert!(anthropic_input(&more, 1.0) > anthropic_input(&base, 1.0) + 10);
    }
}
