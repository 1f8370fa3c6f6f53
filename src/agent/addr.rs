//! [`Addr`]: where to send an agent its messages. It hides the actor behind it: an
//! address can deliver the agent's own messages and nothing else (no one outside the
//! crate can start, restart or stop an agent through it).

use super::error::SendError;
use ractor::ActorRef;
use std::fmt;
use std::sync::Arc;

/// What the agent actor handles. Only [`AgentMsg::Msg`] can be sent through an
/// [`Addr`]; the start comes from the agent's handle.
pub(crate) enum AgentMsg<M> {
    /// Run `on_start` (once: a second start is ignored).
    Start,
    /// Run `on_message` with this message.
    Msg(M),
}

/// An agent's address, for messages of its type `M`. Cheap to clone; hand it to other
/// agents (in a message, or when building them) so they can [`Ctx::send`] to it.
/// Get one from [`Ctx::myself`] or [`AgentHandle::addr`].
///
/// [`Ctx::send`]: super::Ctx::send
/// [`Ctx::myself`]: super::Ctx::myself
/// [`AgentHandle::addr`]: super::AgentHandle::addr
pub struct Addr<M> {
    actor: ActorRef<AgentMsg<M>>,
    name: Arc<str>,
}

impl<M: Send + 'static> Addr<M> {
    pub(crate) fn new(actor: ActorRef<AgentMsg<M>>, name: Arc<str>) -> Self {
        Addr { actor, name }
    }

    /// Sends the agent a message; it is handled by its `on_message`, after the messages
    /// already queued. Fails if the agent has stopped.
    pub fn send(&self, msg: M) -> Result<(), SendError> {
        self.actor
            .cast(AgentMsg::Msg(msg))
            .map_err(|_| SendError::new(&self.name))
    }

    /// The agent's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Sends the agent its start.
    pub(crate) fn start(&self) -> Result<(), SendError> {
        self.actor
            .cast(AgentMsg::Start)
            .map_err(|_| SendError::new(&self.name))
    }
}

impl<M> Clone for Addr<M> {
    fn clone(&self) -> Self {
        Addr {
            actor: self.actor.clone(),
            name: self.name.clone(),
        }
    }
}

impl<M> fmt::Debug for Addr<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Addr").field(&self.name).finish()
    }
}
