//! Agents: implement [`Agent`] in a few lines; [`spawn_agent`] wraps it in a ractor actor.
//!
//! An agent reacts to its start and to its own messages. Through its [`Ctx`] it asks the
//! broker for completions, messages other agents and finishes. The actor wrapper counts
//! what the agent did into an [`AgentReport`]; an agent that returns an error or panics
//! is reported as such and takes nothing else down.
//!
//! ```no_run
//! use quotaswarm::agent::{Agent, AgentResult, Ctx};
//! use quotaswarm::CompletionRequest;
//!
//! struct Poet;
//!
//! impl Agent for Poet {
//!     type Msg = ();
//!     async fn on_start(&mut self, ctx: &mut Ctx<()>) -> AgentResult {
//!         let reply = ctx.complete(CompletionRequest::prompt("haiku", "A haiku on queues")).await?;
//!         println!("{}", reply.text());
//!         ctx.finish();
//!         Ok(())
//!     }
//! }
//! ```

use crate::broker::{BrokerError, BrokerHandle};
use crate::types::{Completion, CompletionRequest, Message, TrimPolicy};
use futures_util::FutureExt;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// An agent's address: what [`Ctx::send`] takes. Get one from [`Ctx::myself`] or
/// [`AgentHandle::actor`].
pub type Addr<M> = ActorRef<AgentMsg<M>>;

/// What an agent's handlers return. A broker error converts with `?`.
pub type AgentResult = Result<(), AgentError>;

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error(transparent)]
    Broker(#[from] BrokerError),
    #[error("{0}")]
    Other(String),
}

impl AgentError {
    /// An agent-defined failure.
    pub fn other(message: impl Into<String>) -> Self {
        AgentError::Other(message.into())
    }
}

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
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Ask {
    pub target: String,
    pub max_tokens: u32,
    pub temperature: Option<f32>,
    pub options: crate::types::RequestOptions,
}

impl Ask {
    /// Asks `target` (a model or ladder name from the config), 256 tokens at most.
    pub fn new(target: impl Into<String>) -> Self {
        Ask {
            target: target.into(),
            max_tokens: 256,
            temperature: None,
            options: crate::types::RequestOptions::default(),
        }
    }

    pub fn max_tokens(mut self, n: u32) -> Self {
        self.max_tokens = n;
        self
    }

    pub fn temperature(mut self, t: f32) -> Self {
        self.temperature = Some(t);
        self
    }

    /// Wait at most this long in a lane's queue before moving down the ladder.
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

    /// The request for `system` + `messages`.
    pub fn request(&self, system: Option<String>, messages: Vec<Message>) -> CompletionRequest {
        let mut req = CompletionRequest::new(self.target.clone())
            .messages(messages)
            .max_tokens(self.max_tokens);
        req.system = system;
        req.temperature = self.temperature;
        req.options = self.options.clone();
        req
    }

    /// A standalone request with one user message and no system prompt.
    pub fn prompt(&self, user: impl Into<String>) -> CompletionRequest {
        self.request(None, vec![Message::user(user)])
    }
}

/// A conversation: the system prompt and the turns so far. [`Ctx::chat`] appends the
/// user's turn and then the reply.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    pub system: Option<String>,
    pub messages: Vec<Message>,
}

impl History {
    pub fn new() -> Self {
        History::default()
    }

    pub fn with_system(system: impl Into<String>) -> Self {
        History {
            system: Some(system.into()),
            messages: Vec::new(),
        }
    }

    pub fn push_user(&mut self, text: impl Into<String>) {
        self.messages.push(Message::user(text));
    }

    pub fn push_assistant(&mut self, text: impl Into<String>) {
        self.messages.push(Message::assistant(text));
    }

    /// Appends a reply as the assistant's turn.
    pub fn append(&mut self, reply: &Completion) {
        self.messages.push(reply.to_message());
    }

    /// The request that continues this conversation.
    pub fn request(&self, ask: &Ask) -> CompletionRequest {
        ask.request(self.system.clone(), self.messages.clone())
    }

    pub fn len(&self) -> usize {
        self.messages.len()
    }

    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    /// The newest assistant turn's text.
    pub fn last_reply(&self) -> Option<String> {
        self.messages
            .iter()
            .rev()
            .find(|m| m.role == crate::types::Role::Assistant)
            .map(Message::text)
    }
}

/// An agent's behaviour. State lives in the implementing struct.
pub trait Agent: Send + 'static {
    /// The agent's own messages (from other agents or from the code that spawned it).
    type Msg: Send + 'static;

    fn on_start(&mut self, ctx: &mut Ctx<Self::Msg>) -> impl Future<Output = AgentResult> + Send;

    fn on_message(
        &mut self,
        ctx: &mut Ctx<Self::Msg>,
        msg: Self::Msg,
    ) -> impl Future<Output = AgentResult> + Send {
        let _ = (ctx, msg);
        async { Ok(()) }
    }
}

/// How one agent's run went.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AgentReport {
    pub name: String,
    pub completions: u64,
    pub errors: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// Completions answered by a model other than the first rung asked for.
    pub fallbacks: u64,
    pub finished: bool,
    /// Why it stopped early: an error it returned, or a panic.
    pub failure: Option<String>,
    pub last_error: Option<String>,
}

/// The agent's view of the swarm.
pub struct Ctx<M: Send + 'static> {
    name: String,
    broker: BrokerHandle,
    myself: ActorRef<AgentMsg<M>>,
    report: Arc<Mutex<AgentReport>>,
    finished: bool,
}

impl<M: Send + 'static> Ctx<M> {
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn broker(&self) -> &BrokerHandle {
        &self.broker
    }

    /// This agent's address, to hand to others.
    pub fn myself(&self) -> ActorRef<AgentMsg<M>> {
        self.myself.clone()
    }

    fn record(&self, f: impl FnOnce(&mut AgentReport)) {
        if let Ok(mut r) = self.report.lock() {
            f(&mut r);
        }
    }

    /// Asks the broker for a completion, counting it in this agent's report.
    pub async fn complete(&mut self, req: CompletionRequest) -> Result<Completion, BrokerError> {
        let first = self
            .broker
            .config()
            .rungs(&req.target)
            .and_then(|r| r.first().cloned());
        let result = self.broker.complete(req).await;
        self.record(|r| match &result {
            Ok(c) => {
                r.completions += 1;
                r.input_tokens += c.usage.total_input();
                r.output_tokens += c.usage.output_tokens;
                if first.as_deref().is_some_and(|f| f != c.model) {
                    r.fallbacks += 1;
                }
            }
            Err(e) => {
                r.errors += 1;
                r.last_error = Some(e.to_string());
            }
        });
        result
    }

    /// A one-shot question: `user` alone (no history), asked as `ask` says.
    pub async fn ask(
        &mut self,
        ask: &Ask,
        user: impl Into<String>,
    ) -> Result<Completion, BrokerError> {
        self.complete(ask.prompt(user)).await
    }

    /// One conversational turn: `user` joins `history`, then the reply does. On an error
    /// the unanswered user turn is taken back, so the history stays valid.
    pub async fn chat(
        &mut self,
        ask: &Ask,
        history: &mut History,
        user: impl Into<String>,
    ) -> Result<Completion, BrokerError> {
        history.push_user(user);
        match self.complete(history.request(ask)).await {
            Ok(c) => {
                history.append(&c);
                Ok(c)
            }
            Err(e) => {
                history.messages.pop();
                Err(e)
            }
        }
    }

    /// The cheapest rung of `target` (a ladder's last model, or the model itself), for
    /// work that does not need the best model: summaries, classification, routing.
    pub fn cheapest(&self, target: &str) -> String {
        self.broker
            .config()
            .rungs(target)
            .and_then(|r| r.last().cloned())
            .unwrap_or_else(|| target.to_string())
    }

    /// Sends a message to another agent (or to itself). False if it has stopped.
    pub fn send<N: Send + 'static>(&self, to: &ActorRef<AgentMsg<N>>, msg: N) -> bool {
        to.cast(AgentMsg::Msg(msg)).is_ok()
    }

    /// Marks the agent done; its actor stops after the current handler returns.
    pub fn finish(&mut self) {
        self.finished = true;
    }
}

/// The agent actor's messages.
pub enum AgentMsg<M> {
    Start,
    Msg(M),
    Stop,
}

struct AgentActor<A: Agent>(std::marker::PhantomData<fn() -> A>);

pub struct AgentState<A: Agent> {
    agent: A,
    ctx: Ctx<A::Msg>,
}

pub struct AgentArgs<A: Agent> {
    name: String,
    agent: A,
    broker: BrokerHandle,
    report: Arc<Mutex<AgentReport>>,
}

impl<A: Agent> Actor for AgentActor<A> {
    type Msg = AgentMsg<A::Msg>;
    type State = AgentState<A>;
    type Arguments = AgentArgs<A>;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: AgentArgs<A>,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(AgentState {
            agent: args.agent,
            ctx: Ctx {
                name: args.name,
                broker: args.broker,
                myself,
                report: args.report,
                finished: false,
            },
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let run = match msg {
            AgentMsg::Start => {
                AssertUnwindSafe(state.agent.on_start(&mut state.ctx))
                    .catch_unwind()
                    .await
            }
            AgentMsg::Msg(m) => {
                AssertUnwindSafe(state.agent.on_message(&mut state.ctx, m))
                    .catch_unwind()
                    .await
            }
            AgentMsg::Stop => {
                myself.stop(None);
                return Ok(());
            }
        };
        // A panic is this agent's failure, reported like an error; the swarm goes on.
        let outcome = run.unwrap_or_else(|payload| {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a non-string payload".into());
            Err(AgentError::Other(format!("panicked: {what}")))
        });
        if let Err(e) = outcome {
            state.ctx.record(|r| r.failure = Some(e.to_string()));
            myself.stop(Some(e.to_string()));
        } else if state.ctx.finished {
            state.ctx.record(|r| r.finished = true);
            myself.stop(None);
        }
        Ok(())
    }
}

/// A spawned agent.
pub struct AgentHandle<M: Send + 'static> {
    pub name: String,
    pub actor: ActorRef<AgentMsg<M>>,
    pub report: Arc<Mutex<AgentReport>>,
    pub join: tokio::task::JoinHandle<()>,
}

impl<M: Send + 'static> AgentHandle<M> {
    pub fn start(&self) -> bool {
        self.actor.cast(AgentMsg::Start).is_ok()
    }

    /// Erases the message type, so agents of different kinds can be awaited together.
    pub fn erase(self) -> RunningAgent {
        let (a, b) = (self.actor.clone(), self.actor);
        RunningAgent {
            name: self.name,
            report: self.report,
            join: self.join,
            start: Box::new(move || a.cast(AgentMsg::Start).is_ok()),
            stop: Box::new(move |why| b.stop(Some(why))),
        }
    }

    /// Waits until the actor stops, then returns its report. A panic in a handler is
    /// recorded as the failure.
    pub async fn wait(self) -> AgentReport {
        let _ = self.join.await;
        finalize(&self.report)
    }
}

/// A spawned agent of any kind (see [`AgentHandle::erase`]).
pub struct RunningAgent {
    pub name: String,
    pub report: Arc<Mutex<AgentReport>>,
    pub join: tokio::task::JoinHandle<()>,
    start: Box<dyn Fn() -> bool + Send + Sync>,
    stop: Box<dyn Fn(String) + Send + Sync>,
}

impl RunningAgent {
    /// Sends the agent its `Start`; false if it has already stopped.
    pub fn start(&self) -> bool {
        (self.start)()
    }

    /// Stops the agent (it is reported as stopped for `why`).
    pub fn stop(&self, why: &str) {
        (self.stop)(why.to_string());
    }

    /// The report so far (the agent may still be running).
    pub fn snapshot(&self) -> AgentReport {
        match self.report.lock() {
            Ok(r) => r.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    pub fn is_done(&self) -> bool {
        self.join.is_finished()
    }

    /// The report once the actor has stopped: an agent that neither finished nor
    /// failed was stopped (or panicked outside a handler).
    pub fn final_report(&self) -> AgentReport {
        finalize(&self.report)
    }

    /// Waits until the actor stops, then returns its report.
    pub async fn wait(self) -> AgentReport {
        let _ = self.join.await;
        finalize(&self.report)
    }
}

fn finalize(report: &Mutex<AgentReport>) -> AgentReport {
    let mut r = match report.lock() {
        Ok(r) => r.clone(),
        Err(p) => p.into_inner().clone(),
    };
    if !r.finished && r.failure.is_none() {
        r.failure = Some("stopped without finishing (panicked or was stopped)".into());
    }
    r
}

#[derive(Debug, thiserror::Error)]
#[error("cannot spawn agent {name}: {message}")]
pub struct SpawnError {
    pub name: String,
    pub message: String,
}

/// Spawns `agent` as an actor (not started: call [`AgentHandle::start`]).
pub async fn spawn_agent<A: Agent>(
    name: impl Into<String>,
    agent: A,
    broker: BrokerHandle,
) -> Result<AgentHandle<A::Msg>, SpawnError> {
    let name = name.into();
    let report = Arc::new(Mutex::new(AgentReport {
        name: name.clone(),
        ..AgentReport::default()
    }));
    let args = AgentArgs {
        name: name.clone(),
        agent,
        broker,
        report: report.clone(),
    };
    let (actor, join) = Actor::spawn(None, AgentActor::<A>(std::marker::PhantomData), args)
        .await
        .map_err(|e| SpawnError {
            name: name.clone(),
            message: e.to_string(),
        })?;
    Ok(AgentHandle {
        name,
        actor,
        report,
        join,
    })
}
