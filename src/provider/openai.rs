//! OpenAI Chat Completions (spec §2): `POST /v1/chat/completions`.
//!
//! Shape: constants, the provider struct, the trait impl, private wire types, conversions,
//! fixture tests. Streaming (§2.4): `encode_stream` sets `"stream": true` and
//! `"stream_options": {"include_usage": true}`; the decoder is [`OpenAiStream`].
//!
//! Mapping from the core (Anthropic-shaped) types:
//! - `system` becomes the first message, role `system`;
//! - a user turn's `tool_result` blocks become `role: tool` messages, emitted before the
//!   rest of that turn (OpenAI wants them right after the assistant's `tool_calls`);
//!   `is_error` has no OpenAI field and is dropped;
//! - an assistant turn's `tool_use` blocks become `tool_calls` with `arguments` as a JSON
//!   string, and `content: null` when the turn has no text;
//! - one text block is sent as a plain string, anything else as a parts array; images
//!   become `image_url` parts when their source is a URL or base64 (as a `data:` URL), and
//!   are dropped otherwise (and always in assistant turns, where OpenAI refuses them).

use super::classify::classify_stream_error;
use super::stream::{count_output, Flow, StreamDecoder, StreamEvent};
use super::*;
use crate::types::{ContentBlock, Message, Role, StopReason, Tool, Usage};
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub const CHAT_COMPLETIONS_PATH: &str = "/v1/chat/completions";

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
    let mut messages = Vec::with_capacity(req.messages.len() + 1);
    if !req.system.is_empty() {
        messages.push(WireMessage::System {
            content: req.system_text(),
        });
    }
    for m in &req.messages {
        push_message(&mut messages, m);
    }
    let body = WireRequest {
        model,
        messages,
        max_completion_tokens: req.max_tokens,
        temperature: req.temperature,
        top_p: req.top_p,
        stop: &req.stop,
        tools: req.tools.iter().map(WireTool::from).collect(),
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
                    ContentBlock::ToolResult { tool_use_id, .. } => out.push(WireMessage::Tool {
                        tool_call_id: tool_use_id,
                        content: block.tool_result_text(),
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
    max_completion_tokens: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f32>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    stop: &'a [String],
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<WireTool<'a>>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_options: Option<WireStreamOptions>,
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
        content: String,
    },
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
}

impl<'a> From<&'a Tool> for WireTool<'a> {
    fn from(t: &'a Tool) -> Self {
        WireTool {
            kind: "function",
            function: WireFunction {
                name: &t.name,
                description: t.description.as_deref(),
                parameters: &t.input_schema,
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
            reused: false,
        })
    }
}

// ---- streaming (spec §2.4) ----

/// The SSE decoder of one streamed chat completion (choice 0; `n > 1` is not streamed).
///
/// Data-only events: a role chunk, content deltas, `tool_calls` deltas keyed by their
/// `index` (id and name once, `arguments` concatenated), a chunk with `finish_reason`,
/// with `include_usage` a last chunk with `choices: []` and the usage, then `[DONE]`.
/// A payload with an `error` key is the failure. A stream that ends (or says `[DONE]`)
/// without usage finishes with output counted locally and `usage_estimated`.
#[derive(Debug)]
pub struct OpenAiStream {
    model: String,
    id: String,
    provider_model: String,
    started: bool,
    blocks: Vec<StreamBlock>,
    text_block: Option<usize>,
    tool_blocks: std::collections::HashMap<u64, usize>,
    refusal: String,
    finish_reason: Option<String>,
    usage: Option<Usage>,
}

#[derive(Debug)]
enum StreamBlock {
    Text(String),
    Tool {
        id: String,
        name: String,
        arguments: String,
        announced: bool,
    },
}

impl OpenAiStream {
    pub fn new(model: &str) -> Self {
        OpenAiStream {
            model: model.to_string(),
            id: String::new(),
            provider_model: model.to_string(),
            started: false,
            blocks: Vec::new(),
            text_block: None,
            tool_blocks: Default::default(),
            refusal: String::new(),
            finish_reason: None,
            usage: None,
        }
    }

    fn produced_text(&self) -> String {
        let mut s = self.refusal.clone();
        for b in &self.blocks {
            match b {
                StreamBlock::Text(t) => s.push_str(t),
                StreamBlock::Tool {
                    name, arguments, ..
                } => {
                    s.push_str(name);
                    s.push_str(arguments);
                }
            }
        }
        s
    }

    fn estimated_usage(&self) -> Usage {
        Usage {
            output_tokens: count_output(&self.model, &self.produced_text()),
            ..Usage::default()
        }
    }

    fn finish(&mut self, out: &mut Vec<StreamEvent>) {
        let (usage, usage_estimated) = match self.usage {
            Some(u) => (u, false),
            None => (self.estimated_usage(), true),
        };
        let mut content: Vec<ContentBlock> = std::mem::take(&mut self.blocks)
            .into_iter()
            .map(|b| match b {
                StreamBlock::Text(text) => ContentBlock::text(text),
                StreamBlock::Tool {
                    id,
                    name,
                    arguments,
                    ..
                } => {
                    let input = if arguments.trim().is_empty() {
                        serde_json::json!({})
                    } else {
                        serde_json::from_str(&arguments).unwrap_or(Value::String(arguments))
                    };
                    ContentBlock::ToolUse { id, name, input }
                }
            })
            .collect();
        let refused = content.is_empty() && !self.refusal.is_empty();
        if refused {
            content.push(ContentBlock::text(std::mem::take(&mut self.refusal)));
        }
        let stop_reason = if refused {
            StopReason::Refusal
        } else {
            self.finish_reason
                .as_deref()
                .map(StopReason::from_openai)
                .unwrap_or_else(|| StopReason::Other(String::new()))
        };
        out.push(StreamEvent::Finished {
            completion: Completion {
                id: self.id.clone(),
                model: self.provider_model.clone(),
                provider_model: self.provider_model.clone(),
                content,
                stop_reason,
                stop_sequence: None,
                usage,
                reused: false,
            },
            usage_estimated,
        });
    }

    fn on_tool_delta(&mut self, call: WireChunkToolCall, out: &mut Vec<StreamEvent>) {
        let index = match self.tool_blocks.get(&call.index) {
            Some(i) => *i,
            None => {
                self.blocks.push(StreamBlock::Tool {
                    id: String::new(),
                    name: String::new(),
                    arguments: String::new(),
                    announced: false,
                });
                let i = self.blocks.len() - 1;
                self.tool_blocks.insert(call.index, i);
                i
            }
        };
        let Some(StreamBlock::Tool {
            id,
            name,
            arguments,
            announced,
        }) = self.blocks.get_mut(index)
        else {
            return;
        };
        if let Some(new_id) = call.id.filter(|s| !s.is_empty()) {
            *id = new_id;
        }
        let (new_name, piece) = match call.function {
            Some(f) => (f.name, f.arguments.unwrap_or_default()),
            None => (None, String::new()),
        };
        if let Some(n) = new_name.filter(|s| !s.is_empty()) {
            *name = n;
        }
        arguments.push_str(&piece);
        if !*announced && !id.is_empty() && !name.is_empty() {
            *announced = true;
            out.push(StreamEvent::ToolUseStart {
                index,
                id: id.clone(),
                name: name.clone(),
            });
            // Arguments that came before the id and name are delivered now.
            if !arguments.is_empty() {
                out.push(StreamEvent::ToolInputDelta {
                    index,
                    partial_json: arguments.clone(),
                });
            }
        } else if *announced && !piece.is_empty() {
            out.push(StreamEvent::ToolInputDelta {
                index,
                partial_json: piece,
            });
        }
    }
}

impl StreamDecoder for OpenAiStream {
    fn on_event(
        &mut self,
        _event: &str,
        data: &str,
        now: SystemTime,
        out: &mut Vec<StreamEvent>,
    ) -> Result<Flow, ProviderError> {
        if data.trim_start().starts_with("[DONE]") {
            self.finish(out);
            return Ok(Flow::Done);
        }
        let value: Value =
            serde_json::from_str(data).map_err(|e| ProviderError::InvalidResponse {
                message: format!("OpenAI stream chunk: {e}"),
            })?;
        if value.get("error").is_some_and(|e| !e.is_null()) {
            return Err(classify_stream_error(data.as_bytes(), now));
        }
        let chunk: WireChunk =
            serde_json::from_value(value).map_err(|e| ProviderError::InvalidResponse {
                message: format!("OpenAI stream chunk: {e}"),
            })?;
        if !self.started {
            self.started = true;
            self.id = chunk.id;
            if !chunk.model.is_empty() {
                self.provider_model = chunk.model;
            }
            out.push(StreamEvent::Started {
                id: self.id.clone(),
                provider_model: self.provider_model.clone(),
                usage: Usage::default(),
            });
        }
        for choice in chunk.choices.into_iter().filter(|c| c.index == 0) {
            if let Some(text) = choice.delta.content.filter(|t| !t.is_empty()) {
                let index = match self.text_block {
                    Some(i) => i,
                    None => {
                        self.blocks.push(StreamBlock::Text(String::new()));
                        let i = self.blocks.len() - 1;
                        self.text_block = Some(i);
                        i
                    }
                };
                if let Some(StreamBlock::Text(t)) = self.blocks.get_mut(index) {
                    t.push_str(&text);
                }
                out.push(StreamEvent::TextDelta { index, text });
            }
            if let Some(r) = choice.delta.refusal {
                self.refusal.push_str(&r);
            }
            for call in choice.delta.tool_calls.unwrap_or_default() {
                self.on_tool_delta(call, out);
            }
            if choice.finish_reason.is_some() {
                self.finish_reason = choice.finish_reason;
            }
        }
        if let Some(u) = chunk.usage {
            self.usage = Some(u.into_usage());
        }
        Ok(Flow::Continue)
    }

    fn on_eof(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), ProviderError> {
        if self.finish_reason.is_some() {
            // Cut after the last choice chunk (no usage chunk, no `[DONE]`): the content
            // is complete; usage is whatever arrived, else counted locally.
            self.finish(out);
            return Ok(());
        }
        Err(ProviderError::Connection {
            message: "the stream ended before finish_reason".into(),
        })
    }

    fn partial_usage(&self) -> Usage {
        self.usage.unwrap_or_else(|| self.estimated_usage())
    }
}

#[derive(Deserialize)]
struct WireChunk {
    #[serde(default)]
    id: String,
    #[serde(default)]
    model: String,
    #[serde(default)]
    choices: Vec<WireChunkChoice>,
    #[serde(default)]
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct WireChunkChoice {
    #[serde(default)]
    index: u64,
    #[serde(default)]
    delta: WireChunkDelta,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize, Default)]
struct WireChunkDelta {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    refusal: Option<String>,
    #[serde(default)]
    tool_calls: Option<Vec<WireChunkToolCall>>,
}

#[derive(Deserialize)]
struct WireChunkToolCall {
    #[serde(default)]
    index: u64,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    function: Option<WireChunkFunction>,
}

#[derive(Deserialize)]
struct WireChunkFunction {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    arguments: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::Duration;

    fn now() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_755_780_000)
    }

    fn body_json(r: &HttpRequest) -> Value {
        serde_json::from_slice(&r.body).unwrap()
    }

    fn ok(body: &str) -> HttpResponse {
        HttpResponse {
            status: 200,
            headers: HeaderMap::new(),
            body: body.to_string().into(),
        }
    }

    /// System, multi-turn, tool_use + tool_result, stop, temperature, tools.
    fn rich_request() -> CompletionRequest {
        let mut req = CompletionRequest::prompt("fast", "What is the weather in Paris?")
            .system("You are terse.")
            .max_tokens(64)
            .temperature(0.0);
        req.messages.push(Message {
            role: Role::Assistant,
            content: vec![ContentBlock::ToolUse {
                id: "call_1".into(),
                name: "weather".into(),
                input: json!({"city": "Paris"}),
            }],
        });
        req.messages.push(Message {
            role: Role::User,
            content: vec![
                ContentBlock::text("Also Rome, please."),
                ContentBlock::tool_result("call_1", "18C, sunny"),
            ],
        });
        req.messages.push(Message {
            role: Role::Assistant,
            content: vec![
                ContentBlock::text("Checking Rome."),
                ContentBlock::ToolUse {
                    id: "call_2".into(),
                    name: "weather".into(),
                    input: json!({"city": "Rome"}),
                },
            ],
        });
        req.messages.push(Message {
            role: Role::User,
            content: vec![ContentBlock::tool_error("call_2", "25C")],
        });
        req.stop = vec!["\n\n".into()];
        req.tools = vec![Tool::new(
            "weather",
            json!({"type": "object", "properties": {"city": {"type": "string"}}}),
        )
        .description("Current weather")];
        req
    }

    #[test]
    fn encodes_chat_request_exactly() {
        let key = ApiKey::new("sk-proj-secret-456");
        let r = OpenAi
            .encode("gpt-4o-mini", &rich_request(), Some(&key))
            .unwrap();
        assert_eq!(r.path, "/v1/chat/completions");
        assert_eq!(r.headers["authorization"], "Bearer sk-proj-secret-456");
        assert!(r.headers["authorization"].is_sensitive());
        assert_eq!(r.headers["content-type"], "application/json");
        assert_eq!(
            body_json(&r),
            json!({
                "model": "gpt-4o-mini",
                "max_completion_tokens": 64,
                "temperature": 0.0,
                "stop": ["\n\n"],
                "messages": [
                    {"role": "system", "content": "You are terse."},
                    {"role": "user", "content": "What is the weather in Paris?"},
                    {"role": "assistant", "content": null, "tool_calls": [
                        {"id": "call_1", "type": "function",
                         "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}}
                    ]},
                    {"role": "tool", "tool_call_id": "call_1", "content": "18C, sunny"},
                    {"role": "user", "content": "Also Rome, please."},
                    {"role": "assistant", "content": "Checking Rome.", "tool_calls": [
                        {"id": "call_2", "type": "function",
                         "function": {"name": "weather", "arguments": "{\"city\":\"Rome\"}"}}
                    ]},
                    {"role": "tool", "tool_call_id": "call_2", "content": "25C"}
                ],
                "tools": [{"type": "function", "function": {
                    "name": "weather", "description": "Current weather",
                    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]
            })
        );
    }

    #[test]
    fn encodes_parts_and_images_and_omits_absent_fields() {
        let req = CompletionRequest::new("fast").message(Message {
            role: Role::User,
            content: vec![
                ContentBlock::text("What is this?"),
                ContentBlock::Image {
                    source: json!({"type": "base64", "media_type": "image/png", "data": "AAAA"}),
                    cache_control: None,
                },
                ContentBlock::Image {
                    source: json!({"type": "url", "url": "https://example.com/cat.png"}),
                    cache_control: None,
                },
                ContentBlock::Image {
                    source: json!({"type": "file", "file_id": "file_1"}),
                    cache_control: None,
                },
            ],
        });
        let r = OpenAi.encode("gpt-4o", &req, None).unwrap();
        assert!(r.headers.get("authorization").is_none());
        assert_eq!(
            body_json(&r),
            json!({
                "model": "gpt-4o",
                "max_completion_tokens": 256,
                "messages": [{"role": "user", "content": [
                    {"type": "text", "text": "What is this?"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                    {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}
                ]}]
            })
        );
    }

    #[test]
    fn debug_of_request_never_shows_the_key() {
        let key = ApiKey::new("sk-proj-secret-456");
        let r = OpenAi
            .encode("gpt-4o", &rich_request(), Some(&key))
            .unwrap();
        let debug = format!("{r:?}");
        assert!(!debug.contains("sk-proj-secret-456"), "{debug}");
    }

    /// Spec §2.2, verbatim.
    const SPEC_REQUEST: &str = r#"{
  "model": "gpt-4o-mini", "max_completion_tokens": 64, "temperature": 0, "stop": ["\n\n"],
  "messages": [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": [{"type": "text", "text": "Name three primes."}]}
  ],
  "stream": true, "stream_options": {"include_usage": true}
}"#;

    #[test]
    fn encodes_spec_request_example_modulo_documented_differences() {
        let req = CompletionRequest {
            stop: vec!["\n\n".into()],
            ..CompletionRequest::prompt("fast", "Name three primes.")
                .system("You are terse.")
                .max_tokens(64)
                .temperature(0.0)
        };
        let mut want: Value = serde_json::from_str(SPEC_REQUEST).unwrap();
        // Differences by design: non-streaming (no `stream`, `stream_options`); one text
        // block travels as a plain string; temperature is a float on our side.
        let obj = want.as_object_mut().unwrap();
        obj.remove("stream");
        obj.remove("stream_options");
        obj.insert("temperature".into(), json!(0.0));
        want["messages"][1]["content"] = json!("Name three primes.");
        let r = OpenAi.encode("gpt-4o-mini", &req, None).unwrap();
        assert_eq!(body_json(&r), want);
    }

    /// Spec §2.3, verbatim.
    const SPEC_RESPONSE: &str = r#"{
  "id": "chatcmpl-abc123", "object": "chat.completion", "created": 1767225600,
  "model": "gpt-4o-mini-2024-07-18", "system_fingerprint": "fp_0123abcd", "service_tier": "default",
  "choices": [{"index": 0, "logprobs": null, "finish_reason": "stop",
               "message": {"role": "assistant", "content": "2, 3, 5", "refusal": null}}],
  "usage": {"prompt_tokens": 2006, "completion_tokens": 7, "total_tokens": 2013,
            "prompt_tokens_details": {"cached_tokens": 1920, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0}}
}"#;

    #[test]
    fn decodes_spec_response() {
        let c = OpenAi.decode(ok(SPEC_RESPONSE), now()).unwrap().completion;
        assert_eq!(
            c,
            Completion {
                id: "chatcmpl-abc123".into(),
                model: "gpt-4o-mini-2024-07-18".into(),
                provider_model: "gpt-4o-mini-2024-07-18".into(),
                content: vec![ContentBlock::text("2, 3, 5")],
                stop_reason: StopReason::EndTurn,
                stop_sequence: None,
                usage: Usage {
                    input_tokens: 86,
                    output_tokens: 7,
                    cache_creation_input_tokens: 0,
                    cache_read_input_tokens: 1920,
                },
                reused: false,
            }
        );
    }

    #[test]
    fn decodes_tool_calls_and_keeps_unparsable_arguments_as_string() {
        let body = r#"{
          "id": "chatcmpl-2", "object": "chat.completion", "model": "gpt-4o", "new_top_level": true,
          "choices": [{"index": 0, "finish_reason": "tool_calls",
            "message": {"role": "assistant", "content": null, "annotations": [],
              "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}},
                {"id": "call_2", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":"}}
              ]}}],
          "usage": {"prompt_tokens": 50, "completion_tokens": 20, "total_tokens": 70}
        }"#;
        let c = OpenAi.decode(ok(body), now()).unwrap().completion;
        assert_eq!(
            c.content,
            vec![
                ContentBlock::ToolUse {
                    id: "call_1".into(),
                    name: "weather".into(),
                    input: json!({"city": "Paris"}),
                },
                ContentBlock::ToolUse {
                    id: "call_2".into(),
                    name: "weather".into(),
                    input: json!("{\"city\":"),
                },
            ]
        );
        assert_eq!(c.stop_reason, StopReason::ToolUse);
        assert_eq!(
            c.usage,
            Usage {
                input_tokens: 50,
                output_tokens: 20,
                cache_creation_input_tokens: 0,
                cache_read_input_tokens: 0,
            }
        );
    }

    #[test]
    fn missing_usage_is_zeros_and_unknown_finish_reason_is_kept() {
        let body = r#"{"id":"c","model":"m","choices":[{"finish_reason":"brand_new",
            "message":{"role":"assistant","content":"hi"}}]}"#;
        let c = OpenAi.decode(ok(body), now()).unwrap().completion;
        assert_eq!(c.usage, Usage::default());
        assert_eq!(c.stop_reason, StopReason::Other("brand_new".into()));
    }

    #[test]
    fn refusal_becomes_text_with_refusal_stop_reason() {
        let body = r#"{"id":"c","model":"m","choices":[{"finish_reason":"stop",
            "message":{"role":"assistant","content":null,"refusal":"I can't help with that."}}]}"#;
        let c = OpenAi.decode(ok(body), now()).unwrap().completion;
        assert_eq!(
            c.content,
            vec![ContentBlock::text("I can't help with that.")]
        );
        assert_eq!(c.stop_reason, StopReason::Refusal);
    }

    #[test]
    fn no_choices_or_bad_json_is_invalid_response() {
        for body in [r#"{"id":"c","model":"m","choices":[]}"#, "<html>"] {
            let f = OpenAi.decode(ok(body), now()).unwrap_err();
            assert!(
                matches!(f.error, ProviderError::InvalidResponse { .. }),
                "{body}"
            );
        }
    }

    #[test]
    fn error_response_is_classified_with_rate_limits() {
        let mut headers = HeaderMap::new();
        headers.insert("x-request-id", HeaderValue::from_static("req_abc"));
        headers.insert(
            "x-ratelimit-remaining-tokens",
            HeaderValue::from_static("0"),
        );
        headers.insert("x-ratelimit-reset-tokens", HeaderValue::from_static("6m0s"));
        let response = HttpResponse {
            status: 429,
            headers,
            body: r#"{"error": {"message": "Rate limit reached for gpt-4o in organization org-XXXX on tokens per min (TPM): Limit 30000, Used 29100, Requested 1500. Please try again in 1.2s. Visit https://platform.openai.com/account/rate-limits to learn more.",
           "type": "tokens", "param": null, "code": "rate_limit_exceeded"}}"#
                .into(),
        };
        let f = OpenAi.decode(response, now()).unwrap_err();
        assert!(matches!(f.error, ProviderError::RateLimited { .. }));
        // The message hint beats the window reset.
        assert_eq!(f.error.retry_after(), Some(Duration::from_millis(1200)));
        assert_eq!(f.rate_limits.request_id.as_deref(), Some("req_abc"));
        assert_eq!(
            f.rate_limits.tokens.unwrap().reset_in,
            Some(Duration::from_secs(360))
        );
    }

    // ---- streaming ----

    use crate::provider::stream::test_support::{finished, run};

    /// Spec §2.4, verbatim.
    const SPEC_STREAM: &str = r#"data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1767225600,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1767225600,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"2, 3, 5"},"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1767225600,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null}

data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1767225600,"model":"gpt-4o-mini","choices":[],"usage":{"prompt_tokens":24,"completion_tokens":7,"total_tokens":31,"prompt_tokens_details":{"cached_tokens":0}}}

data: [DONE]

"#;

    fn events(items: &[Result<StreamEvent, ProviderFailure>]) -> Vec<StreamEvent> {
        items
            .iter()
            .filter_map(|i| i.as_ref().ok().cloned())
            .collect()
    }

    #[tokio::test]
    async fn decodes_spec_stream_with_final_usage_chunk() {
        for chunk in [1, 13, 10_000] {
            let items = run(
                Box::new(OpenAiStream::new("gpt-4o-mini")),
                SPEC_STREAM,
                chunk,
            )
            .await;
            assert!(items.iter().all(Result::is_ok), "{items:?}");
            let evs = events(&items);
            assert_eq!(
                evs[0],
                StreamEvent::Started {
                    id: "chatcmpl-1".into(),
                    provider_model: "gpt-4o-mini".into(),
                    usage: Usage::default()
                }
            );
            assert_eq!(
                evs[1],
                StreamEvent::TextDelta {
                    index: 0,
                    text: "2, 3, 5".into()
                }
            );
            assert_eq!(evs.len(), 3, "{evs:?}");
            let (c, estimated) = finished(&items);
            assert!(!estimated);
            assert_eq!(c.text(), "2, 3, 5");
            assert_eq!(c.stop_reason, StopReason::EndTurn);
            assert_eq!(
                c.usage,
                Usage {
                    input_tokens: 24,
                    output_tokens: 7,
                    cache_creation_input_tokens: 0,
                    cache_read_input_tokens: 0
                }
            );
        }
    }

    #[tokio::test]
    async fn a_stream_cut_before_the_usage_chunk_counts_output_locally_and_says_so() {
        let text: String = SPEC_STREAM
            .split("\n\n")
            .take(3)
            .map(|e| format!("{e}\n\n"))
            .collect();
        let items = run(Box::new(OpenAiStream::new("gpt-4o-mini")), &text, 8).await;
        let (c, estimated) = finished(&items);
        assert!(estimated);
        assert_eq!(c.text(), "2, 3, 5");
        assert_eq!(
            c.usage.output_tokens,
            crate::tokens::Encoding::O200k.count("2, 3, 5")
        );
        assert_eq!(c.usage.input_tokens, 0);
        // And `[DONE]` without a usage chunk (include_usage off) is the same.
        let text = text + "data: [DONE]\n\n";
        let (_, estimated) =
            finished(&run(Box::new(OpenAiStream::new("gpt-4o-mini")), &text, 8).await);
        assert!(estimated);
    }

    #[tokio::test]
    async fn a_stream_cut_before_finish_reason_is_a_mid_stream_connection_error() {
        let text: String = SPEC_STREAM
            .split("\n\n")
            .take(2)
            .map(|e| format!("{e}\n\n"))
            .collect();
        let items = run(Box::new(OpenAiStream::new("gpt-4o-mini")), &text, 8).await;
        let e = &items.last().unwrap().as_ref().unwrap_err().error;
        assert_eq!(e.deltas_delivered(), 1);
        assert!(matches!(e.underlying(), ProviderError::Connection { .. }));
        let ProviderError::MidStream { partial_usage, .. } = e else {
            panic!()
        };
        assert!(partial_usage.output_tokens > 0);
    }

    #[tokio::test]
    async fn error_payload_mid_stream_is_typed() {
        let text: String = SPEC_STREAM.split("\n\n").take(2).map(|e| format!("{e}\n\n")).collect::<String>()
            + "data: {\"error\":{\"message\":\"The server had an error\",\"type\":\"server_error\",\"param\":null,\"code\":null}}\n\n";
        let items = run(Box::new(OpenAiStream::new("gpt-4o-mini")), &text, 16).await;
        let e = &items.last().unwrap().as_ref().unwrap_err().error;
        assert!(e.is_mid_stream() && !e.is_retryable());
        assert_eq!(e.deltas_delivered(), 1);
        assert!(matches!(
            e.underlying(),
            ProviderError::Server { status: 500, .. }
        ));
        let text = "data: {\"error\":{\"message\":\"Rate limit reached. Please try again in 1.5s.\",\"type\":\"tokens\",\"param\":null,\"code\":\"rate_limit_exceeded\"}}\n\n";
        let items = run(Box::new(OpenAiStream::new("gpt-4o")), text, 16).await;
        let e = &items[0].as_ref().unwrap_err().error;
        assert_eq!(e.deltas_delivered(), 0);
        assert_eq!(
            e.underlying(),
            &ProviderError::RateLimited {
                retry_after: Some(Duration::from_millis(1500)),
                message:
                    "tokens/rate_limit_exceeded: Rate limit reached. Please try again in 1.5s."
                        .into()
            }
        );
    }

    #[tokio::test]
    async fn assembles_tool_calls_by_index_with_concatenated_arguments() {
        let chunk = |choices: &str| {
            format!("data: {{\"id\":\"c2\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o\",\"choices\":{choices}}}\n\n")
        };
        let text = [
            chunk(r#"[{"index":0,"delta":{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_a","type":"function","function":{"name":"weather","arguments":""}}]},"finish_reason":null}]"#),
            chunk(r#"[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\":"}}]},"finish_reason":null}]"#),
            chunk(r#"[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_b","type":"function","function":{"name":"time","arguments":"{}"}}]},"finish_reason":null}]"#),
            chunk(r#"[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"Paris\"}"}}]},"finish_reason":null}]"#),
            chunk(r#"[{"index":0,"delta":{},"finish_reason":"tool_calls"}]"#),
            "data: [DONE]\n\n".to_string(),
        ]
        .concat();
        let items = run(Box::new(OpenAiStream::new("gpt-4o")), &text, 10).await;
        assert!(items.iter().all(Result::is_ok), "{items:?}");
        let evs = events(&items);
        assert_eq!(
            evs[1],
            StreamEvent::ToolUseStart {
                index: 0,
                id: "call_a".into(),
                name: "weather".into()
            }
        );
        assert!(evs.contains(&StreamEvent::ToolInputDelta {
            index: 0,
            partial_json: "{\"city\":".into()
        }));
        let (c, _) = finished(&items);
        assert_eq!(
            c.content,
            vec![
                ContentBlock::ToolUse {
                    id: "call_a".into(),
                    name: "weather".into(),
                    input: json!({"city": "Paris"})
                },
                ContentBlock::ToolUse {
                    id: "call_b".into(),
                    name: "time".into(),
                    input: json!({})
                },
            ]
        );
        assert_eq!(c.stop_reason, StopReason::ToolUse);
    }

    #[test]
    fn encode_stream_asks_for_usage() {
        let r = OpenAi
            .encode_stream("gpt-4o", &rich_request(), None)
            .unwrap();
        let b = body_json(&r);
        assert_eq!(b["stream"], json!(true));
        assert_eq!(b["stream_options"], json!({"include_usage": true}));
        let b = body_json(&OpenAi.encode("gpt-4o", &rich_request(), None).unwrap());
        assert!(b.get("stream").is_none() && b.get("stream_options").is_none());
    }
}
