//! Responses request bodies (`docs/providers.md`, "OpenAI Responses"): the private wire
//! types and how a core [`CompletionRequest`] becomes one (the mapping is described in
//! the parent module).

use super::*;
use crate::config::family::openai_family;
use crate::provider::openai::{image_url, WireFunctionName, WireToolChoice};
use crate::types::{OutputSchema, ReasoningEffort};
use serde::Serialize;
use serde_json::Value;

/// What reasoning models are asked to include, so their reasoning can be replayed with
/// `store: false`.
const INCLUDE_REASONING: &str = "reasoning.encrypted_content";

#[derive(Serialize)]
pub(super) struct WireRequest<'a> {
    model: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    instructions: Option<String>,
    input: Vec<WireItem<'a>>,
    max_output_tokens: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f32>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<WireTool<'a>>,
    /// `"auto" | "required" | "none"` or `{"type": "function", "name"}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<WireToolChoice<WireFunctionName<'a>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parallel_tool_calls: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<WireText<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning: Option<WireReasoning>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    include: Vec<&'static str>,
    /// Always false: the whole history travels with every request.
    store: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    stream: bool,
}

impl<'a> WireRequest<'a> {
    /// The body for `req` sent to wire model `model`.
    pub(super) fn new(model: &'a str, req: &'a CompletionRequest, stream: bool) -> Self {
        let reasoning_model = openai_family(model).takes_reasoning_effort();
        let mut input = Vec::with_capacity(req.messages.len() + 1);
        for m in &req.messages {
            push_items(&mut input, m);
        }
        WireRequest {
            model,
            instructions: (!req.system.is_empty()).then(|| req.system_text()),
            input,
            max_output_tokens: req.max_tokens,
            temperature: req.temperature,
            top_p: req.top_p,
            tools: req.tools.iter().map(WireTool::from).collect(),
            tool_choice: req
                .tool_choice
                .as_ref()
                .map(|c| WireToolChoice::new(c, |name| WireFunctionName { name })),
            parallel_tool_calls: req.parallel_tool_calls.filter(|_| !req.tools.is_empty()),
            text: req.response_format.as_ref().map(|s| WireText {
                format: WireFormat::from(s),
            }),
            reasoning: req
                .reasoning_effort
                .filter(|_| reasoning_model)
                .map(|effort| WireReasoning { effort }),
            include: if reasoning_model {
                vec![INCLUDE_REASONING]
            } else {
                Vec::new()
            },
            store: false,
            stream,
        }
    }
}

/// Appends the input items of one core message, in its blocks' order.
fn push_items<'a>(out: &mut Vec<WireItem<'a>>, m: &'a Message) {
    let before = out.len();
    let mut parts: Vec<WirePart<'a>> = Vec::new();
    // Text before a call or result stays before it: flush the parts gathered so far.
    let flush = |out: &mut Vec<WireItem<'a>>, parts: &mut Vec<WirePart<'a>>| {
        if !parts.is_empty() {
            out.push(WireItem::message(m.role, std::mem::take(parts)));
        }
    };
    for block in &m.content {
        match (m.role, block) {
            (_, ContentBlock::Text { text, .. }) => parts.push(match m.role {
                Role::User => WirePart::InputText { text },
                Role::Assistant => WirePart::OutputText { text },
            }),
            (Role::User, ContentBlock::Image { source, .. }) => {
                if let Some(image_url) = image_url(source) {
                    parts.push(WirePart::InputImage { image_url });
                }
            }
            (
                Role::User,
                ContentBlock::ToolResult {
                    tool_use_id,
                    content,
                    is_error,
                    ..
                },
            ) => {
                flush(out, &mut parts);
                out.push(WireItem::FunctionCallOutput {
                    call_id: tool_use_id,
                    output: output_text(content, *is_error),
                });
            }
            (Role::Assistant, ContentBlock::ToolUse { id, name, input }) => {
                flush(out, &mut parts);
                out.push(WireItem::FunctionCall {
                    call_id: id,
                    name,
                    arguments: input.to_string(),
                });
            }
            (
                Role::Assistant,
                ContentBlock::Reasoning {
                    id,
                    summary,
                    encrypted_content,
                },
            ) => {
                flush(out, &mut parts);
                out.push(WireItem::Reasoning {
                    id,
                    summary: summary
                        .iter()
                        .map(|text| WireSummary {
                            kind: "summary_text",
                            text,
                        })
                        .collect(),
                    encrypted_content: encrypted_content.as_deref(),
                });
            }
            // Images in assistant turns, calls in user turns, results in assistant
            // turns, reasoning in user turns and Anthropic thinking have no form here.
            _ => {}
        }
    }
    flush(out, &mut parts);
    if out.len() == before {
        // A turn with nothing to send still takes its place in the conversation.
        out.push(WireItem::message(m.role, Vec::new()));
    }
}

/// A tool result's text blocks joined with newlines (function outputs are text here),
/// starting with [`TOOL_ERROR_MARKER`] when the tool failed.
fn output_text(content: &[ContentBlock], is_error: bool) -> String {
    let text = crate::types::join_text(content);
    if is_error {
        format!("{TOOL_ERROR_MARKER}{text}").trim_end().to_string()
    } else {
        text
    }
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum WireItem<'a> {
    Message {
        role: &'static str,
        content: Vec<WirePart<'a>>,
    },
    FunctionCall {
        call_id: &'a str,
        name: &'a str,
        /// JSON text, not an object.
        arguments: String,
    },
    FunctionCallOutput {
        call_id: &'a str,
        output: String,
    },
    Reasoning {
        id: &'a str,
        /// Required by the API, even empty.
        summary: Vec<WireSummary<'a>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        encrypted_content: Option<&'a str>,
    },
}

impl<'a> WireItem<'a> {
    fn message(role: Role, content: Vec<WirePart<'a>>) -> Self {
        WireItem::Message {
            role: match role {
                Role::User => "user",
                Role::Assistant => "assistant",
            },
            content,
        }
    }
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum WirePart<'a> {
    InputText { text: &'a str },
    InputImage { image_url: String },
    OutputText { text: &'a str },
}

#[derive(Serialize)]
struct WireSummary<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    text: &'a str,
}

#[derive(Serialize)]
struct WireTool<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    parameters: &'a Value,
    strict: bool,
}

impl<'a> From<&'a Tool> for WireTool<'a> {
    fn from(t: &'a Tool) -> Self {
        WireTool {
            kind: "function",
            name: &t.name,
            description: t.description.as_deref(),
            parameters: &t.input_schema,
            // The Responses API treats a missing `strict` as true; ours means false.
            strict: t.strict.unwrap_or(false),
        }
    }
}

/// `text: {"format": {...}}`.
#[derive(Serialize)]
struct WireText<'a> {
    format: WireFormat<'a>,
}

/// `{"type": "json_schema", "name", "schema", "strict"}`.
#[derive(Serialize)]
struct WireFormat<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    name: &'a str,
    schema: &'a Value,
    strict: bool,
}

impl<'a> From<&'a OutputSchema> for WireFormat<'a> {
    fn from(s: &'a OutputSchema) -> Self {
        WireFormat {
            kind: "json_schema",
            name: &s.name,
            schema: &s.schema,
            strict: s.strict,
        }
    }
}

#[derive(Serialize)]
struct WireReasoning {
    effort: ReasoningEffort,
}
