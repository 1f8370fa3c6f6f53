//! The OpenAI Chat Completions wire, server side: a `POST /v1/chat/completions` body
//! in, a chat completion (or its SSE chunks) out. The broker's neutral request is what
//! lets an OpenAI client reach an Anthropic model: the provider encodes it for its wire.

use super::errors::GatewayError;
use quotaswarm::provider::StreamEvent;
use quotaswarm::types::{
    ContentBlock, Message, OutputSchema, ReasoningEffort, Role, StopReason, Tool, ToolChoice,
};
use quotaswarm::{Completion, CompletionRequest};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashMap;

/// When the client gives no `max_tokens`: the output a request reserves.
const DEFAULT_MAX_TOKENS: u32 = 4096;

#[derive(Deserialize)]
struct Body {
    model: String,
    messages: Vec<Value>,
    max_tokens: Option<u32>,
    max_completion_tokens: Option<u32>,
    temperature: Option<f32>,
    top_p: Option<f32>,
    stop: Option<Value>,
    #[serde(default)]
    stream: bool,
    stream_options: Option<Value>,
    #[serde(default)]
    tools: Vec<Value>,
    tool_choice: Option<Value>,
    parallel_tool_calls: Option<bool>,
    response_format: Option<Value>,
    reasoning_effort: Option<String>,
    n: Option<u32>,
    metadata: Option<Value>,
}

/// A parsed request (see [`super::anthropic::Parsed`]); `include_usage` asks for the
/// final usage chunk of a stream.
pub struct Parsed {
    pub model: String,
    pub stream: bool,
    pub include_usage: bool,
    pub request: CompletionRequest,
}

fn bad(m: impl Into<String>) -> GatewayError {
    GatewayError::BadRequest(m.into())
}

pub fn parse(body: &[u8]) -> Result<Parsed, GatewayError> {
    let b: Body = serde_json::from_slice(body)
        .map_err(|e| bad(format!("invalid chat completions request: {e}")))?;
    if b.n.is_some_and(|n| n != 1) {
        return Err(GatewayError::Untranslatable(
            "n other than 1 is not supported: send n requests".into(),
        ));
    }
    let max_tokens = b
        .max_completion_tokens
        .or(b.max_tokens)
        .unwrap_or(DEFAULT_MAX_TOKENS);
    let mut req = CompletionRequest::new(b.model.clone()).max_tokens(max_tokens);
    for m in b.messages {
        add_message(&mut req, m)?;
    }
    req.temperature = b.temperature;
    req.top_p = b.top_p;
    req.stop = match b.stop {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => vec![s],
        Some(Value::Array(a)) => a
            .into_iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        Some(other) => return Err(bad(format!("invalid stop {other}"))),
    };
    for t in b.tools {
        let f = t
            .get("function")
            .ok_or_else(|| bad("tools[]: only function tools are supported"))?;
        let name = f.get("name").and_then(Value::as_str).unwrap_or_default();
        let params = f
            .get("parameters")
            .cloned()
            .unwrap_or(json!({"type": "object", "properties": {}}));
        let mut tool = Tool::new(name, params);
        if let Some(d) = f.get("description").and_then(Value::as_str) {
            tool = tool.description(d);
        }
        if let Some(s) = f.get("strict").and_then(Value::as_bool) {
            tool = tool.strict(s);
        }
        req.tools.push(tool);
    }
    req.tool_choice = match b.tool_choice {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(match s.as_str() {
            "auto" => ToolChoice::Auto,
            "required" => ToolChoice::Any,
            "none" => ToolChoice::None,
            other => return Err(bad(format!("invalid tool_choice {other:?}"))),
        }),
        Some(v) => Some(ToolChoice::Tool(
            v.pointer("/function/name")
                .and_then(Value::as_str)
                .ok_or_else(|| bad(format!("invalid tool_choice {v}")))?
                .to_string(),
        )),
    };
    req.parallel_tool_calls = b.parallel_tool_calls;
    if let Some(f) = b.response_format {
        match f.get("type").and_then(Value::as_str) {
            Some("json_schema") => {
                let s = f.get("json_schema").cloned().unwrap_or_default();
                let name = s.get("name").and_then(Value::as_str).unwrap_or("output");
                let schema = s
                    .get("schema")
                    .cloned()
                    .unwrap_or(json!({"type": "object"}));
                let mut out = OutputSchema::new(name, schema);
                out.strict = s.get("strict").and_then(Value::as_bool).unwrap_or(true);
                req.response_format = Some(out);
            }
            Some("text") | None => {}
            Some(other) => {
                return Err(GatewayError::Untranslatable(format!(
                    "response_format {other:?}: only json_schema and text are supported"
                )))
            }
        }
    }
    if let Some(e) = b.reasoning_effort {
        let effort: ReasoningEffort = serde_json::from_value(Value::String(e.clone()))
            .map_err(|_| bad(format!("invalid reasoning_effort {e:?}")))?;
        req = req.reasoning_effort(effort);
    }
    req.metadata = b.metadata;
    let include_usage = b
        .stream_options
        .as_ref()
        .and_then(|o| o.get("include_usage"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    Ok(Parsed {
        model: b.model,
        stream: b.stream,
        include_usage,
        request: req,
    })
}

/// Text of a `content` that is a string or an array of parts; images become blocks.
fn parts(content: &Value) -> Result<Vec<ContentBlock>, GatewayError> {
    match content {
        Value::Null => Ok(Vec::new()),
        Value::String(s) => Ok(vec![ContentBlock::text(s.clone())]),
        Value::Array(items) => items
            .iter()
            .map(|p| match p.get("type").and_then(Value::as_str) {
                Some("text") => Ok(ContentBlock::text(
                    p.get("text").and_then(Value::as_str).unwrap_or_default(),
                )),
                Some("image_url") => image(p),
                other => Err(GatewayError::Untranslatable(format!(
                    "content part {other:?} is not supported"
                ))),
            })
            .collect(),
        other => Err(bad(format!("invalid content {other}"))),
    }
}

/// An `image_url` part as an image block: a data URL becomes base64 data, another URL a
/// URL source.
fn image(p: &Value) -> Result<ContentBlock, GatewayError> {
    let url = p
        .pointer("/image_url/url")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("image_url part without url"))?;
    let source = match url
        .strip_prefix("data:")
        .and_then(|rest| rest.split_once(";base64,"))
    {
        Some((media, data)) => json!({"type": "base64", "media_type": media, "data": data}),
        None => json!({"type": "url", "url": url}),
    };
    serde_json::from_value(json!({"type": "image", "source": source}))
        .map_err(|e| bad(e.to_string()))
}

fn push(req: &mut CompletionRequest, role: Role, blocks: Vec<ContentBlock>) {
    // Consecutive tool results (one OpenAI message each) form one user turn.
    if let Some(last) = req.messages.last_mut() {
        if last.role == role
            && role == Role::User
            && last
                .content
                .iter()
                .all(|b| matches!(b, ContentBlock::ToolResult { .. }))
            && blocks
                .iter()
                .all(|b| matches!(b, ContentBlock::ToolResult { .. }))
        {
            last.content.extend(blocks);
            return;
        }
    }
    req.messages.push(Message {
        role,
        content: blocks,
    });
}

fn add_message(req: &mut CompletionRequest, m: Value) -> Result<(), GatewayError> {
    let role = m.get("role").and_then(Value::as_str).unwrap_or_default();
    let content = m.get("content").cloned().unwrap_or(Value::Null);
    match role {
        "system" | "developer" => req.system.extend(parts(&content)?),
        "user" => push(req, Role::User, parts(&content)?),
        "assistant" => {
            let mut blocks = parts(&content)?;
            for call in m
                .get("tool_calls")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let args = call
                    .pointer("/function/arguments")
                    .and_then(Value::as_str)
                    .unwrap_or("{}");
                let input: Value = serde_json::from_str(args)
                    .map_err(|e| bad(format!("tool call arguments are not JSON ({e}): {args}")))?;
                blocks.push(ContentBlock::ToolUse {
                    id: call
                        .get("id")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string(),
                    name: call
                        .pointer("/function/name")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string(),
                    input,
                });
            }
            push(req, Role::Assistant, blocks);
        }
        "tool" => {
            let id = m
                .get("tool_call_id")
                .and_then(Value::as_str)
                .ok_or_else(|| bad("a tool message needs tool_call_id"))?;
            let text = parts(&content)?
                .iter()
                .filter_map(ContentBlock::as_text)
                .collect::<Vec<_>>()
                .join("\n");
            push(req, Role::User, vec![ContentBlock::tool_result(id, text)]);
        }
        other => return Err(bad(format!("invalid message role {other:?}"))),
    }
    Ok(())
}

pub fn finish_reason(r: &StopReason) -> &'static str {
    match r {
        StopReason::MaxTokens | StopReason::ContextWindowExceeded => "length",
        StopReason::ToolUse => "tool_calls",
        StopReason::ContentFilter | StopReason::Refusal => "content_filter",
        _ => "stop",
    }
}

fn usage(c: &Completion) -> Value {
    let prompt = c.usage.total_input();
    json!({
        "prompt_tokens": prompt,
        "completion_tokens": c.usage.output_tokens,
        "total_tokens": prompt + c.usage.output_tokens,
        "prompt_tokens_details": {"cached_tokens": c.usage.cache_read_input_tokens},
        "completion_tokens_details": {"reasoning_tokens": c.usage.reasoning_tokens},
    })
}

fn completion_id(id: &str) -> String {
    if id.starts_with("chatcmpl-") {
        id.to_string()
    } else {
        format!("chatcmpl-{}", id.trim_start_matches("msg_"))
    }
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The chat completion for a completion.
pub fn completion(c: &Completion) -> Value {
    let text = c.text();
    let calls: Vec<Value> = c
        .tool_uses()
        .map(|(id, name, input)| {
            json!({"id": id, "type": "function",
                   "function": {"name": name, "arguments": input.to_string()}})
        })
        .collect();
    let mut message = json!({
        "role": "assistant",
        "content": if text.is_empty() && !calls.is_empty() { Value::Null } else { Value::String(text) },
        "refusal": null,
    });
    if !calls.is_empty() {
        message["tool_calls"] = Value::Array(calls);
    }
    json!({
        "id": completion_id(&c.id),
        "object": "chat.completion",
        "created": now_secs(),
        "model": c.provider_model,
        "choices": [{"index": 0, "message": message, "logprobs": null,
                     "finish_reason": finish_reason(&c.stop_reason)}],
        "usage": usage(c),
    })
}

/// Turns broker stream events into chat completion chunks.
pub struct Encoder {
    id: String,
    model: String,
    created: u64,
    started: bool,
    /// Block index → tool call index.
    calls: HashMap<usize, usize>,
    include_usage: bool,
}

impl Encoder {
    pub fn new(model: &str, include_usage: bool) -> Self {
        Encoder {
            id: "chatcmpl-gateway".into(),
            model: model.to_string(),
            created: now_secs(),
            started: false,
            calls: HashMap::new(),
            include_usage,
        }
    }

    fn chunk(&self, delta: Value, finish: Option<&str>) -> String {
        let c = json!({
            "id": self.id, "object": "chat.completion.chunk", "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}],
        });
        format!("data: {c}\n\n")
    }

    fn start(&mut self) -> String {
        self.started = true;
        self.chunk(json!({"role": "assistant", "content": ""}), None)
    }

    pub fn event(&mut self, e: &StreamEvent) -> String {
        if let StreamEvent::Started {
            id, provider_model, ..
        } = e
        {
            self.id = completion_id(id);
            self.model = provider_model.clone();
            return self.start();
        }
        let mut out = if self.started {
            String::new()
        } else {
            self.start()
        };
        match e {
            StreamEvent::TextDelta { text, .. } => {
                out += &self.chunk(json!({"content": text}), None);
            }
            StreamEvent::ToolUseStart { index, id, name } => {
                let n = self.calls.len();
                self.calls.insert(*index, n);
                out += &self.chunk(
                    json!({"tool_calls": [{"index": n, "id": id, "type": "function",
                                           "function": {"name": name, "arguments": ""}}]}),
                    None,
                );
            }
            StreamEvent::ToolInputDelta {
                index,
                partial_json,
            } => {
                let n = self.calls.get(index).copied().unwrap_or(0);
                out += &self.chunk(
                    json!({"tool_calls": [{"index": n, "function": {"arguments": partial_json}}]}),
                    None,
                );
            }
            _ => {}
        }
        out
    }

    pub fn finish(&mut self, c: &Completion) -> String {
        let mut out = if self.started {
            String::new()
        } else {
            self.start()
        };
        out += &self.chunk(json!({}), Some(finish_reason(&c.stop_reason)));
        if self.include_usage {
            let u = json!({
                "id": self.id, "object": "chat.completion.chunk", "created": self.created,
                "model": self.model, "choices": [], "usage": usage(c),
            });
            out += &format!("data: {u}\n\n");
        }
        out + "data: [DONE]\n\n"
    }

    pub fn error(&mut self, body: Value) -> String {
        format!("data: {body}\n\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_content_filter_stop_is_content_filter_whole_and_streamed() {
        let mut c = super::super::said_hi("msg_1", "gpt-4.1");
        c.stop_reason = StopReason::ContentFilter;
        assert_eq!(
            completion(&c)["choices"][0]["finish_reason"],
            "content_filter"
        );
        let chunks = super::super::sse_data(&Encoder::new("gpt-4.1", false).finish(&c));
        let finishes: Vec<&Value> = chunks
            .iter()
            .map(|c| &c["choices"][0]["finish_reason"])
            .filter(|f| !f.is_null())
            .collect();
        assert_eq!(finishes, [&json!("content_filter")]);
    }

    #[test]
    fn usage_carries_cached_and_reasoning_tokens() {
        let mut c = super::super::said_hi_using("msg_1", "o4-mini", 60, 40, 70);
        c.usage.reasoning_tokens = 64;
        assert_eq!(
            completion(&c)["usage"],
            json!({"prompt_tokens": 100, "completion_tokens": 70, "total_tokens": 170,
                   "prompt_tokens_details": {"cached_tokens": 40},
                   "completion_tokens_details": {"reasoning_tokens": 64}})
        );
    }
}
