//! OpenAI Responses: `POST /v1/responses` (`docs/providers.md`, "OpenAI Responses"),
//! chosen with `wire = "responses"` on an OpenAI provider.
//!
//! Shape as the other wires: constants, the provider struct and the trait impl here; then
//! `request` (the body), `response` (the answer's wire types and conversion), `stream`
//! (the SSE decoder) and the fixture tests. Keys, rate-limit headers and error bodies are
//! Chat Completions' (`Authorization: Bearer`, `x-ratelimit-*`, `{"error": {...}}`).
//!
//! Mapping from the core (Anthropic-shaped) types:
//! - the system prompt is `instructions`; the history is `input`, a list of items: user
//!   and assistant `message`s (user parts `input_text` / `input_image`), an assistant
//!   turn's `tool_use` blocks as `function_call` items (`call_id`, `arguments` as JSON
//!   text), a user turn's `tool_result` blocks as `function_call_output` items (text
//!   output; a failed one starts with [`TOOL_ERROR_MARKER`], as on Chat Completions);
//! - reasoning items are [`ContentBlock::Reasoning`] (id, summary texts, encrypted
//!   content) and are replayed in place. Every request says `store: false` (nothing is
//!   kept server-side: the history travels whole) and reasoning models also get
//!   `include: ["reasoning.encrypted_content"]`, so a tool loop can hand their reasoning
//!   back;
//! - the output cap is `max_output_tokens`; `reasoning.effort` goes to reasoning models
//!   only; structured output is `text.format` (`{"type": "json_schema", "name",
//!   "schema", "strict"}`) and the reply's text is the JSON;
//! - tools are flat `{"type": "function", "name", "description", "parameters",
//!   "strict"}`, `strict` always sent (the API defaults it to true here, unlike Chat
//!   Completions); `tool_choice` is `"auto" | "required" | "none"` or `{"type":
//!   "function", "name"}`;
//! - there are no stop sequences (the `openai-responses` preset refuses `stop`),
//!   `top_k` or Anthropic thinking blocks: those are not sent;
//! - the answer's `output` items become blocks in order (reasoning, text of
//!   `output_text` parts, tool calls); `status: "incomplete"` with reason
//!   `max_output_tokens` is [`StopReason::MaxTokens`] (`content_filter`:
//!   [`StopReason::ContentFilter`]), a function call [`StopReason::ToolUse`], a refusal
//!   part alone [`StopReason::Refusal`]; a `status: "failed"` 200 (or a
//!   `response.failed` event) is a [`ProviderError`] classified by its `error.code`;
//! - usage: `input_tokens` includes `input_tokens_details.cached_tokens` (core
//!   `input_tokens` excludes them), `output_tokens` includes
//!   `output_tokens_details.reasoning_tokens`.

use super::stream::StreamDecoder;
use super::*;
use crate::types::{ContentBlock, Message, Role, StopReason, Tool, Usage};
use reqwest::header::AUTHORIZATION;

pub use super::openai::TOOL_ERROR_MARKER;

pub const RESPONSES_PATH: &str = "/v1/responses";

/// The OpenAI Responses wire format.
#[derive(Debug, Clone, Copy, Default)]
pub struct Responses;

impl Provider for Responses {
    fn wire(&self) -> Wire {
        Wire::Responses
    }

    fn encode_attempt(&self, a: Attempt<'_>) -> Encoded {
        let body = request::WireRequest::new(a.model, a.req, a.stream);
        let bearer = |key: &str| format!("Bearer {key}");
        super::json_request(RESPONSES_PATH, &body, a.key, AUTHORIZATION, bearer, &[])
    }

    fn stream_decoder(&self, model: &str) -> Box<dyn StreamDecoder> {
        Box::new(ResponsesStream::new(model))
    }

    fn decode(&self, response: HttpResponse, now: SystemTime) -> Decoded {
        super::decode_response(response, now, |body| response::parse(body, now))
    }
}

#[cfg(test)]
mod fixtures;
mod request;
mod response;
mod stream;
#[cfg(test)]
mod tests;

pub use stream::ResponsesStream;
