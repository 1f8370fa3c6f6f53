//! A Responses answer: the `response` object's private wire types (also the payload of
//! the stream's `response.completed`) and its conversion into a [`Completion`].

use super::*;
use crate::provider::classify::classify_error_tags;
use crate::provider::invalid_response;
use serde::Deserialize;
use serde_json::Value;

/// The core completion of a whole `response` body, or the failure it reports.
pub(super) fn parse(body: &[u8], now: SystemTime) -> Result<Completion, ProviderError> {
    serde_json::from_slice::<WireResponse>(body)
        .map_err(|e| invalid_response(format!("OpenAI response body: {e}")))
        .and_then(|r| r.into_completion(now))
}

/// An `error` object (`{"code", "message"}`, as a `failed` response or a stream's
/// failure event carries it) as the `{"error": {...}}` body the classifier reads, its
/// `code` standing for the `type` when there is none.
fn error_body(error: Option<&Value>) -> Vec<u8> {
    let field = |k: &str| error.and_then(|e| e.get(k)).cloned().unwrap_or(Value::Null);
    let code = field("code");
    serde_json::json!({"error": {
        "message": field("message"),
        "type": field("type").as_str().map(Value::from).unwrap_or(code.clone()),
        "code": code,
        "param": field("param"),
    }})
    .to_string()
    .into_bytes()
}

/// The failure of a `status: "failed"` response, or of a stream's `error` event,
/// classified by its `code` as if the code had come as an HTTP status: `server_error`
/// (or no error at all: nothing says the request was at fault) a 500 and
/// `vector_store_timeout` a 504, both retryable; `rate_limit_exceeded` a 429 (and the
/// quota codes the terminal 429s), as on Chat Completions. Every other code
/// (`invalid_prompt`, the `image_*` and `invalid_image*` family, and codes yet to come)
/// names a fault of the request, which sending it again cannot fix: a 400.
/// <https://platform.openai.com/docs/api-reference/responses/object>
/// <https://platform.openai.com/docs/api-reference/responses-streaming/error>
pub(super) fn failure(error: Option<&Value>, now: SystemTime) -> ProviderError {
    let error = error.filter(|e| e.is_object());
    let code = error.and_then(|e| e.get("code")).and_then(Value::as_str);
    let unknown_status = match code {
        None | Some("server_error") => 500,
        Some("vector_store_timeout") => 504,
        Some(_) => 400,
    };
    classify_error_tags(&error_body(error), now, unknown_status)
}

#[derive(Deserialize)]
pub(super) struct WireResponse {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub model: String,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub output: Vec<Value>,
    #[serde(default)]
    pub incomplete_details: Option<WireIncomplete>,
    #[serde(default)]
    pub error: Option<Value>,
    #[serde(default)]
    pub usage: Option<WireUsage>,
}

#[derive(Deserialize)]
pub(super) struct WireIncomplete {
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Deserialize, Default, Clone, Copy)]
pub(super) struct WireUsage {
    #[serde(default)]
    pub input_tokens: Option<u64>,
    #[serde(default)]
    pub output_tokens: Option<u64>,
    #[serde(default)]
    pub input_tokens_details: Option<WireInputDetails>,
    #[serde(default)]
    pub output_tokens_details: Option<WireOutputDetails>,
}

#[derive(Deserialize, Default, Clone, Copy)]
pub(super) struct WireInputDetails {
    #[serde(default)]
    pub cached_tokens: Option<u64>,
}

#[derive(Deserialize, Default, Clone, Copy)]
pub(super) struct WireOutputDetails {
    #[serde(default)]
    pub reasoning_tokens: Option<u64>,
}

impl WireUsage {
    /// Core usage: `input_tokens` excludes the cached subset; `output_tokens` keeps the
    /// reasoning tokens it includes (they are billed as output), also counted apart in
    /// `reasoning_tokens`.
    pub fn into_usage(self) -> Usage {
        let cached = self.input_tokens_details.and_then(|d| d.cached_tokens);
        let reasoning = self.output_tokens_details.and_then(|d| d.reasoning_tokens);
        crate::provider::openai::usage_of(
            self.input_tokens,
            cached,
            None,
            self.output_tokens,
            reasoning,
        )
    }

    /// Of the output tokens, those the model spent reasoning (0 when not reported).
    pub fn reasoning_tokens(&self) -> u64 {
        self.output_tokens_details
            .and_then(|d| d.reasoning_tokens)
            .unwrap_or(0)
            .min(Usage::MAX_REPORTED)
    }
}

/// One output item as a core block: a message's text (its `output_text` parts joined),
/// a function call, or a reasoning item. `None` for an item with nothing to keep (an
/// empty message, a built-in tool's call); a message's refusal is returned apart.
pub(super) fn item_block(item: &Value) -> (Option<ContentBlock>, Option<String>) {
    let text_of = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).map(str::to_string);
    match item.get("type").and_then(Value::as_str) {
        Some("message") => {
            let parts = item.get("content").and_then(Value::as_array);
            let mut text = String::new();
            let mut refusal = None;
            for p in parts.into_iter().flatten() {
                match p.get("type").and_then(Value::as_str) {
                    Some("output_text") => text.push_str(&text_of(p, "text").unwrap_or_default()),
                    Some("refusal") => refusal = text_of(p, "refusal"),
                    _ => {}
                }
            }
            (
                (!text.is_empty()).then(|| ContentBlock::text(text)),
                refusal,
            )
        }
        Some("function_call") => {
            let arguments = text_of(item, "arguments").unwrap_or_default();
            let input = if arguments.trim().is_empty() {
                serde_json::json!({})
            } else {
                serde_json::from_str(&arguments).unwrap_or(Value::String(arguments))
            };
            let block = ContentBlock::ToolUse {
                id: text_of(item, "call_id").unwrap_or_default(),
                name: text_of(item, "name").unwrap_or_default(),
                input,
            };
            (Some(block), None)
        }
        Some("reasoning") => {
            let summary = item
                .get("summary")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|s| text_of(s, "text"))
                .collect();
            let block = ContentBlock::Reasoning {
                id: text_of(item, "id").unwrap_or_default(),
                summary,
                encrypted_content: text_of(item, "encrypted_content"),
            };
            (Some(block), None)
        }
        _ => (None, None),
    }
}

/// Why the model stopped: from `status` and `incomplete_details.reason`, a tool call,
/// or a refusal that came alone.
pub(super) fn stop_reason(
    status: Option<&str>,
    incomplete: Option<&str>,
    content: &[ContentBlock],
    refused: bool,
) -> StopReason {
    if refused {
        return StopReason::Refusal;
    }
    match (status, incomplete) {
        (Some("incomplete"), Some("max_output_tokens")) => StopReason::MaxTokens,
        (Some("incomplete"), Some("content_filter")) => StopReason::ContentFilter,
        (Some("incomplete"), other) => StopReason::Other(other.unwrap_or("incomplete").into()),
        _ if content
            .iter()
            .any(|b| matches!(b, ContentBlock::ToolUse { .. })) =>
        {
            StopReason::ToolUse
        }
        (Some("completed") | None, _) => StopReason::EndTurn,
        (Some(other), _) => StopReason::Other(other.to_string()),
    }
}

impl WireResponse {
    /// The completion this response holds; a `failed` response (or one carrying an
    /// `error`) is its classified [`failure`].
    pub fn into_completion(self, now: SystemTime) -> Result<Completion, ProviderError> {
        if self.status.as_deref() == Some("failed")
            || self.error.as_ref().is_some_and(|e| !e.is_null())
        {
            tracing::debug!(id = %self.id, "OpenAI response failed");
            return Err(failure(self.error.as_ref(), now));
        }
        let mut content = Vec::new();
        let mut refusal = None;
        for item in &self.output {
            let (block, refused) = item_block(item);
            content.extend(block);
            refusal = refusal.or(refused);
        }
        let has_answer = content
            .iter()
            .any(|b| matches!(b, ContentBlock::Text { .. } | ContentBlock::ToolUse { .. }));
        let refused = !has_answer && refusal.is_some();
        if let (true, Some(r)) = (refused, refusal) {
            content.push(ContentBlock::text(r));
        }
        let incomplete = self
            .incomplete_details
            .as_ref()
            .and_then(|d| d.reason.as_deref());
        let stop_reason = stop_reason(self.status.as_deref(), incomplete, &content, refused);
        let usage = self.usage.unwrap_or_default();
        tracing::debug!(
            id = %self.id,
            reasoning_tokens = usage.reasoning_tokens(),
            "OpenAI response: reasoning tokens (part of output_tokens)"
        );
        Ok(Completion::from_provider(
            self.id,
            self.model,
            content,
            stop_reason,
            usage.into_usage(),
        ))
    }
}
