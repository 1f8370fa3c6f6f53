//! An Anthropic reply's content blocks (thinking, text with its citations, tool_use,
//! server-tool calls and results) as JSON and as the streamed event sequence the real
//! API sends (`message_start`, per block `content_block_start` / `_delta` / `_stop`,
//! `message_delta` with the usage, `message_stop`), so the client's stream parser meets
//! the production order. A text's citations stream as `citations_delta`s before its
//! text; a `server_tool_use` starts with `input: {}` and streams its input as
//! `input_json_delta`s; a server-tool result arrives whole in its start event.

use super::stream::{self, named_event, Frame};
use serde_json::{json, Value};

/// One content block of a reply.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Part {
    Thinking {
        text: String,
        signature: String,
        tokens: u64,
    },
    Text {
        text: String,
        tokens: u64,
        /// Citation objects (`web_search_result_location`, `char_location`, ...).
        citations: Vec<Value>,
    },
    ToolUse {
        id: String,
        name: String,
        input: Value,
        tokens: u64,
    },
    /// A server tool's call (`server_tool_use`, whose `input` streams) or result (any
    /// other type, sent whole).
    Server { block: Value, tokens: u64 },
}

impl Part {
    pub fn tokens(&self) -> u64 {
        match self {
            Part::Thinking { tokens, .. } | Part::Text { tokens, .. } => *tokens,
            Part::ToolUse { tokens, .. } | Part::Server { tokens, .. } => *tokens,
        }
    }

    /// The block as it appears in a non-streamed `content` array.
    pub fn json(&self) -> Value {
        match self {
            Part::Thinking {
                text, signature, ..
            } => json!({"type": "thinking", "thinking": text, "signature": signature}),
            Part::Text {
                text, citations, ..
            } if !citations.is_empty() => {
                json!({"type": "text", "text": text, "citations": citations})
            }
            Part::Text { text, .. } => json!({"type": "text", "text": text}),
            Part::ToolUse {
                id, name, input, ..
            } => json!({"type": "tool_use", "id": id, "name": name, "input": input}),
            Part::Server { block, .. } => block.clone(),
        }
    }

    /// `content_block_start`'s skeleton.
    fn skeleton(&self) -> Value {
        match self {
            Part::Thinking { .. } => json!({"type": "thinking", "thinking": "", "signature": ""}),
            Part::Text { .. } => json!({"type": "text", "text": ""}),
            Part::ToolUse { id, name, .. } => {
                json!({"type": "tool_use", "id": id, "name": name, "input": {}})
            }
            Part::Server { block, .. } if streams_input(block) => {
                let mut skeleton = block.clone();
                skeleton["input"] = json!({});
                skeleton
            }
            Part::Server { block, .. } => block.clone(),
        }
    }

    /// The deltas: (delta JSON, output tokens it carries).
    fn deltas(&self) -> Vec<(Value, u64)> {
        match self {
            Part::Thinking {
                text, signature, ..
            } => {
                let mut d: Vec<(Value, u64)> = stream::pieces(text)
                    .into_iter()
                    .map(|p| (json!({"type": "thinking_delta", "thinking": p}), 1))
                    .collect();
                d.push((
                    json!({"type": "signature_delta", "signature": signature}),
                    0,
                ));
                d
            }
            Part::Text {
                text, citations, ..
            } => citations
                .iter()
                .map(|c| (json!({"type": "citations_delta", "citation": c}), 0))
                .chain(
                    stream::pieces(text)
                        .into_iter()
                        .map(|p| (json!({"type": "text_delta", "text": p}), 1)),
                )
                .collect(),
            Part::ToolUse { input, tokens, .. } => {
                let mut d = vec![(json!({"type": "input_json_delta", "partial_json": ""}), 0)];
                d.extend(
                    split_even(&input.to_string(), *tokens)
                        .into_iter()
                        .map(|p| (json!({"type": "input_json_delta", "partial_json": p}), 1)),
                );
                d
            }
            Part::Server { block, tokens } if streams_input(block) => {
                let input = block.get("input").map(Value::to_string).unwrap_or_default();
                split_even(&input, *tokens)
                    .into_iter()
                    .map(|p| (json!({"type": "input_json_delta", "partial_json": p}), 1))
                    .collect()
            }
            Part::Server { .. } => Vec::new(),
        }
    }
}

/// Whether a server block's `input` streams (a `server_tool_use` call).
fn streams_input(block: &Value) -> bool {
    block.get("type").and_then(Value::as_str) == Some("server_tool_use")
}

/// `text` cut into `n` (at least 1) pieces of about equal length, on char boundaries.
pub(super) fn split_even(text: &str, n: u64) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let n = (n.max(1) as usize).min(chars.len().max(1));
    let size = chars.len().div_ceil(n).max(1);
    chars.chunks(size).map(|c| c.iter().collect()).collect()
}

/// The event sequence: `message_start` (`usage` as given, output 1), each block
/// (start, a ping after the first start, deltas, stop), `message_delta` with the final
/// usage (`output_tokens`, and `server_tool_use` when a server tool ran),
/// `message_stop`.
pub(super) fn frames(
    message: Value,
    parts: &[Part],
    stop_reason: &str,
    stop_sequence: &Value,
    final_usage: Value,
) -> Vec<Frame> {
    let mut frames = vec![Frame::structure(named_event(
        "message_start",
        &json!({"type": "message_start", "message": message}),
    ))];
    for (index, part) in parts.iter().enumerate() {
        frames.push(Frame::structure(named_event(
            "content_block_start",
            &json!({"type": "content_block_start", "index": index,
                    "content_block": part.skeleton()}),
        )));
        if index == 0 {
            frames.push(Frame::structure(named_event(
                "ping",
                &json!({"type": "ping"}),
            )));
        }
        for (delta, tokens) in part.deltas() {
            let bytes = named_event(
                "content_block_delta",
                &json!({"type": "content_block_delta", "index": index, "delta": delta}),
            );
            frames.push(Frame {
                bytes: bytes.into(),
                tokens,
                tail: false,
            });
        }
        let stop = named_event(
            "content_block_stop",
            &json!({"type": "content_block_stop", "index": index}),
        );
        // The last block's stop is the first tail frame (a pending fault goes before it).
        frames.push(if index + 1 == parts.len() {
            Frame::tail(stop)
        } else {
            Frame::structure(stop)
        });
    }
    frames.push(Frame::tail(named_event(
        "message_delta",
        &json!({"type": "message_delta",
                "delta": {"stop_reason": stop_reason, "stop_sequence": stop_sequence},
                "usage": final_usage}),
    )));
    frames.push(Frame::tail(named_event(
        "message_stop",
        &json!({"type": "message_stop"}),
    )));
    frames
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_even_keeps_the_text_and_the_count() {
        let s = "{\"city\":\"Paris\",\"days\":3}";
        let p = split_even(s, 5);
        assert_eq!(p.concat(), s);
        assert!(p.len() <= 5 && p.len() >= 4, "{p:?}");
        assert_eq!(split_even("ab", 10), vec!["a", "b"]);
        assert_eq!(split_even("", 3), Vec::<String>::new());
    }

    #[test]
    fn streams_thinking_text_and_tool_use_blocks_in_order() {
        let parts = vec![
            Part::Thinking {
                text: "Let me see".into(),
                signature: "c2ln".into(),
                tokens: 3,
            },
            Part::ToolUse {
                id: "toolu_1".into(),
                name: "f".into(),
                input: json!({"a": 1}),
                tokens: 2,
            },
        ];
        let f = frames(
            json!({}),
            &parts,
            "tool_use",
            &Value::Null,
            json!({"output_tokens": 5}),
        );
        let text: String = f
            .iter()
            .map(|f| String::from_utf8_lossy(&f.bytes).to_string())
            .collect();
        for needle in [
            r#""type":"thinking_delta""#,
            r#""signature":"c2ln","type":"signature_delta""#,
            r#""partial_json":"","type":"input_json_delta""#,
            r#""stop_reason":"tool_use""#,
        ] {
            assert!(text.contains(needle), "{needle}");
        }
        assert_eq!(f.iter().map(|f| f.tokens).sum::<u64>(), 5);
    }
}
