//! Responses streaming (`docs/providers.md`, "OpenAI Responses"): the SSE decoder of one
//! streamed response.

use super::response::{failure, item_block, stop_reason, WireResponse};
use super::*;
use crate::provider::stream::{count_output, Flow, SseEvent, StreamEvent};
use serde_json::{json, Value};
use std::collections::HashMap;

/// The SSE decoder of one streamed response.
///
/// Every event's data is a JSON object whose `type` names it (the SSE `event:` line says
/// the same and is not needed): `response.created` starts; `response.output_item.added`
/// opens an item (a function call announces its id and name then);
/// `response.output_text.delta` and `response.function_call_arguments.delta` carry
/// content; `response.output_item.done` gives each item whole (a reasoning item's
/// `encrypted_content` is complete only there); `response.completed` (or
/// `response.incomplete`) ends with the whole response and its usage.
/// `response.failed` and `error` events are the failure. Other events (summaries,
/// content parts, annotations, built-in tools) are ignored.
#[derive(Debug)]
pub struct ResponsesStream {
    model: String,
    id: String,
    provider_model: String,
    started: bool,
    /// The blocks so far, in output order: the item's core block once it is known.
    blocks: Vec<Option<ContentBlock>>,
    /// Block index of each output item (by `output_index`).
    items: HashMap<u64, usize>,
    /// Text and tool-argument pieces so far, per block (for estimates and for items
    /// that never come done).
    pending: HashMap<usize, String>,
    refusal: String,
    usage: Option<Usage>,
}

impl ResponsesStream {
    pub fn new(model: &str) -> Self {
        ResponsesStream {
            model: model.to_string(),
            id: String::new(),
            provider_model: model.to_string(),
            started: false,
            blocks: Vec::new(),
            items: HashMap::new(),
            pending: HashMap::new(),
            refusal: String::new(),
            usage: None,
        }
    }

    fn start(&mut self, response: Option<&Value>, out: &mut Vec<StreamEvent>) {
        if self.started {
            return;
        }
        self.started = true;
        let field = |k: &str| {
            response
                .and_then(|r| r.get(k))
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        self.id = field("id").unwrap_or_default();
        if let Some(m) = field("model") {
            self.provider_model = m;
        }
        out.push(StreamEvent::Started {
            id: self.id.clone(),
            provider_model: self.provider_model.clone(),
            usage: Usage::default(),
        });
    }

    /// The block index of output item `output_index`, opening it if new.
    fn block_of(&mut self, output_index: u64) -> usize {
        if let Some(i) = self.items.get(&output_index) {
            return *i;
        }
        self.blocks.push(None);
        let i = self.blocks.len() - 1;
        self.items.insert(output_index, i);
        i
    }

    fn produced_text(&self) -> String {
        let mut s = self.refusal.clone();
        for (i, b) in self.blocks.iter().enumerate() {
            match b {
                Some(ContentBlock::Text { text, .. }) => s.push_str(text),
                Some(ContentBlock::ToolUse { name, input, .. }) => {
                    s.push_str(name);
                    s.push_str(&input.to_string());
                }
                _ => s.push_str(self.pending.get(&i).map_or("", String::as_str)),
            }
        }
        s
    }

    fn estimated_usage(&self) -> Usage {
        Usage {
            output_tokens: count_output(&self.model, &self.produced_text()),
            ..Usage::default()
        }
    }

    fn on_item_added(&mut self, data: &Value, out: &mut Vec<StreamEvent>) {
        let item = &data["item"];
        let kind = item.get("type").and_then(Value::as_str).unwrap_or("");
        // Built-in tools' items become no block (as in the final answer).
        if !KEPT_ITEMS.contains(&kind) {
            return;
        }
        let index = self.block_of(data["output_index"].as_u64().unwrap_or(0));
        if kind == "function_call" {
            let text = |k: &str| item.get(k).and_then(Value::as_str).unwrap_or("");
            let (id, name) = (text("call_id").to_string(), text("name").to_string());
            self.blocks[index] = Some(ContentBlock::ToolUse {
                id: id.clone(),
                name: name.clone(),
                input: json!({}),
            });
            out.push(StreamEvent::ToolUseStart { index, id, name });
        }
    }

    /// An item whole; a reasoning item reaches the consumer as a [`StreamEvent::Block`]
    /// (it has no deltas, and its encrypted content is complete only here).
    fn on_item_done(&mut self, data: &Value, out: &mut Vec<StreamEvent>) {
        let (block, refusal) = item_block(&data["item"]);
        if let Some(r) = refusal {
            self.refusal = r;
        }
        let output_index = data["output_index"].as_u64().unwrap_or(0);
        if block.is_some() || self.items.contains_key(&output_index) {
            let index = self.block_of(output_index);
            if let Some(reasoning @ ContentBlock::Reasoning { .. }) = &block {
                out.push(StreamEvent::Block {
                    index,
                    block: reasoning.clone(),
                });
            }
            self.blocks[index] = block;
        }
    }

    /// Text or arguments appended to the item at `output_index`.
    fn on_delta(&mut self, data: &Value, out: &mut Vec<StreamEvent>, text: bool) {
        let Some(delta) = data["delta"].as_str().filter(|d| !d.is_empty()) else {
            return;
        };
        let index = self.block_of(data["output_index"].as_u64().unwrap_or(0));
        self.pending.entry(index).or_default().push_str(delta);
        let delta = delta.to_string();
        out.push(if text {
            StreamEvent::TextDelta { index, text: delta }
        } else {
            StreamEvent::ToolInputDelta {
                index,
                partial_json: delta,
            }
        });
    }

    /// The end: the final response's output when it has one (authoritative), else the
    /// items gathered from the stream.
    fn finish(
        &mut self,
        response: WireResponse,
        now: SystemTime,
        out: &mut Vec<StreamEvent>,
    ) -> Result<(), ProviderError> {
        let usage_estimated = response.usage.is_none();
        let estimate = self.estimated_usage();
        let mut completion = if response.output.is_empty() {
            let status = response.status.clone();
            let incomplete = response
                .incomplete_details
                .as_ref()
                .and_then(|d| d.reason.clone());
            let mut c = response.into_completion(now)?;
            c.content = self.gathered_content();
            let refused = !self.refusal.is_empty()
                && !c
                    .content
                    .iter()
                    .any(|b| matches!(b, ContentBlock::Text { .. } | ContentBlock::ToolUse { .. }));
            if refused {
                c.content
                    .push(ContentBlock::text(std::mem::take(&mut self.refusal)));
            }
            c.stop_reason = stop_reason(
                status.as_deref(),
                incomplete.as_deref(),
                &c.content,
                refused,
            );
            c
        } else {
            response.into_completion(now)?
        };
        if usage_estimated {
            completion.usage = estimate;
        }
        if completion.id.is_empty() {
            completion.id = self.id.clone();
        }
        if completion.provider_model.is_empty() {
            completion.provider_model = self.provider_model.clone();
            completion.model = self.provider_model.clone();
        }
        out.push(StreamEvent::Finished {
            completion,
            usage_estimated,
        });
        Ok(())
    }

    /// The blocks gathered from `output_item.done` events, and from deltas for items
    /// that never came done.
    fn gathered_content(&mut self) -> Vec<ContentBlock> {
        let blocks = std::mem::take(&mut self.blocks);
        blocks
            .into_iter()
            .enumerate()
            .filter_map(|(i, b)| {
                let pending = self.pending.remove(&i).unwrap_or_default();
                match b {
                    Some(ContentBlock::ToolUse { id, name, .. }) if !pending.is_empty() => {
                        let input =
                            serde_json::from_str(&pending).unwrap_or(Value::String(pending));
                        Some(ContentBlock::ToolUse { id, name, input })
                    }
                    Some(b) => Some(b),
                    None if !pending.is_empty() => Some(ContentBlock::text(pending)),
                    None => None,
                }
            })
            .collect()
    }
}

/// The output items that become blocks (the others are built-in tools' calls).
const KEPT_ITEMS: &[&str] = &["message", "function_call", "reasoning"];

impl StreamDecoder for ResponsesStream {
    fn on_event(
        &mut self,
        SseEvent { data, now, .. }: SseEvent<'_>,
        out: &mut Vec<StreamEvent>,
    ) -> Result<Flow, ProviderError> {
        let invalid = |e: String| ProviderError::InvalidResponse {
            message: format!("OpenAI response stream event: {e}"),
        };
        let value: Value = serde_json::from_str(data).map_err(|e| invalid(e.to_string()))?;
        let kind = value.get("type").and_then(Value::as_str).unwrap_or("");
        match kind {
            "error" => {
                // `{"type": "error", "code", "message", "param"}`; some servers nest it.
                // Its code means what a failed response's does (a client fault is not
                // retried); the event's own `type` is no error type.
                let error = match value.get("error").filter(|e| e.is_object()) {
                    Some(nested) => nested.clone(),
                    None => {
                        let mut flat = value.clone();
                        if let Some(o) = flat.as_object_mut() {
                            o.remove("type");
                        }
                        flat
                    }
                };
                return Err(failure(Some(&error), now));
            }
            "response.failed" => {
                let error = value.get("response").and_then(|r| r.get("error"));
                return Err(failure(error, now));
            }
            _ => {}
        }
        self.start(value.get("response"), out);
        match kind {
            "response.output_item.added" => self.on_item_added(&value, out),
            "response.output_item.done" => self.on_item_done(&value, out),
            "response.output_text.delta" => self.on_delta(&value, out, true),
            "response.function_call_arguments.delta" => self.on_delta(&value, out, false),
            "response.refusal.delta" => {
                self.refusal.push_str(value["delta"].as_str().unwrap_or(""));
            }
            "response.completed" | "response.incomplete" => {
                let response = value.get("response").cloned().unwrap_or(Value::Null);
                let response: WireResponse =
                    serde_json::from_value(response).map_err(|e| invalid(e.to_string()))?;
                if let Some(u) = response.usage {
                    self.usage = Some(u.into_usage());
                }
                self.finish(response, now, out)?;
                return Ok(Flow::Done);
            }
            _ => {}
        }
        Ok(Flow::Continue)
    }

    fn on_eof(&mut self, _out: &mut Vec<StreamEvent>) -> Result<(), ProviderError> {
        Err(ProviderError::Connection {
            message: "the stream ended before response.completed".into(),
        })
    }

    fn partial_usage(&self) -> Usage {
        self.usage.unwrap_or_else(|| self.estimated_usage())
    }
}
