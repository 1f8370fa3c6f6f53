//! OpenAI request bodies (`docs/providers.md`, "OpenAI request body",
//! "OpenAI reasoning models"): the private wire types and how a core
//! [`CompletionRequest`] becomes one (the mapping is described in the parent module).

use super::*;
use crate::config::family::openai_family;
use crate::config::MaxTokensField;
use crate::types::{OutputSchema, ReasoningEffort};
use sha2::{Digest, Sha256};

/// `Ok` when every part of `req` has a Chat Completions form; otherwise the refusal,
/// before anything is sent: a server tool (Anthropic's, run by the provider) or a
/// document the wire cannot carry (by URL or file id: Chat takes files as data).
pub(super) fn sendable(req: &CompletionRequest) -> Result<(), ProviderError> {
    if let Some(t) = req.tools.iter().find(|t| t.is_server()) {
        return Err(ProviderError::BadRequest {
            message: format!(
                "not sent: tool `{}` is a server tool ({}), which OpenAI Chat Completions cannot run; use it on an Anthropic model",
                t.name,
                t.kind.as_deref().unwrap_or_default()
            ),
        });
    }
    let documents = req.messages.iter().flat_map(|m| &m.content);
    for block in documents {
        if let ContentBlock::Document { source, .. } = block {
            if document_part(source, None).is_none() {
                return Err(ProviderError::BadRequest {
                    message: "not sent: OpenAI Chat Completions takes a document as base64 data or text; a document by URL or file id has no form there".into(),
                });
            }
        }
    }
    Ok(())
}

/// The `prompt_cache_key` of a request with a system prompt or tools: `qs-` and 32 hex
/// digits of SHA-256 over the system text and the tools as JSON, each length-prefixed.
/// Requests sharing that prefix share the key, which OpenAI uses (with the prefix hash)
/// to route them to the same cache; `None` for a request with neither.
pub(super) fn prompt_cache_key(req: &CompletionRequest) -> Option<String> {
    if req.system.is_empty() && req.tools.is_empty() {
        return None;
    }
    let mut h = Sha256::new();
    let system = req.system_text();
    h.update((system.len() as u64).to_le_bytes());
    h.update(system.as_bytes());
    for t in &req.tools {
        let json = serde_json::to_string(t).unwrap_or_default();
        h.update((json.len() as u64).to_le_bytes());
        h.update(json.as_bytes());
    }
    let digest = h.finalize();
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    Some(format!("qs-{hex}"))
}

impl<'a> WireRequest<'a> {
    /// The body for `req` sent to wire model `model`, shaped by the model's family.
    pub(super) fn new(model: &'a str, req: &'a CompletionRequest, stream: bool) -> Self {
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
        WireRequest {
            model,
            messages,
            max_tokens,
            max_completion_tokens,
            temperature: req.temperature,
            top_p: req.top_p,
            stop: &req.stop,
            tools: req.tools.iter().map(WireTool::from).collect(),
            tool_choice: req.tool_choice.as_ref().map(|c| {
                WireToolChoice::new(c, |name| WireNamedFunction {
                    function: WireFunctionName { name },
                })
            }),
            parallel_tool_calls: req.parallel_tool_calls.filter(|_| !req.tools.is_empty()),
            response_format: req.response_format.as_ref().map(WireResponseFormat::from),
            reasoning_effort: req
                .reasoning_effort
                .filter(|_| family.takes_reasoning_effort()),
            prompt_cache_key: prompt_cache_key(req),
            stream,
            stream_options: stream.then_some(WireStreamOptions {
                include_usage: true,
            }),
        }
    }
}

impl WireRequest<'_> {
    /// This body with its output cap in `field` (as a provider's `max_tokens_field`
    /// says); `None` keeps the family's choice.
    pub(super) fn max_tokens_in(mut self, field: Option<MaxTokensField>) -> Self {
        let cap = self.max_tokens.or(self.max_completion_tokens);
        match field {
            Some(MaxTokensField::MaxTokens) => {
                (self.max_tokens, self.max_completion_tokens) = (cap, None);
            }
            Some(MaxTokensField::MaxCompletionTokens) => {
                (self.max_tokens, self.max_completion_tokens) = (None, cap);
            }
            None => {}
        }
        self
    }
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
                    ContentBlock::Document { source, title, .. } => {
                        // Refused before encoding when it has no form (see `sendable`).
                        parts.extend(document_part(source, title.as_deref()));
                    }
                    // A tool call, reasoning or an Anthropic block kept whole in a user
                    // turn has no OpenAI form.
                    ContentBlock::ToolUse { .. }
                    | ContentBlock::Thinking { .. }
                    | ContentBlock::RedactedThinking { .. }
                    | ContentBlock::Raw(_)
                    | ContentBlock::Reasoning { .. } => {}
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
                    | ContentBlock::Document { .. }
                    | ContentBlock::Thinking { .. }
                    | ContentBlock::RedactedThinking { .. }
                    | ContentBlock::Raw(_)
                    | ContentBlock::Reasoning { .. } => {}
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

/// A document `source` as a Chat part: base64 data as a `file` part (`file_data` a
/// `data:` URL, `filename` the title or `document.pdf`), text as a text part; `None`
/// for sources Chat cannot take (URL, file id).
fn document_part<'a>(source: &'a Value, title: Option<&str>) -> Option<WirePart<'a>> {
    let data = source.get("data")?.as_str()?;
    match source.get("type")?.as_str()? {
        "base64" => {
            let media_type = source.get("media_type")?.as_str()?;
            Some(WirePart::File {
                file: WireFile {
                    filename: title.unwrap_or("document.pdf").to_string(),
                    file_data: format!("data:{media_type};base64,{data}"),
                },
            })
        }
        "text" => Some(WirePart::Text { text: data }),
        _ => None,
    }
}

/// An Anthropic-style image `source` as an OpenAI image URL (a `data:` URL for base64);
/// both OpenAI wires use it.
pub(in crate::provider) fn image_url(source: &Value) -> Option<String> {
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

#[derive(Serialize)]
pub(super) struct WireRequest<'a> {
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
    tool_choice: Option<WireToolChoice<WireNamedFunction<'a>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parallel_tool_calls: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_format: Option<WireResponseFormat<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_effort: Option<ReasoningEffort>,
    #[serde(skip_serializing_if = "Option::is_none")]
    prompt_cache_key: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_options: Option<WireStreamOptions>,
}

/// `"auto" | "required" | "none"` or `{"type": "function", "function": {"name"}}`.
#[derive(Serialize)]
#[serde(untagged)]
pub(crate) enum WireToolChoice<T> {
    Mode(&'static str),
    Function {
        #[serde(rename = "type")]
        kind: &'static str,
        #[serde(flatten)]
        named: T,
    },
}

impl<T> WireToolChoice<T> {
    /// `c` on an OpenAI wire: a forced tool is `{"type": "function", ...named(name)}`
    /// (Chat Completions nests the name in `"function"`, Responses does not).
    pub(crate) fn new<'a>(c: &'a ToolChoice, named: impl FnOnce(&'a str) -> T) -> Self {
        match c {
            ToolChoice::Auto => WireToolChoice::Mode("auto"),
            ToolChoice::Any => WireToolChoice::Mode("required"),
            ToolChoice::None => WireToolChoice::Mode("none"),
            ToolChoice::Tool(name) => WireToolChoice::Function {
                kind: "function",
                named: named(name),
            },
        }
    }
}

/// `{"name"}`: the tool a tool choice forces.
#[derive(Serialize)]
pub(crate) struct WireFunctionName<'a> {
    pub(crate) name: &'a str,
}

/// `{"function": {"name"}}`: Chat Completions' forced tool.
#[derive(Serialize)]
struct WireNamedFunction<'a> {
    function: WireFunctionName<'a>,
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
    File { file: WireFile },
}

#[derive(Serialize)]
struct WireImageUrl {
    url: String,
}

/// A file given inline: `{"filename", "file_data": "data:<type>;base64,..."}`.
#[derive(Serialize)]
struct WireFile {
    filename: String,
    file_data: String,
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
