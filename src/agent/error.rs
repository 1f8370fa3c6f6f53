//! The agent layer's errors: [`AgentError`] (what a handler fails with), [`SendError`]
//! (a message to an agent that has stopped) and [`SpawnError`].
//!
//! `AgentError` converts from any error with `?`, as `anyhow::Error` does. For that it
//! cannot implement `std::error::Error` itself (the blanket `From` would then overlap
//! with `From<T> for T`); it implements `Debug` and `Display`, and [`AgentError::source`]
//! gives the error inside.

use crate::broker::BrokerError;
use std::error::Error;
use std::fmt;

/// Why an agent's handler failed. The run's report records it as the agent's failure
/// (its `Display` text); the other agents go on.
///
/// Any `std::error::Error + Send + Sync + 'static` converts with `?`. A [`BrokerError`]
/// keeps its type, so broker failures can still be matched:
///
/// ```
/// use quotaswarm::agent::AgentError;
/// use quotaswarm::BrokerError;
///
/// let e = AgentError::from(BrokerError::BrokerStopped);
/// assert!(matches!(e, AgentError::Broker(BrokerError::BrokerStopped)));
///
/// let missing = std::io::Error::new(std::io::ErrorKind::NotFound, "prompts.txt");
/// let e = AgentError::from(missing);
/// assert_eq!(e.to_string(), "prompts.txt");
/// assert!(e.downcast_ref::<std::io::Error>().is_some());
///
/// let e = AgentError::other("no topics left");
/// assert_eq!(e.to_string(), "no topics left");
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum AgentError {
    /// The broker refused or failed a request.
    Broker(BrokerError),
    /// Any other failure: an I/O or parse error, an undelivered message, or a failure
    /// the agent defines itself ([`AgentError::other`]).
    Other(OtherError),
}

impl AgentError {
    /// An agent-defined failure, with this message.
    pub fn other(message: impl Into<String>) -> Self {
        AgentError::Other(OtherError(Box::new(Message(message.into()))))
    }

    /// The error inside: the [`BrokerError`], the converted error, or the message of
    /// [`AgentError::other`]. Its own `source()` continues the chain.
    pub fn source(&self) -> &(dyn Error + Send + Sync + 'static) {
        match self {
            AgentError::Broker(e) => e,
            AgentError::Other(e) => e.get_ref(),
        }
    }

    /// The error inside, if it is an `E`.
    pub fn downcast_ref<E: Error + 'static>(&self) -> Option<&E> {
        let inner: &(dyn Error + 'static) = self.source();
        inner.downcast_ref::<E>()
    }
}

impl fmt::Display for AgentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AgentError::Broker(e) => fmt::Display::fmt(e, f),
            AgentError::Other(e) => fmt::Display::fmt(e, f),
        }
    }
}

impl<E> From<E> for AgentError
where
    E: Error + Send + Sync + 'static,
{
    fn from(error: E) -> Self {
        let boxed: Box<dyn Error + Send + Sync + 'static> = Box::new(error);
        match boxed.downcast::<BrokerError>() {
            Ok(broker) => AgentError::Broker(*broker),
            Err(other) => AgentError::Other(OtherError(other)),
        }
    }
}

/// For code that handles errors as boxed trait objects (`main` functions, `anyhow`).
impl From<AgentError> for Box<dyn Error + Send + Sync + 'static> {
    fn from(error: AgentError) -> Self {
        match error {
            AgentError::Broker(e) => Box::new(e),
            AgentError::Other(e) => e.0,
        }
    }
}

/// A failure that is not the broker's, its type erased (see [`AgentError::Other`]).
/// `Display`, `Debug` and `source()` are the original error's.
pub struct OtherError(Box<dyn Error + Send + Sync + 'static>);

impl OtherError {
    /// The original error.
    pub fn get_ref(&self) -> &(dyn Error + Send + Sync + 'static) {
        &*self.0
    }
}

impl fmt::Debug for OtherError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for OtherError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl Error for OtherError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.0.source()
    }
}

/// The error of [`AgentError::other`]: a message.
struct Message(String);

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Error for Message {}

/// A message could not be delivered: the agent it was for has stopped (it finished,
/// failed or was stopped). The message is dropped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("agent {agent} has stopped: the message was not delivered")]
pub struct SendError {
    agent: String,
}

impl SendError {
    pub(crate) fn new(agent: &str) -> Self {
        SendError {
            agent: agent.to_string(),
        }
    }

    /// The name of the agent that has stopped.
    pub fn agent(&self) -> &str {
        &self.agent
    }
}

/// An agent's actor could not be spawned.
#[derive(Debug, thiserror::Error)]
#[error("cannot spawn agent {name}: {message}")]
pub struct SpawnError {
    /// The agent's name.
    pub name: String,
    /// What went wrong.
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_missing() -> Result<String, AgentError> {
        Ok(std::fs::read_to_string("/no/such/quotaswarm/file")?)
    }

    fn broker_fails() -> Result<(), AgentError> {
        Err(BrokerError::UnknownTarget("nope".into()))?;
        Ok(())
    }

    #[test]
    fn io_errors_convert_with_the_question_mark() {
        let e = read_missing().unwrap_err();
        assert!(matches!(e, AgentError::Other(_)));
        let io = e
            .downcast_ref::<std::io::Error>()
            .expect("an io::Error inside");
        assert_eq!(io.kind(), std::io::ErrorKind::NotFound);
    }

    #[test]
    fn broker_errors_stay_matchable() {
        let e = broker_fails().unwrap_err();
        assert!(matches!(e, AgentError::Broker(BrokerError::UnknownTarget(ref t)) if t == "nope"));
        assert_eq!(
            e.to_string(),
            BrokerError::UnknownTarget("nope".into()).to_string()
        );
    }

    #[test]
    fn other_shows_its_message() {
        let e = AgentError::other("gave up");
        assert_eq!(e.to_string(), "gave up");
        assert_eq!(format!("{e:?}"), "Other(\"gave up\")");
        assert!(e.source().source().is_none());
    }

    #[test]
    fn the_source_chain_is_kept() {
        #[derive(Debug, thiserror::Error)]
        #[error("cannot load prompts")]
        struct Load(#[source] std::io::Error);
        let e = AgentError::from(Load(std::io::Error::other("disk on fire")));
        assert_eq!(e.to_string(), "cannot load prompts");
        let cause = e.source().source().map(ToString::to_string);
        assert_eq!(cause.as_deref(), Some("disk on fire"));
    }

    #[test]
    fn converts_back_into_a_boxed_error() {
        let boxed: Box<dyn Error + Send + Sync> = AgentError::other("x").into();
        assert_eq!(boxed.to_string(), "x");
        let boxed: Box<dyn Error + Send + Sync> =
            AgentError::from(BrokerError::BrokerStopped).into();
        assert!(boxed.downcast_ref::<BrokerError>().is_some());
    }
}
