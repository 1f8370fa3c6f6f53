//! Agents: implement [`Agent`] in a few lines; [`spawn_agent`] wraps it in a ractor actor.
//!
//! An agent reacts to its start and to its own messages. Its [`Ctx`] derefs to an
//! [`Asker`], which asks the broker for completions (`complete`, `ask`, `chat`, `stream`:
//! several may be in flight at once; `run_tools` for a tool loop, `complete_json` for a
//! typed reply); the `Ctx` itself messages other agents through their [`Addr`] and
//! finishes. Every ask is counted into the agent's [`AgentReport`], also those made from
//! spawned tasks through a clone of the [`Asker`]. Handlers return an [`AgentResult`]:
//! any error converts into [`AgentError`] with `?`. An agent that returns an error or
//! panics is reported as such and takes nothing else down.
//!
//! An agent may return a result: `impl Agent<Out> for MyAgent` and finish with
//! [`Ctx::finish_with`]; the value is in its [`AgentReport`], typed
//! ([`AgentReport::output`]) and serialized (the JSON report's `output`). Agents that
//! return nothing implement `Agent` (`Out = ()`) and call [`Ctx::finish`].
//!
//! An agent still running at the swarm's deadline, when it is stopped or when the run is
//! interrupted is *cut*: its asks fail with [`BrokerError::Cancelled`] and its actor
//! stops once the running handler returns; a handler that goes on regardless is killed
//! after a grace period. Agents that do long local work can watch `ctx.cancelled()`
//! ([`Asker::cancelled`]).
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
//! [`BrokerError::Cancelled`]: crate::BrokerError::Cancelled
//!
//! | file | holds |
//! |---|---|
//! | `agent.rs` | the [`Agent`] trait, [`Ctx`], [`AgentReport`], the actor wrapper and the handles |
//! | `agent/ask.rs` | [`Ask`] (a request template) and [`History`] |
//! | `agent/asker.rs` | [`Asker`] and [`CountedStream`]: asking and counting |
//! | `agent/addr.rs` | [`Addr`]: agent-to-agent messages |
//! | `agent/error.rs` | [`AgentError`], [`SendError`], [`SpawnError`] |
//! | `agent/cancel.rs` | [`Cut`]: cutting an agent short (cancel, stop, kill) |
//! | `agent/tools.rs` | [`LocalTool`], [`Toolbox`]: tools the agent runs itself |
//! | `agent/tool_loop.rs` | [`Asker::run_tools`], [`ToolRun`]: the tool loop |
//! | `agent/structured.rs` | [`Asker::complete_json`], [`ReplySchema`]: typed structured output |
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

use crate::broker::BrokerHandle;
use addr::AgentMsg;
use cancel::Control;
use futures_util::FutureExt;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use serde::{Deserialize, Serialize};
use std::any::Any;
use std::fmt;
use std::future::Future;
use std::ops::Deref;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// What an agent's handlers return. Any error converts into [`AgentError`] with `?`.
pub type AgentResult<T = ()> = Result<T, AgentError>;

/// An agent's behaviour. State lives in the implementing struct.
///
/// `Out` is what the agent returns, with [`Ctx::finish_with`]: it lands in its
/// [`AgentReport`] (see [`AgentOutput`]). An agent that returns nothing implements
/// `Agent` (`Out = ()`) and ends with [`Ctx::finish`].
///
/// ```no_run
/// use quotaswarm::agent::{Agent, AgentResult, Ask, Ctx};
///
/// #[derive(serde::Serialize)]
/// struct Verdict {
///     approve: bool,
/// }
///
/// struct Judge;
///
/// impl Agent<Verdict> for Judge {
///     type Msg = ();
///     async fn on_start(&mut self, ctx: &mut Ctx<(), Verdict>) -> AgentResult {
///         let reply = ctx.ask(&Ask::new("haiku"), "Approve this change? yes or no").await?;
///         ctx.finish_with(Verdict { approve: reply.text().contains("yes") });
///         Ok(())
///     }
/// }
/// ```
pub trait Agent<Out = ()>: Send + 'static {
    /// The agent's own messages (from other agents or from the code that spawned it).
    type Msg: Send + 'static;

    /// Runs once, when the agent is started.
    fn on_start(
        &mut self,
        ctx: &mut Ctx<Self::Msg, Out>,
    ) -> impl Future<Output = AgentResult> + Send;

    /// Runs for each message sent to the agent's [`Addr`], one at a time and in order;
    /// messages sent before the start are handled before it is started. Does nothing by
    /// default.
    fn on_message(
        &mut self,
        ctx: &mut Ctx<Self::Msg, Out>,
        msg: Self::Msg,
    ) -> impl Future<Output = AgentResult> + Send {
        let _ = (ctx, msg);
        async { Ok(()) }
    }
}

/// What an agent may return ([`Agent`]'s `Out`): serializable, for the JSON report, and
/// `Send + Sync + 'static`, for the typed one. Every such type is one.
pub trait AgentOutput: Serialize + Send + Sync + 'static {}

impl<T: Serialize + Send + Sync + 'static> AgentOutput for T {}

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
    /// What it returned ([`Ctx::finish_with`]), serialized; `None` when it returned
    /// nothing. Rust callers read it typed with [`AgentReport::output`].
    #[serde(default, rename = "output", skip_serializing_if = "Option::is_none")]
    pub output_json: Option<serde_json::Value>,
    /// The same, typed (not serialized).
    #[serde(skip)]
    output: TypedOutput,
}

/// An agent's output, type-erased so reports of agents of any kinds sit side by side.
#[derive(Clone, Default)]
struct TypedOutput(Option<Arc<dyn Any + Send + Sync>>);

impl fmt::Debug for TypedOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() { "Some(..)" } else { "None" })
    }
}

impl PartialEq for TypedOutput {
    /// Always equal: reports compare their outputs through `output_json`.
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl AgentReport {
    /// An empty report for the agent `name`.
    pub fn new(name: impl Into<String>) -> Self {
        AgentReport {
            name: name.into(),
            ..AgentReport::default()
        }
    }

    /// What the agent returned ([`Ctx::finish_with`]), if it returned a `T`. `None` when
    /// it returned nothing (it failed, was cut, or returns `()`), when `T` is not its
    /// output type, or for a report read back from JSON (see `output_json`).
    pub fn output<T: 'static>(&self) -> Option<&T> {
        self.output.0.as_deref()?.downcast_ref::<T>()
    }

    /// Takes what the agent returned out of this report, like [`AgentReport::output`]
    /// but by value. `None` also when a clone of this report still shares it.
    pub fn take_output<T: Send + Sync + 'static>(&mut self) -> Option<T> {
        let shared = self.output.0.take()?;
        let back = match shared.downcast::<T>() {
            Ok(typed) => match Arc::try_unwrap(typed) {
                Ok(value) => return Some(value),
                Err(typed) => typed as Arc<dyn Any + Send + Sync>,
            },
            Err(other) => other,
        };
        self.output.0 = Some(back);
        None
    }

    /// Records what the agent returned, typed and serialized.
    fn set_output<O: AgentOutput>(&mut self, value: O) {
        self.output_json = match serde_json::to_value(&value) {
            Ok(json) => Some(json),
            Err(e) => {
                tracing::warn!(agent = %self.name, error = %e, "the agent's output does not serialize");
                None
            }
        };
        self.output = TypedOutput(Some(Arc::new(value)));
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

/// The agent's view of the swarm, passed to its handlers. `O` is what the agent returns
/// (see [`Agent`]).
///
/// It derefs to the agent's [`Asker`]: `ctx.ask(..)`, `ctx.chat(..)`, `ctx.complete(..)`,
/// `ctx.stream(..)`, `ctx.run_tools(..)`, `ctx.name()`, `ctx.is_cancelled()`... The
/// asking methods take `&self`: join several asks to have them in flight at once, or
/// move a clone ([`Ctx::asker`]) into a spawned task; all are counted in the agent's
/// report.
pub struct Ctx<M: Send + 'static, O = ()> {
    asker: Asker,
    myself: Addr<M>,
    finished: bool,
    output: Option<O>,
}

impl<M: Send + 'static, O> Deref for Ctx<M, O> {
    type Target = Asker;

    fn deref(&self) -> &Asker {
        &self.asker
    }
}

impl<M: Send + 'static, O> Ctx<M, O> {
    /// This agent's address, to hand to others.
    pub fn myself(&self) -> Addr<M> {
        self.myself.clone()
    }

    /// A clone of this agent's [`Asker`], counting into its report, to move into
    /// spawned tasks.
    pub fn asker(&self) -> Asker {
        self.asker.clone()
    }

    /// Sends a message to another agent (or to itself). Fails if it has stopped.
    pub fn send<N: Send + 'static>(&self, to: &Addr<N>, msg: N) -> Result<(), SendError> {
        to.send(msg)
    }

    /// Marks the agent done, returning `output` (in its [`AgentReport`]); its actor
    /// stops after the current handler returns.
    pub fn finish_with(&mut self, output: O) {
        self.output = Some(output);
        self.finished = true;
    }
}

impl<M: Send + 'static> Ctx<M> {
    /// Marks the agent done; its actor stops after the current handler returns.
    pub fn finish(&mut self) {
        self.finished = true;
    }
}

/// The actor that runs an [`Agent`] returning `O`.
struct AgentActor<A, O>(std::marker::PhantomData<fn() -> (A, O)>);

struct AgentState<A: Agent<O>, O> {
    agent: A,
    ctx: Ctx<A::Msg, O>,
    /// `on_start` has run (or is running): a second start is ignored.
    started: bool,
}

struct AgentArgs<A> {
    name: Arc<str>,
    agent: A,
    broker: Arc<BrokerHandle>,
    report: Arc<Mutex<AgentReport>>,
    token: CancellationToken,
}

impl<A: Agent<O>, O: AgentOutput> Actor for AgentActor<A, O> {
    type Msg = AgentMsg<A::Msg>;
    type State = AgentState<A, O>;
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
                output: None,
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
        // The handlers' futures are boxed while they run: held inline, their largest
        // state (an ask's, through the broker handle) would size every agent's actor task
        // from its spawn on, asking or not — kilobytes per agent in a swarm of 100,000.
        let run = match msg {
            AgentMsg::Start if state.started => return Ok(()),
            AgentMsg::Start => {
                state.started = true;
                AssertUnwindSafe(Box::pin(state.agent.on_start(&mut state.ctx)))
                    .catch_unwind()
                    .await
            }
            AgentMsg::Msg(m) => {
                AssertUnwindSafe(Box::pin(state.agent.on_message(&mut state.ctx, m)))
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
            let output = state.ctx.output.take();
            state.ctx.asker.update(|r| {
                r.finished = true;
                if let Some(output) = output {
                    r.set_output(output);
                }
            });
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
    /// fail with [`BrokerError::Cancelled`](crate::BrokerError::Cancelled) and its actor
    /// stops once the running handler returns. `why` is the actor's stop reason (for
    /// tracing).
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
    /// failed was stopped (or panicked outside a handler). It takes the agent's typed
    /// output: a second call returns the report without it.
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

/// The final report. It takes the typed output out of the shared report, so the caller
/// holds it alone and [`AgentReport::take_output`] can move it out.
fn finalize(report: &Mutex<AgentReport>) -> AgentReport {
    let mut r = {
        let mut shared = report.lock().unwrap_or_else(|p| p.into_inner());
        let output = std::mem::take(&mut shared.output);
        AgentReport {
            output,
            ..shared.clone()
        }
    };
    if let Some(why) = r.cut {
        r.failure = Some(cancel::cut_text(why, r.completions, r.killed));
    } else if !r.finished && r.failure.is_none() {
        r.failure = Some("stopped without finishing (panicked or was stopped)".into());
    }
    r
}

/// Spawns `agent` as an actor, idle: start it with [`AgentHandle::start`] (messages
/// sent before are handled first).
pub async fn spawn_agent<A: Agent<O>, O: AgentOutput>(
    name: impl Into<String>,
    agent: A,
    broker: BrokerHandle,
) -> Result<AgentHandle<A::Msg>, SpawnError> {
    spawn_shared(name, agent, Arc::new(broker)).await
}

/// [`spawn_agent`] with a handle shared by many agents (a swarm's): each agent's actor
/// then holds one pointer instead of a whole handle.
pub(crate) async fn spawn_shared<A: Agent<O>, O: AgentOutput>(
    name: impl Into<String>,
    agent: A,
    broker: Arc<BrokerHandle>,
) -> Result<AgentHandle<A::Msg>, SpawnError> {
    let name: Arc<str> = Arc::from(name.into());
    let report = Arc::new(Mutex::new(AgentReport::new(&*name)));
    let token = CancellationToken::new();
    let args = AgentArgs {
        name: name.clone(),
        agent,
        broker,
        report: report.clone(),
        token: token.clone(),
    };
    let (actor, join) = Actor::spawn(None, AgentActor::<A, O>(std::marker::PhantomData), args)
        .await
        .map_err(|e| SpawnError {
            name: name.to_string(),
            message: e.to_string(),
        })?;
    let control = Control {
        cell: actor.get_cell(),
        token,
        report: report.clone(),
    };
    Ok(AgentHandle {
        addr: Addr::new(actor, name),
        report,
        join,
        control,
    })
}
