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
        }
    }
}

mod stream;
#[cfg(test)]
mod tests;

pub use stream::AnthropicStream;
