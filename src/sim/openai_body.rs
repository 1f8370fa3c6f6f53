//! An OpenAI reply's choices: text, JSON for a `json_schema` response format, or a tool
//! call; as a `chat.completion` message and as the chunk sequence of spec §2.4.

use super::content::split_even;
use super::reply::{self, End};
use super::stream::{self, data_event, Frame};
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

/// The `usage` object.
pub(super) fn usage(prompt: u64, cached: u64, completion: u64) -> Value {
    json!({
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0}
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

/// The chunk sequence: role chunk, the content (one chunk per token for text; tool
/// calls as an id/name chunk then argument pieces), the finish chunk, the usage chunk
/// (`choices: []`) when asked for, `[DONE]`.
pub(super) fn stream_frames(head: &ChunkHead<'_>, usage: Value, said: &Said) -> Vec<Frame> {
    let choice = |delta: Value, finish: Value| json!([{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]);
    let content = match said {
        Said::ToolCall { .. } => Value::Null,
        _ => json!(""),
    };
    let mut frames = vec![Frame::structure(head.chunk(
        choice(
            json!({"role": "assistant", "content": content, "refusal": null}),
            Value::Null,
        ),
        Value::Null,
    ))];
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
