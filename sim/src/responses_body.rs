//! A Responses answer: the `response` object (output items: a reasoning item for
//! reasoning models, then a `message` or a `function_call`; usage with cached and
//! reasoning tokens), and the named SSE events the real API streams it as
//! (`response.created`, `response.in_progress`, per item `response.output_item.added`,
//! content deltas, `.done` events and `response.output_item.done`, then
//! `response.completed` or `response.incomplete`; each event's `type` repeated in its
//! data with a `sequence_number`).

use super::content::split_even;
use super::openai::SERVER_ERROR;
use super::openai_body::{Choice, Said};
use super::reply::{self, End};
use super::stream::{self, named_event, Frame};
use super::{thinking, Simulator};
use serde_json::{json, Value};
use std::time::{SystemTime, UNIX_EPOCH};

/// The salt of the reasoning items' encrypted content.
const REASONING_SALT: &str = "reasoning";

/// The `encrypted_content` the simulator gives reasoning item `id`: its keyed signature,
/// so only the simulator can make one and an edited one is found out.
pub(super) fn encrypted_content(seed: u64, id: &str) -> String {
    thinking::sign(seed, &format!("{REASONING_SALT}:{id}"))
}

/// Everything a response shows, decided once for the JSON and the stream alike.
pub(super) struct Rendered {
    id: String,
    created: u64,
    model: String,
    /// The reasoning item, when the model reasoned.
    reasoning: Option<Value>,
    /// What it says, and the item id that says it.
    said: Said,
    item_id: String,
    incomplete: bool,
    usage: Value,
    /// The request's settings a response echoes.
    echo: Value,
}

fn hex(len: usize) -> String {
    reply::hex_id(rand::random::<u64>(), len)
}

impl Rendered {
    pub fn new(
        sim: &Simulator,
        model: &str,
        body: &Value,
        choice: &Choice,
        prompt: u64,
        cached: u64,
    ) -> Self {
        let include_encrypted = body
            .get("include")
            .and_then(Value::as_array)
            .is_some_and(|i| i.iter().any(|v| v == "reasoning.encrypted_content"));
        let summary_asked = body
            .get("reasoning")
            .and_then(|r| r.get("summary"))
            .is_some_and(|s| !s.is_null());
        let reasoning = (choice.reasoning > 0).then(|| {
            let id = format!("rs_{}", hex(48));
            let mut item = json!({"id": id, "type": "reasoning", "summary": []});
            if summary_asked {
                let words = reply::generate(choice.reasoning, 12, &[]).text;
                item["summary"] = json!([{"type": "summary_text", "text": words}]);
            }
            if include_encrypted {
                item["encrypted_content"] = json!(encrypted_content(sim.inner.seed, &id));
            }
            item
        });
        let item_id = match &choice.said {
            Said::ToolCall { .. } => format!("fc_{}", hex(48)),
            _ => format!("msg_{}", hex(48)),
        };
        let incomplete = matches!(&choice.said, Said::Text(r) if r.end == End::MaxTokens);
        let output = choice.tokens();
        let echo_field = |k: &str| body.get(k).cloned().unwrap_or(Value::Null);
        let echo = json!({
            "instructions": echo_field("instructions"),
            "max_output_tokens": echo_field("max_output_tokens"),
            "parallel_tool_calls": body.get("parallel_tool_calls").cloned().unwrap_or(json!(true)),
            "previous_response_id": null,
            "reasoning": {"effort": body.get("reasoning").and_then(|r| r.get("effort")).cloned(),
                          "summary": body.get("reasoning").and_then(|r| r.get("summary")).cloned()},
            "store": body.get("store").cloned().unwrap_or(json!(true)),
            "temperature": body.get("temperature").cloned().unwrap_or(json!(1.0)),
            "text": body.get("text").cloned().unwrap_or(json!({"format": {"type": "text"}})),
            "tool_choice": body.get("tool_choice").cloned().unwrap_or(json!("auto")),
            "tools": body.get("tools").cloned().unwrap_or(json!([])),
            "top_p": body.get("top_p").cloned().unwrap_or(json!(1.0)),
            "truncation": "disabled",
            "user": null,
            "metadata": body.get("metadata").cloned().unwrap_or(json!({})),
        });
        Rendered {
            id: format!("resp_{}", hex(48)),
            created: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            model: model.to_string(),
            reasoning,
            said: choice.said.clone(),
            item_id,
            incomplete,
            usage: json!({
                "input_tokens": prompt,
                "input_tokens_details": {"cached_tokens": cached},
                "output_tokens": output,
                "output_tokens_details": {"reasoning_tokens": choice.reasoning},
                "total_tokens": prompt + output,
            }),
            echo,
        }
    }

    /// What is said, as text (the message's) or as call arguments.
    fn said_text(&self) -> &str {
        match &self.said {
            Said::Text(r) => &r.text,
            Said::Json { text, .. } => text,
            Said::ToolCall { arguments, .. } => arguments,
        }
    }

    /// The message or function call item, finished (`completed`) or just opened.
    fn said_item(&self, done: bool) -> Option<Value> {
        let status = if done { "completed" } else { "in_progress" };
        match &self.said {
            Said::ToolCall { id, name, .. } => Some(json!({
                "id": self.item_id, "type": "function_call", "status": status,
                "arguments": if done { self.said_text() } else { "" },
                "call_id": id, "name": name,
            })),
            // A reply cut before a word (its reasoning used the cap) has no message.
            _ if self.said_text().is_empty() => None,
            _ => {
                let content = if done {
                    json!([{"type": "output_text", "text": self.said_text(),
                            "annotations": [], "logprobs": []}])
                } else {
                    json!([])
                };
                Some(
                    json!({"id": self.item_id, "type": "message", "status": status,
                            "role": "assistant", "content": content}),
                )
            }
        }
    }

    fn output(&self) -> Vec<Value> {
        self.reasoning
            .iter()
            .cloned()
            .chain(self.said_item(true))
            .collect()
    }

    fn final_status(&self) -> &'static str {
        if self.incomplete {
            "incomplete"
        } else {
            "completed"
        }
    }

    /// The `response` object: whole when `status` is final, empty while `in_progress`.
    pub fn response(&self, status: &str) -> Value {
        let done = status != "in_progress";
        let status = if done { self.final_status() } else { status };
        let mut r = json!({
            "id": self.id, "object": "response", "created_at": self.created,
            "status": status, "error": null,
            "incomplete_details": if done && self.incomplete {
                json!({"reason": "max_output_tokens"})
            } else {
                Value::Null
            },
            "model": self.model,
            "output": if done { self.output() } else { Vec::new() },
            "usage": if done { self.usage.clone() } else { Value::Null },
        });
        if let (Some(r), Some(echo)) = (r.as_object_mut(), self.echo.as_object()) {
            for (k, v) in echo {
                r.insert(k.clone(), v.clone());
            }
        }
        r
    }
}

/// Numbers the events in order.
struct Events {
    frames: Vec<Frame>,
}

impl Events {
    /// Adds event `kind` with `fields`, carrying `tokens` output tokens.
    fn push(&mut self, kind: &str, mut fields: Value, tokens: u64) {
        fields["type"] = json!(kind);
        fields["sequence_number"] = json!(self.frames.len());
        let bytes = named_event(kind, &fields);
        self.frames.push(Frame {
            bytes: bytes.into(),
            tokens,
            tail: false,
        });
    }
}

/// The event stream of `r`, and the `error` event a mid-stream fault sends instead of
/// the rest. Events after the last content delta are the tail.
pub(super) fn stream_frames(r: &Rendered) -> (Vec<Frame>, String) {
    let mut ev = Events { frames: Vec::new() };
    ev.push(
        "response.created",
        json!({"response": r.response("in_progress")}),
        0,
    );
    ev.push(
        "response.in_progress",
        json!({"response": r.response("in_progress")}),
        0,
    );
    let mut index = 0;
    if let Some(item) = &r.reasoning {
        // Reasoning happens before anything is said: its tokens come with the item.
        let reasoning_tokens = r.usage["output_tokens_details"]["reasoning_tokens"]
            .as_u64()
            .unwrap_or(0);
        let opened = json!({"id": item["id"], "type": "reasoning", "summary": []});
        ev.push(
            "response.output_item.added",
            json!({"output_index": index, "item": opened}),
            reasoning_tokens,
        );
        ev.push(
            "response.output_item.done",
            json!({"output_index": index, "item": item}),
            0,
        );
        index += 1;
    }
    if let (Some(opened), Some(done)) = (r.said_item(false), r.said_item(true)) {
        ev.push(
            "response.output_item.added",
            json!({"output_index": index, "item": opened}),
            0,
        );
        push_content(&mut ev, r, index);
        ev.push(
            "response.output_item.done",
            json!({"output_index": index, "item": done}),
            0,
        );
    }
    let last = if r.incomplete {
        "response.incomplete"
    } else {
        "response.completed"
    };
    ev.push(last, json!({"response": r.response("completed")}), 0);
    let content_end = ev.frames.iter().rposition(|f| f.tokens > 0).unwrap_or(0);
    for f in ev.frames.iter_mut().skip(content_end + 1) {
        f.tail = true;
    }
    let error = json!({"type": "error", "code": "server_error", "message": SERVER_ERROR,
                       "param": null, "sequence_number": ev.frames.len()});
    (ev.frames, named_event("error", &error))
}

/// The deltas and `.done` events of the said item at `index`.
fn push_content(ev: &mut Events, r: &Rendered, index: usize) {
    let at = json!({"item_id": r.item_id, "output_index": index});
    let with = |extra: Value| {
        let mut v = at.clone();
        if let (Some(v), Some(extra)) = (v.as_object_mut(), extra.as_object()) {
            v.extend(extra.clone());
        }
        v
    };
    let text = r.said_text();
    match &r.said {
        Said::ToolCall { tokens, .. } => {
            for p in split_even(text, *tokens) {
                ev.push(
                    "response.function_call_arguments.delta",
                    with(json!({"delta": p})),
                    1,
                );
            }
            ev.push(
                "response.function_call_arguments.done",
                with(json!({"arguments": text})),
                0,
            );
        }
        said => {
            let part = |t: &str| json!({"type": "output_text", "text": t, "annotations": []});
            ev.push(
                "response.content_part.added",
                with(json!({"content_index": 0, "part": part("")})),
                0,
            );
            let pieces: Vec<String> = match said {
                Said::Json { tokens, .. } => split_even(text, *tokens),
                _ => stream::pieces(text)
                    .into_iter()
                    .map(str::to_string)
                    .collect(),
            };
            for p in pieces {
                ev.push(
                    "response.output_text.delta",
                    with(json!({"content_index": 0, "delta": p, "logprobs": []})),
                    1,
                );
            }
            ev.push(
                "response.output_text.done",
                with(json!({"content_index": 0, "text": text, "logprobs": []})),
                0,
            );
            ev.push(
                "response.content_part.done",
                with(json!({"content_index": 0, "part": part(text)})),
                0,
            );
        }
    }
}
