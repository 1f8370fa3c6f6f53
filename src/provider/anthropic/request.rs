//! Anthropic request bodies (`docs/providers.md`, "Anthropic request body"): the private wire types and how
//! a core [`CompletionRequest`] becomes one.
//!
//! - `system` is an array of text blocks, each with its `cache_control` (left out when
//!   there is no system prompt). Message content blocks, tools and tool results carry
//!   their `cache_control` as the core types serialise it (`{"type": "ephemeral"}`, with
//!   `"ttl": "1h"` for the long TTL).
//! - Message content is the core blocks in the wire's own shape: text, image, tool_use,
//!   tool_result (its content as text and image blocks, with `is_error`), and the
//!   assistant's thinking / redacted_thinking blocks replayed verbatim (a tool loop on a
//!   thinking model must send them back unchanged, signature included).
//! - `tool_choice` is `{"type": "auto" | "any" | "none"}` or `{"type": "tool", "name"}`;
//!   parallel tool use off (`parallel_tool_calls == Some(false)`) is the choice object's
//!   `disable_parallel_tool_use: true` (with `type: auto` when the request names no
//!   choice, and only when there are tools; `none` has no such field).
//! - A server tool ([`Tool::server`]) is sent as `{"type", "name", ...settings,
//!   "cache_control"?}` (no `input_schema`): the API runs it and answers with
//!   `server_tool_use` / `*_tool_result` blocks, kept whole in the reply.
//! - Documents (`document` blocks, with their `citations` switch) and blocks kept whole
//!   from earlier replies ([`ContentBlock::Raw`]: server-tool calls and results, search
//!   results, unknown types) travel verbatim, as do text blocks' `citations`.
//! - `thinking` is `{"type": "enabled", "budget_tokens": N}` (budget thinking) or
//!   `{"type": "adaptive"}`; `top_k` and a tool's `strict` are sent as given.
//! - `output_config` carries the effort (`reasoning_effort` as `{"effort": "high"}`) and
//!   native structured output (`{"format": {"type": "json_schema", "schema"}}`); it is
//!   left out when it would be empty.
//! - Structured output ([`OutputSchema`]) is native where the model family has it
//!   (`config::family::ClaudeFamily`: Claude 4.5 and later): `output_config.format`, and
//!   the reply's text is the JSON. On older models (and unknown names) it is a tool named
//!   after the schema, whose `input_schema` is the schema, appended after the request's
//!   tools, and forced with `tool_choice {"type": "tool", "name"}`; the decoder turns that
//!   call back into the reply's text. With thinking on, forcing a tool is a 400, so the
//!   choice is `auto` and the tool's description asks for it. The schema's `strict` is
//!   not sent (native output and the forced call both follow the schema).

use super::*;
use crate::config::family::claude_family;
use crate::types::{OutputSchema, ReasoningEffort, Thinking, ToolChoice};

/// The description of the structured-output tool, for the model.
pub(super) const STRUCTURED_TOOL_DESCRIPTION: &str =
    "Give your final answer by calling this tool: its input is your reply, following the schema exactly.";

#[derive(Serialize)]
pub(super) struct WireRequest<'a> {
    pub model: &'a str,
    pub max_tokens: u32,
    #[serde(skip_serializing_if = "<[ContentBlock]>::is_empty")]
    pub system: &'a [ContentBlock],
    pub messages: WireMessages<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_k: Option<u32>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub stop_sequences: &'a [String],
    #[serde(flatten)]
    pub counted: WireCounted<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<WireMetadata<'a>>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub stream: bool,
}

/// `count_tokens`: the messages body minus `max_tokens`, sampling fields,
/// stop sequences, metadata and `stream`.
#[derive(Serialize)]
pub(super) struct WireCountTokensRequest<'a> {
    pub model: &'a str,
    #[serde(skip_serializing_if = "<[ContentBlock]>::is_empty")]
    pub system: &'a [ContentBlock],
    pub messages: WireMessages<'a>,
    #[serde(flatten)]
    pub counted: WireCounted<'a>,
}

/// The fields a request and its `count_tokens` share after the messages: tools (the
/// structured-output tool included), `tool_choice`, `thinking` and `output_config`.
#[derive(Serialize)]
pub(super) struct WireCounted<'a> {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<WireTool<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<WireToolChoice<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thinking: Option<Thinking>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_config: Option<WireOutputConfig<'a>>,
}

impl<'a> WireCounted<'a> {
    fn new(model: &str, req: &'a CompletionRequest) -> Self {
        // Only structured output depends on the model's family: no need to parse its
        // name for a request without it.
        let native = req.response_format.is_some() && native(model);
        WireCounted {
            tools: tools(req, native),
            tool_choice: tool_choice(req, native),
            thinking: req.thinking,
            output_config: WireOutputConfig::of(req, native),
        }
    }
}

impl<'a> WireRequest<'a> {
    pub(super) fn new(model: &'a str, req: &'a CompletionRequest, stream: bool) -> Self {
        WireRequest {
            model,
            max_tokens: req.max_tokens,
            system: &req.system,
            messages: WireMessages(&req.messages),
            temperature: req.temperature,
            top_p: req.top_p,
            top_k: req.top_k,
            stop_sequences: &req.stop,
            counted: WireCounted::new(model, req),
            metadata: req.metadata.as_ref().and_then(WireMetadata::from_value),
            stream,
        }
    }
}

impl<'a> WireCountTokensRequest<'a> {
    pub(super) fn new(model: &'a str, req: &'a CompletionRequest) -> Self {
        WireCountTokensRequest {
            model,
            system: &req.system,
            messages: WireMessages(&req.messages),
            counted: WireCounted::new(model, req),
        }
    }
}

/// Whether wire model `model` takes structured output natively (`output_config.format`)
/// rather than as a forced tool.
fn native(model: &str) -> bool {
    claude_family(model).native_structured_output()
}

/// The request's structured output, when it is sent as a forced tool (not `native`).
fn forced_schema(req: &CompletionRequest, native: bool) -> Option<&OutputSchema> {
    req.response_format.as_ref().filter(|_| !native)
}

/// The request's tools, then the structured-output tool if it asks for one.
fn tools(req: &CompletionRequest, native: bool) -> Vec<WireTool<'_>> {
    let mut tools: Vec<WireTool<'_>> = req.tools.iter().map(WireTool::from).collect();
    if let Some(schema) = forced_schema(req, native) {
        tools.push(WireTool::structured(schema));
    }
    tools
}

/// The `tool_choice` object, if the request needs one.
fn tool_choice(req: &CompletionRequest, native: bool) -> Option<WireToolChoice<'_>> {
    let forced = forced_schema(req, native);
    let has_tools = !req.tools.is_empty() || forced.is_some();
    let no_parallel = req.parallel_tool_calls == Some(false) && has_tools;
    let (kind, name) = match (forced, &req.tool_choice) {
        // Forcing a tool while thinking is a 400: let the model choose it.
        (Some(_), _) if req.thinking.is_some() => ("auto", None),
        (Some(schema), _) => ("tool", Some(schema.name.as_str())),
        (None, Some(ToolChoice::Auto)) => ("auto", None),
        (None, Some(ToolChoice::Any)) => ("any", None),
        (None, Some(ToolChoice::None)) => ("none", None),
        (None, Some(ToolChoice::Tool(name))) => ("tool", Some(name.as_str())),
        (None, None) if no_parallel => ("auto", None),
        (None, None) => return None,
    };
    Some(WireToolChoice {
        kind,
        name,
        disable_parallel_tool_use: (no_parallel && kind != "none").then_some(true),
    })
}

/// The request's messages, written straight from it: no list of wire messages (and of
/// each one's blocks) is built for every attempt.
pub(super) struct WireMessages<'a>(&'a [Message]);

impl Serialize for WireMessages<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(WireMessage))
    }
}

/// `{"role", "content"}`. The neutral blocks serialise in the wire's own shape (type tag,
/// cache_control, tool_result content blocks, thinking with its signature). OpenAI
/// reasoning items have no Anthropic form and are left out.
struct WireMessage<'a>(&'a Message);

impl Serialize for WireMessage<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let role = match self.0.role {
            Role::User => "user",
            Role::Assistant => "assistant",
        };
        let mut m = s.serialize_struct("WireMessage", 2)?;
        m.serialize_field("role", role)?;
        m.serialize_field("content", &WireContent(&self.0.content))?;
        m.end()
    }
}

struct WireContent<'a>(&'a [ContentBlock]);

impl Serialize for WireContent<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(
            self.0
                .iter()
                .filter(|b| !matches!(b, ContentBlock::Reasoning { .. })),
        )
    }
}

/// A function tool, or a server tool named by its type.
#[derive(Serialize)]
#[serde(untagged)]
pub(super) enum WireTool<'a> {
    Function {
        name: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        description: Option<&'a str>,
        input_schema: &'a serde_json::Value,
        #[serde(skip_serializing_if = "Option::is_none")]
        strict: Option<bool>,
        #[serde(skip_serializing_if = "Option::is_none")]
        cache_control: Option<CacheControl>,
    },
    Server {
        #[serde(rename = "type")]
        kind: &'a str,
        name: &'a str,
        #[serde(flatten)]
        settings: &'a serde_json::Map<String, serde_json::Value>,
        #[serde(skip_serializing_if = "Option::is_none")]
        cache_control: Option<CacheControl>,
    },
}

impl<'a> From<&'a Tool> for WireTool<'a> {
    fn from(t: &'a Tool) -> Self {
        match &t.kind {
            Some(kind) => WireTool::Server {
                kind,
                name: &t.name,
                settings: &t.settings,
                cache_control: t.cache_control,
            },
            None => WireTool::Function {
                name: &t.name,
                description: t.description.as_deref(),
                input_schema: &t.input_schema,
                strict: t.strict,
                cache_control: t.cache_control,
            },
        }
    }
}

impl<'a> WireTool<'a> {
    fn structured(schema: &'a OutputSchema) -> Self {
        WireTool::Function {
            name: &schema.name,
            description: Some(STRUCTURED_TOOL_DESCRIPTION),
            input_schema: &schema.schema,
            strict: None,
            cache_control: None,
        }
    }
}

/// `{"type": "auto" | "any" | "none" | "tool", "name"?, "disable_parallel_tool_use"?}`.
#[derive(Serialize)]
pub(super) struct WireToolChoice<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    disable_parallel_tool_use: Option<bool>,
}

/// `{"effort"?, "format"?}`: how hard the model thinks, and native structured output.
#[derive(Serialize)]
pub(super) struct WireOutputConfig<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    effort: Option<ReasoningEffort>,
    #[serde(skip_serializing_if = "Option::is_none")]
    format: Option<WireFormat<'a>>,
}

impl<'a> WireOutputConfig<'a> {
    /// The request's `output_config`, or `None` when it would be empty.
    fn of(req: &'a CompletionRequest, native: bool) -> Option<Self> {
        let format = req
            .response_format
            .as_ref()
            .filter(|_| native)
            .map(|s| WireFormat {
                kind: "json_schema",
                schema: &s.schema,
            });
        let effort = req.reasoning_effort;
        (effort.is_some() || format.is_some()).then_some(WireOutputConfig { effort, format })
    }
}

/// `{"type": "json_schema", "schema"}`.
#[derive(Serialize)]
pub(super) struct WireFormat<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    schema: &'a serde_json::Value,
}

/// Anthropic accepts only `metadata.user_id` and rejects unknown keys, so only that key
/// is sent, and only when it is a string.
#[derive(Serialize)]
pub(super) struct WireMetadata<'a> {
    user_id: &'a str,
}

impl<'a> WireMetadata<'a> {
    fn from_value(v: &'a serde_json::Value) -> Option<Self> {
        v.get("user_id")?
            .as_str()
            .map(|user_id| WireMetadata { user_id })
    }
}
