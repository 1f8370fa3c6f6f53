//! OpenAI Chat Completions (spec §2): `POST /v1/chat/completions`.
//!
//! Shape: constants, the provider struct, the trait impl, private wire types, conversions,
//! fixture tests. Streaming (§2.4): `encode_stream` sets `"stream": true` and
//! `"stream_options": {"include_usage": true}`; the decoder is [`OpenAiStream`].
//!
//! Mapping from the core (Anthropic-shaped) types:
//! - the model's family ([`openai_family`]) decides three things: the system prompt is
//!   the first message with role `system`, or `developer` for reasoning models (o-series,
//!   gpt-5); the output cap is `max_completion_tokens`, or `max_tokens` for legacy models
//!   (gpt-3.5, gpt-4); `reasoning_effort` is sent to reasoning models only;
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
//!   are dropped otherwise (and always in assistant turns, where OpenAI refuses them).

use super::classify::classify_stream_error;
use super::family::openai_family;
use super::stream::{count_output, Flow, StreamDecoder, StreamEvent};
use super::*;
use crate::types::{
    ContentBlock, Message, OutputSchema, ReasoningEffort, Role, StopReason, Tool, ToolChoice, Usage,
};
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_TYPE};
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

    fn encode(
        &self,
        model: &str,
        req: &CompletionRequest,
        key: Option<&ApiKey>,
    ) -> Result<HttpRequest, ProviderError> {
        encode_chat(model, req, key, false)
    }

    fn encode_stream(
        &self,
        model: &str,
        req: &CompletionRequest,
        key: Option<&ApiKey>,
    ) -> Result<HttpRequest, ProviderError> {
        encode_chat(model, req, key, true)
    }

    fn stream_decoder(&self, model: &str) -> Box<dyn StreamDecoder> {
        Box::new(OpenAiStream::new(model))
    }

    fn decode(
        &self,
        response: HttpResponse,
        now: SystemTime,
    ) -> Result<ProviderReply, ProviderFailure> {
        super::decode_response(response, now, |body| {
            serde_json::from_slice::<WireResponse>(body)
                .map_err(|e| format!("OpenAI chat completion body: {e}"))
                .and_then(WireResponse::into_completion)
        })
    }
}

fn encode_chat(
    model: &str,
    req: &CompletionRequest,
    key: Option<&ApiKey>,
    stream: bool,
) -> Result<HttpRequest, ProviderError> {
    let family = openai_family(model);
    let mut messages = Vec::with_capacity(req.messages.len() + 1);
    if !req.system.is_empty() {
        let content = req.system_text();
        messages.push(if family.uses_developer_role() {
            WireMessage::Developer { content }
        } else {
            WireMessage::System { content }
        });
    }
    for m in &req.messages {
        push_message(&mut messages, m);
    }
    let (max_tokens, max_completion_tokens) = if family.uses_max_tokens() {
        (Some(req.max_tokens), None)
    } else {
        (None, Some(req.max_tokens))
    };
    let body = WireRequest {
        model,
        messages,
        max_tokens,
        max_completion_tokens,
        temperature: req.temperature,
        top_p: req.top_p,
        stop: &req.stop,
        tools: req.tools.iter().map(WireTool::from).collect(),
        tool_choice: req.tool_choice.as_ref().map(WireToolChoice::from),
        parallel_tool_calls: req.parallel_tool_calls.filter(|_| !req.tools.is_empty()),
        response_format: req.response_format.as_ref().map(WireResponseFormat::from),
        reasoning_effort: req
            .reasoning_effort
            .filter(|_| family.takes_reasoning_effort()),
        stream,
        stream_options: stream.then_some(WireStreamOptions {
            include_usage: true,
        }),
    };
    let body = serde_json::to_vec(&body).map_err(|e| ProviderError::BadRequest {
        message: format!("not sent: request could not be serialised: {e}"),
    })?;
    let mut headers = HeaderMap::new();
    if let Some(key) = key {
        let mut value =
            HeaderValue::from_str(&format!("Bearer {}", key.expose())).map_err(|_| {
                ProviderError::BadRequest {
                    message:
                        "not sent: the API key contains characters not allowed in an HTTP header"
                            .into(),
                }
            })?;
        value.set_sensitive(true);
        headers.insert(AUTHORIZATION, value);
    }
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(HttpRequest {
        path: CHAT_COMPLETIONS_PATH.to_string(),
        headers,
        body: body.into(),
    })
}

/// Appends the OpenAI messages for one core message.
fn push_message<'a>(out: &mut Vec<WireMessage<'a>>, m: &'a Message) {
    match m.role {
        Role::User => {
            let mut parts = Vec::new();
            for block in &m.content {
                match block {
                    ContentBlock::ToolResult {
                        tool_use_id,
                        content,
                        is_error,
                        ..
                    } => out.push(WireMessage::Tool {
                        tool_call_id: tool_use_id,
                        content: WireToolContent::of(content, *is_error),
                    }),
                    ContentBlock::Text { text, .. } => parts.push(WirePart::Text { text }),
                    ContentBlock::Image { source, .. } => {
                        if let Some(url) = image_url(source) {
                            parts.push(WirePart::ImageUrl {
                                image_url: WireImageUrl { url },
                            });
                        }
                    }
                    // A tool call or reasoning in a user turn has no OpenAI form.
                    ContentBlock::ToolUse { .. }
                    | ContentBlock::Thinking { .. }
                    | ContentBlock::RedactedThinking { .. } => {}
                }
            }
            // A turn of only tool results needs no user message.
            let only_tool_results = !m.content.is_empty()
                && m.content
                    .iter()
                    .all(|b| matches!(b, ContentBlock::ToolResult { .. }));
            if !only_tool_results {
                out.push(WireMessage::User {
                    content: WireContent::from_parts(parts),
                });
            }
        }
        Role::Assistant => {
            let mut parts = Vec::new();
            let mut tool_calls = Vec::new();
            for block in &m.content {
                match block {
                    ContentBlock::Text { text, .. } => parts.push(WirePart::Text { text }),
                    ContentBlock::ToolUse { id, name, input } => tool_calls.push(WireToolCall {
                        id,
                        kind: "function",
                        function: WireFunctionCall {
                            name,
                            arguments: input.to_string(),
                        },
                    }),
                    ContentBlock::ToolResult { .. }
                    | ContentBlock::Image { .. }
                    | ContentBlock::Thinking { .. }
                    | ContentBlock::RedactedThinking { .. } => {}
                }
            }
            let content = if parts.is_empty() && !tool_calls.is_empty() {
                None
            } else {
                Some(WireContent::from_parts(parts))
            };
            out.push(WireMessage::Assistant {
                content,
                tool_calls,
            });
        }
    }
}

/// An Anthropic-style image `source` as an OpenAI image URL.
fn image_url(source: &Value) -> Option<String> {
    match source.get("type")?.as_str()? {
        "url" => source.get("url")?.as_str().map(str::to_string),
        "base64" => {
            let media_type = source.get("media_type")?.as_str()?;
            let data = source.get("data")?.as_str()?;
            Some(format!("data:{media_type};base64,{data}"))
        }
        _ => None,
    }
}

// ---- private wire types: request ----

#[derive(Serialize)]
struct WireRequest<'a> {
    model: &'a str,
    messages: Vec<WireMessage<'a>>,
    /// Legacy models only (see [`openai_family`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_completion_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f32>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    stop: &'a [String],
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<WireTool<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<WireToolChoice<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parallel_tool_calls: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_format: Option<WireResponseFormat<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_effort: Option<ReasoningEffort>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_options: Option<WireStreamOptions>,
}

/// `"auto" | "required" | "none"` or `{"type": "function", "function": {"name"}}`.
#[derive(Serialize)]
#[serde(untagged)]
enum WireToolChoice<'a> {
    Mode(&'static str),
    Function {
        #[serde(rename = "type")]
        kind: &'static str,
        function: WireFunctionName<'a>,
    },
}

#[derive(Serialize)]
struct WireFunctionName<'a> {
    name: &'a str,
}

impl<'a> From<&'a ToolChoice> for WireToolChoice<'a> {
    fn from(c: &'a ToolChoice) -> Self {
        match c {
            ToolChoice::Auto => WireToolChoice::Mode("auto"),
            ToolChoice::Any => WireToolChoice::Mode("required"),
            ToolChoice::None => WireToolChoice::Mode("none"),
            ToolChoice::Tool(name) => WireToolChoice::Function {
                kind: "function",
                function: WireFunctionName { name },
            },
        }
    }
}

/// `{"type": "json_schema", "json_schema": {"name", "schema", "strict"}}`.
#[derive(Serialize)]
struct WireResponseFormat<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    json_schema: WireJsonSchema<'a>,
}

#[derive(Serialize)]
struct WireJsonSchema<'a> {
    name: &'a str,
    schema: &'a Value,
    strict: bool,
}

impl<'a> From<&'a OutputSchema> for WireResponseFormat<'a> {
    fn from(s: &'a OutputSchema) -> Self {
        WireResponseFormat {
            kind: "json_schema",
            json_schema: WireJsonSchema {
                name: &s.name,
                schema: &s.schema,
                strict: s.strict,
            },
        }
    }
}

#[derive(Serialize)]
struct WireStreamOptions {
    include_usage: bool,
}

#[derive(Serialize)]
#[serde(tag = "role", rename_all = "lowercase")]
enum WireMessage<'a> {
    System {
        content: String,
    },
    /// The system prompt of reasoning models.
    Developer {
        content: String,
    },
    User {
        content: WireContent<'a>,
    },
    Assistant {
        /// `null` when the turn is only tool calls.
        content: Option<WireContent<'a>>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        tool_calls: Vec<WireToolCall<'a>>,
    },
    Tool {
        tool_call_id: &'a str,
        content: WireToolContent,
    },
}

/// A tool message's content: the text, or text parts when the result has several text
/// blocks.
#[derive(Serialize)]
#[serde(untagged)]
enum WireToolContent {
    Text(String),
    Parts(Vec<WireTextPart>),
}

#[derive(Serialize)]
struct WireTextPart {
    #[serde(rename = "type")]
    kind: &'static str,
    text: String,
}

impl WireToolContent {
    /// A tool result's text blocks (images dropped: tool messages take text only), the
    /// first starting with [`TOOL_ERROR_MARKER`] when the tool failed.
    fn of(content: &[ContentBlock], is_error: bool) -> Self {
        let mut texts: Vec<String> = content
            .iter()
            .filter_map(ContentBlock::as_text)
            .map(str::to_string)
            .collect();
        if is_error {
            match texts.first_mut() {
                Some(first) => first.insert_str(0, TOOL_ERROR_MARKER),
                None => texts.push(TOOL_ERROR_MARKER.trim_end().to_string()),
            }
        }
        if texts.len() <= 1 {
            return WireToolContent::Text(texts.pop().unwrap_or_default());
        }
        WireToolContent::Parts(
            texts
                .into_iter()
                .map(|text| WireTextPart { kind: "text", text })
                .collect(),
        )
    }
}

#[derive(Serialize)]
#[serde(untagged)]
enum WireContent<'a> {
    Text(&'a str),
    Parts(Vec<WirePart<'a>>),
}

impl<'a> WireContent<'a> {
    /// One text part travels as a plain string; anything else as parts (empty → `""`).
    fn from_parts(parts: Vec<WirePart<'a>>) -> Self {
        match parts.as_slice() {
            [] => WireContent::Text(""),
            [WirePart::Text { text }] => WireContent::Text(text),
            _ => WireContent::Parts(parts),
        }
    }
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum WirePart<'a> {
    Text { text: &'a str },
    ImageUrl { image_url: WireImageUrl },
}

#[derive(Serialize)]
struct WireImageUrl {
    url: String,
}

#[derive(Serialize)]
struct WireToolCall<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    function: WireFunctionCall<'a>,
}

#[derive(Serialize)]
struct WireFunctionCall<'a> {
    name: &'a str,
    /// JSON text, not an object.
    arguments: String,
}

#[derive(Serialize)]
struct WireTool<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    function: WireFunction<'a>,
}

#[derive(Serialize)]
struct WireFunction<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    parameters: &'a Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    strict: Option<bool>,
}

impl<'a> From<&'a Tool> for WireTool<'a> {
    fn from(t: &'a Tool) -> Self {
        WireTool {
            kind: "function",
            function: WireFunction {
                name: &t.name,
                description: t.description.as_deref(),
                parameters: &t.input_schema,
                strict: t.strict,
            },
        }
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
}

#[derive(Deserialize, Default)]
struct WirePromptDetails {
    #[serde(default)]
    cached_tokens: Option<u64>,
}

impl WireUsage {
    /// Core usage: `input_tokens` excludes the cached subset of `prompt_tokens`.
    fn into_usage(self) -> Usage {
        let prompt = self.prompt_tokens.unwrap_or(0).min(Usage::MAX_REPORTED);
        let cached = self
            .prompt_tokens_details
            .and_then(|d| d.cached_tokens)
            .unwrap_or(0)
            .min(prompt);
        Usage {
            input_tokens: prompt - cached,
            output_tokens: self.completion_tokens.unwrap_or(0).min(Usage::MAX_REPORTED),
            cache_creation_input_tokens: 0,
            cache_read_input_tokens: cached,
        }
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
        let usage = self.usage.unwrap_or_default();
        let prompt = usage.prompt_tokens.unwrap_or(0);
        let cached = usage
            .prompt_tokens_details
            .and_then(|d| d.cached_tokens)
            .unwrap_or(0);
        Ok(Completion {
            id: self.id,
            // The broker overwrites `model` with the config name.
            model: self.model.clone(),
            provider_model: self.model,
            content,
            stop_reason,
            stop_sequence: None,
            usage: Usage {
                input_tokens: prompt.saturating_sub(cached),
                output_tokens: usage.completion_tokens.unwrap_or(0),
                cache_creation_input_tokens: 0,
                cache_read_input_tokens: cached,
            },
        })
    }
}

#[cfg(test)]
mod fixtures;
mod stream;
#[cfg(test)]
mod tests;

pub use stream::OpenAiStream;
