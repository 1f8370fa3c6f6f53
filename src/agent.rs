//! Agents: implement [`Agent`] in a few lines; [`spawn_agent`] wraps it in a ractor actor.
//!
//! An agent reacts to its start and to its own messages. Through its [`Ctx`] it asks the
//! broker for completions (`complete`, `ask`, `chat`, `stream`: several may be in flight
//! at once; `run_tools` for a tool loop, `complete_json` for a typed reply), messages other agents through their [`Addr`] and finishes. Every ask is
//! counted into the agent's [`AgentReport`], also those made from spawned tasks through
//! an [`Asker`]. Handlers return an [`AgentResult`]: any error converts into
//! [`AgentError`] with `?`. An agent that returns an error or panics is reported as such
//! and takes nothing else down.
//!
//! An agent still running at the swarm's deadline, when it is stopped or when the run is
//! interrupted is *cut*: its asks fail with [`BrokerError::Cancelled`] and its actor
//! stops once the running handler returns; a handler that goes on regardless is killed
//! after a grace period. Agents that do long local work can watch [`Ctx::cancelled`].
//!
//! ```no_run
//! use quotaswarm::agent::{Agent, AgentResult, Ask, Ctx};
//!
//! struct Poet;
//!
//! impl Agent for Poet {
//!     type Msg = ();
//!     async fn on_start(&mut self, ctx: &mut Ctx<()>) -> AgentResult {
//!         let ask = Ask::new("haiku").max_tokens(60);
//!         // Three asks in flight at once, each counted in this agent's report.
//!         let (a, b, c) = tokio::join!(
//!             ctx.ask(&ask, "A haiku on queues"),
//!             ctx.ask(&ask, "A haiku on buckets"),
//!             ctx.ask(&ask, "A haiku on backoff"),
//!         );
//!         for reply in [a?, b?, c?] {
//!             println!("{}", reply.text());
//!         }
//!         ctx.finish();
//!         Ok(())
//!     }
//! }
//! ```
//!
//! | file | holds |
//! |---|---|
//! | `agent.rs` | the [`Agent`] trait, [`Ctx`], the actor wrapper and the handles |
//! | `agent/ask.rs` | [`Ask`] and [`History`] |
//! | `agent/asker.rs` | [`Asker`] and [`CountedStream`]: asking and counting |
//! | `agent/addr.rs` | [`Addr`]: agent-to-agent messages |
//! | `agent/error.rs` | [`AgentError`], [`SendError`], [`SpawnError`] |
//! | `agent/cancel.rs` | [`Cut`]: cutting an agent short (cancel, stop, kill) |
//! | `agent/tools.rs` | [`LocalTool`], [`Toolbox`]: tools the agent runs itself |
//! | `agent/tool_loop.rs` | [`Ctx::run_tools`], [`ToolRun`]: the tool loop |
//! | `agent/structured.rs` | [`Ctx::complete_json`], [`ReplySchema`]: typed structured output |
//! | `agent/schema.rs` | [`strict_schema`]: JSON Schemas adapted to strict mode |

mod addr;
mod ask;
mod asker;
mod cancel;
mod error;
mod schema;
mod structured;
mod tool_loop;
mod tools;

pub use addr::Addr;
pub use ask::{Ask, History};
pub use asker::{Asker, CountedStream};
pub use cancel::{Cut, DEFAULT_GRACE};
pub use error::{AgentError, OtherError, SendError, SpawnError, StepLimit, UnfitReply};
pub use schema::{derived_schema, schema_name, strict_schema, StrictSchema};
/// The `schemars` this crate derives schemas with (1.x). Typed replies and typed tools
/// need `T: schemars::JsonSchema` of this version: depend on `schemars = "1"`, or derive
/// through this re-export with `#[schemars(crate = "quotaswarm::agent::schemars")]`.
pub use schemars;
pub use structured::{reply_json, ReplySchema};
pub use tool_loop::ToolRun;
pub use tools::{LocalTool, ToolFailure, ToolOutput, Toolbox, DEFAULT_MAX_STEPS};

use crate::broker::{BrokerError, BrokerHandle};
use crate::types::{Completion, CompletionRequest};
use addr::AgentMsg;
use cancel::Control;
use futures_util::FutureExt;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// What an agent's handlers return. Any error converts into [`AgentError`] with `?`.
pub type AgentResult<T = ()> = Result<T, AgentError>;

/// An agent's behaviour. State lives in the implementing struct.
pub trait Agent: Send + 'static {
    /// The agent's own messages (from other agents or from the code that spawned it).
    type Msg: Send + 'static;

    /// Runs once, when the agent is started.
    fn on_start(&mut self, ctx: &mut Ctx<Self::Msg>) -> impl Future<Output = AgentResult> + Send;

    /// Runs for each message sent to the agent's [`Addr`], one at a time and in order;
    /// messages sent before the start are handled before it is started. Does nothing by
    /// default.
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
#[non_exhaustive]
pub struct AgentReport {
    /// The agent's name.
    pub name: String,
    /// Answers it received (streamed ones included).
    pub completions: u64,
    /// Asks that failed (asks cancelled by a cut are not counted).
    pub errors: u64,
    /// Input tokens of its answers (cached ones included).
    pub input_tokens: u64,
    /// Output tokens of its answers.
    pub output_tokens: u64,
    /// Completions answered by a model other than the first rung asked for.
    pub fallbacks: u64,
    /// Whether it called [`Ctx::finish`].
    pub finished: bool,
    /// Why it stopped early: an error it returned, a panic, or the cut that ended it
    /// (`cut at the deadline after 12 completions`).
    pub failure: Option<String>,
    /// The last failed ask's error.
    pub last_error: Option<String>,
    /// Set when it was cut short while still running: at the deadline, by a stop or by
    /// an interrupt.
    #[serde(default)]
    pub cut: Option<Cut>,
    /// Whether, once cut, it went on past the grace period and its actor was killed.
    #[serde(default)]
    pub killed: bool,
}

impl AgentReport {
    /// An empty report for the agent `name`.
    pub fn new(name: impl Into<String>) -> Self {
        AgentReport {
            name: name.into(),
            ..AgentReport::default()
        }
    }

    /// How its run ended, as the run's totals count it.
    pub fn ending(&self) -> Ending {
        match self.cut {
            Some(why) => Ending::Cut(why),
            None if !self.finished || self.failure.is_some() => Ending::Failed,
            None if self.errors > 0 => Ending::FinishedWithErrors,
            None => Ending::Finished,
        }
    }
}

/// How an agent's run ended ([`AgentReport::ending`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Ending {
    /// It finished and none of its asks failed.
    Finished,
    /// It finished, but some of its asks failed (e.g. every request got a 401).
    FinishedWithErrors,
    /// It was cut short while still running.
    Cut(Cut),
    /// It returned an error, panicked, or stopped without finishing.
    Failed,
}

/// The agent's view of the swarm, passed to its handlers.
///
/// The asking methods take `&self`: join several asks to have them in flight at once,
/// or move an [`Asker`] into a spawned task; all are counted in the agent's report.
pub struct Ctx<M: Send + 'static> {
    asker: Asker,
    myself: Addr<M>,
    finished: bool,
}

impl<M: Send + 'static> Ctx<M> {
    /// The agent's name.
    pub fn name(&self) -> &str {
        self.asker.name()
    }

    /// The broker itself, for what is not an ask (statistics, the config). Requests sent
    /// straight to it are not counted in the agent's report: ask through the `Ctx`.
    pub fn broker(&self) -> &BrokerHandle {
        self.asker.broker()
    }

    /// This agent's address, to hand to others.
    pub fn myself(&self) -> Addr<M> {
        self.myself.clone()
    }

    /// An [`Asker`] counting into this agent's report, to move into spawned tasks.
    pub fn asker(&self) -> Asker {
        self.asker.clone()
    }

    /// Whether this agent has been cut (deadline, stop or interrupt): its asks now fail
    /// with [`BrokerError::Cancelled`] and its handler should return.
    pub fn is_cancelled(&self) -> bool {
        self.asker.is_cancelled()
    }

    /// Resolves once this agent is cut. For handlers doing long work that does not ask
    /// the broker: race it against the work (`tokio::select!`) and return when it wins;
    /// a handler still running a grace period after the cut is killed.
    pub fn cancelled(&self) -> impl Future<Output = ()> + Send + '_ {
        self.asker.cancelled()
    }

    /// Asks the broker for a completion, counting it in this agent's report. Once the
    /// agent is cut, fails with [`BrokerError::Cancelled`] (at once, or as soon as the
    /// cut comes while it waits).
    pub async fn complete(&self, req: CompletionRequest) -> Result<Completion, BrokerError> {
        self.asker.complete(req).await
    }

    /// A one-shot question: `user` alone (no history), asked as `ask` says.
    pub async fn ask(&self, ask: &Ask, user: impl Into<String>) -> Result<Completion, BrokerError> {
        self.asker.ask(ask, user).await
    }

    /// One conversational turn: `user` joins `history`, then the reply does. On an error
    /// the unanswered user turn is taken back, so the history stays valid.
    pub async fn chat(
        &self,
        ask: &Ask,
        history: &mut History,
        user: impl Into<String>,
    ) -> Result<Completion, BrokerError> {
        self.asker.chat(ask, history, user).await
    }

    /// Asks for a streamed completion: deltas as they arrive, then the completion. Its
    /// end (the completion or the error) is counted in this agent's report when it
    /// arrives; dropping the stream cancels the request.
    pub async fn stream(&self, req: CompletionRequest) -> Result<CountedStream, BrokerError> {
        self.asker.stream(req).await
    }

    /// The cheapest rung of `target` (a ladder's last model, or the model itself), for
    /// work that does not need the best model: summaries, classification, routing.
    pub fn cheapest(&self, target: &str) -> String {
        self.asker.cheapest(target)
    }

    /// Sends a message to another agent (or to itself). Fails if it has stopped.
    pub fn send<N: Send + 'static>(&self, to: &Addr<N>, msg: N) -> Result<(), SendError> {
        to.send(msg)
    }

    /// Marks the agent done; its actor stops after the current handler returns.
    pub fn finish(&mut self) {
        self.finished = true;
    }
}

/// The actor that runs an [`Agent`].
struct AgentActor<A: Agent>(std::marker::PhantomData<fn() -> A>);

struct AgentState<A: Agent> {
    agent: A,
    ctx: Ctx<A::Msg>,
    /// `on_start` has run (or is running): a second start is ignored.
    started: bool,
}

struct AgentArgs<A: Agent> {
    name: Arc<str>,
    agent: A,
    broker: BrokerHandle,
    report: Arc<Mutex<AgentReport>>,
    token: CancellationToken,
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
                asker: Asker::new(args.name.clone(), args.broker, args.report, args.token),
                myself: Addr::new(myself, args.name),
                finished: false,
            },
            started: false,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        if state.ctx.is_cancelled() {
            // Cut before this message's turn came: handle nothing more.
            myself.stop(None);
            return Ok(());
        }
        let run = match msg {
            AgentMsg::Start if state.started => return Ok(()),
            AgentMsg::Start => {
                state.started = true;
                AssertUnwindSafe(state.agent.on_start(&mut state.ctx))
                    .catch_unwind()
                    .await
            }
            AgentMsg::Msg(m) => {
                AssertUnwindSafe(state.agent.on_message(&mut state.ctx, m))
                    .catch_unwind()
                    .await
            }
        };
        // A panic is this agent's failure, reported like an error; the swarm goes on.
        let outcome = run.unwrap_or_else(|payload| {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a non-string payload".into());
            Err(AgentError::other(format!("panicked: {what}")))
        });
        if let Err(e) = outcome {
            state.ctx.asker.update(|r| r.failure = Some(e.to_string()));
            myself.stop(Some(e.to_string()));
        } else if state.ctx.finished {
            state.ctx.asker.update(|r| r.finished = true);
            myself.stop(None);
        } else if state.ctx.is_cancelled() {
            myself.stop(None);
        }
        Ok(())
    }
}

/// A spawned agent: its address, its report so far, and a way to wait for its end.
pub struct AgentHandle<M: Send + 'static> {
    pub(crate) addr: Addr<M>,
    pub(crate) report: Arc<Mutex<AgentReport>>,
    pub(crate) join: tokio::task::JoinHandle<()>,
    control: Control,
}

impl<M: Send + 'static> AgentHandle<M> {
    /// The agent's name.
    pub fn name(&self) -> &str {
        self.addr.name()
    }

    /// The agent's address, to send it messages or hand it to other agents.
    pub fn addr(&self) -> Addr<M> {
        self.addr.clone()
    }

    /// Starts the agent (runs its `on_start`; a second start is ignored). Fails if it
    /// has already stopped.
    pub fn start(&self) -> Result<(), SendError> {
        self.addr.start()
    }

    /// Stops the agent: cuts it ([`Cut::Stopped`]) unless it had already ended. Its asks
    /// fail with [`BrokerError::Cancelled`] and its actor stops once the running handler
    /// returns. `why` is the actor's stop reason (for tracing).
    pub fn stop(&self, why: &str) {
        self.control.cancel(Cut::Stopped, Some(why));
    }

    /// Cuts the agent for `why` and waits until it has stopped, killing it if its
    /// handler still runs `grace` later; returns its report.
    pub async fn cut(mut self, why: Cut, grace: Duration) -> AgentReport {
        if !self.join.is_finished() {
            self.control.cut(&mut self.join, why, grace).await;
        }
        finalize(&self.report)
    }

    /// The report so far (the agent may still be running).
    pub fn snapshot(&self) -> AgentReport {
        snapshot(&self.report)
    }

    /// Whether the agent's actor has stopped.
    pub fn is_done(&self) -> bool {
        self.join.is_finished()
    }

    /// Erases the message type, so agents of different kinds can be awaited together.
    pub fn erase(self) -> RunningAgent {
        let a = self.addr.clone();
        RunningAgent {
            name: self.addr.name().to_string(),
            report: self.report,
            join: self.join,
            start: Box::new(move || a.start()),
            control: self.control,
        }
    }

    /// Waits until the actor stops, then returns its report. A panic in a handler is
    /// recorded as the failure.
    pub async fn wait(self) -> AgentReport {
        let _ = self.join.await;
        finalize(&self.report)
    }
}

type StartFn = Box<dyn Fn() -> Result<(), SendError> + Send + Sync>;

/// A spawned agent of any kind (see [`AgentHandle::erase`]).
pub struct RunningAgent {
    name: String,
    report: Arc<Mutex<AgentReport>>,
    pub(crate) join: tokio::task::JoinHandle<()>,
    start: StartFn,
    control: Control,
}

impl RunningAgent {
    /// The agent's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Starts the agent (a second start is ignored). Fails if it has already stopped.
    pub fn start(&self) -> Result<(), SendError> {
        (self.start)()
    }

    /// Stops the agent: cuts it ([`Cut::Stopped`]) unless it had already ended (see
    /// [`AgentHandle::stop`]).
    pub fn stop(&self, why: &str) {
        self.control.cancel(Cut::Stopped, Some(why));
    }

    /// Cuts the agent for `why` and waits until it has stopped, killing it if its
    /// handler still runs `grace` later. Does nothing to an agent that has stopped.
    pub async fn cut(&mut self, why: Cut, grace: Duration) {
        if !self.join.is_finished() {
            self.control.cut(&mut self.join, why, grace).await;
        }
    }

    /// The report so far (the agent may still be running).
    pub fn snapshot(&self) -> AgentReport {
        snapshot(&self.report)
    }

    /// Whether the agent's actor has stopped.
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

fn snapshot(report: &Mutex<AgentReport>) -> AgentReport {
    report.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

fn finalize(report: &Mutex<AgentReport>) -> AgentReport {
    let mut r = snapshot(report);
    if let Some(why) = r.cut {
        r.failure = Some(cancel::cut_text(why, r.completions, r.killed));
    } else if !r.finished && r.failure.is_none() {
        r.failure = Some("stopped without finishing (panicked or was stopped)".into());
    }
    r
}

/// Spawns `agent` as an actor, idle: start it with [`AgentHandle::start`] (messages
/// sent before are handled first).
pub async fn spawn_agent<A: Agent>(
    name: impl Into<String>,
    agent: A,
    broker: BrokerHandle,
) -> Result<AgentHandle<A::Msg>, SpawnError> {
    let name: String = name.into();
    let report = Arc::new(Mutex::new(AgentReport::new(name.clone())));
    let token = CancellationToken::new();
    let args = AgentArgs {
        name: Arc::from(name.as_str()),
        agent,
        broker,
        report: report.clone(),
        token: token.clone(),
    };
    let (actor, join) = Actor::spawn(None, AgentActor::<A>(std::marker::PhantomData), args)
        .await
        .map_err(|e| SpawnError {
            name: name.clone(),
            message: e.to_string(),
        })?;
    let control = Control {
        cell: actor.get_cell(),
        token,
        report: report.clone(),
    };
    Ok(AgentHandle {
        addr: Addr::new(actor, Arc::from(name.as_str())),
        report,
        join,
        control,
    })
}
