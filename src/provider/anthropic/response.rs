//! Anthropic response bodies (`docs/providers.md`, "Anthropic response and usage"): the private wire types and how one
//! becomes a core [`Completion`].
//!
//! - Text (with its `citations`), tool_use, thinking (with its signature) and
//!   redacted_thinking blocks are decoded; every other block (server-tool calls and
//!   results, `search_result`, whatever comes next) is kept whole as
//!   [`ContentBlock::Raw`], in order, so a history replays it verbatim.
//! - Usage: `cache_creation_input_tokens` and `cache_read_input_tokens` are kept apart
//!   from `input_tokens` (null or absent counts are 0, absurd ones clamped);
//!   `server_tool_use.web_search_requests` is kept as `Usage::web_search_requests`.
//! - Structured output: when the request asked for one, the call of the schema's tool
//!   becomes the reply (see [`structured_reply`]).

use super::*;

#[derive(Deserialize)]
pub(super) struct WireResponse {
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

/// A content block of a reply, or of a stream's `content_block_start` (there a text
/// block starts empty and a tool call's `input` is `{}`, filled in by later deltas).
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(super) enum WireResponseBlock {
    Text {
        #[serde(default)]
        text: String,
        #[serde(default)]
        citations: Option<Vec<serde_json::Value>>,
    },
    ToolUse {
        id: String,
        name: String,
        #[serde(default)]
        input: serde_json::Value,
    },
    Thinking {
        #[serde(default)]
        thinking: String,
        #[serde(default)]
        signature: String,
    },
    RedactedThinking {
        #[serde(default)]
        data: String,
    },
    /// Server-tool blocks, and whatever comes next: kept whole.
    #[serde(untagged)]
    Other(serde_json::Map<String, serde_json::Value>),
}

#[derive(Deserialize, Default)]
pub(super) struct WireUsage {
    #[serde(default)]
    input_tokens: Option<u64>,
    #[serde(default)]
    output_tokens: Option<u64>,
    #[serde(default)]
    cache_creation_input_tokens: Option<u64>,
    #[serde(default)]
    cache_read_input_tokens: Option<u64>,
    /// The writes split by TTL.
    #[serde(default)]
    cache_creation: Option<WireCacheCreation>,
    /// What server tools ran.
    #[serde(default)]
    server_tool_use: Option<WireServerToolUse>,
}

#[derive(Deserialize, Default)]
pub(super) struct WireServerToolUse {
    #[serde(default)]
    web_search_requests: Option<u64>,
}

#[derive(Deserialize, Default)]
pub(super) struct WireCacheCreation {
    #[serde(default)]
    ephemeral_1h_input_tokens: Option<u64>,
}

#[derive(Deserialize)]
pub(super) struct WireCountTokensResponse {
    pub input_tokens: u64,
}

impl WireUsage {
    pub(super) fn into_usage(self) -> Usage {
        let count = |v: Option<u64>| v.unwrap_or(0).min(Usage::MAX_REPORTED);
        Usage {
            input_tokens: count(self.input_tokens),
            output_tokens: count(self.output_tokens),
            cache_creation_input_tokens: count(self.cache_creation_input_tokens),
            cache_read_input_tokens: count(self.cache_read_input_tokens),
            cache_creation_1h_input_tokens: count(self.one_hour_writes())
                .min(count(self.cache_creation_input_tokens)),
            reasoning_tokens: 0,
            web_search_requests: count(self.web_searches()),
        }
    }

    fn web_searches(&self) -> Option<u64> {
        self.server_tool_use
            .as_ref()
            .and_then(|s| s.web_search_requests)
    }

    fn one_hour_writes(&self) -> Option<u64> {
        self.cache_creation
            .as_ref()
            .and_then(|c| c.ephemeral_1h_input_tokens)
    }

    /// The SDK's accumulator: every field present replaces (counts are cumulative).
    pub(super) fn overlay(&self, usage: &mut Usage) {
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
        if let Some(v) = self.web_searches() {
            usage.web_search_requests = v.min(Usage::MAX_REPORTED);
        }
        if let Some(v) = self.one_hour_writes() {
            usage.cache_creation_1h_input_tokens = v.min(Usage::MAX_REPORTED);
        }
        usage.cache_creation_1h_input_tokens = usage
            .cache_creation_1h_input_tokens
            .min(usage.cache_creation_input_tokens);
    }
}

impl WireResponse {
    /// The completion; `structured` names the structured-output tool if the request
    /// asked for one.
    pub(super) fn into_completion(self, structured: Option<&str>) -> Completion {
        let content = self
            .content
            .into_iter()
            .map(|b| match b {
                WireResponseBlock::Text { text, citations } => ContentBlock::Text {
                    text,
                    cache_control: None,
                    citations,
                },
                WireResponseBlock::ToolUse { id, name, input } => {
                    ContentBlock::ToolUse { id, name, input }
                }
                WireResponseBlock::Thinking {
                    thinking,
                    signature,
                } => ContentBlock::Thinking {
                    thinking,
                    signature,
                },
                WireResponseBlock::RedactedThinking { data } => {
                    ContentBlock::RedactedThinking { data }
                }
                WireResponseBlock::Other(block) => ContentBlock::Raw(block),
            })
            .collect();
        // Never null in a non-streamed response; an absent one is reported as unknown.
        let stop_reason = self
            .stop_reason
            .as_deref()
            .map(StopReason::from_anthropic)
            .unwrap_or_else(|| StopReason::Other(String::new()));
        let (content, stop_reason) = match structured {
            Some(name) => structured_reply(name, content, stop_reason),
            None => (content, stop_reason),
        };
        let usage = self.usage.into_usage();
        Completion {
            stop_sequence: self.stop_sequence,
            ..Completion::from_provider(self.id, self.model, content, stop_reason, usage)
        }
    }
}

/// Structured output on Anthropic is a forced call of the tool `name` whose input is the
/// reply. When `content` holds that call, the reply becomes its thinking and kept-whole
/// blocks (for replay, in order) followed by one text block holding the input as JSON text, and a
/// `tool_use` stop becomes `end_turn`, so `completion.text()` is the JSON on both wires.
/// Any other text or tool call in the turn is dropped (the answer is the schema's).
/// Input that did not parse (a cut stream) is passed on as its raw text. Without the
/// call, `content` is returned unchanged.
pub(super) fn structured_reply(
    name: &str,
    content: Vec<ContentBlock>,
    stop_reason: StopReason,
) -> (Vec<ContentBlock>, StopReason) {
    let call = content
        .iter()
        .position(|b| matches!(b, ContentBlock::ToolUse { name: n, .. } if n == name));
    let Some(call) = call else {
        return (content, stop_reason);
    };
    let mut reply = Vec::new();
    let mut json = String::new();
    for (i, block) in content.into_iter().enumerate() {
        match block {
            ContentBlock::ToolUse { input, .. } if i == call => {
                json = match input {
                    serde_json::Value::String(raw) => raw,
                    other => other.to_string(),
                };
            }
            b @ (ContentBlock::Thinking { .. }
            | ContentBlock::RedactedThinking { .. }
            | ContentBlock::Raw(_)) => reply.push(b),
            _ => {}
        }
    }
    reply.push(ContentBlock::text(json));
    let stop_reason = match stop_reason {
        StopReason::ToolUse => StopReason::EndTurn,
        other => other,
    };
    (reply, stop_reason)
}
