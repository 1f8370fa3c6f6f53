//! The swarm builder: starts the simulator (when needed), the broker, and agents; runs until every agent finishes, the deadline or an interrupt
//! (which cut the agents still running); reports.
//!
//! Three levels, pick one:
//! - [`SwarmBuilder`]: config + backend + agents + deadline → [`SwarmReport`], in one call;
//! - [`Swarm::start`] + [`Swarm::spawn`] / [`Crew`] + [`Swarm::report`], to watch or steer
//!   the run while it goes (statistics, messages to agents);
//! - [`Swarm::start`] + [`spawn_agent`](crate::agent::spawn_agent) + [`wait_all`], the bare pieces.

mod crew;
mod endpoints;
mod report;
mod simulator;

pub use crew::{Crew, CrewOutcome, Interrupter};
pub use endpoints::{endpoints, SIM_KEY};
pub use report::{lane_limits, report_table, status_line, SwarmReport, Totals};
pub use simulator::{Backend, RunningSim, SimRoute, Simulate};

use crate::agent::{
    spawn_shared, Agent, AgentHandle, AgentOutput, AgentReport, Cut, RunningAgent, SendError,
    SpawnError, DEFAULT_GRACE,
};
use crate::broker::{self, Broker, BrokerHandle, StartError, StartOptions};
use crate::config::{Config, Transport, Wire};
use futures_util::future::BoxFuture;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// Why a swarm could not start or spawn an agent.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SwarmError {
    /// The broker or a provider endpoint could not start.
    #[error(transparent)]
    Start(#[from] StartError),
    /// The simulator could not start (e.g. its port is taken).
    #[error("the simulator could not start")]
    Sim(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A provider needs the simulator, but the backend has none.
    #[error(
        "providers {providers:?} need the simulator (no API key set, or kind = \"sim\"), but \
         the backend has none: set their keys or pass a simulated backend \
         (`quotaswarm_sim::auto()`)"
    )]
    NoSimulator {
        /// The providers that would have gone to the simulator.
        providers: Vec<String>,
    },
    /// An agent's actor could not be spawned.
    #[error(transparent)]
    Spawn(#[from] SpawnError),
    /// A message sent while wiring agents together (before their start) was not
    /// delivered: the agent had already stopped.
    #[error(transparent)]
    Send(#[from] SendError),
}

/// A running broker with what it talks to.
pub struct Swarm {
    /// The broker every agent of this swarm asks.
    pub broker: Broker,
    /// The loopback simulator, when one was started.
    pub sim_server: Option<Box<dyn RunningSim>>,
    /// The in-process simulator, when used.
    pub simulator: Option<Box<dyn RunningSim>>,
    /// One line per provider saying where its requests go.
    pub backends: Vec<String>,
    /// The broker's handle, shared by this swarm's agents: one pointer in each agent
    /// instead of a handle's eight (see `spawn_shared`).
    shared: Arc<BrokerHandle>,
}

impl Swarm {
    /// Starts the simulator where `backend` needs one, then the broker over the
    /// endpoints `config` describes.
    pub async fn start(mut config: Config, backend: Backend) -> Result<Swarm, SwarmError> {
        let (route, sim) = match backend {
            Backend::Auto => (SimRoute::Auto, None),
            Backend::AsConfigured => (SimRoute::AsConfigured, None),
            Backend::Sim { route, sim } => (route, Some(sim)),
        };
        let needs_sim: Vec<String> = config
            .providers
            .values()
            .filter(|p| match route {
                // A keyless provider (`auth = "none"`, a local server) is real.
                SimRoute::Auto => p.transport == Transport::Http && !p.can_call(),
                SimRoute::Loopback => true,
                SimRoute::Embedded | SimRoute::AsConfigured => false,
            })
            .map(|p| p.name.clone())
            .collect();
        if route == SimRoute::Embedded {
            config.use_embedded_sim();
        }
        let (sim_server, simulator) = match sim {
            Some(sim) => start_simulators(sim.as_ref(), &mut config, &needs_sim).await?,
            None => {
                let mut providers = needs_sim.clone();
                providers.extend(
                    config
                        .providers
                        .values()
                        .filter(|p| p.transport == Transport::Embedded)
                        .map(|p| p.name.clone()),
                );
                if !providers.is_empty() {
                    return Err(SwarmError::NoSimulator { providers });
                }
                (None, None)
            }
        };
        let backends = config
            .providers
            .values()
            .map(|p| backend_line(p, needs_sim.contains(&p.name)))
            .collect();
        let endpoints = endpoints::endpoints(&config, simulator.as_ref().map(|s| s.transport()))?;
        let broker = broker::start(config, endpoints, StartOptions::default()).await?;
        Ok(Swarm {
            shared: Arc::new(broker.handle.clone()),
            broker,
            sim_server,
            simulator,
            backends,
        })
    }

    /// A handle on the broker (cheap to clone): to ask it directly, read its statistics
    /// or spawn agents with [`spawn_agent`](crate::agent::spawn_agent).
    pub fn handle(&self) -> BrokerHandle {
        self.broker.handle.clone()
    }

    /// Serves this swarm's broker statistics (`/stats`, `/metrics`) on `addr`.
    #[cfg(feature = "monitor")]
    pub async fn serve_stats(
        &self,
        addr: std::net::SocketAddr,
    ) -> Result<crate::monitor::StatsServer, crate::monitor::MonitorError> {
        crate::monitor::serve(self.handle(), addr).await
    }

    /// Spawns and starts an agent; its handle gives its address and, once it stops, its
    /// report (with its output, for an agent that returns one).
    pub async fn spawn<A: Agent<O>, O: AgentOutput>(
        &self,
        name: impl Into<String>,
        agent: A,
    ) -> Result<AgentHandle<A::Msg>, SwarmError> {
        let h = spawn_shared(name, agent, self.shared.clone()).await?;
        h.start().map_err(|e| SpawnError {
            name: h.name().to_string(),
            message: e.to_string(),
        })?;
        Ok(h)
    }

    /// Spawns an agent without starting it (send it messages first, e.g. a peer's
    /// address, then [`AgentHandle::start`] it or hand it to a [`Crew`]).
    pub async fn spawn_idle<A: Agent<O>, O: AgentOutput>(
        &self,
        name: impl Into<String>,
        agent: A,
    ) -> Result<AgentHandle<A::Msg>, SwarmError> {
        Ok(spawn_shared(name, agent, self.shared.clone()).await?)
    }

    /// The simulator's counters, when this swarm runs one (loopback or in-process), as
    /// its crate serializes them (`quotaswarm_sim::SimStats`).
    pub fn sim_stats(&self) -> Option<serde_json::Value> {
        self.sim_server
            .as_ref()
            .or(self.simulator.as_ref())
            .map(|s| s.stats())
    }

    /// Builds the run's report: per-agent reports plus the broker's (and the
    /// simulator's) counters.
    pub async fn report(&self, outcome: CrewOutcome, elapsed: Duration) -> SwarmReport {
        let stats = self.handle().stats().await.ok();
        let mut totals =
            Totals::from_parts(&outcome.reports, stats.as_ref(), elapsed, outcome.makespan);
        totals.timed_out = outcome.timed_out;
        totals.interrupted = outcome.interrupted;
        SwarmReport {
            agents: outcome.reports,
            elapsed_secs: elapsed.as_secs_f64(),
            makespan_secs: outcome.makespan.as_secs_f64(),
            timed_out: outcome.timed_out,
            interrupted: outcome.interrupted,
            totals,
            backends: self.backends.clone(),
            stats,
            sim: self.sim_stats(),
        }
    }

    /// Stops the broker and the loopback simulator.
    pub async fn shutdown(self) {
        self.broker.stop();
        if let Some(s) = self.sim_server {
            s.shutdown().await;
        }
    }
}

type Spawner = Box<
    dyn for<'a> FnOnce(&'a Swarm) -> BoxFuture<'a, Result<Vec<RunningAgent>, SwarmError>> + Send,
>;

/// A whole run in one call: config, backend, agents, deadline → report.
///
/// ```no_run
/// # use quotaswarm::{agent::*, swarm::*, Config};
/// # struct Poet;
/// # impl Agent for Poet { type Msg = (); async fn on_start(&mut self, ctx: &mut Ctx<()>) -> AgentResult { ctx.finish(); Ok(()) } }
/// # async fn f() -> Result<(), SwarmError> {
/// let report = SwarmBuilder::new(Config::default())
///     .backend(Backend::Auto)
///     .agent("poet-1", Poet)
///     .agent("poet-2", Poet)
///     .deadline(std::time::Duration::from_secs(60))
///     .run()
///     .await?;
/// println!("{} answers", report.totals.answers);
/// # Ok(()) }
/// ```
pub struct SwarmBuilder {
    config: Config,
    backend: Backend,
    deadline: Option<Duration>,
    grace: Duration,
    spawners: Vec<Spawner>,
}

impl SwarmBuilder {
    /// A swarm over `config`, on [`Backend::Auto`], with no agents and no deadline.
    pub fn new(config: Config) -> Self {
        SwarmBuilder {
            config,
            backend: Backend::Auto,
            deadline: None,
            grace: DEFAULT_GRACE,
            spawners: Vec::new(),
        }
    }

    /// Where requests go (default [`Backend::Auto`]).
    pub fn backend(mut self, backend: Backend) -> Self {
        self.backend = backend;
        self
    }

    /// Cut agents still running this long after the start: their asks fail with
    /// [`BrokerError::Cancelled`](crate::BrokerError::Cancelled) and they stop once their
    /// running handler returns (or are killed after the grace period).
    pub fn deadline(mut self, d: Duration) -> Self {
        self.deadline = Some(d);
        self
    }

    /// How long a cut agent's handler may go on before its actor is killed (default
    /// [`DEFAULT_GRACE`], 2 s).
    pub fn grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// Adds an agent, spawned when the swarm starts. What it returns is in its report
    /// ([`SwarmReport::output`]).
    pub fn agent<A: Agent<O>, O: AgentOutput>(mut self, name: impl Into<String>, agent: A) -> Self {
        let name = name.into();
        self.spawners.push(Box::new(move |swarm: &Swarm| {
            Box::pin(async move { Ok(vec![swarm.spawn_idle(name, agent).await?.erase()]) })
        }));
        self
    }

    /// Agents that need the running swarm to be made, e.g. a pair that must know each
    /// other's addresses. Spawn them idle ([`Swarm::spawn_idle`]); they start with the rest.
    pub fn agents_with<F>(mut self, f: F) -> Self
    where
        F: for<'a> FnOnce(&'a Swarm) -> BoxFuture<'a, Result<Vec<RunningAgent>, SwarmError>>
            + Send
            + 'static,
    {
        self.spawners.push(Box::new(f));
        self
    }

    /// Starts the swarm and spawns every agent (idle), in a crew with this builder's
    /// grace period. Start them with [`Crew::start`], or run it all with
    /// [`BuiltSwarm::run`].
    pub async fn build(self) -> Result<BuiltSwarm, SwarmError> {
        let swarm = Swarm::start(self.config, self.backend).await?;
        let mut crew = Crew::new();
        crew.set_grace(self.grace);
        // One agent a spawner, mostly (`agents_with` may add more).
        crew.reserve(self.spawners.len());
        for s in self.spawners {
            for a in s(&swarm).await? {
                crew.push(a);
            }
        }
        Ok(BuiltSwarm {
            swarm,
            crew,
            deadline: self.deadline,
        })
    }

    /// Runs until every agent finishes or the deadline; returns the report.
    pub async fn run(self) -> Result<SwarmReport, SwarmError> {
        let t0 = Instant::now();
        Ok(self.build().await?.run_from(t0).await)
    }
}

/// A swarm started by [`SwarmBuilder::build`], its agents spawned but not started.
#[non_exhaustive]
pub struct BuiltSwarm {
    /// The running broker (and simulator).
    pub swarm: Swarm,
    /// The agents, idle.
    pub crew: Crew,
    /// When to cut the agents still running, from their start.
    pub deadline: Option<Duration>,
}

impl BuiltSwarm {
    /// Starts the agents, waits until they all finish or the deadline, shuts the swarm
    /// down and returns the report.
    pub async fn run(self) -> SwarmReport {
        self.run_from(Instant::now()).await
    }

    /// [`BuiltSwarm::run`], with the report's elapsed time counted from `t0`.
    async fn run_from(self, t0: Instant) -> SwarmReport {
        let started = self.crew.start();
        let outcome = self.crew.wait(started, self.deadline).await;
        let report = self.swarm.report(outcome, t0.elapsed()).await;
        self.swarm.shutdown().await;
        report
    }
}

/// One line saying where `p`'s requests go.
fn backend_line(p: &crate::config::ProviderConfig, simulated: bool) -> String {
    let wire = match p.wire {
        Wire::Anthropic => "Anthropic Messages",
        Wire::OpenAi => "OpenAI Chat Completions",
        Wire::Responses => "OpenAI Responses",
    };
    match p.transport {
        Transport::Embedded => format!("{}: simulator in-process ({wire})", p.name),
        Transport::Http if simulated => format!(
            "{}: simulator over loopback HTTP at {} ({wire}; no API key set)",
            p.name, p.base_url
        ),
        Transport::Http => format!("{}: {} ({wire})", p.name, p.base_url),
    }
}

/// Serves one simulator on loopback for the providers in `needs_sim` (pointing them at
/// it, with the simulator's key) and makes the in-process one for `kind = "sim"`
/// providers.
async fn start_simulators(
    sim: &dyn Simulate,
    config: &mut Config,
    needs_sim: &[String],
) -> Result<(Option<Box<dyn RunningSim>>, Option<Box<dyn RunningSim>>), SwarmError> {
    let mut sim_server = None;
    if !needs_sim.is_empty() {
        let server = sim.serve(config).await.map_err(SwarmError::Sim)?;
        let url = server.base_url().unwrap_or_default();
        for name in needs_sim {
            if let Some(p) = config.providers.get_mut(name) {
                p.point_at(&url);
                // Keys from the environment must not leak to the simulator.
                p.api_key_env = None;
                p.api_key = Some(crate::ApiKey::new(SIM_KEY));
            }
        }
        sim_server = Some(server);
    }
    let simulator = config
        .providers
        .values()
        .any(|p| p.transport == Transport::Embedded)
        .then(|| sim.embedded(config));
    Ok((sim_server, simulator))
}

/// Waits for every agent, or cuts the rest at `deadline` (killing any still running
/// after [`DEFAULT_GRACE`]); returns their reports (in order) and whether the deadline
/// cut any.
pub async fn wait_all<M: Send + 'static>(
    agents: Vec<AgentHandle<M>>,
    deadline: Option<Duration>,
) -> (Vec<AgentReport>, bool) {
    let start = Instant::now();
    let mut reports = Vec::new();
    let mut timed_out = false;
    for a in agents {
        let mut a = a.erase();
        match deadline {
            None => {
                let _ = (&mut a.join).await;
            }
            Some(d) => {
                // Polled to completion here, the join handle must not be awaited again.
                if tokio::time::timeout_at(start + d, &mut a.join)
                    .await
                    .is_err()
                {
                    timed_out = true;
                    a.cut(Cut::Deadline, DEFAULT_GRACE).await;
                }
            }
        }
        reports.push(a.final_report());
    }
    (reports, timed_out)
}
