//! [`Ask`] (how an agent asks: a [`CompletionRequest`] used as a template) and
//! [`History`] (a conversation an agent keeps).

use crate::tokens::MessageCounts;
use crate::types::{Completion, CompletionRequest, Message, Role};
use serde::{Deserialize, Serialize};

/// How to ask the broker: a [`CompletionRequest`] used as a template, usually without
/// messages. It is the same type, so every option is set the one way, with
/// `CompletionRequest`'s builder methods: the target (a model or a ladder), `max_tokens`,
/// sampling, thinking, tools, and the broker options (max wait, trim policy, coalescing,
/// floor, caching, reuse). Cheap to clone; build it once per agent and reuse it for
/// every request.
///
/// [`Asker::ask`](super::Asker::ask) sends it with the question appended as the last
/// user turn; [`Asker::chat`](super::Asker::chat) with a [`History`]'s turns appended
/// (and the history's system prompt, when it has one).
///
/// ```
/// use quotaswarm::agent::Ask;
/// use std::time::Duration;
/// let ask = Ask::new("claude")
///     .max_tokens(200)
///     .max_wait(Duration::from_secs(5)) // then move down the ladder
///     .trim(4_000) // trim the history to about 4,000 input tokens
///     .coalesce(true);
/// let req = ask.clone().user("Name three queueing disciplines.");
/// assert_eq!(req.target, "claude");
/// assert_eq!(req.max_tokens, 200);
/// ```
pub type Ask = CompletionRequest;

/// A conversation: the system prompt and the turns so far.
/// [`Asker::chat`](super::Asker::chat) appends the user's turn and then the reply.
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

    /// The request that continues this conversation: `ask` with these turns appended,
    /// and this system prompt when there is one.
    pub fn request(&self, ask: &Ask) -> CompletionRequest {
        let mut req = ask.clone().messages(self.messages.iter().cloned());
        if let Some(system) = &self.system {
            req = req.system(system.clone());
        }
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
