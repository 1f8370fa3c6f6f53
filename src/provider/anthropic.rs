//! Anthropic Messages API (spec §1): `POST /v1/messages` and `/v1/messages/count_tokens`.
//!
//! Shape: constants, the provider struct, the trait impl, private wire types, conversions,
//! fixture tests. Unknown response fields, content-block types and SSE event names are
//! tolerated (skipped), as the spec requires. Streaming (§1.5): [`encode_stream`] sets
//! `"stream": true`; [`StreamDecoder`] for this wire is [`AnthropicStream`].
//!
//! [`encode_stream`]: Provider::encode_stream

use super::classify::{classify, classify_stream_error};
use super::stream::{count_output, Flow, StreamDecoder, StreamEvent};
use super::*;
use crate::types::{ContentBlock, Message, Role, StopReason, Tool, Usage};
use reqwest::header::{HeaderMap, HeaderValue, CONTENT_TYPE};
use serde::{Deserialize, Serialize};

/// The only `anthropic-version` the SDK sends.
pub const API_VERSION: &str = "2023-06-01";
pub const MESSAGES_PATH: &str = "/v1/messages";
pub const COUNT_TOKENS_PATH: &str = "/v1/messages/count_tokens";

/// The Anthropic Messages wire format.
#[derive(Debug, Clone, Copy, Default)]
pub struct Anthropic;

impl Provider for Anthropic {
    fn wire(&self) -> Wire {
        Wire::Anthropic
    }

    fn encode(
        &self,
        model: &str,
        req: &CompletionRequest,
        key: Option<&ApiKey>,
    ) -> Result<HttpRequest, ProviderError> {
        encode_messages(model, req, key, false)
    }

    fn encode_stream(
        &self,
        model: &str,
        req: &CompletionRequest,
        key: Option<&ApiKey>,
    ) -> Result<HttpRequest, ProviderError> {
        encode_messages(model, req, key, true)
    }

    fn stream_decoder(&self, model: &str) -> Box<dyn StreamDecoder> {
        Box::new(AnthropicStream::new(model))
    }

    fn decode(
        &self,
        response: HttpResponse,
        now: SystemTime,
    ) -> Result<ProviderReply, ProviderFailure> {
        super::decode_response(response, now, |body| {
            serde_json::from_slice::<WireResponse>(body)
                .map(WireResponse::into_completion)
                .map_err(|e| format!("Anthropic message body: {e}"))
        })
    }
}

fn encode_messages(
    model: &str,
    req: &CompletionRequest,
    key: Option<&ApiKey>,
    stream: bool,
) -> Result<HttpRequest, ProviderError> {
    let body = WireRequest {
        model,
        max_tokens: req.max_tokens,
        system: &req.system,
        messages: req.messages.iter().map(WireMessage::from).collect(),
        temperature: req.temperature,
        top_p: req.top_p,
        stop_sequences: &req.stop,
        tools: req.tools.iter().map(WireTool::from).collect(),
        metadata: req.metadata.as_ref().and_then(WireMetadata::from_value),
        stream,
    };
    http_request(MESSAGES_PATH, &body, key)
}

/// The `count_tokens` request for `req` sent to wire model `model` (spec §1.3): the
/// messages body minus `max_tokens`, sampling fields and stop sequences.
pub fn encode_count_tokens(
    model: &str,
    req: &CompletionRequest,
    key: Option<&ApiKey>,
) -> Result<HttpRequest, ProviderError> {
    let body = WireCountTokensRequest {
        model,
        system: &req.system,
        messages: req.messages.iter().map(WireMessage::from).collect(),
        tools: req.tools.iter().map(WireTool::from).collect(),
    };
    http_request(COUNT_TOKENS_PATH, &body, key)
}

/// The `input_tokens` of a `count_tokens` response, or the classified failure.
/// Uses the wall clock to resolve absolute times; see [`decode_count_tokens_at`].
// `ProviderFailure` is large (it carries the rate-limit snapshot); failures are rare and
// the type is the trait's, so it is not boxed here either.
#[allow(clippy::result_large_err)]
pub fn decode_count_tokens(response: HttpResponse) -> Result<u64, ProviderFailure> {
    decode_count_tokens_at(response, SystemTime::now())
}

/// [`decode_count_tokens`] with an explicit `now` (for HTTP-date `retry-after`, resets).
#[allow(clippy::result_large_err)]
pub fn decode_count_tokens_at(
    response: HttpResponse,
    now: SystemTime,
) -> Result<u64, ProviderFailure> {
    let rate_limits = ratelimit::parse(&response.headers, now);
    if !(200..300).contains(&response.status) {
        return Err(ProviderFailure {
            error: classify(response.status, &response.headers, &response.body, now),
            rate_limits,
        });
    }
    serde_json::from_slice::<WireCountTokensResponse>(&response.body)
        .map(|r| r.input_tokens.min(Usage::MAX_REPORTED))
        .map_err(|e| ProviderFailure {
            error: ProviderError::InvalidResponse {
                message: format!("Anthropic count_tokens body: {e}"),
            },
            rate_limits,
        })
}

fn http_request<T: Serialize>(
    path: &str,
    body: &T,
    key: Option<&ApiKey>,
) -> Result<HttpRequest, ProviderError> {
    let body = serde_json::to_vec(body).map_err(|e| ProviderError::BadRequest {
        message: format!("not sent: request could not be serialised: {e}"),
    })?;
    let mut headers = HeaderMap::new();
    if let Some(key) = key {
        let mut value =
            HeaderValue::from_str(key.expose()).map_err(|_| ProviderError::BadRequest {
                message: "not sent: the API key contains characters not allowed in an HTTP header"
                    .into(),
            })?;
        value.set_sensitive(true);
        headers.insert("x-api-key", value);
    }
    headers.insert("anthropic-version", HeaderValue::from_static(API_VERSION));
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(HttpRequest {
        path: path.to_string(),
        headers,
        body: body.into(),
    })
}

// ---- private wire types: request ----

#[derive(Serialize)]
struct WireRequest<'a> {
    model: &'a str,
    max_tokens: u32,
    #[serde(skip_serializing_if = "<[ContentBlock]>::is_empty")]
    system: &'a [ContentBlock],
    messages: Vec<WireMessage<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f32>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    stop_sequences: &'a [String],
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<WireTool<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<WireMetadata<'a>>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    stream: bool,
}

#[derive(Serialize)]
struct WireCountTokensRequest<'a> {
    model: &'a str,
    #[serde(skip_serializing_if = "<[ContentBlock]>::is_empty")]
    system: &'a [ContentBlock],
    messages: Vec<WireMessage<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<WireTool<'a>>,
}

#[derive(Serialize)]
struct WireMessage<'a> {
    role: &'static str,
    // The neutral blocks serialise in the wire's own shape (type tag, cache_control).
    content: &'a [ContentBlock],
}

impl<'a> From<&'a Message> for WireMessage<'a> {
    fn from(m: &'a Message) -> Self {
        WireMessage {
            role: match m.role {
                Role::User => "user",
                Role::Assistant => "assistant",
            },
            content: &m.content,
        }
    }
}

#[derive(Serialize)]
struct WireTool<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    input_schema: &'a serde_json::Value,
}

impl<'a> From<&'a Tool> for WireTool<'a> {
    fn from(t: &'a Tool) -> Self {
        WireTool {
            name: &t.name,
            description: t.description.as_deref(),
            input_schema: &t.input_schema,
        }
    }
}

/// Anthropic accepts only `metadata.user_id` and rejects unknown keys, so only that key
/// is sent, and only when it is a string.
#[derive(Serialize)]
struct WireMetadata<'a> {
    user_id: &'a str,
}

impl<'a> WireMetadata<'a> {
    fn from_value(v: &'a serde_json::Value) -> Option<Self> {
        v.get("user_id")?
            .as_str()
            .map(|user_id| WireMetadata { user_id })
    }
}

// ---- private wire types: response ----

#[derive(Deserialize)]
struct WireResponse {
    id: String,
    #[serde(default)]
    model: String,
    #[serde(default)]
    content: Vec<WireResponseBlock>,
    #[serde(default)]
    stop_reason: Option<String>,
    #[serde(default)]
    stop_sequence: Option<String>,
    #[serde(default)]
    usage: WireUsage,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum WireResponseBlock {
    Text {
        text: String,
    },
    ToolUse {
        id: String,
        name: String,
        #[serde(default)]
        input: serde_json::Value,
    },
    /// thinking, redacted_thinking, server-tool blocks, and whatever comes next.
    #[serde(other)]
    Unknown,
}

#[derive(Deserialize, Default)]
struct WireUsage {
    #[serde(default)]
    input_tokens: Option<u64>,
    #[serde(default)]
    output_tokens: Option<u64>,
    #[serde(default)]
    cache_creation_input_tokens: Option<u64>,
    #[serde(default)]
    cache_read_input_tokens: Option<u64>,
}

#[derive(Deserialize)]
struct WireCountTokensResponse {
    input_tokens: u64,
}

impl WireUsage {
    fn into_usage(self) -> Usage {
        let count = |v: Option<u64>| v.unwrap_or(0).min(Usage::MAX_REPORTED);
        Usage {
            input_tokens: count(self.input_tokens),
            output_tokens: count(self.output_tokens),
            cache_creation_input_tokens: count(self.cache_creation_input_tokens),
            cache_read_input_tokens: count(self.cache_read_input_tokens),
        }
    }

    /// The SDK's accumulator: every field present replaces (counts are cumulative).
    fn overlay(&self, usage: &mut Usage) {
        let fields = [
            (self.input_tokens, &mut usage.input_tokens),
            (self.output_tokens, &mut usage.output_tokens),
            (
                self.cache_creation_input_tokens,
                &mut usage.cache_creation_input_tokens,
            ),
            (
                self.cache_read_input_tokens,
                &mut usage.cache_read_input_tokens,
            ),
        ];
        for (new, field) in fields {
            if let Some(v) = new {
                *field = v.min(Usage::MAX_REPORTED);
            }
        }
    }
}

impl WireResponse {
    fn into_completion(self) -> Completion {
        let content = self
            .content
            .into_iter()
            .filter_map(|b| match b {
                WireResponseBlock::Text { text } => Some(ContentBlock::text(text)),
                WireResponseBlock::ToolUse { id, name, input } => {
                    Some(ContentBlock::ToolUse { id, name, input })
                }
                WireResponseBlock::Unknown => None,
            })
            .collect();
        Completion {
            id: self.id,
            // The broker overwrites `model` with the config name.
            model: self.model.clone(),
            provider_model: self.model,
            content,
            // Never null in a non-streamed response; an absent one is reported as unknown.
            stop_reason: self
                .stop_reason
                .as_deref()
                .map(StopReason::from_anthropic)
                .unwrap_or_else(|| StopReason::Other(String::new())),
            stop_sequence: self.stop_sequence,
            usage: self.usage.into_usage(),
            reused: false,
        }
    }
}

// ---- streaming (spec §1.5) ----

/// The SSE decoder of one streamed Messages response.
///
/// `message_start` gives the input-side usage; content blocks are assembled by `index`
/// (text appended, `input_json_delta` concatenated and parsed at `content_block_stop`,
/// `{}` when empty); `message_delta.usage` *replaces* each field it carries (counts are
/// cumulative); `ping` and unknown events are skipped; an `error` event is the failure.
#[derive(Debug)]
pub struct AnthropicStream {
    /// The wire model asked for: picks the tokenizer for local counts.
    model: String,
    id: String,
    provider_model: String,
    usage: Usage,
    blocks: std::collections::BTreeMap<usize, StreamBlock>,
    stop_reason: Option<String>,
    stop_sequence: Option<String>,
}

#[derive(Debug)]
enum StreamBlock {
    Text(String),
    ToolUse {
        id: String,
        name: String,
        json: String,
        input: Option<serde_json::Value>,
    },
    /// thinking and other block types: not part of the core completion.
    Other,
}

impl AnthropicStream {
    pub fn new(model: &str) -> Self {
        AnthropicStream {
            model: model.to_string(),
            id: String::new(),
            provider_model: model.to_string(),
            usage: Usage::default(),
            blocks: Default::default(),
            stop_reason: None,
            stop_sequence: None,
        }
    }

    fn completion(&mut self) -> Completion {
        let content = std::mem::take(&mut self.blocks)
            .into_values()
            .filter_map(|b| match b {
                StreamBlock::Text(text) => Some(ContentBlock::text(text)),
                StreamBlock::ToolUse {
                    id,
                    name,
                    json,
                    input,
                } => Some(ContentBlock::ToolUse {
                    id,
                    name,
                    input: input.unwrap_or_else(|| parse_tool_input(json)),
                }),
                StreamBlock::Other => None,
            })
            .collect();
        Completion {
            id: self.id.clone(),
            model: self.provider_model.clone(),
            provider_model: self.provider_model.clone(),
            content,
            stop_reason: self
                .stop_reason
                .as_deref()
                .map(StopReason::from_anthropic)
                .unwrap_or_else(|| StopReason::Other(String::new())),
            stop_sequence: self.stop_sequence.clone(),
            usage: self.usage,
            reused: false,
        }
    }
}

/// Concatenated `partial_json` as a value: `{}` when empty, the raw text when it does
/// not parse (as the non-streaming OpenAI decoder keeps unparsable arguments).
fn parse_tool_input(json: String) -> serde_json::Value {
    if json.trim().is_empty() {
        return serde_json::json!({});
    }
    serde_json::from_str(&json).unwrap_or(serde_json::Value::String(json))
}

fn invalid(what: &str, e: impl std::fmt::Display) -> ProviderError {
    ProviderError::InvalidResponse {
        message: format!("Anthropic stream {what}: {e}"),
    }
}

impl StreamDecoder for AnthropicStream {
    fn on_event(
        &mut self,
        event: &str,
        data: &str,
        now: SystemTime,
        out: &mut Vec<StreamEvent>,
    ) -> Result<Flow, ProviderError> {
        match event {
            "error" => return Err(classify_stream_error(data.as_bytes(), now)),
            "ping" => return Ok(Flow::Continue),
            _ => {}
        }
        let wire: WireStreamEvent =
            serde_json::from_str(data).map_err(|e| invalid(&format!("event {event}"), e))?;
        match wire {
            WireStreamEvent::Error => return Err(classify_stream_error(data.as_bytes(), now)),
            WireStreamEvent::MessageStart { message } => {
                self.id = message.id;
                if !message.model.is_empty() {
                    self.provider_model = message.model;
                }
                self.usage = message.usage.into_usage();
                out.push(StreamEvent::Started {
                    id: self.id.clone(),
                    provider_model: self.provider_model.clone(),
                    usage: self.usage,
                });
            }
            WireStreamEvent::ContentBlockStart {
                index,
                content_block,
            } => {
                let block = match content_block {
                    WireStartBlock::Text { text } => {
                        if !text.is_empty() {
                            out.push(StreamEvent::TextDelta {
                                index,
                                text: text.clone(),
                            });
                        }
                        StreamBlock::Text(text)
                    }
                    WireStartBlock::ToolUse { id, name } => {
                        out.push(StreamEvent::ToolUseStart {
                            index,
                            id: id.clone(),
                            name: name.clone(),
                        });
                        StreamBlock::ToolUse {
                            id,
                            name,
                            json: String::new(),
                            input: None,
                        }
                    }
                    WireStartBlock::Unknown => StreamBlock::Other,
                };
                self.blocks.insert(index, block);
            }
            WireStreamEvent::ContentBlockDelta { index, delta } => {
                match (self.blocks.get_mut(&index), delta) {
                    (Some(StreamBlock::Text(text)), WireDelta::TextDelta { text: piece }) => {
                        text.push_str(&piece);
                        out.push(StreamEvent::TextDelta { index, text: piece });
                    }
                    (
                        Some(StreamBlock::ToolUse { json, .. }),
                        WireDelta::InputJsonDelta { partial_json },
                    ) => {
                        json.push_str(&partial_json);
                        out.push(StreamEvent::ToolInputDelta {
                            index,
                            partial_json,
                        });
                    }
                    (None, WireDelta::TextDelta { .. } | WireDelta::InputJsonDelta { .. }) => {
                        return Err(invalid(
                            "delta",
                            format!("content_block_delta for unopened block {index}"),
                        ))
                    }
                    // thinking, signature, citations, or a delta for a skipped block.
                    _ => {}
                }
            }
            WireStreamEvent::ContentBlockStop { index } => {
                if let Some(StreamBlock::ToolUse { json, input, .. }) = self.blocks.get_mut(&index)
                {
                    *input = Some(parse_tool_input(std::mem::take(json)));
                }
            }
            WireStreamEvent::MessageDelta { delta, usage } => {
                if delta.stop_reason.is_some() {
                    self.stop_reason = delta.stop_reason;
                    self.stop_sequence = delta.stop_sequence;
                }
                if let Some(u) = usage {
                    u.overlay(&mut self.usage);
                }
            }
            WireStreamEvent::MessageStop => {
                out.push(StreamEvent::Finished {
                    completion: self.completion(),
                    usage_estimated: false,
                });
                return Ok(Flow::Done);
            }
            WireStreamEvent::Ping | WireStreamEvent::Unknown => {}
        }
        Ok(Flow::Continue)
    }

    fn on_eof(&mut self, _out: &mut Vec<StreamEvent>) -> Result<(), ProviderError> {
        Err(ProviderError::Connection {
            message: "the stream ended before message_stop".into(),
        })
    }

    fn partial_usage(&self) -> Usage {
        let mut produced = String::new();
        for b in self.blocks.values() {
            match b {
                StreamBlock::Text(t) => produced.push_str(t),
                StreamBlock::ToolUse { json, input, .. } => match input {
                    Some(v) => produced.push_str(&v.to_string()),
                    None => produced.push_str(json),
                },
                StreamBlock::Other => {}
            }
        }
        let mut usage = self.usage;
        usage.output_tokens = usage
            .output_tokens
            .max(count_output(&self.model, &produced));
        usage
    }
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum WireStreamEvent {
    MessageStart {
        message: WireStreamMessage,
    },
    ContentBlockStart {
        index: usize,
        content_block: WireStartBlock,
    },
    ContentBlockDelta {
        index: usize,
        delta: WireDelta,
    },
    ContentBlockStop {
        index: usize,
    },
    MessageDelta {
        #[serde(default)]
        delta: WireMessageDelta,
        #[serde(default)]
        usage: Option<WireUsage>,
    },
    MessageStop,
    Ping,
    Error,
    #[serde(other)]
    Unknown,
}

#[derive(Deserialize)]
struct WireStreamMessage {
    #[serde(default)]
    id: String,
    #[serde(default)]
    model: String,
    #[serde(default)]
    usage: WireUsage,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum WireStartBlock {
    Text {
        #[serde(default)]
        text: String,
    },
    ToolUse {
        id: String,
        name: String,
    },
    #[serde(other)]
    Unknown,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum WireDelta {
    TextDelta {
        text: String,
    },
    InputJsonDelta {
        #[serde(default)]
        partial_json: String,
    },
    #[serde(other)]
    Unknown,
}

#[derive(Deserialize, Default)]
struct WireMessageDelta {
    #[serde(default)]
    stop_reason: Option<String>,
    #[serde(default)]
    stop_sequence: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::Duration;

    fn now() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_755_780_000)
    }

    fn body_json(r: &HttpRequest) -> serde_json::Value {
        serde_json::from_slice(&r.body).unwrap()
    }

    fn ok(body: &str) -> HttpResponse {
        HttpResponse {
            status: 200,
            headers: HeaderMap::new(),
            body: body.to_string().into(),
        }
    }

    /// System, multi-turn, tool_use + tool_result, stop, temperature, tools, metadata.
    fn rich_request() -> CompletionRequest {
        let mut req = CompletionRequest::prompt("smart", "What is the weather in Paris?")
            .system("You are terse.")
            .max_tokens(512)
            .temperature(0.2);
        req.messages.push(Message {
            role: Role::Assistant,
            content: vec![
                ContentBlock::text("Let me look."),
                ContentBlock::ToolUse {
                    id: "toolu_01A".into(),
                    name: "weather".into(),
                    input: json!({"city": "Paris"}),
                },
            ],
        });
        req.messages.push(Message {
            role: Role::User,
            content: vec![
                ContentBlock::tool_result("toolu_01A", "18C, sunny"),
                ContentBlock::text("Thanks."),
            ],
        });
        req.stop = vec!["\n\nEND".into()];
        req.top_p = Some(0.5);
        req.tools = vec![Tool::new(
            "weather",
            json!({"type": "object", "properties": {"city": {"type": "string"}}}),
        )
        .description("Current weather")];
        req.metadata = Some(json!({"user_id": "u-42", "team": "ignored"}));
        req
    }

    #[test]
    fn encodes_messages_request_exactly() {
        let key = ApiKey::new("sk-ant-secret-123");
        let r = Anthropic
            .encode("claude-sonnet-4-5", &rich_request(), Some(&key))
            .unwrap();
        assert_eq!(r.path, "/v1/messages");
        assert_eq!(r.headers["x-api-key"], "sk-ant-secret-123");
        assert!(r.headers["x-api-key"].is_sensitive());
        assert_eq!(r.headers["anthropic-version"], "2023-06-01");
        assert_eq!(r.headers["content-type"], "application/json");
        assert_eq!(
            body_json(&r),
            json!({
                "model": "claude-sonnet-4-5",
                "max_tokens": 512,
                "system": "You are terse.",
                "temperature": 0.2,
                "top_p": 0.5,
                "stop_sequences": ["\n\nEND"],
                "messages": [
                    {"role": "user", "content": [{"type": "text", "text": "What is the weather in Paris?"}]},
                    {"role": "assistant", "content": [
                        {"type": "text", "text": "Let me look."},
                        {"type": "tool_use", "id": "toolu_01A", "name": "weather", "input": {"city": "Paris"}}
                    ]},
                    {"role": "user", "content": [
                        {"type": "tool_result", "tool_use_id": "toolu_01A", "content": "18C, sunny", "is_error": false},
                        {"type": "text", "text": "Thanks."}
                    ]}
                ],
                "tools": [{"name": "weather", "description": "Current weather",
                           "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}],
                "metadata": {"user_id": "u-42"}
            })
        );
    }

    #[test]
    fn omits_absent_optional_fields_and_key() {
        let mut req = CompletionRequest::prompt("smart", "hi");
        req.messages.push(Message {
            role: Role::User,
            content: vec![ContentBlock::Image {
                source: json!({"type": "base64", "media_type": "image/png", "data": "AAAA"}),
                cache_control: None,
            }],
        });
        req.metadata = Some(json!({"team": "x"}));
        let r = Anthropic.encode("claude-haiku-4-5", &req, None).unwrap();
        assert!(r.headers.get("x-api-key").is_none());
        assert_eq!(
            body_json(&r),
            json!({
                "model": "claude-haiku-4-5",
                "max_tokens": 256,
                "messages": [
                    {"role": "user", "content": [{"type": "text", "text": "hi"}]},
                    {"role": "user", "content": [{"type": "image", "source":
                        {"type": "base64", "media_type": "image/png", "data": "AAAA"}}]}
                ]
            })
        );
    }

    #[test]
    fn debug_of_request_never_shows_the_key() {
        let key = ApiKey::new("sk-ant-secret-123");
        let r = Anthropic.encode("m", &rich_request(), Some(&key)).unwrap();
        let debug = format!("{r:?}");
        assert!(!debug.contains("sk-ant-secret-123"), "{debug}");
        let r = encode_count_tokens("m", &rich_request(), Some(&key)).unwrap();
        assert!(!format!("{r:?}").contains("sk-ant-secret-123"));
    }

    #[test]
    fn key_with_invalid_header_characters_is_refused_without_echoing_it() {
        let key = ApiKey::new("sk-bad\nkey");
        let e = Anthropic
            .encode("m", &rich_request(), Some(&key))
            .unwrap_err();
        assert!(!e.is_retryable());
        assert!(!e.to_string().contains("sk-bad"));
    }

    /// Spec §1.2, verbatim.
    const SPEC_REQUEST: &str = r#"{
  "model": "claude-sonnet-4-5", "max_tokens": 512, "temperature": 0.2,
  "stop_sequences": ["\n\nEND"], "stream": false,
  "system": [{"type": "text", "text": "<long stable instructions>",
              "cache_control": {"type": "ephemeral"}}],
  "messages": [
    {"role": "user", "content": "Summarise the attached notes."},
    {"role": "assistant", "content": [{"type": "text", "text": "Which notes?"}]},
    {"role": "user", "content": [{"type": "text", "text": "The ones above."}]}
  ]
}"#;

    #[test]
    fn encodes_spec_request_example_modulo_documented_differences() {
        let req = CompletionRequest::new("smart")
            .system("<long stable instructions>")
            .max_tokens(512)
            .temperature(0.2)
            .messages(vec![
                Message::user("Summarise the attached notes."),
                Message::assistant("Which notes?"),
                Message::user("The ones above."),
            ]);
        let req = CompletionRequest {
            stop: vec!["\n\nEND".into()],
            ..req
        };
        let mut want: serde_json::Value = serde_json::from_str(SPEC_REQUEST).unwrap();
        // Differences by design: no `stream` (non-streaming wire), the system prompt as a
        // plain string (no cache_control in the core type), every content as a block array.
        let obj = want.as_object_mut().unwrap();
        obj.remove("stream");
        obj.insert("system".into(), json!("<long stable instructions>"));
        want["messages"][0]["content"] =
            json!([{"type": "text", "text": "Summarise the attached notes."}]);
        let r = Anthropic.encode("claude-sonnet-4-5", &req, None).unwrap();
        assert_eq!(body_json(&r), want);
    }

    /// Spec §1.4, verbatim.
    const SPEC_RESPONSE: &str = r#"{
  "id": "msg_01XyZ",
  "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
  "content": [
    {"type": "text", "text": "Here is the summary..."},
    {"type": "tool_use", "id": "toolu_01A", "name": "lookup", "input": {"q": "x"}}
  ],
  "stop_reason": "tool_use", "stop_sequence": null,
  "usage": {"input_tokens": 42, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 2100,
            "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
            "output_tokens": 87, "service_tier": "standard"}
}"#;

    #[test]
    fn decodes_spec_response() {
        let reply = Anthropic.decode(ok(SPEC_RESPONSE), now()).unwrap();
        assert_eq!(
            reply.completion,
            Completion {
                id: "msg_01XyZ".into(),
                model: "claude-sonnet-4-5".into(),
                provider_model: "claude-sonnet-4-5".into(),
                content: vec![
                    ContentBlock::text("Here is the summary..."),
                    ContentBlock::ToolUse {
                        id: "toolu_01A".into(),
                        name: "lookup".into(),
                        input: json!({"q": "x"}),
                    },
                ],
                stop_reason: StopReason::ToolUse,
                stop_sequence: None,
                usage: Usage {
                    input_tokens: 42,
                    output_tokens: 87,
                    cache_creation_input_tokens: 0,
                    cache_read_input_tokens: 2100,
                },
                reused: false,
            }
        );
    }

    #[test]
    fn tolerates_null_cache_fields_unknown_fields_and_unknown_blocks() {
        let body = r#"{
          "id": "msg_02", "type": "message", "role": "assistant", "model": "claude-haiku-4-5",
          "brand_new_field": {"x": 1},
          "content": [
            {"type": "thinking", "thinking": "hmm", "signature": "sig"},
            {"type": "text", "text": "Done.", "citations": null},
            {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {}},
            {"type": "hologram", "payload": [1, 2, 3]}
          ],
          "stop_reason": "stop_sequence", "stop_sequence": "\n\nEND",
          "usage": {"input_tokens": 5, "output_tokens": 1,
                    "cache_creation_input_tokens": null, "inference_geo": "us"}
        }"#;
        let c = Anthropic.decode(ok(body), now()).unwrap().completion;
        assert_eq!(c.content, vec![ContentBlock::text("Done.")]);
        assert_eq!(c.stop_reason, StopReason::StopSequence);
        assert_eq!(c.stop_sequence.as_deref(), Some("\n\nEND"));
        assert_eq!(
            c.usage,
            Usage {
                input_tokens: 5,
                output_tokens: 1,
                cache_creation_input_tokens: 0,
                cache_read_input_tokens: 0,
            }
        );
    }

    #[test]
    fn unknown_stop_reason_is_kept() {
        let body = r#"{"id":"m","model":"x","content":[],"stop_reason":"new_reason","usage":{"input_tokens":1,"output_tokens":1}}"#;
        let c = Anthropic.decode(ok(body), now()).unwrap().completion;
        assert_eq!(c.stop_reason, StopReason::Other("new_reason".into()));
    }

    #[test]
    fn malformed_success_body_is_invalid_response() {
        let f = Anthropic.decode(ok("not json"), now()).unwrap_err();
        assert!(matches!(f.error, ProviderError::InvalidResponse { .. }));
    }

    #[test]
    fn error_response_is_classified_with_rate_limits() {
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", HeaderValue::from_static("7"));
        headers.insert("request-id", HeaderValue::from_static("req_011CAbCdEf"));
        headers.insert(
            "anthropic-ratelimit-requests-remaining",
            HeaderValue::from_static("0"),
        );
        let response = HttpResponse {
            status: 429,
            headers,
            body: r#"{"type": "error",
 "error": {"type": "rate_limit_error", "message": "Number of input tokens has exceeded your per-minute rate limit"},
 "request_id": "req_011CAbCdEf"}"#
                .into(),
        };
        let f = Anthropic.decode(response, now()).unwrap_err();
        assert_eq!(f.error.retry_after(), Some(Duration::from_secs(7)));
        assert!(matches!(f.error, ProviderError::RateLimited { .. }));
        assert_eq!(f.rate_limits.request_id.as_deref(), Some("req_011CAbCdEf"));
        assert_eq!(f.rate_limits.requests.unwrap().remaining, Some(0));
    }

    #[test]
    fn encodes_count_tokens_request() {
        let r = encode_count_tokens("claude-sonnet-4-5", &rich_request(), None).unwrap();
        assert_eq!(r.path, "/v1/messages/count_tokens");
        let body = body_json(&r);
        assert_eq!(body["model"], "claude-sonnet-4-5");
        assert_eq!(body["system"], "You are terse.");
        assert_eq!(body["messages"].as_array().unwrap().len(), 3);
        assert_eq!(body["tools"][0]["name"], "weather");
        for absent in [
            "max_tokens",
            "temperature",
            "top_p",
            "stop_sequences",
            "metadata",
        ] {
            assert!(body.get(absent).is_none(), "{absent}");
        }
    }

    #[test]
    fn decodes_count_tokens_response() {
        assert_eq!(
            decode_count_tokens(ok(r#"{"input_tokens": 1873}"#)).unwrap(),
            1873
        );
        let f = decode_count_tokens_at(
            HttpResponse {
                status: 529,
                headers: HeaderMap::new(),
                body:
                    r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#
                        .into(),
            },
            now(),
        )
        .unwrap_err();
        assert!(matches!(
            f.error,
            ProviderError::Overloaded { status: 529, .. }
        ));
        let f = decode_count_tokens(ok("{}")).unwrap_err();
        assert!(matches!(f.error, ProviderError::InvalidResponse { .. }));
    }

    // ---- streaming ----

    use crate::provider::stream::test_support::{finished, run};

    /// Spec §1.5, verbatim.
    const SPEC_STREAM: &str = r#"event: message_start
data: {"type":"message_start","message":{"id":"msg_01","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":12,"cache_creation_input_tokens":0,"cache_read_input_tokens":2100,"output_tokens":1}}}

event: content_block_start
data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}

event: ping
data: {"type":"ping"}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}

event: content_block_stop
data: {"type":"content_block_stop","index":0}

event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":7}}

event: message_stop
data: {"type":"message_stop"}

"#;

    /// Spec §1.5 mid-stream error, verbatim.
    const SPEC_STREAM_ERROR: &str = r#"event: error
data: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}

"#;

    fn events(items: &[Result<StreamEvent, ProviderFailure>]) -> Vec<StreamEvent> {
        items
            .iter()
            .filter_map(|i| i.as_ref().ok().cloned())
            .collect()
    }

    #[tokio::test]
    async fn decodes_spec_stream_with_usage_overlaid_whatever_the_chunking() {
        for chunk in [1, 7, 64, 10_000] {
            let items = run(
                Box::new(AnthropicStream::new("claude-sonnet-4-5")),
                SPEC_STREAM,
                chunk,
            )
            .await;
            assert!(items.iter().all(Result::is_ok), "{items:?}");
            let evs = events(&items);
            let start_usage = Usage {
                input_tokens: 12,
                output_tokens: 1,
                cache_creation_input_tokens: 0,
                cache_read_input_tokens: 2100,
            };
            assert_eq!(
                evs[0],
                StreamEvent::Started {
                    id: "msg_01".into(),
                    provider_model: "claude-sonnet-4-5".into(),
                    usage: start_usage,
                }
            );
            assert_eq!(
                evs[1],
                StreamEvent::TextDelta {
                    index: 0,
                    text: "Hello".into()
                }
            );
            let (c, estimated) = finished(&items);
            assert!(!estimated);
            assert_eq!(c.text(), "Hello");
            assert_eq!(c.stop_reason, StopReason::EndTurn);
            // message_delta replaced output_tokens; the rest kept message_start's values.
            assert_eq!(
                c.usage,
                Usage {
                    output_tokens: 7,
                    ..start_usage
                }
            );
            assert_eq!(evs.len(), 3, "ping yields nothing: {evs:?}");
        }
    }

    #[tokio::test]
    async fn message_delta_usage_replaces_fields_and_never_adds() {
        let text = SPEC_STREAM.replace(
            r#""usage":{"output_tokens":7}}"#,
            r#""usage":{"output_tokens":3}}

event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"input_tokens":15,"output_tokens":9}}"#,
        );
        let items = run(Box::new(AnthropicStream::new("m")), &text, 5).await;
        let (c, _) = finished(&items);
        assert_eq!(c.usage.output_tokens, 9);
        assert_eq!(c.usage.input_tokens, 15);
        assert_eq!(c.usage.cache_read_input_tokens, 2100);
    }

    #[tokio::test]
    async fn mid_stream_error_event_is_a_typed_overload_after_the_delivered_deltas() {
        let text = SPEC_STREAM
            .split("event: content_block_stop")
            .next()
            .unwrap()
            .to_string()
            + SPEC_STREAM_ERROR;
        let items = run(
            Box::new(AnthropicStream::new("claude-sonnet-4-5")),
            &text,
            3,
        )
        .await;
        let last = items.last().unwrap().as_ref().unwrap_err();
        assert!(last.error.is_mid_stream());
        assert!(!last.error.is_retryable());
        assert_eq!(last.error.deltas_delivered(), 1);
        assert!(matches!(
            last.error.underlying(),
            ProviderError::Overloaded { status: 529, .. }
        ));
        let ProviderError::MidStream { partial_usage, .. } = &last.error else {
            panic!()
        };
        assert_eq!(partial_usage.input_tokens, 12);
        assert!(partial_usage.output_tokens >= 1);
        assert_eq!(items.iter().filter(|i| i.is_err()).count(), 1);
    }

    #[tokio::test]
    async fn error_as_the_first_event_has_delivered_nothing() {
        let items = run(Box::new(AnthropicStream::new("m")), SPEC_STREAM_ERROR, 4).await;
        assert_eq!(items.len(), 1);
        let e = &items[0].as_ref().unwrap_err().error;
        assert_eq!(e.deltas_delivered(), 0);
        assert!(e.underlying().is_retryable());
    }

    #[tokio::test]
    async fn assembles_tool_use_from_json_deltas_and_skips_unknown_events_and_blocks() {
        let text = r#"event: message_start
data: {"type":"message_start","message":{"id":"msg_02","model":"claude-sonnet-4-5","content":[],"usage":{"input_tokens":5,"output_tokens":1}}}

: a comment line

event: content_block_start
data: {"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":""}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"hmm"}}

event: content_block_stop
data: {"type":"content_block_stop","index":0}

event: brand_new_event
data: {"type":"brand_new_event","x":1}

event: content_block_start
data: {"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"Let me look."}}

event: content_block_stop
data: {"type":"content_block_stop","index":1}

event: content_block_start
data: {"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"toolu_01A","name":"lookup","input":{}}}

event: content_block_delta
data: {"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":""}}

event: content_block_delta
data: {"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{\"q\": \"x"}}

event: content_block_delta
data: {"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"y\"}"}}

event: content_block_stop
data: {"type":"content_block_stop","index":2}

event: content_block_start
data: {"type":"content_block_start","index":3,"content_block":{"type":"tool_use","id":"toolu_01B","name":"noargs","input":{}}}

event: content_block_stop
data: {"type":"content_block_stop","index":3}

event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":40}}

event: message_stop
data: {"type":"message_stop"}

"#;
        let items = run(Box::new(AnthropicStream::new("m")), text, 11).await;
        assert!(items.iter().all(Result::is_ok), "{items:?}");
        let evs = events(&items);
        assert!(evs.contains(&StreamEvent::ToolUseStart {
            index: 2,
            id: "toolu_01A".into(),
            name: "lookup".into()
        }));
        assert!(evs.contains(&StreamEvent::ToolInputDelta {
            index: 2,
            partial_json: "{\"q\": \"x".into()
        }));
        let (c, _) = finished(&items);
        assert_eq!(
            c.content,
            vec![
                ContentBlock::text("Let me look."),
                ContentBlock::ToolUse {
                    id: "toolu_01A".into(),
                    name: "lookup".into(),
                    input: json!({"q": "xy"})
                },
                ContentBlock::ToolUse {
                    id: "toolu_01B".into(),
                    name: "noargs".into(),
                    input: json!({})
                },
            ]
        );
        assert_eq!(c.stop_reason, StopReason::ToolUse);
        assert_eq!(c.usage.output_tokens, 40);
    }

    #[tokio::test]
    async fn a_stream_cut_before_message_stop_is_a_mid_stream_connection_error() {
        let text = SPEC_STREAM.split("event: message_delta").next().unwrap();
        let items = run(Box::new(AnthropicStream::new("m")), text, 9).await;
        let e = &items.last().unwrap().as_ref().unwrap_err().error;
        assert_eq!(e.deltas_delivered(), 1);
        assert!(matches!(e.underlying(), ProviderError::Connection { .. }));
    }

    #[test]
    fn encode_stream_sets_stream_true_and_encode_leaves_it_out() {
        let r = Anthropic
            .encode_stream("claude-sonnet-4-5", &rich_request(), None)
            .unwrap();
        assert_eq!(body_json(&r)["stream"], json!(true));
        let r = Anthropic
            .encode("claude-sonnet-4-5", &rich_request(), None)
            .unwrap();
        assert!(body_json(&r).get("stream").is_none());
    }
}
