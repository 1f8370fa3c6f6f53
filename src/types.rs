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
    /// The user (or the agent speaking for it); tool results travel in user turns.
    User,
    /// The model.
    Assistant,
}

/// One block of message content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ContentBlock {
    /// Plain text.
    Text {
        /// The text.
        text: String,
    },
    /// A tool call made by the assistant.
    ToolUse {
        /// The call's id, echoed by its result.
        id: String,
        /// The tool's name.
        name: String,
        /// The arguments, as the tool's input schema says.
        input: serde_json::Value,
    },
    /// The result of a tool call, sent back in a user turn.
    ToolResult {
        /// The id of the call this answers.
        tool_use_id: String,
        /// What the tool returned.
        content: String,
        /// Whether the tool failed.
        #[serde(default)]
        is_error: bool,
    },
    /// An image, passed through opaquely (Anthropic `source` object).
    Image {
        /// The Anthropic `source` object.
        source: serde_json::Value,
    },
}

impl ContentBlock {
    /// A text block.
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
    /// Who wrote it.
    pub role: Role,
    /// Its blocks, in order.
    pub content: Vec<ContentBlock>,
}

impl Message {
    /// A user turn of one text block.
    pub fn user(text: impl Into<String>) -> Self {
        Message {
            role: Role::User,
            content: vec![ContentBlock::text(text)],
        }
    }

    /// An assistant turn of one text block.
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
    /// The name the model calls it by.
    pub name: String,
    /// What it does, for the model.
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
    /// Trim to about `max_input_tokens`, dropping the oldest turns (no summary).
    pub fn new(max_input_tokens: u64) -> Self {
        TrimPolicy {
            max_input_tokens,
            summarize: false,
        }
    }
}

/// Broker options of a request: they shape how it is scheduled, not what the model answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
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
///
/// Build it with [`CompletionRequest::new`] (no messages yet) and the builder methods,
/// or [`CompletionRequest::prompt`] for one user message:
///
/// ```
/// use quotaswarm::CompletionRequest;
/// use std::time::Duration;
///
/// let req = CompletionRequest::new("claude")
///     .system("You are terse.")
///     .user("What is a token bucket?")
///     .assistant("A rate limiter that refills continuously.")
///     .user("And a leaky bucket?")
///     .max_tokens(200)
///     .temperature(0.2)
///     .max_wait(Duration::from_secs(5));
/// assert_eq!(req.messages.len(), 3);
///
/// let quick = CompletionRequest::prompt("haiku", "Say hello.").max_tokens(20);
/// assert_eq!(quick.messages.len(), 1);
/// ```
///
/// A request with no messages is refused by the broker (`BrokerError::InvalidRequest`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CompletionRequest {
    /// A model or ladder name from the config.
    pub target: String,
    /// The system prompt.
    #[serde(default)]
    pub system: Option<String>,
    /// The conversation, oldest turn first; it must start with a user turn.
    pub messages: Vec<Message>,
    /// The most tokens the reply may have (256 by default).
    pub max_tokens: u32,
    /// The sampling temperature (0 to 2); the provider's default when `None`.
    #[serde(default)]
    pub temperature: Option<f32>,
    /// Nucleus sampling (0 to 1); the provider's default when `None`.
    #[serde(default)]
    pub top_p: Option<f32>,
    /// Sequences that end the reply.
    #[serde(default)]
    pub stop: Vec<String>,
    /// Tools the model may call.
    #[serde(default)]
    pub tools: Vec<Tool>,
    /// Passed to providers that accept it (Anthropic `metadata`); does not shape the answer.
    #[serde(default)]
    pub metadata: Option<serde_json::Value>,
    /// How the broker schedules it (max wait, coalescing, trimming, floor).
    #[serde(default)]
    pub options: RequestOptions,
}

impl CompletionRequest {
    /// A request for `target` (a model or ladder name) with no messages yet, 256 reply
    /// tokens at most; add turns with [`user`](Self::user), [`assistant`](Self::assistant),
    /// [`message`](Self::message) or [`messages`](Self::messages).
    pub fn new(target: impl Into<String>) -> Self {
        CompletionRequest {
            target: target.into(),
            system: None,
            messages: Vec::new(),
            max_tokens: 256,
            temperature: None,
            top_p: None,
            stop: Vec::new(),
            tools: Vec::new(),
            metadata: None,
            options: RequestOptions::default(),
        }
    }

    /// A request for `target` with one user message: `new(target).user(text)`.
    pub fn prompt(target: impl Into<String>, text: impl Into<String>) -> Self {
        CompletionRequest::new(target).user(text)
    }

    /// Sets the system prompt.
    pub fn system(mut self, system: impl Into<String>) -> Self {
        self.system = Some(system.into());
        self
    }

    /// Appends a user turn of one text block.
    pub fn user(self, text: impl Into<String>) -> Self {
        self.message(Message::user(text))
    }

    /// Appends an assistant turn of one text block.
    pub fn assistant(self, text: impl Into<String>) -> Self {
        self.message(Message::assistant(text))
    }

    /// Appends a turn.
    pub fn message(mut self, message: Message) -> Self {
        self.messages.push(message);
        self
    }

    /// Appends these turns (a whole history, for instance).
    pub fn messages(mut self, messages: impl IntoIterator<Item = Message>) -> Self {
        self.messages.extend(messages);
        self
    }

    /// Replies of at most `max_tokens` tokens.
    pub fn max_tokens(mut self, max_tokens: u32) -> Self {
        self.max_tokens = max_tokens;
        self
    }

    /// Samples at this temperature (0 to 2).
    pub fn temperature(mut self, temperature: f32) -> Self {
        self.temperature = Some(temperature);
        self
    }

    /// Samples from the smallest set of tokens whose probability reaches `top_p` (0 to 1).
    pub fn top_p(mut self, top_p: f32) -> Self {
        self.top_p = Some(top_p);
        self
    }

    /// Adds a sequence that ends the reply.
    pub fn stop(mut self, sequence: impl Into<String>) -> Self {
        self.stop.push(sequence.into());
        self
    }

    /// Adds a tool the model may call.
    pub fn tool(mut self, tool: Tool) -> Self {
        self.tools.push(tool);
        self
    }

    /// Sets all the broker options at once.
    pub fn options(mut self, options: RequestOptions) -> Self {
        self.options = options;
        self
    }

    /// Wait at most this long for a rung before moving down the ladder.
    pub fn max_wait(mut self, d: Duration) -> Self {
        self.options.max_wait = Some(d);
        self
    }

    /// Merge with identical in-flight requests (the default) or not.
    pub fn coalesce(mut self, on: bool) -> Self {
        self.options.coalesce = on;
        self
    }

    /// Trim the history (oldest turns first) to about this many input tokens instead of
    /// refusing it.
    pub fn trim(mut self, max_input_tokens: u64) -> Self {
        self.options.trim = Some(TrimPolicy::new(max_input_tokens));
        self
    }

    /// Like [`CompletionRequest::trim`], replacing the dropped turns with a summary made
    /// on the ladder's cheapest rung.
    pub fn trim_with_summary(mut self, max_input_tokens: u64) -> Self {
        self.options.trim = Some(TrimPolicy {
            max_input_tokens,
            summarize: true,
        });
        self
    }

    /// Never fall below this rung of the ladder (0 = the first).
    pub fn floor(mut self, rung: usize) -> Self {
        self.options.floor = Some(rung);
        self
    }
}

/// Why the model stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum StopReason {
    /// The model finished its turn.
    EndTurn,
    /// The reply reached `max_tokens`.
    MaxTokens,
    /// The reply reached one of the stop sequences.
    StopSequence,
    /// The model called a tool and waits for its result.
    ToolUse,
    /// The model declined to answer.
    Refusal,
    /// The provider's content filter cut the reply (OpenAI).
    ContentFilter,
    /// A long turn paused, to be continued (Anthropic).
    PauseTurn,
    /// The request and reply outgrew the model's context window.
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
#[non_exhaustive]
pub struct Usage {
    /// Input tokens not read from or written to the cache.
    pub input_tokens: u64,
    /// Tokens of the reply.
    pub output_tokens: u64,
    /// Input tokens written to the prompt cache.
    #[serde(default)]
    pub cache_creation_input_tokens: u64,
    /// Input tokens read from the prompt cache.
    #[serde(default)]
    pub cache_read_input_tokens: u64,
}

impl Usage {
    /// The most tokens a provider's usage report is taken to say for one count; larger
    /// figures (a broken or hostile server) are clamped to it when decoded, so sums of
    /// counts can never overflow.
    pub const MAX_REPORTED: u64 = 1 << 40;

    /// Every input token, cached or not.
    pub fn total_input(&self) -> u64 {
        self.input_tokens
            .saturating_add(self.cache_creation_input_tokens)
            .saturating_add(self.cache_read_input_tokens)
    }
}

/// A model's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Completion {
    /// The provider's id of the reply.
    pub id: String,
    /// The config name of the model that answered (a ladder may have fallen back).
    pub model: String,
    /// The wire model name the provider reported.
    pub provider_model: String,
    /// The reply's blocks.
    pub content: Vec<ContentBlock>,
    /// Why the model stopped.
    pub stop_reason: StopReason,
    /// The stop sequence that ended the reply, if one did.
    #[serde(default)]
    pub stop_sequence: Option<String>,
    /// The tokens the provider billed.
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
