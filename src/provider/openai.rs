//! OpenAI Chat Completions: `POST /v1/chat/completions` (`docs/providers.md`, "OpenAI Chat
//! Completions").
//!
//! Shape: constants, the provider struct, the trait impl, the response's private wire
//! types and conversion; then `request` (the body), `stream` (the SSE decoder) and the
//! fixture tests. Streaming: `encode_stream` sets `"stream": true` and
//! `"stream_options": {"include_usage": true}`; the decoder is [`OpenAiStream`].
//!
//! Mapping from the core (Anthropic-shaped) types:
//! - the model's family ([`openai_family`](crate::config::family::openai_family)) decides three
//!   things: the system prompt is the first message with role `system`, or `developer`
//!   for reasoning models (o-series, gpt-5); the output cap is `max_completion_tokens`,
//!   or `max_tokens` for legacy models (gpt-3.5, gpt-4); `reasoning_effort` is sent to
//!   reasoning models only;
//! - a user turn's `tool_result` blocks become `role: tool` messages, emitted before the
//!   rest of that turn (OpenAI wants them right after the assistant's `tool_calls`). Their
//!   content is the text (one text block) or an array of text parts (several); image
//!   blocks are dropped (tool messages take text only). `is_error` has no OpenAI field,
//!   so a failed result's text starts with [`TOOL_ERROR_MARKER`] (`"Error: "`), which
//!   models read as the failure it is;
//! - `tool_choice` is `"auto" | "required" | "none"` or `{"type": "function",
//!   "function": {"name"}}`; `parallel_tool_calls` is sent when the request sets it and
//!   has tools (the API refuses it without tools); a tool's `strict` goes inside its
//!   `function`;
//! - structured output is `response_format: {"type": "json_schema", "json_schema":
//!   {"name", "schema", "strict"}}`; the reply's content is the JSON text;
//! - `top_k` has no OpenAI form and is not sent (the broker's parameter policy refuses or
//!   warns before a request gets here); thinking blocks are Anthropic's and are dropped;
//! - an assistant turn's `tool_use` blocks become `tool_calls` with `arguments` as a JSON
//!   string, and `content: null` when the turn has no text;
//! - one text block is sent as a plain string, anything else as a parts array; images
//!   become `image_url` parts when their source is a URL or base64 (as a `data:` URL), and
//!   are dropped otherwise (and always in assistant turns, where OpenAI refuses them);
//!   a base64 document becomes a `file` part (`file_data` as a `data:` URL, `filename`
//!   from its title), a text document a text part; a document by URL or file id has no
//!   Chat form, so a request carrying one is refused before sending, as is one carrying
//!   a server tool (Anthropic's). Blocks kept whole from Anthropic replies
//!   (server-tool calls and results) are left out, and citations on text are not sent;
//! - `prompt_cache_key` is set on every request with a system prompt or tools: `qs-`
//!   and 32 hex digits of SHA-256 over the system text and the tools' JSON, so requests
//!   sharing that prefix share a key and OpenAI routes them to the same prompt cache
//!   (`request::prompt_cache_key`).

use super::classify::classify_stream_error;
use super::stream::{count_output, Flow, SseEvent, StreamDecoder, StreamEvent};
use super::*;
use crate::types::{ContentBlock, Message, Role, StopReason, Tool, ToolChoice, Usage};
use request::WireRequest;
use reqwest::header::AUTHORIZATION;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub const CHAT_COMPLETIONS_PATH: &str = "/v1/chat/completions";

/// What a failed tool result's text starts with: OpenAI tool messages have no
/// `is_error`, so the failure is said in the text the model reads.
pub const TOOL_ERROR_MARKER: &str = "Error: ";

/// The OpenAI Chat Completions wire format.
#[derive(Debug, Clone, Copy, Default)]
pub struct OpenAi;

impl Provider for OpenAi {
    fn wire(&self) -> Wire {
        Wire::OpenAi
    }

    fn encode_attempt(&self, a: Attempt<'_>) -> Encoded {
        request::sendable(a.req)?;
        let body = WireRequest::new(a.model, a.req, a.stream).max_tokens_in(a.max_tokens_field);
        let bearer = |key: &str| format!("Bearer {key}");
        let path = CHAT_COMPLETIONS_PATH;
        super::json_request(path, &body, a.key, AUTHORIZATION, bearer, &[])
    }

    fn stream_decoder(&self, model: &str) -> Box<dyn StreamDecoder> {
        Box::new(OpenAiStream::new(model))
    }

    fn decode(&self, response: HttpResponse, now: SystemTime) -> Decoded {
        super::decode_response(response, now, |body| {
            serde_json::from_slice::<WireResponse>(body)
                .map_err(|e| format!("OpenAI chat completion body: {e}"))
                .and_then(WireResponse::into_completion)
                .map_err(super::invalid_response)
        })
    }
}

// ---- private wire types: response ----

#[derive(Deserialize)]
struct WireResponse {
    id: String,
    #[serde(default)]
    model: String,
    #[serde(default)]
    choices: Vec<WireChoice>,
    #[serde(default)]
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct WireChoice {
    #[serde(default)]
    finish_reason: Option<String>,
    message: WireResponseMessage,
}

#[derive(Deserialize)]
struct WireResponseMessage {
    /// A string in practice; parts arrays and `null` are tolerated.
    #[serde(default)]
    content: Option<Value>,
    #[serde(default)]
    refusal: Option<String>,
    #[serde(default)]
    tool_calls: Option<Vec<WireResponseToolCall>>,
}

#[derive(Deserialize)]
struct WireResponseToolCall {
    id: String,
    function: WireResponseFunction,
}

#[derive(Deserialize)]
struct WireResponseFunction {
    name: String,
    #[serde(default)]
    arguments: String,
}

#[derive(Deserialize, Default)]
struct WireUsage {
    #[serde(default)]
    prompt_tokens: Option<u64>,
    #[serde(default)]
    completion_tokens: Option<u64>,
    #[serde(default)]
    prompt_tokens_details: Option<WirePromptDetails>,
    #[serde(default)]
    completion_tokens_details: Option<WireCompletionDetails>,
}

#[derive(Deserialize, Default)]
struct WirePromptDetails {
    #[serde(default)]
    cached_tokens: Option<u64>,
    /// Written to the cache (models that bill writes, GPT-5.6 and later).
    #[serde(default)]
    cache_write_tokens: Option<u64>,
}

#[derive(Deserialize, Default)]
struct WireCompletionDetails {
    #[serde(default)]
    reasoning_tokens: Option<u64>,
}

impl WireUsage {
    /// Core usage: `input_tokens` excludes the cached subset of `prompt_tokens` and the
    /// subset written to the cache (`cache_write_tokens`, kept as
    /// `cache_creation_input_tokens` and priced as a write);
    /// `reasoning_tokens` is the reasoning subset of `completion_tokens` (which stays
    /// whole in `output_tokens`: OpenAI bills reasoning as output).
    fn into_usage(self) -> Usage {
        let details = self.prompt_tokens_details.unwrap_or_default();
        let reasoning = self
            .completion_tokens_details
            .and_then(|d| d.reasoning_tokens);
        usage_of(
            self.prompt_tokens,
            details.cached_tokens,
            details.cache_write_tokens,
            self.completion_tokens,
            reasoning,
        )
    }
}

/// Core usage from an OpenAI report (either wire): `input` includes its `cached` part and
/// its `written` part (written to the cache, priced as a write), which core usage counts
/// apart; `reasoning` is the reasoning subset of `output`, which stays whole in
/// `output_tokens` (OpenAI bills reasoning as output). Every count is clamped to
/// [`Usage::MAX_REPORTED`].
pub(super) fn usage_of(
    input: Option<u64>,
    cached: Option<u64>,
    written: Option<u64>,
    output: Option<u64>,
    reasoning: Option<u64>,
) -> Usage {
    let input = input.unwrap_or(0).min(Usage::MAX_REPORTED);
    let cached = cached.unwrap_or(0).min(input);
    let written = written.unwrap_or(0).min(input - cached);
    let output = output.unwrap_or(0).min(Usage::MAX_REPORTED);
    Usage {
        input_tokens: input - cached - written,
        output_tokens: output,
        cache_creation_input_tokens: written,
        cache_read_input_tokens: cached,
        cache_creation_1h_input_tokens: 0,
        reasoning_tokens: reasoning.unwrap_or(0).min(output),
        web_search_requests: 0,
    }
}

impl WireResponse {
    fn into_completion(self) -> Result<Completion, String> {
        let Some(choice) = self.choices.into_iter().next() else {
            return Err("OpenAI chat completion has no choices".into());
        };
        let message = choice.message;
        let mut content = Vec::new();
        match message.content {
            Some(Value::String(text)) if !text.is_empty() => content.push(ContentBlock::text(text)),
            Some(Value::Array(parts)) => content.extend(
                parts
                    .iter()
                    .filter_map(|p| p.get("text")?.as_str())
                    .map(ContentBlock::text),
            ),
            _ => {}
        }
        let refused = content.is_empty() && message.refusal.is_some();
        if let (true, Some(refusal)) = (refused, message.refusal) {
            content.push(ContentBlock::text(refusal));
        }
        for call in message.tool_calls.unwrap_or_default() {
            let input = serde_json::from_str(&call.function.arguments)
                .unwrap_or(Value::String(call.function.arguments));
            content.push(ContentBlock::ToolUse {
                id: call.id,
                name: call.function.name,
                input,
            });
        }
        let stop_reason = if refused {
            StopReason::Refusal
        } else {
            choice
                .finish_reason
                .as_deref()
                .map(StopReason::from_openai)
                .unwrap_or_else(|| StopReason::Other(String::new()))
        };
        // Reasoning tokens are inside completion_tokens; cached ones inside prompt.
        let usage = self.usage.unwrap_or_default().into_usage();
        Ok(Completion::from_provider(
            self.id,
            self.model,
            content,
            stop_reason,
            usage,
        ))
    }
}

#[cfg(test)]
mod fixtures;
mod request;
mod stream;
#[cfg(test)]
mod tests;

pub(super) use request::{image_url, WireFunctionName, WireToolChoice};
pub use stream::OpenAiStream;
