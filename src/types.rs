//! Provider-neutral core types: messages, requests, completions and usage.
//!
//! These are what agents build and receive. Each provider module converts them to and
//! from its own private wire types, so nothing here knows about Anthropic or OpenAI.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Who wrote a message. The system prompt is not a role: it is `CompletionRequest::system`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Assistant,
}

/// One block of message content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ContentBlock {
    Text {
        text: String,
    },
    /// A tool call made by the assistant.
    ToolUse {
        id: String,
        name: String,
        input: serde_json::Value,
    },
    /// The result of a tool call, sent back in a user turn.
    ToolResult {
        tool_use_id: String,
        content: String,
        #[serde(default)]
        is_error: bool,
    },
    /// An image, passed through opaquely (Anthropic `source` object).
    Image {
        source: serde_json::Value,
    },
}

impl ContentBlock {
    pub fn text(text: impl Into<String>) -> Self {
        ContentBlock::Text { text: text.into() }
    }

    /// The text this block carries, if it is a text block.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            ContentBlock::Text { text } => Some(text),
            _ => None,
        }
    }
}

/// One turn of a conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub role: Role,
    pub content: Vec<ContentBlock>,
}

impl Message {
    pub fn user(text: impl Into<String>) -> Self {
        Message {
            role: Role::User,
            content: vec![ContentBlock::text(text)],
        }
    }

    pub fn assistant(text: impl Into<String>) -> Self {
        Message {
            role: Role::Assistant,
            content: vec![ContentBlock::text(text)],
        }
    }

    /// All text blocks joined with newlines.
    pub fn text(&self) -> String {
        join_text(&self.content)
    }
}

pub(crate) fn join_text(blocks: &[ContentBlock]) -> String {
    let texts: Vec<&str> = blocks.iter().filter_map(ContentBlock::as_text).collect();
    texts.join("\n")
}

/// A tool the model may call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tool {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// JSON Schema of the tool's input (`type: object`).
    pub input_schema: serde_json::Value,
}

/// How a history that has grown too large is cut down.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TrimPolicy {
    /// The most input tokens (estimated) a request may carry after trimming.
    pub max_input_tokens: u64,
    /// Replace dropped turns with a summary made on the ladder's cheapest model.
    #[serde(default)]
    pub summarize: bool,
}

impl TrimPolicy {
    pub fn new(max_input_tokens: u64) -> Self {
        TrimPolicy {
            max_input_tokens,
            summarize: false,
        }
    }
}

/// Broker options of a request: they shape how it is scheduled, not what the model answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestOptions {
    /// The longest this request may wait for a rung (queue, pauses and backoff included)
    /// before moving down its ladder. On the last rung (or its floor) it waits as long as
    /// it takes. `None`: a ladder uses the broker's `ladder_max_wait`.
    #[serde(default, with = "opt_duration_ms")]
    pub max_wait: Option<Duration>,
    /// Merge with identical in-flight requests (default true).
    #[serde(default = "yes")]
    pub coalesce: bool,
    /// Trim the history to this budget instead of refusing it.
    #[serde(default)]
    pub trim: Option<TrimPolicy>,
    /// Never fall below this rung of the ladder (0 = the first rung).
    #[serde(default)]
    pub floor: Option<usize>,
}

fn yes() -> bool {
    true
}

impl Default for RequestOptions {
    fn default() -> Self {
        RequestOptions {
            max_wait: None,
            coalesce: true,
            trim: None,
            floor: None,
        }
    }
}

/// What an agent asks for. `target` names a model or a ladder from the config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompletionRequest {
    pub target: String,
    #[serde(default)]
    pub system: Option<String>,
    pub messages: Vec<Message>,
    pub max_tokens: u32,
    #[serde(default)]
    pub temperature: Option<f32>,
    #[serde(default)]
    pub top_p: Option<f32>,
    #[serde(default)]
    pub stop: Vec<String>,
    #[serde(default)]
    pub tools: Vec<Tool>,
    /// Passed to providers that accept it (Anthropic `metadata`); does not shape the answer.
    #[serde(default)]
    pub metadata: Option<serde_json::Value>,
    #[serde(default)]
    pub options: RequestOptions,
}

impl CompletionRequest {
    /// A request for `target` (a model or ladder name) with one user message.
    pub fn new(target: impl Into<String>, user: impl Into<String>) -> Self {
        CompletionRequest {
            target: target.into(),
            system: None,
            messages: vec![Message::user(user)],
            max_tokens: 256,
            temperature: None,
            top_p: None,
            stop: Vec::new(),
            tools: Vec::new(),
            metadata: None,
            options: RequestOptions::default(),
        }
    }

    pub fn with_system(mut self, system: impl Into<String>) -> Self {
        self.system = Some(system.into());
        self
    }

    pub fn with_max_tokens(mut self, max_tokens: u32) -> Self {
        self.max_tokens = max_tokens;
        self
    }

    pub fn with_temperature(mut self, temperature: f32) -> Self {
        self.temperature = Some(temperature);
        self
    }

    pub fn with_messages(mut self, messages: Vec<Message>) -> Self {
        self.messages = messages;
        self
    }
}

/// Why the model stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    EndTurn,
    MaxTokens,
    StopSequence,
    ToolUse,
    Refusal,
    ContentFilter,
    PauseTurn,
    ContextWindowExceeded,
    /// A value this version does not know.
    Other(String),
}

impl StopReason {
    /// From an Anthropic `stop_reason`.
    pub fn from_anthropic(s: &str) -> Self {
        match s {
            "end_turn" => StopReason::EndTurn,
            "max_tokens" => StopReason::MaxTokens,
            "stop_sequence" => StopReason::StopSequence,
            "tool_use" => StopReason::ToolUse,
            "refusal" => StopReason::Refusal,
            "pause_turn" => StopReason::PauseTurn,
            "model_context_window_exceeded" => StopReason::ContextWindowExceeded,
            other => StopReason::Other(other.to_string()),
        }
    }

    /// From an OpenAI `finish_reason`.
    pub fn from_openai(s: &str) -> Self {
        match s {
            "stop" => StopReason::EndTurn,
            "length" => StopReason::MaxTokens,
            "tool_calls" | "function_call" => StopReason::ToolUse,
            "content_filter" => StopReason::ContentFilter,
            other => StopReason::Other(other.to_string()),
        }
    }
}

/// Token usage as the provider reported it.
///
/// `input_tokens` excludes cache reads and writes (Anthropic semantics); for OpenAI,
/// `input_tokens = prompt_tokens − cached_tokens` and `cache_read_input_tokens = cached_tokens`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    #[serde(default)]
    pub cache_creation_input_tokens: u64,
    #[serde(default)]
    pub cache_read_input_tokens: u64,
}

impl Usage {
    /// Every input token, cached or not.
    pub fn total_input(&self) -> u64 {
        self.input_tokens + self.cache_creation_input_tokens + self.cache_read_input_tokens
    }
}

/// A model's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Completion {
    pub id: String,
    /// The config name of the model that answered (a ladder may have fallen back).
    pub model: String,
    /// The wire model name the provider reported.
    pub provider_model: String,
    pub content: Vec<ContentBlock>,
    pub stop_reason: StopReason,
    #[serde(default)]
    pub stop_sequence: Option<String>,
    pub usage: Usage,
}

impl Completion {
    /// All text blocks joined with newlines.
    pub fn text(&self) -> String {
        join_text(&self.content)
    }

    /// The reply as an assistant message, ready to append to a history.
    pub fn to_message(&self) -> Message {
        Message {
            role: Role::Assistant,
            content: self.content.clone(),
        }
    }
}

mod opt_duration_ms {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&(d.as_millis() as u64)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<u64>::deserialize(d)?.map(Duration::from_millis))
    }
}
