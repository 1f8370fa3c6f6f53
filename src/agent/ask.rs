//! [`Ask`] (how an agent asks: target, reply budget, broker options) and [`History`]
//! (a conversation an agent keeps).

use crate::tokens::MessageCounts;
use crate::types::{Completion, CompletionRequest, Message, RequestOptions, Role, TrimPolicy};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How to ask the broker: the target (a model or a ladder), `max_tokens` and the broker
/// options (max wait, trim policy, coalescing, floor). Cheap to clone; build it once per
/// agent and reuse it for every request.
///
/// ```
/// use quotaswarm::agent::Ask;
/// use std::time::Duration;
/// let ask = Ask::new("claude")
///     .max_tokens(200)
///     .max_wait(Duration::from_secs(5)) // then move down the ladder
///     .trim(4_000) // trim the history to about 4,000 input tokens
///     .coalesce(true);
/// let req = ask.prompt("Name three queueing disciplines.");
/// assert_eq!(req.target, "claude");
/// assert_eq!(req.max_tokens, 200);
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Ask {
    /// A model or ladder name from the config.
    pub target: String,
    /// The most tokens a reply may have.
    pub max_tokens: u32,
    /// The sampling temperature; the provider's default when `None`.
    pub temperature: Option<f32>,
    /// How the broker schedules the requests (see [`RequestOptions`]).
    pub options: RequestOptions,
}

impl Ask {
    /// Asks `target` (a model or ladder name from the config), 256 tokens at most.
    pub fn new(target: impl Into<String>) -> Self {
        Ask {
            target: target.into(),
            max_tokens: 256,
            temperature: None,
            options: RequestOptions::default(),
        }
    }

    /// Asks another target (a model or ladder), with the same settings.
    pub fn target(mut self, target: impl Into<String>) -> Self {
        self.target = target.into();
        self
    }

    /// Replies of at most `n` tokens.
    pub fn max_tokens(mut self, n: u32) -> Self {
        self.max_tokens = n;
        self
    }

    /// Samples at temperature `t` (0 to 2).
    pub fn temperature(mut self, t: f32) -> Self {
        self.temperature = Some(t);
        self
    }

    /// Wait at most this long for a rung (queue, pauses and backoff included) before
    /// moving down the ladder.
    pub fn max_wait(mut self, d: Duration) -> Self {
        self.options.max_wait = Some(d);
        self
    }

    /// Trim the history (oldest turns first) to about this many input tokens.
    pub fn trim(mut self, max_input_tokens: u64) -> Self {
        self.options.trim = Some(TrimPolicy::new(max_input_tokens));
        self
    }

    /// Like [`Ask::trim`], replacing the dropped turns with a summary made on the
    /// ladder's cheapest rung.
    pub fn trim_with_summary(mut self, max_input_tokens: u64) -> Self {
        self.options.trim = Some(TrimPolicy {
            max_input_tokens,
            summarize: true,
        });
        self
    }

    /// Merge with identical in-flight requests (the default) or not.
    pub fn coalesce(mut self, on: bool) -> Self {
        self.options.coalesce = on;
        self
    }

    /// Never fall below this rung of the ladder (0 = the first).
    pub fn floor(mut self, rung: usize) -> Self {
        self.options.floor = Some(rung);
        self
    }

    /// The request for `system` + `messages`, asked as this says.
    pub fn request(&self, system: Option<String>, messages: Vec<Message>) -> CompletionRequest {
        let mut req = CompletionRequest::new(self.target.clone())
            .messages(messages)
            .max_tokens(self.max_tokens)
            .options(self.options.clone());
        req.system = system
            .map(|s| vec![crate::types::ContentBlock::text(s)])
            .unwrap_or_default();
        req.temperature = self.temperature;
        req
    }

    /// A standalone request with one user message and no system prompt.
    pub fn prompt(&self, user: impl Into<String>) -> CompletionRequest {
        self.request(None, vec![Message::user(user)])
    }
}

/// A conversation: the system prompt and the turns so far. [`Ctx::chat`] appends the
/// user's turn and then the reply.
///
/// [`Ctx::chat`]: super::Ctx::chat
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    /// The system prompt, sent with every request of this conversation.
    pub system: Option<String>,
    /// The turns so far, oldest first.
    pub messages: Vec<Message>,
    /// Their token counts, shared with the requests this history makes so each turn is
    /// estimated from its new messages alone.
    #[serde(skip)]
    pub(crate) counts: MessageCounts,
}

impl History {
    /// An empty conversation with no system prompt.
    pub fn new() -> Self {
        History::default()
    }

    /// An empty conversation with this system prompt.
    pub fn with_system(system: impl Into<String>) -> Self {
        History {
            system: Some(system.into()),
            messages: Vec::new(),
            counts: MessageCounts::default(),
        }
    }

    /// Appends a user turn.
    pub fn push_user(&mut self, text: impl Into<String>) {
        self.messages.push(Message::user(text));
    }

    /// Appends an assistant turn.
    pub fn push_assistant(&mut self, text: impl Into<String>) {
        self.messages.push(Message::assistant(text));
    }

    /// Appends a reply as the assistant's turn.
    pub fn append(&mut self, reply: &Completion) {
        self.messages.push(reply.to_message());
    }

    /// The request that continues this conversation.
    pub fn request(&self, ask: &Ask) -> CompletionRequest {
        let mut req = ask.request(self.system.clone(), self.messages.clone());
        req.options.counts = Some(self.counts.share());
        req
    }

    /// How many turns there are.
    pub fn len(&self) -> usize {
        self.messages.len()
    }

    /// Whether there are no turns yet.
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    /// The newest assistant turn's text.
    pub fn last_reply(&self) -> Option<String> {
        self.messages
            .iter()
            .rev()
            .find(|m| m.role == Role::Assistant)
            .map(Message::text)
    }
}
