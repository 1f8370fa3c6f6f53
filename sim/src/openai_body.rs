//! An OpenAI reply's choices: what each says (hidden reasoning, then text, JSON for a
//! `json_schema` response format, or a tool call), as a `chat.completion` message and
//! as the `chat.completion.chunk` sequence the real API streams (role first, content
//! deltas, the finish reason, then the usage chunk when `stream_options.include_usage`).

use super::content::split_even;
use super::reply::{self, End};
use super::stream::{self, data_event, Frame};
use super::{schema, tokens, tools, validate, Simulator};
use serde_json::{json, Value};

/// What one choice says.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Said {
    Text(reply::Reply),
    /// JSON text for a `response_format` (counted with the model's tokenizer).
    Json {
        text: String,
        tokens: u64,
    },
    ToolCall {
        id: String,
        name: String,
        arguments: String,
        tokens: u64,
    },
}

impl Said {
    pub fn tokens(&self) -> u64 {
        match self {
            Said::Text(r) => r.output_tokens,
            Said::Json { tokens, .. } | Said::ToolCall { tokens, .. } => *tokens,
        }
    }

    pub fn finish_reason(&self) -> &'static str {
        match self {
            Said::Text(r) if r.end == End::MaxTokens => "length",
            Said::Text(_) | Said::Json { .. } => "stop",
            Said::ToolCall { .. } => "tool_calls",
        }
    }

    /// The `message` of a non-streamed choice.
    pub fn message(&self) -> Value {
        match self {
            Said::Text(r) => json!({"role": "assistant", "content": r.text, "refusal": null}),
            Said::Json { text, .. } => {
                json!({"role": "assistant", "content": text, "refusal": null})
            }
            Said::ToolCall {
                id,
                name,
                arguments,
                ..
            } => json!({"role": "assistant", "content": null, "refusal": null,
                        "tool_calls": [{"id": id, "type": "function",
                                        "function": {"name": name, "arguments": arguments}}]}),
        }
    }
}

/// One choice: what it says, after `reasoning` hidden reasoning tokens (reasoning
/// models: the real API bills them in `completion_tokens` without showing them, so the
/// simulator charges them the same way).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Choice {
    pub said: Said,
    pub reasoning: u64,
}

impl Choice {
    /// Completion tokens, reasoning included.
    pub fn tokens(&self) -> u64 {
        self.said.tokens() + self.reasoning
    }
}

/// The `usage` object.
pub(super) fn usage(prompt: u64, cached: u64, completion: u64, reasoning: u64) -> Value {
    json!({
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": reasoning, "audio_tokens": 0}
    })
}

/// The fields every chunk repeats.
pub(super) struct ChunkHead<'a> {
    pub id: &'a str,
    pub created: u64,
    pub model: &'a str,
    pub include_usage: bool,
}

impl ChunkHead<'_> {
    fn chunk(&self, choices: Value, usage: Value) -> String {
        let mut c = json!({
            "id": self.id, "object": "chat.completion.chunk", "created": self.created,
            "model": self.model, "system_fingerprint": "fp_quotaswarm_sim",
            "choices": choices,
        });
        if self.include_usage {
            c["usage"] = usage;
        }
        data_event(&c.to_string())
    }
}

/// The chunk sequence: role chunk (after the hidden reasoning), the content (one chunk
/// per token for text; tool calls as an id/name chunk then argument pieces), the finish
/// chunk, the usage chunk (`choices: []`) when asked for, `[DONE]`.
pub(super) fn stream_frames(head: &ChunkHead<'_>, usage: Value, choice_: &Choice) -> Vec<Frame> {
    let said = &choice_.said;
    let choice = |delta: Value, finish: Value| json!([{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]);
    let content = match said {
        Said::ToolCall { .. } => Value::Null,
        _ => json!(""),
    };
    let mut frames = vec![Frame {
        bytes: head
            .chunk(
                choice(
                    json!({"role": "assistant", "content": content, "refusal": null}),
                    Value::Null,
                ),
                Value::Null,
            )
            .into(),
        // Reasoning happens before anything is said.
        tokens: choice_.reasoning,
        tail: false,
    }];
    let piece = |delta: Value, tokens: u64| Frame {
        bytes: head.chunk(choice(delta, Value::Null), Value::Null).into(),
        tokens,
        tail: false,
    };
    match said {
        Said::Text(r) => {
            for p in stream::pieces(&r.text) {
                frames.push(piece(json!({"content": p}), 1));
            }
        }
        Said::Json { text, tokens } => {
            for p in split_even(text, *tokens) {
                frames.push(piece(json!({"content": p}), 1));
            }
        }
        Said::ToolCall {
            id,
            name,
            arguments,
            tokens,
        } => {
            frames.push(piece(
                json!({"tool_calls": [{"index": 0, "id": id, "type": "function",
                                       "function": {"name": name, "arguments": ""}}]}),
                0,
            ));
            for p in split_even(arguments, *tokens) {
                frames.push(piece(
                    json!({"tool_calls": [{"index": 0, "function": {"arguments": p}}]}),
                    1,
                ));
            }
        }
    }
    frames.push(Frame::tail(
        head.chunk(choice(json!({}), json!(said.finish_reason())), Value::Null),
    ));
    if head.include_usage {
        frames.push(Frame::tail(head.chunk(json!([]), usage)));
    }
    frames.push(Frame::tail(data_event("[DONE]")));
    frames
}

/// Hidden reasoning tokens of a reasoning-family model, by `reasoning_effort` (default
/// medium), varied by `hash`: none/minimal 0, low 64–127, medium 256–511, high
/// 1,024–2,047. Other models do not reason.
fn reasoning_tokens(model: &str, body: &Value, hash: u64) -> u64 {
    if !validate::openai_reasoning(model) {
        return 0;
    }
    let (base, spread) = match body.get("reasoning_effort").and_then(Value::as_str) {
        Some("none" | "minimal") => return 0,
        Some("low") => (64, 64),
        Some("high") => (1024, 1024),
        _ => (256, 256),
    };
    base + reply::fnv1a(&hash.to_le_bytes()) % spread
}

/// One choice: reasoning first (reasoning models; a cap it exhausts leaves empty content
/// and `finish_reason: "length"`), then a tool call when [`tools::decide`] says so, JSON
/// fitting a `json_schema` response format (a `json_object` one gets a small object),
/// else text.
pub(super) fn say(sim: &Simulator, model: &str, body: &Value, hash: u64, max_out: u64) -> Choice {
    let reasoning = reasoning_tokens(model, body, hash);
    if reasoning >= max_out {
        let empty = reply::Reply {
            text: String::new(),
            output_tokens: 0,
            end: reply::End::MaxTokens,
        };
        return Choice {
            said: Said::Text(empty),
            reasoning: max_out,
        };
    }
    Choice {
        said: say_after_reasoning(sim, model, body, hash, max_out - reasoning),
        reasoning,
    }
}

fn say_after_reasoning(
    sim: &Simulator,
    model: &str,
    body: &Value,
    hash: u64,
    max_out: u64,
) -> Said {
    let policy = sim.inner.tools;
    let offered = tools::openai_tools(body);
    let choice = tools::openai_choice(body);
    let messages = body["messages"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let loop_results = tools::openai_loop_results(messages);
    let count = |s: &str| tokens::openai_encoding(model).count_ordinary(s) as u64;
    if let Some(i) = tools::decide(policy, &offered, &choice, loop_results, hash) {
        let violate = choice.forced() && tools::violates(policy, hash);
        let call = tools::call(&offered[i], hash, violate);
        return Said::ToolCall {
            id: format!("call_{}", reply::hex_id(hash ^ 0x6361_6c6c, 24)),
            name: call.name,
            arguments: call.input.to_string(),
            tokens: call.tokens,
        };
    }
    let format = body.get("response_format");
    match format.and_then(|f| f.get("type")).and_then(Value::as_str) {
        Some("json_schema") => {
            let schema = format
                .and_then(|f| f.get("json_schema"))
                .and_then(|j| j.get("schema"))
                .cloned()
                .unwrap_or(json!({"type": "object"}));
            let mut v = schema::generate(&schema, hash);
            if tools::violates(policy, hash) {
                v = schema::violate(&schema, v);
            }
            let text = v.to_string();
            Said::Json {
                tokens: count(&text).max(1),
                text,
            }
        }
        Some("json_object") => {
            let r = reply::generate(hash, max_out.min(20), &[]);
            let text = json!({"answer": r.text}).to_string();
            Said::Json {
                tokens: count(&text).max(1),
                text,
            }
        }
        _ => {
            let stops: Vec<String> = match body.get("stop") {
                Some(Value::String(s)) => vec![s.clone()],
                Some(Value::Array(a)) => a
                    .iter()
                    .filter_map(|s| s.as_str().map(String::from))
                    .collect(),
                _ => Vec::new(),
            };
            Said::Text(reply::generate(hash, max_out, &stops))
        }
    }
}
