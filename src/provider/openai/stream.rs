//! OpenAI streaming (`docs/providers.md`, "OpenAI streaming"): the SSE decoder of one streamed chat completion.

use super::*;

/// The SSE decoder of one streamed chat completion (choice 0; `n > 1` is not streamed).
///
/// Data-only events: a role chunk, content deltas, `tool_calls` deltas keyed by their
/// `index` (id and name once, `arguments` concatenated), a chunk with `finish_reason`,
/// with `include_usage` a last chunk with `choices: []` and the usage, then `[DONE]`.
/// A payload with an `error` key is the failure. A stream that ends (or says `[DONE]`)
/// without usage finishes with output counted locally and `usage_estimated`.
#[derive(Debug)]
pub struct OpenAiStream {
    model: String,
    id: String,
    provider_model: String,
    started: bool,
    blocks: Vec<StreamBlock>,
    text_block: Option<usize>,
    tool_blocks: std::collections::HashMap<u64, usize>,
    refusal: String,
    finish_reason: Option<String>,
    usage: Option<Usage>,
}

#[derive(Debug)]
enum StreamBlock {
    Text(String),
    Tool {
        id: String,
        name: String,
        arguments: String,
        announced: bool,
    },
}

impl OpenAiStream {
    pub fn new(model: &str) -> Self {
        OpenAiStream {
            model: model.to_string(),
            id: String::new(),
            provider_model: model.to_string(),
            started: false,
            blocks: Vec::new(),
            text_block: None,
            tool_blocks: Default::default(),
            refusal: String::new(),
            finish_reason: None,
            usage: None,
        }
    }

    fn produced_text(&self) -> String {
        let mut s = self.refusal.clone();
        for b in &self.blocks {
            match b {
                StreamBlock::Text(t) => s.push_str(t),
                StreamBlock::Tool {
                    name, arguments, ..
                } => {
                    s.push_str(name);
                    s.push_str(arguments);
                }
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

    fn finish(&mut self, out: &mut Vec<StreamEvent>) {
        let (usage, usage_estimated) = match self.usage {
            Some(u) => (u, false),
            None => (self.estimated_usage(), true),
        };
        let mut content: Vec<ContentBlock> = std::mem::take(&mut self.blocks)
            .into_iter()
            .map(|b| match b {
                StreamBlock::Text(text) => ContentBlock::text(text),
                StreamBlock::Tool {
                    id,
                    name,
                    arguments,
                    ..
                } => {
                    let input = if arguments.trim().is_empty() {
                        serde_json::json!({})
                    } else {
                        serde_json::from_str(&arguments).unwrap_or(Value::String(arguments))
                    };
                    ContentBlock::ToolUse { id, name, input }
                }
            })
            .collect();
        let refused = content.is_empty() && !self.refusal.is_empty();
        if refused {
            content.push(ContentBlock::text(std::mem::take(&mut self.refusal)));
        }
        let stop_reason = if refused {
            StopReason::Refusal
        } else {
            self.finish_reason
                .as_deref()
                .map(StopReason::from_openai)
                .unwrap_or_else(|| StopReason::Other(String::new()))
        };
        out.push(StreamEvent::Finished {
            completion: Completion::from_provider(
                self.id.clone(),
                self.provider_model.clone(),
                content,
                stop_reason,
                usage,
            ),
            usage_estimated,
        });
    }

    fn on_tool_delta(&mut self, call: WireChunkToolCall, out: &mut Vec<StreamEvent>) {
        let index = match self.tool_blocks.get(&call.index) {
            Some(i) => *i,
            None => {
                self.blocks.push(StreamBlock::Tool {
                    id: String::new(),
                    name: String::new(),
                    arguments: String::new(),
                    announced: false,
                });
                let i = self.blocks.len() - 1;
                self.tool_blocks.insert(call.index, i);
                i
            }
        };
        let Some(StreamBlock::Tool {
            id,
            name,
            arguments,
            announced,
        }) = self.blocks.get_mut(index)
        else {
            return;
        };
        if let Some(new_id) = call.id.filter(|s| !s.is_empty()) {
            *id = new_id;
        }
        let (new_name, piece) = match call.function {
            Some(f) => (f.name, f.arguments.unwrap_or_default()),
            None => (None, String::new()),
        };
        if let Some(n) = new_name.filter(|s| !s.is_empty()) {
            *name = n;
        }
        arguments.push_str(&piece);
        if !*announced && !id.is_empty() && !name.is_empty() {
            *announced = true;
            out.push(StreamEvent::ToolUseStart {
                index,
                id: id.clone(),
                name: name.clone(),
            });
            // Arguments that came before the id and name are delivered now.
            if !arguments.is_empty() {
                out.push(StreamEvent::ToolInputDelta {
                    index,
                    partial_json: arguments.clone(),
                });
            }
        } else if *announced && !piece.is_empty() {
            out.push(StreamEvent::ToolInputDelta {
                index,
                partial_json: piece,
            });
        }
    }
}

impl StreamDecoder for OpenAiStream {
    fn on_event(
        &mut self,
        SseEvent { data, now, .. }: SseEvent<'_>,
        out: &mut Vec<StreamEvent>,
    ) -> Result<Flow, ProviderError> {
        if data.trim_start().starts_with("[DONE]") {
            self.finish(out);
            return Ok(Flow::Done);
        }
        let value: Value =
            serde_json::from_str(data).map_err(|e| ProviderError::InvalidResponse {
                message: format!("OpenAI stream chunk: {e}"),
            })?;
        if value.get("error").is_some_and(|e| !e.is_null()) {
            return Err(classify_stream_error(data.as_bytes(), now));
        }
        let chunk: WireChunk =
            serde_json::from_value(value).map_err(|e| ProviderError::InvalidResponse {
                message: format!("OpenAI stream chunk: {e}"),
            })?;
        if !self.started {
            self.started = true;
            self.id = chunk.id;
            if !chunk.model.is_empty() {
                self.provider_model = chunk.model;
            }
            out.push(StreamEvent::Started {
                id: self.id.clone(),
                provider_model: self.provider_model.clone(),
                usage: Usage::default(),
            });
        }
        for choice in chunk.choices.into_iter().filter(|c| c.index == 0) {
            if let Some(text) = choice.delta.content.filter(|t| !t.is_empty()) {
                let index = match self.text_block {
                    Some(i) => i,
                    None => {
                        self.blocks.push(StreamBlock::Text(String::new()));
                        let i = self.blocks.len() - 1;
                        self.text_block = Some(i);
                        i
                    }
                };
                if let Some(StreamBlock::Text(t)) = self.blocks.get_mut(index) {
                    t.push_str(&text);
                }
                out.push(StreamEvent::TextDelta { index, text });
            }
            if let Some(r) = choice.delta.refusal {
                self.refusal.push_str(&r);
            }
            for call in choice.delta.tool_calls.unwrap_or_default() {
                self.on_tool_delta(call, out);
            }
            if choice.finish_reason.is_some() {
                self.finish_reason = choice.finish_reason;
            }
        }
        if let Some(u) = chunk.usage {
            self.usage = Some(u.into_usage());
        }
        Ok(Flow::Continue)
    }

    fn on_eof(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), ProviderError> {
        if self.finish_reason.is_some() {
            // Cut after the last choice chunk (no usage chunk, no `[DONE]`): the content
            // is complete; usage is whatever arrived, else counted locally.
            self.finish(out);
            return Ok(());
        }
        Err(ProviderError::Connection {
            message: "the stream ended before finish_reason".into(),
        })
    }

    fn partial_usage(&self) -> Usage {
        self.usage.unwrap_or_else(|| self.estimated_usage())
    }
}

#[derive(Deserialize)]
struct WireChunk {
    #[serde(default)]
    id: String,
    #[serde(default)]
    model: String,
    #[serde(default)]
    choices: Vec<WireChunkChoice>,
    #[serde(default)]
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct WireChunkChoice {
    #[serde(default)]
    index: u64,
    #[serde(default)]
    delta: WireChunkDelta,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize, Default)]
struct WireChunkDelta {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    refusal: Option<String>,
    #[serde(default)]
    tool_calls: Option<Vec<WireChunkToolCall>>,
}

#[derive(Deserialize)]
struct WireChunkToolCall {
    #[serde(default)]
    index: u64,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    function: Option<WireChunkFunction>,
}

#[derive(Deserialize)]
struct WireChunkFunction {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    arguments: Option<String>,
}
