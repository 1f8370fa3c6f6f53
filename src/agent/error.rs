//! The agent layer's errors: [`AgentError`] (what a handler fails with), [`SendError`]
//! (a message to an agent that has stopped), [`SpawnError`], [`UnfitReply`] (a typed
//! reply that does not fit its type) and [`StepLimit`] (a tool loop that did not end).
//!
//! `AgentError` converts from any error with `?`, as `anyhow::Error` does. For that it
//! cannot implement `std::error::Error` itself (the blanket `From` would then overlap
//! with `From<T> for T`); it implements `Debug` and `Display`, and [`AgentError::source`]
//! gives the error inside.

use crate::broker::BrokerError;
use crate::types::StopReason;
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
    /// A structured reply (`complete_json`, `ask_json`) that does not parse as JSON or
    /// does not fit the type asked for.
    Unfit(UnfitReply),
    /// A tool loop (`run_tools`, `stream_tools`) whose model still asked for tools when
    /// its step limit was reached.
    StepLimit(StepLimit),
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
            AgentError::Unfit(e) => e,
            AgentError::StepLimit(e) => e,
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
            AgentError::Unfit(e) => fmt::Display::fmt(e, f),
            AgentError::StepLimit(e) => fmt::Display::fmt(e, f),
            AgentError::Other(e) => fmt::Display::fmt(e, f),
        }
    }
}

impl<E> From<E> for AgentError
where
    E: Error + Send + Sync + 'static,
{
    fn from(error: E) -> Self {
        // The agent layer's own errors keep their variant, whichever way they came.
        let boxed: Box<dyn Error + Send + Sync + 'static> = Box::new(error);
        let boxed = match boxed.downcast::<BrokerError>() {
            Ok(broker) => return AgentError::Broker(*broker),
            Err(other) => other,
        };
        let boxed = match boxed.downcast::<UnfitReply>() {
            Ok(unfit) => return AgentError::Unfit(*unfit),
            Err(other) => other,
        };
        match boxed.downcast::<StepLimit>() {
            Ok(limit) => AgentError::StepLimit(*limit),
            Err(other) => AgentError::Other(OtherError(other)),
        }
    }
}

/// Serialized as its message, so an agent can return a `Result<T, AgentError>` (its
/// output goes into the JSON report too).
impl serde::Serialize for AgentError {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// For code that handles errors as boxed trait objects (`main` functions, `anyhow`).
impl From<AgentError> for Box<dyn Error + Send + Sync + 'static> {
    fn from(error: AgentError) -> Self {
        match error {
            AgentError::Broker(e) => Box::new(e),
            AgentError::Unfit(e) => Box::new(e),
            AgentError::StepLimit(e) => Box::new(e),
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

/// A structured reply that does not fit the type asked for: it is not JSON, or its
/// JSON does not deserialize into the type (a field missing, a wrong type). Holds the
/// raw reply text and serde's message.
///
/// A reply cut at `max_tokens` ends mid-JSON: the message says so (raise `max_tokens`).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct UnfitReply {
    /// The name of the schema asked for (`OutputSchema::name`).
    pub schema: String,
    /// The reply's text as it came back.
    pub text: String,
    /// What serde said (`missing field `score` at line 1 column 20`).
    pub message: String,
    /// Why the model stopped.
    pub stop_reason: StopReason,
}

impl UnfitReply {
    pub(crate) fn new(
        schema: &str,
        text: &str,
        message: impl Into<String>,
        stop_reason: StopReason,
    ) -> Self {
        UnfitReply {
            schema: schema.to_string(),
            text: text.to_string(),
            message: message.into(),
            stop_reason,
        }
    }
}

/// How much of the reply an [`UnfitReply`]'s message quotes.
const QUOTED_CHARS: usize = 120;

impl fmt::Display for UnfitReply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the reply does not fit the schema {}: {}",
            self.schema, self.message
        )?;
        match self.stop_reason {
            StopReason::MaxTokens => f.write_str(" (the reply was cut at max_tokens: raise it)")?,
            StopReason::Refusal => f.write_str(" (the model refused to answer)")?,
            _ => {}
        }
        let quoted: String = self.text.chars().take(QUOTED_CHARS).collect();
        let more = if quoted.len() < self.text.len() {
            "…"
        } else {
            ""
        };
        write!(f, "; the reply: {quoted:?}{more}")
    }
}

impl Error for UnfitReply {}

/// A tool loop reached its step limit (model calls) while the model still asked for
/// tools. The tools of the last reply were not run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the model still asked for tools ({}) after {limit} steps, the tool loop's limit: \
     raise it with Toolbox::max_steps, or make the tools' results enough to answer",
    .pending.join(", ")
)]
#[non_exhaustive]
pub struct StepLimit {
    /// The limit: the most model calls one loop makes.
    pub limit: usize,
    /// The tools the last reply asked for, in order.
    pub pending: Vec<String>,
}

impl StepLimit {
    pub(crate) fn new(limit: usize, pending: Vec<String>) -> Self {
        StepLimit { limit, pending }
    }
}

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
    fn the_agent_layers_own_errors_keep_their_variant() {
        let unfit = UnfitReply::new(
            "Verdict",
            "{}",
            "missing field `score`",
            StopReason::EndTurn,
        );
        assert!(matches!(AgentError::from(unfit.clone()), AgentError::Unfit(u) if u == unfit));
        let limit = StepLimit::new(4, vec!["calc".into()]);
        assert!(matches!(AgentError::from(limit.clone()), AgentError::StepLimit(l) if l == limit));
        let boxed: Box<dyn Error + Send + Sync> = AgentError::StepLimit(limit).into();
        assert!(boxed.downcast_ref::<StepLimit>().is_some());
    }

    #[test]
    fn an_unfit_reply_says_what_did_not_fit_and_quotes_the_reply() {
        let e = UnfitReply::new(
            "Verdict",
            "{\"ok\": tru",
            "EOF while parsing",
            StopReason::MaxTokens,
        );
        let text = e.to_string();
        assert!(text.contains("schema Verdict: EOF while parsing"), "{text}");
        assert!(text.contains("raise it"), "{text}");
        assert!(text.contains(r#""{\"ok\": tru""#), "{text}");
        let long = UnfitReply::new("V", &"x".repeat(500), "no", StopReason::EndTurn);
        assert!(long.to_string().ends_with("…"));
    }

    #[test]
    fn a_step_limit_names_the_limit_and_the_pending_tools() {
        let e = StepLimit::new(3, vec!["calc".into(), "notes".into()]);
        let text = e.to_string();
        assert!(text.contains("(calc, notes) after 3 steps"), "{text}");
        assert!(text.contains("Toolbox::max_steps"), "{text}");
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
