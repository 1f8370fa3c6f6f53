//! Provider-neutral core types: messages, requests, completions and usage.
//!
//! These are what agents build and receive. Each provider module converts them to and
//! from its own private wire types, so nothing here knows about Anthropic or OpenAI.

use serde::{Deserialize, Serialize};
use std::time::Duration;

mod cache;
pub(crate) mod counts;
mod extra;
mod reasoning;
#[cfg(test)]
pub(crate) mod test_reply;
#[cfg(test)]
pub(crate) mod test_seed;
mod tools;

pub use cache::{CacheControl, CacheTtl};
pub use counts::MessageCounts;
pub use extra::{is_secret_header, ExtraHeaders};
pub use reasoning::{ReasoningEffort, Thinking, ThinkingKind};
pub use tools::{OutputSchema, Tool, ToolChoice};

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
///
/// `cache_control` marks an Anthropic prompt-cache breakpoint after the block (see
/// [`CacheControl`]); other providers ignore it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ContentBlock {
    /// Plain text.
    Text {
        /// The text.
        text: String,
        /// A cache breakpoint after this block.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cache_control: Option<CacheControl>,
        /// The sources this text cites (Anthropic citations: `char_location`,
        /// `page_location`, `web_search_result_location`, ... objects), kept whole and
        /// sent back unchanged. `None` when the block cites nothing.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        citations: Option<Vec<serde_json::Value>>,
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
        /// What the tool returned: text and image blocks (a plain string is read as one
        /// text block).
        #[serde(deserialize_with = "blocks_or_string")]
        content: Vec<ContentBlock>,
        /// Whether the tool failed.
        #[serde(default)]
        is_error: bool,
        /// A cache breakpoint after this block.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cache_control: Option<CacheControl>,
    },
    /// An image, passed through opaquely (Anthropic `source` object).
    Image {
        /// The Anthropic `source` object.
        source: serde_json::Value,
        /// A cache breakpoint after this block.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cache_control: Option<CacheControl>,
    },
    /// The model's visible reasoning (Anthropic extended thinking). Kept in histories and
    /// sent back unchanged: a tool loop must replay it with its signature.
    Thinking {
        /// The reasoning text.
        thinking: String,
        /// The provider's signature over it.
        signature: String,
    },
    /// Reasoning the provider encrypted; replayed unchanged like [`ContentBlock::Thinking`].
    RedactedThinking {
        /// The opaque payload.
        data: String,
    },
    /// An OpenAI Responses reasoning item: kept in histories and replayed (with its
    /// `encrypted_content`) so a reasoning model's tool loop keeps its chain of thought.
    Reasoning {
        /// The item's id (`rs_…`).
        id: String,
        /// The reasoning summary's texts (empty unless a summary was asked for).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        summary: Vec<String>,
        /// The reasoning, encrypted by the provider (asked for with `include`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        encrypted_content: Option<String>,
    },
    /// A document for the model to read: a PDF or plain text (Anthropic `document`
    /// block; on OpenAI Chat a `file` part). Build it with [`ContentBlock::pdf_base64`],
    /// [`ContentBlock::pdf_url`] or [`ContentBlock::text_document`].
    Document {
        /// The Anthropic `source` object: `{"type": "base64", "media_type":
        /// "application/pdf", "data"}`, `{"type": "url", "url"}`, `{"type": "text",
        /// "media_type": "text/plain", "data"}`, `{"type": "file", "file_id"}`, ...
        source: serde_json::Value,
        /// A title for the model (and the file name on OpenAI).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        title: Option<String>,
        /// Context about the document the model reads but does not cite.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        context: Option<String>,
        /// `{"enabled": true}` asks the model to cite passages of the document.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        citations: Option<serde_json::Value>,
        /// A cache breakpoint after this block.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cache_control: Option<CacheControl>,
    },
    /// Any other block, kept whole as the provider sent it and sent back verbatim:
    /// server-tool calls and results (`server_tool_use`, `web_search_tool_result`,
    /// `code_execution_tool_result`, ...), `search_result` blocks, and types this
    /// version does not know yet. The object holds its own `"type"`. The runtime does
    /// not interpret it; the OpenAI Chat wire, which has no such blocks, leaves it out.
    /// Only an object with a string `"type"` reads as one.
    #[serde(untagged, deserialize_with = "typed_object")]
    Raw(serde_json::Map<String, serde_json::Value>),
}

impl ContentBlock {
    /// A text block.
    pub fn text(text: impl Into<String>) -> Self {
        ContentBlock::Text {
            text: text.into(),
            cache_control: None,
            citations: None,
        }
    }

    /// An image fetched by the provider from `url` (Anthropic `{"type": "url"}` source;
    /// an `image_url` part on OpenAI).
    pub fn image_url(url: impl Into<String>) -> Self {
        ContentBlock::Image {
            source: serde_json::json!({"type": "url", "url": url.into()}),
            cache_control: None,
        }
    }

    /// A PDF given as base64 `data`.
    pub fn pdf_base64(data: impl Into<String>) -> Self {
        Self::document(serde_json::json!({
            "type": "base64",
            "media_type": "application/pdf",
            "data": data.into(),
        }))
    }

    /// A PDF the provider fetches from `url` (Anthropic only: OpenAI Chat takes files
    /// as data, and refuses this block).
    pub fn pdf_url(url: impl Into<String>) -> Self {
        Self::document(serde_json::json!({"type": "url", "url": url.into()}))
    }

    /// A plain-text document (Anthropic `text` source), which the model can cite.
    pub fn text_document(text: impl Into<String>) -> Self {
        Self::document(serde_json::json!({
            "type": "text",
            "media_type": "text/plain",
            "data": text.into(),
        }))
    }

    fn document(source: serde_json::Value) -> Self {
        ContentBlock::Document {
            source,
            title: None,
            context: None,
            citations: None,
            cache_control: None,
        }
    }

    /// This document block with a title; other blocks are returned unchanged.
    pub fn titled(mut self, name: impl Into<String>) -> Self {
        if let ContentBlock::Document { title, .. } = &mut self {
            *title = Some(name.into());
        }
        self
    }

    /// This document block with citations enabled (`{"enabled": true}`); other blocks
    /// are returned unchanged.
    pub fn with_citations(mut self) -> Self {
        if let ContentBlock::Document { citations, .. } = &mut self {
            *citations = Some(serde_json::json!({"enabled": true}));
        }
        self
    }

    /// The `type` of a block kept whole ([`ContentBlock::Raw`]), e.g.
    /// `"web_search_tool_result"`; `None` for the others.
    pub fn raw_type(&self) -> Option<&str> {
        match self {
            ContentBlock::Raw(block) => block.get("type")?.as_str(),
            _ => None,
        }
    }

    /// A tool call the model made (an assistant turn's block, echoed back in a history).
    pub fn tool_use(
        id: impl Into<String>,
        name: impl Into<String>,
        input: serde_json::Value,
    ) -> Self {
        ContentBlock::ToolUse {
            id: id.into(),
            name: name.into(),
            input,
        }
    }

    /// A successful tool result of one text block.
    pub fn tool_result(tool_use_id: impl Into<String>, text: impl Into<String>) -> Self {
        ContentBlock::ToolResult {
            tool_use_id: tool_use_id.into(),
            content: vec![ContentBlock::text(text)],
            is_error: false,
            cache_control: None,
        }
    }

    /// A failed tool result (`is_error`) of one text block.
    pub fn tool_error(tool_use_id: impl Into<String>, text: impl Into<String>) -> Self {
        ContentBlock::ToolResult {
            tool_use_id: tool_use_id.into(),
            content: vec![ContentBlock::text(text)],
            is_error: true,
            cache_control: None,
        }
    }

    /// The text this block carries, if it is a text block.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            ContentBlock::Text { text, .. } => Some(text),
            _ => None,
        }
    }

    /// This block with a cache breakpoint after it, where the block can carry one (text,
    /// image, document, tool result); other blocks are returned unchanged.
    pub fn cached(mut self, cache: CacheControl) -> Self {
        self.set_cache_control(Some(cache));
        self
    }

    /// The block's cache breakpoint, if it has one.
    pub fn cache_control(&self) -> Option<CacheControl> {
        match self {
            ContentBlock::Text { cache_control, .. }
            | ContentBlock::Image { cache_control, .. }
            | ContentBlock::Document { cache_control, .. }
            | ContentBlock::ToolResult { cache_control, .. } => *cache_control,
            _ => None,
        }
    }

    /// Sets or clears the block's cache breakpoint; returns false when this kind of block
    /// cannot carry one.
    pub fn set_cache_control(&mut self, cache: Option<CacheControl>) -> bool {
        match self {
            ContentBlock::Text { cache_control, .. }
            | ContentBlock::Image { cache_control, .. }
            | ContentBlock::Document { cache_control, .. }
            | ContentBlock::ToolResult { cache_control, .. } => {
                *cache_control = cache;
                true
            }
            _ => false,
        }
    }

    /// The text of a tool result's text blocks, joined with newlines (empty for others).
    pub fn tool_result_text(&self) -> String {
        match self {
            ContentBlock::ToolResult { content, .. } => join_text(content),
            _ => String::new(),
        }
    }
}

/// A JSON object with a string `"type"`: what a block kept whole must be.
fn typed_object<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<serde_json::Map<String, serde_json::Value>, D::Error> {
    let block = serde_json::Map::deserialize(d)?;
    match block.get("type") {
        Some(serde_json::Value::String(_)) => Ok(block),
        _ => Err(serde::de::Error::custom(
            "a content block needs a string \"type\"",
        )),
    }
}

fn blocks_or_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<ContentBlock>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        Text(String),
        Blocks(Vec<ContentBlock>),
    }
    Ok(match Either::deserialize(d)? {
        Either::Text(t) => vec![ContentBlock::text(t)],
        Either::Blocks(b) => b,
    })
}

fn system_blocks<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<ContentBlock>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        Text(String),
        Blocks(Vec<ContentBlock>),
    }
    Ok(match Option::<Either>::deserialize(d)? {
        None => Vec::new(),
        Some(Either::Text(t)) => vec![ContentBlock::text(t)],
        Some(Either::Blocks(b)) => b,
    })
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
    /// How much longer this ladder request waits for each step up its ladder rather than
    /// spill to a lower rung that would finish it sooner. `None`: the broker's
    /// `ladder_prefer` (by default, its max wait); zero: the rung projected to finish it
    /// first.
    #[serde(default, with = "opt_duration_ms")]
    pub prefer: Option<Duration>,
    /// Automatic prompt-cache breakpoints (Anthropic): `None` follows the model's config
    /// (`auto_cache`, on by default for Anthropic models), `Some(false)` turns them off for
    /// this request. Breakpoints the request places itself are always kept.
    #[serde(default)]
    pub auto_cache: Option<bool>,
    /// The reuse window for this request: an identical request answered within this
    /// long is answered again from that completion, without a provider call. `None`
    /// follows the model's config (`reuse_secs`, off by default); `Some(ZERO)` turns it
    /// off for this request.
    #[serde(default, with = "opt_duration_ms")]
    pub reuse: Option<Duration>,
    /// The token counts of this conversation's messages, remembered between requests so
    /// one more turn is estimated from its new messages alone (see
    /// [`MessageCounts`]). Not sent, not part of equality.
    #[serde(skip)]
    pub counts: Option<MessageCounts>,
    /// Extra HTTP headers (e.g. `anthropic-beta`) over the provider's and the model's
    /// (see `extra.rs`, [`CompletionRequest::header`]).
    #[serde(default, skip_serializing_if = "ExtraHeaders::is_empty")]
    pub headers: ExtraHeaders,
    /// JSON fields merged into the body at the top level, over the model's `extra_body`
    /// ([`CompletionRequest::extra_body`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra_body: Option<serde_json::Map<String, serde_json::Value>>,
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
            prefer: None,
            auto_cache: None,
            reuse: None,
            counts: None,
            headers: ExtraHeaders::default(),
            extra_body: None,
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
    /// The system prompt, as text blocks (each may carry a cache breakpoint); empty when
    /// there is none. A plain string deserializes as one block.
    #[serde(default, deserialize_with = "system_blocks")]
    pub system: Vec<ContentBlock>,
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
    /// Only sample from the `top_k` likeliest tokens (Anthropic).
    #[serde(default)]
    pub top_k: Option<u32>,
    /// Tools the model may call.
    #[serde(default)]
    pub tools: Vec<Tool>,
    /// Which tool the model must call; the provider's default (auto) when `None`.
    #[serde(default)]
    pub tool_choice: Option<ToolChoice>,
    /// Allow several tool calls in one turn (Anthropic `disable_parallel_tool_use` is its
    /// negation, OpenAI `parallel_tool_calls`); the provider's default (on) when `None`.
    #[serde(default)]
    pub parallel_tool_calls: Option<bool>,
    /// A JSON Schema the reply must follow (structured output).
    #[serde(default)]
    pub response_format: Option<OutputSchema>,
    /// Anthropic thinking: budget (its budget is part of `max_tokens`) or adaptive.
    #[serde(default)]
    pub thinking: Option<Thinking>,
    /// How hard the model thinks (OpenAI `reasoning_effort`, Anthropic
    /// `output_config.effort`).
    #[serde(default)]
    pub reasoning_effort: Option<ReasoningEffort>,
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
            system: Vec::new(),
            messages: Vec::new(),
            max_tokens: 256,
            temperature: None,
            top_p: None,
            top_k: None,
            stop: Vec::new(),
            tools: Vec::new(),
            tool_choice: None,
            parallel_tool_calls: None,
            response_format: None,
            thinking: None,
            reasoning_effort: None,
            metadata: None,
            options: RequestOptions::default(),
        }
    }

    /// A request for `target` with one user message: `new(target).user(text)`.
    pub fn prompt(target: impl Into<String>, text: impl Into<String>) -> Self {
        CompletionRequest::new(target).user(text)
    }

    /// Asks another target (a model or ladder name), keeping everything else.
    pub fn target(mut self, target: impl Into<String>) -> Self {
        self.target = target.into();
        self
    }

    /// Sets the system prompt (one text block, replacing any before).
    pub fn system(mut self, system: impl Into<String>) -> Self {
        self.system = vec![ContentBlock::text(system)];
        self
    }

    /// Sets the system prompt with a cache breakpoint after it.
    pub fn system_cached(mut self, system: impl Into<String>, cache: CacheControl) -> Self {
        self.system = vec![ContentBlock::text(system).cached(cache)];
        self
    }

    /// The system prompt's text, blocks joined with newlines (empty when there is none).
    pub fn system_text(&self) -> String {
        join_text(&self.system)
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
        if self.messages.is_empty() {
            // A `Vec` is taken as it is (`extend` would reserve at least four messages:
            // 128 bytes for a one-message request, held while it waits).
            self.messages = messages.into_iter().collect();
        } else {
            self.messages.extend(messages);
        }
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

    /// Says which tool, if any, the model must call.
    pub fn tool_choice(mut self, choice: ToolChoice) -> Self {
        self.tool_choice = Some(choice);
        self
    }

    /// Allows or forbids several tool calls in one turn.
    pub fn parallel_tool_calls(mut self, on: bool) -> Self {
        self.parallel_tool_calls = Some(on);
        self
    }

    /// Only samples from the `k` likeliest tokens (Anthropic).
    pub fn top_k(mut self, k: u32) -> Self {
        self.top_k = Some(k);
        self
    }

    /// Asks for a reply that follows this JSON Schema.
    pub fn response_format(mut self, schema: OutputSchema) -> Self {
        self.response_format = Some(schema);
        self
    }

    /// Turns on Anthropic budget thinking with this budget (part of `max_tokens`).
    pub fn thinking(mut self, budget_tokens: u32) -> Self {
        self.thinking = Some(Thinking::budget(budget_tokens));
        self
    }

    /// Turns on Anthropic adaptive thinking (the model decides how much to think; steer
    /// it with [`reasoning_effort`](Self::reasoning_effort)).
    pub fn adaptive_thinking(mut self) -> Self {
        self.thinking = Some(Thinking::adaptive());
        self
    }

    /// Sets how hard the model thinks: OpenAI `reasoning_effort`, Anthropic
    /// `output_config.effort` (each model takes the values its preset lists).
    pub fn reasoning_effort(mut self, effort: ReasoningEffort) -> Self {
        self.reasoning_effort = Some(effort);
        self
    }

    /// Turns the broker's automatic cache breakpoints on or off for this request.
    pub fn auto_cache(mut self, on: bool) -> Self {
        self.options.auto_cache = Some(on);
        self
    }

    /// Answers an identical request answered within `window` again from that completion,
    /// without a provider call (`Duration::ZERO` turns reuse off for this request).
    pub fn reuse(mut self, window: Duration) -> Self {
        self.options.reuse = Some(window);
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

    /// Wait up to `secs` longer per step up the ladder rather than spill to a lower rung
    /// that would finish sooner (0: wherever it finishes first). Negative or NaN counts
    /// as 0; too large for a `Duration`, as never spilling.
    pub fn prefer_secs(mut self, secs: f64) -> Self {
        let d = Duration::try_from_secs_f64(secs.max(0.0)).unwrap_or(Duration::MAX);
        self.options.prefer = Some(d);
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
/// `input_tokens = prompt_tokens − cached_tokens`, `cache_read_input_tokens = cached_tokens`
/// and `reasoning_tokens` is the part of `output_tokens` spent reasoning.
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
    /// Of `cache_creation_input_tokens`, those written with the 1-hour TTL (Anthropic
    /// `cache_creation.ephemeral_1h_input_tokens`), priced at twice the input price
    /// instead of 1.25×.
    #[serde(default)]
    pub cache_creation_1h_input_tokens: u64,
    /// Of `output_tokens`, those the model spent reasoning (OpenAI
    /// `completion_tokens_details.reasoning_tokens`). Already inside `output_tokens`,
    /// which is what is billed and priced; reported apart so a run shows them.
    #[serde(default)]
    pub reasoning_tokens: u64,
    /// Web searches run by a server tool (Anthropic `server_tool_use.web_search_requests`),
    /// which Anthropic bills per search on top of the tokens.
    #[serde(default)]
    pub web_search_requests: u64,
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
    /// True when this is a recent completion answered again from the reuse window (see
    /// [`RequestOptions::reuse`]): no provider call was made for it, and `usage` is what
    /// the original call was billed.
    #[serde(default)]
    pub reused: bool,
}

impl Completion {
    /// A reply as provider wire model `provider_model` sent it: `model` starts as the
    /// wire name too (the broker overwrites it with the config name); no stop sequence,
    /// not reused.
    pub fn from_provider(
        id: String,
        provider_model: String,
        content: Vec<ContentBlock>,
        stop_reason: StopReason,
        usage: Usage,
    ) -> Completion {
        Completion {
            id,
            model: provider_model.clone(),
            provider_model,
            content,
            stop_reason,
            stop_sequence: None,
            usage,
            reused: false,
        }
    }

    /// All text blocks joined with newlines.
    pub fn text(&self) -> String {
        join_text(&self.content)
    }

    /// The tool calls in the reply: `(id, name, input)`, in order.
    pub fn tool_uses(&self) -> impl Iterator<Item = (&str, &str, &serde_json::Value)> {
        self.content.iter().filter_map(|b| match b {
            ContentBlock::ToolUse { id, name, input } => Some((id.as_str(), name.as_str(), input)),
            _ => None,
        })
    }

    /// The reply as an assistant message, ready to append to a history (thinking blocks
    /// included, so a tool loop replays them as the API requires).
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
