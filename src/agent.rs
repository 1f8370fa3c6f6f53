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
//!         let reply = ctx.complete(CompletionRequest::new("haiku", "A haiku on queues")).await?;
//!         println!("{}", reply.text());
//!         ctx.finish();
//!         Ok(())
//!     }
//! }
//! ```

use crate::broker::{BrokerError, BrokerHandle};
use crate::types::{Completion, CompletionRequest};
use ractor::{Actor, ActorProcessingErr, ActorRef};
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::sync::{Arc, Mutex};

/// What an agent's handlers return. A broker error converts with `?`.
pub type AgentResult = Result<(), AgentError>;

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error(transparent)]
    Broker(#[from] BrokerError),
    #[error("{0}")]
    Other(String),
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
        let outcome = match msg {
            AgentMsg::Start => state.agent.on_start(&mut state.ctx).await,
            AgentMsg::Msg(m) => state.agent.on_message(&mut state.ctx, m).await,
            AgentMsg::Stop => {
                myself.stop(None);
                return Ok(());
            }
        };
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

    /// Waits until the actor stops, then returns its report. A panic in a handler is
    /// recorded as the failure.
    pub async fn wait(self) -> AgentReport {
        let _ = self.join.await;
        let mut r = match self.report.lock() {
            Ok(r) => r.clone(),
            Err(p) => p.into_inner().clone(),
        };
        if !r.finished && r.failure.is_none() {
            r.failure = Some("stopped without finishing (panicked or was stopped)".into());
        }
        r
    }
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
