//! Anthropic Messages API: `POST /v1/messages` and `/v1/messages/count_tokens`
//! (`docs/providers.md`, "Anthropic Messages").
//!
//! Shape: constants, the provider struct, the trait impl, then one submodule per part:
//! `request` (the body: system blocks and cache breakpoints, tools and tool choice,
//! thinking and effort, structured output native or as a forced tool), `response` (thinking blocks kept,
//! cached usage, the structured-output call turned back into text), `stream` (the SSE
//! decoder), and the fixture tests. Unknown response fields and SSE event names are
//! tolerated (skipped), since Anthropic adds values without notice; content blocks of
//! types the runtime does not interpret (server tools, search results, new types) are
//! kept whole ([`ContentBlock::Raw`]) and replayed verbatim. Streaming:
//! [`encode_stream`] sets `"stream": true`; [`StreamDecoder`] for this wire is
//! [`AnthropicStream`].
//!
//! [`encode_stream`]: Provider::encode_stream

use super::classify::{classify, classify_stream_error};
use super::stream::{count_output, Flow, SseEvent, StreamDecoder, StreamEvent};
use super::*;
use crate::types::{CacheControl, ContentBlock, Message, Role, StopReason, Tool, Usage};
use request::{WireCountTokensRequest, WireRequest};
use response::{WireCountTokensResponse, WireResponseBlock, WireUsage};
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

    fn encode_attempt(&self, a: Attempt<'_>) -> Encoded {
        http_request(
            MESSAGES_PATH,
            &WireRequest::new(a.model, a.req, a.stream),
            a.key,
        )
    }

    fn stream_decoder(&self, model: &str) -> Box<dyn StreamDecoder> {
        Box::new(AnthropicStream::new(model))
    }

    fn encode_count_tokens(&self, a: Attempt<'_>) -> Option<Encoded> {
        Some(encode_count_tokens(a.model, a.req, a.key))
    }

    fn stream_decoder_for(&self, model: &str, req: &CompletionRequest) -> Box<dyn StreamDecoder> {
        let mut decoder = AnthropicStream::new(model);
        if let Some(schema) = &req.response_format {
            decoder = decoder.structured_output(&schema.name);
        }
        Box::new(decoder)
    }

    fn decode(&self, response: HttpResponse, now: SystemTime) -> Decoded {
        decode_messages(response, now, None)
    }

    fn decode_for(&self, req: &CompletionRequest, res: HttpResponse, now: SystemTime) -> Decoded {
        let structured = req.response_format.as_ref().map(|s| s.name.as_str());
        decode_messages(res, now, structured)
    }
}

#[allow(clippy::result_large_err)]
fn decode_messages(
    response: HttpResponse,
    now: SystemTime,
    structured: Option<&str>,
) -> Result<ProviderReply, ProviderFailure> {
    super::decode_response(response, now, |body| {
        response::parse(body, structured)
            .map_err(|e| super::invalid_response(format!("Anthropic message body: {e}")))
    })
}

/// The `count_tokens` request for `req` sent to wire model `model` (`docs/providers.md`, "Anthropic count_tokens"): the
/// messages body minus `max_tokens`, sampling fields and stop sequences; system, tools
/// (the structured-output tool included), `tool_choice` and `thinking` are counted.
pub fn encode_count_tokens(
    model: &str,
    req: &CompletionRequest,
    key: Option<&ApiKey>,
) -> Result<HttpRequest, ProviderError> {
    http_request(
        COUNT_TOKENS_PATH,
        &WireCountTokensRequest::new(model, req),
        key,
    )
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

/// A JSON request to `path` with the key in `x-api-key` and the API version header.
fn http_request<T: Serialize>(
    path: &str,
    body: &T,
    key: Option<&ApiKey>,
) -> Result<HttpRequest, ProviderError> {
    // Built at compile time: parsing a header name costs more than the request's
    // other headers together.
    const VERSION: reqwest::header::HeaderName =
        reqwest::header::HeaderName::from_static("anthropic-version");
    const X_API_KEY: reqwest::header::HeaderName =
        reqwest::header::HeaderName::from_static("x-api-key");
    super::json_request(
        path,
        body,
        key,
        X_API_KEY,
        str::to_string,
        &[(VERSION, API_VERSION)],
    )
}

mod request;
mod response;
mod stream;

#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod fixtures_thinking;
#[cfg(test)]
mod kept_tests;
#[cfg(test)]
mod tests;

pub use stream::AnthropicStream;
