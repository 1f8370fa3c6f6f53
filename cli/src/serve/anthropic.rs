//! The Anthropic Messages wire, server side: a `POST /v1/messages` body in, a message
//! (or its SSE events) out.

use super::errors::GatewayError;
use quotaswarm::provider::StreamEvent;
use quotaswarm::types::{
    ContentBlock, Message, OutputSchema, ReasoningEffort, Role, StopReason, Tool, ToolChoice,
};
use quotaswarm::{Completion, CompletionRequest};
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Deserialize)]
struct Body {
    model: String,
    max_tokens: Option<u32>,
    messages: Vec<InMessage>,
    #[serde(default)]
    system: Option<TextOrBlocks>,
    temperature: Option<f32>,
    top_p: Option<f32>,
    top_k: Option<u32>,
    #[serde(default)]
    stop_sequences: Vec<String>,
    #[serde(default)]
    stream: bool,
    #[serde(default)]
    tools: Vec<Value>,
    tool_choice: Option<Value>,
    metadata: Option<Value>,
    thinking: Option<Value>,
    output_config: Option<Value>,
}

#[derive(Deserialize)]
struct InMessage {
    role: Role,
    content: TextOrBlocks,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum TextOrBlocks {
    Text(String),
    Blocks(Vec<ContentBlock>),
}

impl TextOrBlocks {
    fn blocks(self) -> Vec<ContentBlock> {
        match self {
            TextOrBlocks::Text(t) => vec![ContentBlock::text(t)],
            TextOrBlocks::Blocks(b) => b,
        }
    }
}

/// A parsed request: the model asked for, whether to stream, and the broker request
/// (its `target` still the client's model name).
pub struct Parsed {
    pub model: String,
    pub stream: bool,
    pub request: CompletionRequest,
}

/// Parses a Messages body. `count_only` (count_tokens) needs no `max_tokens`.
pub fn parse(body: &[u8], count_only: bool) -> Result<Parsed, GatewayError> {
    let b: Body = serde_json::from_slice(body)
        .map_err(|e| GatewayError::BadRequest(format!("invalid Messages request: {e}")))?;
    let max_tokens = match (b.max_tokens, count_only) {
        (Some(m), _) => m,
        (None, true) => 1,
        (None, false) => {
            return Err(GatewayError::BadRequest(
                "max_tokens: Field required".into(),
            ))
        }
    };
    let mut req = CompletionRequest::new(b.model.clone()).max_tokens(max_tokens);
    req.system = b.system.map(TextOrBlocks::blocks).unwrap_or_default();
    req.messages = b
        .messages
        .into_iter()
        .map(|m| Message {
            role: m.role,
            content: m.content.blocks(),
        })
        .collect();
    req.temperature = b.temperature;
    req.top_p = b.top_p;
    req.top_k = b.top_k;
    req.stop = b.stop_sequences;
    req.metadata = b.metadata;
    for t in b.tools {
        req.tools.push(tool(t)?);
    }
    if let Some(c) = b.tool_choice {
        if c.get("disable_parallel_tool_use").and_then(Value::as_bool) == Some(true) {
            req.parallel_tool_calls = Some(false);
        }
        req.tool_choice = Some(match c.get("type").and_then(Value::as_str) {
            Some("auto") => ToolChoice::Auto,
            Some("any") => ToolChoice::Any,
            Some("none") => ToolChoice::None,
            Some("tool") => ToolChoice::Tool(
                c.get("name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
            ),
            _ => return Err(GatewayError::BadRequest(format!("invalid tool_choice {c}"))),
        });
    }
    if let Some(t) = b.thinking {
        match t.get("type").and_then(Value::as_str) {
            Some("enabled") => {
                let budget = t.get("budget_tokens").and_then(Value::as_u64).unwrap_or(0);
                req = req.thinking(u32::try_from(budget).unwrap_or(u32::MAX));
            }
            Some("adaptive") => req = req.adaptive_thinking(),
            _ => {}
        }
    }
    if let Some(c) = b.output_config {
        req = output_config(req, &c)?;
    }
    Ok(Parsed {
        model: b.model,
        stream: b.stream,
        request: req,
    })
}

/// `output_config`: the effort (`reasoning_effort`) and a native structured-output
/// format (`response_format`, named `output`).
fn output_config(mut req: CompletionRequest, c: &Value) -> Result<CompletionRequest, GatewayError> {
    if let Some(e) = c.get("effort").and_then(Value::as_str) {
        let effort = ReasoningEffort::parse(e).ok_or_else(|| {
            GatewayError::BadRequest(format!("invalid output_config.effort {e:?}"))
        })?;
        req = req.reasoning_effort(effort);
    }
    if let Some(f) = c.get("format").filter(|f| !f.is_null()) {
        match (f.get("type").and_then(Value::as_str), f.get("schema")) {
            (Some("json_schema"), Some(schema)) => {
                req = req.response_format(OutputSchema::new("output", schema.clone()));
            }
            _ => {
                return Err(GatewayError::BadRequest(format!(
                    "invalid output_config.format {f}: expected {{\"type\": \"json_schema\", \"schema\": {{...}}}}"
                )))
            }
        }
    }
    Ok(req)
}

fn tool(t: Value) -> Result<Tool, GatewayError> {
    let name = t.get("name").and_then(Value::as_str).unwrap_or_default();
    if let Some(kind) = t.get("type").and_then(Value::as_str) {
        if kind != "custom" {
            // A server tool (web search, code execution, ...): passed on with its
            // settings; its blocks come back kept whole.
            let mut tool = Tool::server(kind, name);
            let settings = t.as_object().into_iter().flatten();
            for (k, v) in settings.filter(|(k, _)| !["type", "name"].contains(&k.as_str())) {
                tool = tool.setting(k.clone(), v.clone());
            }
            return Ok(tool);
        }
    }
    let schema = t
        .get("input_schema")
        .cloned()
        .unwrap_or(json!({"type": "object"}));
    let mut tool = Tool::new(name, schema);
    if let Some(d) = t.get("description").and_then(Value::as_str) {
        tool = tool.description(d);
    }
    Ok(tool)
}

pub fn stop_reason(r: &StopReason) -> String {
    match r {
        StopReason::EndTurn => "end_turn".into(),
        StopReason::MaxTokens => "max_tokens".into(),
        StopReason::StopSequence => "stop_sequence".into(),
        StopReason::ToolUse => "tool_use".into(),
        // A provider's content filter cutting the reply is, to a Messages client, the
        // model declining: `refusal` (Anthropic's value for a safety stop).
        // <https://platform.claude.com/docs/en/build-with-claude/handling-stop-reasons>
        StopReason::Refusal | StopReason::ContentFilter => "refusal".into(),
        StopReason::PauseTurn => "pause_turn".into(),
        StopReason::ContextWindowExceeded => "model_context_window_exceeded".into(),
        StopReason::Other(s) => s.clone(),
        _ => "end_turn".into(),
    }
}

/// The Messages usage of a completion; `server_tool_use` when a server tool ran.
fn usage(c: &Completion) -> Value {
    let mut u = json!({
        "input_tokens": c.usage.input_tokens,
        "output_tokens": c.usage.output_tokens,
        "cache_creation_input_tokens": c.usage.cache_creation_input_tokens,
        "cache_read_input_tokens": c.usage.cache_read_input_tokens,
    });
    if c.usage.web_search_requests > 0 {
        u["server_tool_use"] = json!({"web_search_requests": c.usage.web_search_requests});
    }
    u
}

/// Anthropic ids start `msg_`; a completion from an OpenAI model gets one.
fn message_id(id: &str) -> String {
    if id.starts_with("msg_") {
        id.to_string()
    } else {
        format!("msg_{}", id.trim_start_matches("chatcmpl-"))
    }
}

/// The Messages response for a completion.
pub fn message(c: &Completion) -> Value {
    json!({
        "id": message_id(&c.id),
        "type": "message",
        "role": "assistant",
        "model": c.provider_model,
        "content": c.content,
        "stop_reason": stop_reason(&c.stop_reason),
        "stop_sequence": c.stop_sequence,
        "usage": usage(c),
    })
}

/// Turns broker stream events into Messages SSE events.
#[derive(Default)]
pub struct Encoder {
    started: bool,
    open: Option<usize>,
    /// Whether any content block has gone out (if none has when the completion comes,
    /// its blocks go out whole before the end).
    any_block: bool,
}

fn sse(event: &str, data: Value) -> String {
    format!("event: {event}\ndata: {data}\n\n")
}

/// A `content_block_delta` of block `index`.
fn delta(index: usize, delta: Value) -> String {
    sse(
        "content_block_delta",
        json!({"type": "content_block_delta", "index": index, "delta": delta}),
    )
}

impl Encoder {
    fn start(&mut self, id: &str, model: &str, input_tokens: u64) -> String {
        self.started = true;
        let start = sse(
            "message_start",
            json!({"type": "message_start", "message": {
                "id": message_id(id), "type": "message", "role": "assistant", "content": [],
                "model": model, "stop_reason": null, "stop_sequence": null,
                "usage": {"input_tokens": input_tokens, "output_tokens": 0},
            }}),
        );
        start + &sse("ping", json!({"type": "ping"}))
    }

    fn open_block(&mut self, index: usize, block: Value) -> String {
        let mut out = self.close_block();
        self.open = Some(index);
        self.any_block = true;
        out += &sse(
            "content_block_start",
            json!({"type": "content_block_start", "index": index, "content_block": block}),
        );
        out
    }

    fn close_block(&mut self) -> String {
        match self.open.take() {
            Some(i) => sse(
                "content_block_stop",
                json!({"type": "content_block_stop", "index": i}),
            ),
            None => String::new(),
        }
    }

    /// Block `index` sent whole, as the API streams each kind: text, a tool call's
    /// input and thinking as deltas after an empty start (citations as
    /// `citations_delta`s, the signature as a `signature_delta`); any other block
    /// (redacted thinking, server-tool calls and results, kept blocks, reasoning items)
    /// whole in its `content_block_start`. Then `content_block_stop`.
    fn whole_block(&mut self, index: usize, block: &ContentBlock) -> String {
        let (start, deltas) = match block {
            ContentBlock::Text {
                text, citations, ..
            } => {
                let cited = citations.iter().flatten();
                let mut deltas: Vec<Value> = cited
                    .map(|c| json!({"type": "citations_delta", "citation": c}))
                    .collect();
                deltas.push(json!({"type": "text_delta", "text": text}));
                (json!({"type": "text", "text": ""}), deltas)
            }
            ContentBlock::ToolUse { id, name, input } => (
                json!({"type": "tool_use", "id": id, "name": name, "input": {}}),
                vec![json!({"type": "input_json_delta", "partial_json": input.to_string()})],
            ),
            ContentBlock::Thinking {
                thinking,
                signature,
            } => (
                json!({"type": "thinking", "thinking": "", "signature": ""}),
                vec![
                    json!({"type": "thinking_delta", "thinking": thinking}),
                    json!({"type": "signature_delta", "signature": signature}),
                ],
            ),
            other => (json!(other), Vec::new()),
        };
        let mut out = self.open_block(index, start);
        for d in deltas {
            out += &delta(index, d);
        }
        out + &self.close_block()
    }

    /// `d` for the text block at `index`, opening it first if it is not open.
    fn text_delta(&mut self, index: usize, d: Value) -> String {
        let mut out = String::new();
        if self.open != Some(index) {
            out += &self.open_block(index, json!({"type": "text", "text": ""}));
        }
        out + &delta(index, d)
    }

    /// The SSE text for one event (empty for events the wire has no place for).
    pub fn event(&mut self, e: &StreamEvent, model: &str) -> String {
        let mut out = String::new();
        if !self.started {
            if let StreamEvent::Started {
                id,
                provider_model,
                usage,
            } = e
            {
                return self.start(id, provider_model, usage.input_tokens);
            }
            out += &self.start("msg_gateway", model, 0);
        }
        match e {
            StreamEvent::TextDelta { index, text } => {
                out += &self.text_delta(*index, json!({"type": "text_delta", "text": text}));
            }
            StreamEvent::ToolUseStart { index, id, name } => {
                out += &self.open_block(
                    *index,
                    json!({"type": "tool_use", "id": id, "name": name, "input": {}}),
                );
            }
            StreamEvent::ToolInputDelta {
                index,
                partial_json,
            } => {
                out += &delta(
                    *index,
                    json!({"type": "input_json_delta", "partial_json": partial_json}),
                );
            }
            StreamEvent::Block { index, block } => out += &self.whole_block(*index, block),
            StreamEvent::Citation { index, citation } => {
                let cited = json!({"type": "citations_delta", "citation": citation});
                out += &self.text_delta(*index, cited);
            }
            _ => {}
        }
        out
    }

    /// The closing events for the completion.
    pub fn finish(&mut self, c: &Completion) -> String {
        let mut out = String::new();
        if !self.started {
            out += &self.start(&c.id, &c.provider_model, c.usage.input_tokens);
        }
        out += &self.close_block();
        if !self.any_block {
            // An answer that came without events: its blocks, whole.
            for (index, block) in c.content.iter().enumerate() {
                out += &self.whole_block(index, block);
            }
        }
        out += &sse(
            "message_delta",
            json!({"type": "message_delta",
                   "delta": {"stop_reason": stop_reason(&c.stop_reason), "stop_sequence": c.stop_sequence},
                   // The final counts, input side included: the API's are cumulative
                   // and the SDKs take each one given; an OpenAI model's input is known
                   // only now (its `message_start` said 0).
                   "usage": usage(c)}),
        );
        out + &sse("message_stop", json!({"type": "message_stop"}))
    }

    /// An error after the stream started.
    pub fn error(&mut self, body: Value) -> String {
        sse("error", body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quotaswarm::types::Thinking;

    #[test]
    fn takes_adaptive_thinking_the_effort_and_a_native_format() {
        let body = json!({
            "model": "claude-opus-5-5", "max_tokens": 500,
            "messages": [{"role": "user", "content": "hi"}],
            "thinking": {"type": "adaptive"},
            "output_config": {"effort": "xhigh",
                              "format": {"type": "json_schema", "schema": {"type": "object"}}}
        });
        let p = parse(body.to_string().as_bytes(), false).unwrap();
        assert_eq!(p.request.thinking, Some(Thinking::adaptive()));
        assert_eq!(p.request.reasoning_effort, Some(ReasoningEffort::XHigh));
        assert_eq!(
            p.request.response_format.map(|f| f.schema),
            Some(json!({"type": "object"}))
        );
        let bad = json!({"model": "m", "max_tokens": 5, "messages": [],
                         "output_config": {"effort": "extreme"}});
        assert!(parse(bad.to_string().as_bytes(), false).is_err());
    }

    #[test]
    fn an_answer_that_came_without_events_goes_out_whole_before_the_end() {
        let raw = json!({"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1",
                         "content": []});
        let c = Completion::from_provider(
            "msg_1".into(),
            "claude-sonnet-4-6".into(),
            vec![
                ContentBlock::Thinking {
                    thinking: "hm".into(),
                    signature: "sig".into(),
                },
                serde_json::from_value(raw.clone()).unwrap(),
                ContentBlock::tool_use("toolu_1", "lookup", json!({"q": "x"})),
            ],
            StopReason::ToolUse,
            Default::default(),
        );
        let sse = Encoder::default().finish(&c);
        let data = super::super::sse_data(&sse);
        let kinds: Vec<&str> = data.iter().filter_map(|e| e["type"].as_str()).collect();
        assert_eq!(
            kinds,
            [
                "message_start",
                "ping",
                "content_block_start",
                "content_block_delta",
                "content_block_delta",
                "content_block_stop",
                "content_block_start",
                "content_block_stop",
                "content_block_start",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop"
            ]
        );
        assert_eq!(
            data[4]["delta"],
            json!({"type": "signature_delta", "signature": "sig"})
        );
        assert_eq!(data[6]["content_block"], raw);
        assert_eq!(
            data[9]["delta"],
            json!({"type": "input_json_delta", "partial_json": "{\"q\":\"x\"}"})
        );
    }

    #[test]
    fn a_content_filter_stop_is_a_refusal_whole_and_streamed() {
        let mut c = super::super::said_hi("chatcmpl-1", "gpt-4.1");
        c.stop_reason = StopReason::ContentFilter;
        assert_eq!(message(&c)["stop_reason"], "refusal");
        let delta = super::super::sse_data(&Encoder::default().finish(&c))
            .into_iter()
            .find(|e| e["type"] == "message_delta")
            .unwrap();
        assert_eq!(delta["delta"]["stop_reason"], "refusal");
    }

    #[test]
    fn the_stream_ends_with_the_whole_usage_input_side_and_searches_included() {
        let mut c = super::super::said_hi_using("chatcmpl-1", "gpt-4.1", 120, 30, 7);
        c.usage.web_search_requests = 2;
        let mut enc = Encoder::default();
        let started = StreamEvent::Started {
            id: "chatcmpl-1".into(),
            provider_model: "gpt-4.1".into(),
            usage: Default::default(),
        };
        let sse = enc.event(&started, "m") + &enc.finish(&c);
        let delta = super::super::sse_data(&sse)
            .into_iter()
            .find(|e| e["type"] == "message_delta")
            .unwrap();
        assert_eq!(
            delta["usage"],
            json!({"input_tokens": 120, "output_tokens": 7, "cache_creation_input_tokens": 0,
                   "cache_read_input_tokens": 30,
                   "server_tool_use": {"web_search_requests": 2}})
        );
        assert_eq!(message(&c)["usage"], delta["usage"]);
    }

    #[test]
    fn server_tools_and_kept_blocks_pass_through() {
        let body = json!({
            "model": "sonnet", "max_tokens": 100,
            "tools": [{"type": "web_search_20250305", "name": "web_search", "max_uses": 2}],
            "messages": [
                {"role": "user", "content": "news?"},
                {"role": "assistant", "content": [
                    {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search",
                     "input": {"query": "news"}}]}
            ]
        });
        let parsed = parse(body.to_string().as_bytes(), false).unwrap();
        let tool = &parsed.request.tools[0];
        assert_eq!(tool.kind.as_deref(), Some("web_search_20250305"));
        assert_eq!(tool.settings["max_uses"], 2);
        let kept = &parsed.request.messages[1].content[0];
        assert_eq!(kept.raw_type(), Some("server_tool_use"));
    }
}
