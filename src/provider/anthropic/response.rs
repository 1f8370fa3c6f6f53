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

/// A reply body; its content blocks read as `B`: [`FastBlock`] first, the general
/// [`WireResponseBlock`] when that fails (see [`parse`]).
#[derive(Deserialize)]
pub(super) struct WireResponse<B = WireResponseBlock> {
    id: String,
    #[serde(default)]
    model: String,
    #[serde(default = "Vec::new")]
    content: Vec<B>,
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

impl From<WireResponseBlock> for ContentBlock {
    fn from(b: WireResponseBlock) -> Self {
        match b {
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
            WireResponseBlock::RedactedThinking { data } => ContentBlock::RedactedThinking { data },
            WireResponseBlock::Other(block) => ContentBlock::Raw(block),
        }
    }
}

/// The completion in a reply `body`; `structured` names the structured-output tool if
/// the request asked for one.
///
/// Read with [`FastBlock`]s first, which take the common blocks without buffering them;
/// a body they do not take (a block whose `type` is not its first field or not one of
/// theirs, a malformed block) is read again the general way, which gives what it always
/// gave, its error included.
pub(super) fn parse(body: &[u8], structured: Option<&str>) -> serde_json::Result<Completion> {
    match serde_json::from_slice::<WireResponse<FastBlock>>(body) {
        Ok(r) => Ok(r.into_completion(structured)),
        Err(_) => {
            serde_json::from_slice::<WireResponse>(body).map(|r| r.into_completion(structured))
        }
    }
}

/// A content block read in one pass, straight into a [`ContentBlock`], when its `type`
/// is text, tool_use, thinking or redacted_thinking; anything else is an error, and
/// [`parse`] reads the body again with [`WireResponseBlock`]. (That derived reading
/// buffers every block to find its `type`, then tries the typed variants before keeping
/// a block whole: most of a short reply's decoding.) Where it succeeds it gives what
/// [`WireResponseBlock`] gives: the type's own fields with their defaults, other fields
/// ignored. A field of another type's that does not read as that type's (an `id` that is
/// not a string in a text block), or a field given twice, is an error too: the general
/// reading decides those.
pub(super) struct FastBlock(ContentBlock);

impl From<FastBlock> for ContentBlock {
    fn from(b: FastBlock) -> Self {
        b.0
    }
}

impl<'de> Deserialize<'de> for FastBlock {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(FastBlockVisitor)
    }
}

struct FastBlockVisitor;

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum Field {
    Type,
    Text,
    Citations,
    Id,
    Name,
    Input,
    Thinking,
    Signature,
    Data,
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum FastKind {
    Text,
    ToolUse,
    Thinking,
    RedactedThinking,
}

/// Every field any [`FastKind`] reads, as [`WireResponseBlock`]'s variants type them.
#[derive(Default)]
struct Fields {
    kind: Option<FastKind>,
    text: Option<String>,
    citations: Option<Option<Vec<serde_json::Value>>>,
    id: Option<String>,
    name: Option<String>,
    input: Option<serde_json::Value>,
    thinking: Option<String>,
    signature: Option<String>,
    data: Option<String>,
}

/// Reads the next value into `slot`; a second one is an error.
fn once<'de, A: serde::de::MapAccess<'de>, T: Deserialize<'de>>(
    map: &mut A,
    slot: &mut Option<T>,
    name: &'static str,
) -> Result<(), A::Error> {
    if slot.is_some() {
        return Err(serde::de::Error::duplicate_field(name));
    }
    *slot = Some(map.next_value()?);
    Ok(())
}

impl<'de> serde::de::Visitor<'de> for FastBlockVisitor {
    type Value = FastBlock;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a text, tool_use, thinking or redacted_thinking block")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<FastBlock, A::Error> {
        use serde::de::Error;
        let mut f = Fields::default();
        while let Some(key) = map.next_key::<Field>()? {
            match key {
                Field::Type => once(&mut map, &mut f.kind, "type")?,
                Field::Text => once(&mut map, &mut f.text, "text")?,
                Field::Citations => once(&mut map, &mut f.citations, "citations")?,
                Field::Id => once(&mut map, &mut f.id, "id")?,
                Field::Name => once(&mut map, &mut f.name, "name")?,
                Field::Input => once(&mut map, &mut f.input, "input")?,
                Field::Thinking => once(&mut map, &mut f.thinking, "thinking")?,
                Field::Signature => once(&mut map, &mut f.signature, "signature")?,
                Field::Data => once(&mut map, &mut f.data, "data")?,
                Field::Other => {
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
            }
        }
        let block = match f.kind.ok_or_else(|| A::Error::missing_field("type"))? {
            FastKind::Text => ContentBlock::Text {
                text: f.text.unwrap_or_default(),
                cache_control: None,
                citations: f.citations.flatten(),
            },
            FastKind::ToolUse => ContentBlock::ToolUse {
                id: f.id.ok_or_else(|| A::Error::missing_field("id"))?,
                name: f.name.ok_or_else(|| A::Error::missing_field("name"))?,
                input: f.input.unwrap_or_default(),
            },
            FastKind::Thinking => ContentBlock::Thinking {
                thinking: f.thinking.unwrap_or_default(),
                signature: f.signature.unwrap_or_default(),
            },
            FastKind::RedactedThinking => ContentBlock::RedactedThinking {
                data: f.data.unwrap_or_default(),
            },
        };
        Ok(FastBlock(block))
    }
}

impl<B: Into<ContentBlock>> WireResponse<B> {
    /// The completion; `structured` names the structured-output tool if the request
    /// asked for one.
    pub(super) fn into_completion(self, structured: Option<&str>) -> Completion {
        // In place for `FastBlock`s (a block of the same layout): no second list.
        let content: Vec<ContentBlock> = self.content.into_iter().map(Into::into).collect();
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
