//! Anthropic streaming (`docs/providers.md`, "Anthropic streaming"): the SSE decoder of one streamed Messages response.

use super::*;

/// The SSE decoder of one streamed Messages response.
///
/// `message_start` gives the input-side usage; content blocks are assembled by `index`
/// (text appended, `citations_delta` appended to the text's citations,
/// `input_json_delta` concatenated and parsed at `content_block_stop`, `{}` when empty;
/// `thinking_delta` appended and `signature_delta` set on thinking blocks, which are
/// kept in the completion with redacted_thinking blocks, in order, for replay; any other
/// block — server-tool calls and results, unknown types — is kept whole as
/// [`ContentBlock::Raw`] from its `content_block_start`, a server tool call's
/// `input_json_delta`s parsed into its `input`, as the SDK's accumulator does); `message_delta.usage` *replaces* each field it carries (counts are
/// cumulative); `ping` and unknown events are skipped; an `error` event is the failure.
///
/// Thinking, redacted thinking and the blocks kept whole reach a consumer as one
/// [`StreamEvent::Block`] at their `content_block_stop` (not as deltas); citations as
/// [`StreamEvent::Citation`]s as they come.
/// With [`AnthropicStream::structured_output`], the call of the structured-output tool
/// streams as [`StreamEvent::TextDelta`]s of its JSON text (no `ToolUseStart`), and the
/// finished completion holds it as one text block (see the contract in `response.rs`);
/// the block's final text is the parsed input re-serialised, so its whitespace may
/// differ from the deltas'.
#[derive(Debug)]
pub struct AnthropicStream {
    /// The wire model asked for: picks the tokenizer for local counts.
    model: String,
    /// The structured-output tool's name, when the request asked for one.
    structured: Option<String>,
    id: String,
    provider_model: String,
    usage: Usage,
    blocks: std::collections::BTreeMap<usize, StreamBlock>,
    stop_reason: Option<String>,
    stop_sequence: Option<String>,
}

#[derive(Debug, Clone)]
enum StreamBlock {
    Text {
        text: String,
        citations: Option<Vec<serde_json::Value>>,
    },
    ToolUse {
        id: String,
        name: String,
        json: String,
        input: Option<serde_json::Value>,
    },
    Thinking {
        thinking: String,
        signature: String,
    },
    RedactedThinking(String),
    /// Other block types, kept whole; `json` gathers a server tool call's input.
    Other {
        block: serde_json::Map<String, serde_json::Value>,
        json: String,
    },
}

impl StreamBlock {
    /// The core block this stream block has become.
    fn into_content(self) -> ContentBlock {
        match self {
            StreamBlock::Text { text, citations } => ContentBlock::Text {
                text,
                cache_control: None,
                citations,
            },
            StreamBlock::ToolUse {
                id,
                name,
                json,
                input,
            } => ContentBlock::ToolUse {
                id,
                name,
                input: input.unwrap_or_else(|| parse_tool_input(json)),
            },
            StreamBlock::Thinking {
                thinking,
                signature,
            } => ContentBlock::Thinking {
                thinking,
                signature,
            },
            StreamBlock::RedactedThinking(data) => ContentBlock::RedactedThinking { data },
            StreamBlock::Other { mut block, json } => {
                if !json.trim().is_empty() {
                    block.insert("input".into(), parse_tool_input(json));
                }
                ContentBlock::Raw(block)
            }
        }
    }

    /// Whether the block reaches a consumer whole at its end ([`StreamEvent::Block`])
    /// rather than as deltas.
    fn is_delivered_whole(&self) -> bool {
        matches!(
            self,
            StreamBlock::Thinking { .. }
                | StreamBlock::RedactedThinking(_)
                | StreamBlock::Other { .. }
        )
    }
}

impl AnthropicStream {
    /// A decoder for a stream from wire model `model`.
    pub fn new(model: &str) -> Self {
        AnthropicStream {
            model: model.to_string(),
            structured: None,
            id: String::new(),
            provider_model: model.to_string(),
            usage: Usage::default(),
            blocks: Default::default(),
            stop_reason: None,
            stop_sequence: None,
        }
    }

    /// This decoder, for a request whose structured output is the tool `name`.
    pub fn structured_output(mut self, name: &str) -> Self {
        self.structured = Some(name.to_string());
        self
    }

    fn is_structured(&self, name: &str) -> bool {
        self.structured.as_deref() == Some(name)
    }

    fn completion(&mut self) -> Completion {
        let content: Vec<ContentBlock> = std::mem::take(&mut self.blocks)
            .into_values()
            .map(StreamBlock::into_content)
            .collect();
        let stop_reason = self
            .stop_reason
            .as_deref()
            .map(StopReason::from_anthropic)
            .unwrap_or_else(|| StopReason::Other(String::new()));
        let (content, stop_reason) = match &self.structured {
            Some(name) => response::structured_reply(name, content, stop_reason),
            None => (content, stop_reason),
        };
        Completion {
            stop_sequence: self.stop_sequence.clone(),
            ..Completion::from_provider(
                self.id.clone(),
                self.provider_model.clone(),
                content,
                stop_reason,
                self.usage,
            )
        }
    }
}

/// Concatenated `partial_json` as a value: `{}` when empty, the raw text when it does
/// not parse (as the non-streaming OpenAI decoder keeps unparsable arguments).
fn parse_tool_input(json: String) -> serde_json::Value {
    if json.trim().is_empty() {
        return serde_json::json!({});
    }
    serde_json::from_str(&json).unwrap_or(serde_json::Value::String(json))
}

fn invalid(what: &str, e: impl std::fmt::Display) -> ProviderError {
    ProviderError::InvalidResponse {
        message: format!("Anthropic stream {what}: {e}"),
    }
}

impl StreamDecoder for AnthropicStream {
    fn on_event(
        &mut self,
        SseEvent { event, data, now }: SseEvent<'_>,
        out: &mut Vec<StreamEvent>,
    ) -> Result<Flow, ProviderError> {
        match event {
            "error" => return Err(classify_stream_error(data.as_bytes(), now)),
            "ping" => return Ok(Flow::Continue),
            _ => {}
        }
        let wire: WireStreamEvent =
            serde_json::from_str(data).map_err(|e| invalid(&format!("event {event}"), e))?;
        match wire {
            WireStreamEvent::Error => return Err(classify_stream_error(data.as_bytes(), now)),
            WireStreamEvent::MessageStart { message } => {
                self.id = message.id;
                if !message.model.is_empty() {
                    self.provider_model = message.model;
                }
                self.usage = message.usage.into_usage();
                out.push(StreamEvent::Started {
                    id: self.id.clone(),
                    provider_model: self.provider_model.clone(),
                    usage: self.usage,
                });
            }
            WireStreamEvent::ContentBlockStart {
                index,
                content_block,
            } => {
                let block = match content_block {
                    WireResponseBlock::Text { text, citations } => {
                        if !text.is_empty() {
                            out.push(StreamEvent::TextDelta {
                                index,
                                text: text.clone(),
                            });
                        }
                        StreamBlock::Text { text, citations }
                    }
                    WireResponseBlock::ToolUse { id, name, .. } if self.is_structured(&name) => {
                        StreamBlock::ToolUse {
                            id,
                            name,
                            json: String::new(),
                            input: None,
                        }
                    }
                    WireResponseBlock::ToolUse { id, name, .. } => {
                        out.push(StreamEvent::ToolUseStart {
                            index,
                            id: id.clone(),
                            name: name.clone(),
                        });
                        StreamBlock::ToolUse {
                            id,
                            name,
                            json: String::new(),
                            input: None,
                        }
                    }
                    WireResponseBlock::Thinking {
                        thinking,
                        signature,
                    } => StreamBlock::Thinking {
                        thinking,
                        signature,
                    },
                    WireResponseBlock::RedactedThinking { data } => {
                        StreamBlock::RedactedThinking(data)
                    }
                    WireResponseBlock::Other(block) => StreamBlock::Other {
                        block,
                        json: String::new(),
                    },
                };
                self.blocks.insert(index, block);
            }
            WireStreamEvent::ContentBlockDelta { index, delta } => {
                match (self.blocks.get_mut(&index), delta) {
                    (
                        Some(StreamBlock::Text { text, .. }),
                        WireDelta::TextDelta { text: piece },
                    ) => {
                        text.push_str(&piece);
                        out.push(StreamEvent::TextDelta { index, text: piece });
                    }
                    (
                        Some(StreamBlock::Text { citations, .. }),
                        WireDelta::CitationsDelta { citation },
                    ) => {
                        out.push(StreamEvent::Citation {
                            index,
                            citation: citation.clone(),
                        });
                        citations.get_or_insert_with(Vec::new).push(citation);
                    }
                    (
                        Some(StreamBlock::Other { json, .. }),
                        WireDelta::InputJsonDelta { partial_json },
                    ) => json.push_str(&partial_json),
                    (
                        Some(StreamBlock::ToolUse { json, name, .. }),
                        WireDelta::InputJsonDelta { partial_json },
                    ) => {
                        json.push_str(&partial_json);
                        let structured = self.structured.as_deref() == Some(name.as_str());
                        if structured && !partial_json.is_empty() {
                            out.push(StreamEvent::TextDelta {
                                index,
                                text: partial_json,
                            });
                        } else if !structured {
                            out.push(StreamEvent::ToolInputDelta {
                                index,
                                partial_json,
                            });
                        }
                    }
                    (
                        Some(StreamBlock::Thinking { thinking, .. }),
                        WireDelta::ThinkingDelta { thinking: piece },
                    ) => thinking.push_str(&piece),
                    (
                        Some(StreamBlock::Thinking { signature, .. }),
                        WireDelta::SignatureDelta { signature: sig },
                    ) => *signature = sig,
                    (None, WireDelta::TextDelta { .. } | WireDelta::InputJsonDelta { .. }) => {
                        return Err(invalid(
                            "delta",
                            format!("content_block_delta for unopened block {index}"),
                        ))
                    }
                    // A delta of a kind this block does not take, or unknown.
                    _ => {}
                }
            }
            WireStreamEvent::ContentBlockStop { index } => match self.blocks.get_mut(&index) {
                Some(StreamBlock::ToolUse { json, input, .. }) => {
                    *input = Some(parse_tool_input(std::mem::take(json)));
                }
                Some(b) if b.is_delivered_whole() => {
                    let block = b.clone().into_content();
                    out.push(StreamEvent::Block { index, block });
                }
                _ => {}
            },
            WireStreamEvent::MessageDelta { delta, usage } => {
                if delta.stop_reason.is_some() {
                    self.stop_reason = delta.stop_reason;
                    self.stop_sequence = delta.stop_sequence;
                }
                if let Some(u) = usage {
                    u.overlay(&mut self.usage);
                }
            }
            WireStreamEvent::MessageStop => {
                out.push(StreamEvent::Finished {
                    completion: self.completion(),
                    usage_estimated: false,
                });
                return Ok(Flow::Done);
            }
            WireStreamEvent::Ping | WireStreamEvent::Unknown => {}
        }
        Ok(Flow::Continue)
    }

    fn on_eof(&mut self, _out: &mut Vec<StreamEvent>) -> Result<(), ProviderError> {
        Err(ProviderError::Connection {
            message: "the stream ended before message_stop".into(),
        })
    }

    fn partial_usage(&self) -> Usage {
        let mut produced = String::new();
        for b in self.blocks.values() {
            match b {
                StreamBlock::Text { text, .. } => produced.push_str(text),
                StreamBlock::ToolUse { json, input, .. } => match input {
                    Some(v) => produced.push_str(&v.to_string()),
                    None => produced.push_str(json),
                },
                // Thinking tokens are output tokens.
                StreamBlock::Thinking { thinking, .. } => produced.push_str(thinking),
                StreamBlock::Other { json, .. } => produced.push_str(json),
                StreamBlock::RedactedThinking(_) => {}
            }
        }
        let mut usage = self.usage;
        usage.output_tokens = usage
            .output_tokens
            .max(count_output(&self.model, &produced));
        usage
    }
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum WireStreamEvent {
    MessageStart {
        message: WireStreamMessage,
    },
    ContentBlockStart {
        index: usize,
        content_block: WireResponseBlock,
    },
    ContentBlockDelta {
        index: usize,
        delta: WireDelta,
    },
    ContentBlockStop {
        index: usize,
    },
    MessageDelta {
        #[serde(default)]
        delta: WireMessageDelta,
        #[serde(default)]
        usage: Option<WireUsage>,
    },
    MessageStop,
    Ping,
    Error,
    #[serde(other)]
    Unknown,
}

#[derive(Deserialize)]
struct WireStreamMessage {
    #[serde(default)]
    id: String,
    #[serde(default)]
    model: String,
    #[serde(default)]
    usage: WireUsage,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum WireDelta {
    TextDelta {
        text: String,
    },
    InputJsonDelta {
        #[serde(default)]
        partial_json: String,
    },
    ThinkingDelta {
        #[serde(default)]
        thinking: String,
    },
    SignatureDelta {
        #[serde(default)]
        signature: String,
    },
    CitationsDelta {
        citation: serde_json::Value,
    },
    #[serde(other)]
    Unknown,
}

#[derive(Deserialize, Default)]
struct WireMessageDelta {
    #[serde(default)]
    stop_reason: Option<String>,
    #[serde(default)]
    stop_sequence: Option<String>,
}
