//! The swarm builder: starts the simulator (when needed), the broker with its provider
//! actors, and agents; runs until every agent finishes or a deadline; reports.
//!
//! Three levels, pick one:
//! - [`SwarmBuilder`]: config + backend + agents + deadline → [`SwarmReport`], in one call;
//! - [`Swarm::start`] + [`Swarm::spawn`] / [`Crew`] + [`Swarm::report`], to watch or steer
//!   the run while it goes (statistics, messages to agents);
//! - [`Swarm::start`] + [`spawn_agent`] + [`wait_all`], the bare pieces.

use crate::agent::{spawn_agent, Agent, AgentHandle, AgentReport, RunningAgent, SpawnError};
use crate::broker::{self, Broker, BrokerHandle, StartError, StartOptions, Stats};
use crate::config::{Config, Transport, Wire};
use crate::sim::{self, SimServer, Simulator};
use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// Where requests go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Real providers for those whose API key is set; the rest go to a simulator served
    /// on loopback HTTP.
    Auto,
    /// Everything to a simulator served on loopback HTTP (keys ignored).
    LoopbackSim,
    /// Everything to the simulator in-process (no sockets; works in paused time).
    Embedded,
    /// Exactly as the config says.
    AsConfigured,
}

#[derive(Debug, thiserror::Error)]
pub enum SwarmError {
    #[error(transparent)]
    Start(#[from] StartError),
    #[error(transparent)]
    Sim(#[from] sim::SimError),
    #[error(transparent)]
    Spawn(#[from] SpawnError),
}

/// A running broker with what it talks to.
pub struct Swarm {
    pub broker: Broker,
    /// The loopback simulator, when one was started.
    pub sim_server: Option<SimServer>,
    /// The in-process simulator, when used.
    pub simulator: Option<Simulator>,
    /// One line per provider saying where its requests go.
    pub backends: Vec<String>,
}

impl Swarm {
    pub async fn start(mut config: Config, backend: Backend) -> Result<Swarm, SwarmError> {
        let mut sim_server = None;
        let mut simulator = None;
        let mut backends = Vec::new();
        let needs_sim: Vec<String> = config
            .providers
            .values()
            .filter(|p| match backend {
                Backend::Auto => p.transport == Transport::Http && p.api_key_from_env().is_none(),
                Backend::LoopbackSim => true,
                Backend::Embedded | Backend::AsConfigured => false,
            })
            .map(|p| p.name.clone())
            .collect();
        if backend == Backend::Embedded {
            config.use_embedded_sim();
        }
        if !needs_sim.is_empty() {
            let server = sim::serve(
                Simulator::new(&config),
                SocketAddr::from(([127, 0, 0, 1], 0)),
            )
            .await?;
            let url = format!("http://{}", server.addr);
            for name in &needs_sim {
                if let Some(p) = config.providers.get_mut(name) {
                    p.transport = Transport::Http;
                    p.base_url = url.clone();
                    // Keys from the environment must not leak to the simulator.
                    p.api_key_env = None;
                    p.api_key = Some(crate::ApiKey::new(broker::SIM_KEY));
                }
            }
            sim_server = Some(server);
        }
        if config
            .providers
            .values()
            .any(|p| p.transport == Transport::Embedded)
        {
            simulator = Some(Simulator::new(&config));
        }
        for p in config.providers.values() {
            let wire = match p.wire {
                Wire::Anthropic => "Anthropic Messages",
                Wire::OpenAi => "OpenAI Chat Completions",
            };
            let line = match p.transport {
                Transport::Embedded => format!("{}: simulator in-process ({wire})", p.name),
                Transport::Http if needs_sim.contains(&p.name) => format!(
                    "{}: simulator over loopback HTTP at {} ({wire}; no API key set)",
                    p.name, p.base_url
                ),
                Transport::Http => format!("{}: {} ({wire})", p.name, p.base_url),
            };
            backends.push(line);
        }
        let endpoints = broker::endpoints(&config, simulator.as_ref())?;
        let broker = broker::start(config, endpoints, StartOptions::default()).await?;
        Ok(Swarm {
            broker,
            sim_server,
            simulator,
            backends,
        })
    }

    pub fn handle(&self) -> BrokerHandle {
        self.broker.handle.clone()
    }

    /// Serves this swarm's broker statistics (`/stats`, `/metrics`) on `addr`.
    pub async fn serve_stats(
        &self,
        addr: SocketAddr,
    ) -> Result<crate::monitor::StatsServer, crate::monitor::MonitorError> {
        crate::monitor::serve(self.handle(), addr).await
    }

    /// Spawns and starts an agent.
    pub async fn spawn<A: Agent>(
        &self,
        name: impl Into<String>,
        agent: A,
    ) -> Result<AgentHandle<A::Msg>, SwarmError> {
        let h = spawn_agent(name, agent, self.handle()).await?;
        h.start();
        Ok(h)
    }

    /// Spawns an agent without starting it (send it messages first, e.g. a peer's
    /// address, then [`RunningAgent::start`] it or hand it to a [`Crew`]).
    pub async fn spawn_idle<A: Agent>(
        &self,
        name: impl Into<String>,
        agent: A,
    ) -> Result<AgentHandle<A::Msg>, SwarmError> {
        Ok(spawn_agent(name, agent, self.handle()).await?)
    }

    /// The simulator's counters, when this swarm runs one (loopback or in-process).
    pub fn sim_stats(&self) -> Option<crate::sim::SimStats> {
        self.sim_server
            .as_ref()
            .map(|s| s.sim.stats())
            .or_else(|| self.simulator.as_ref().map(Simulator::stats))
    }

    /// Builds the run's report: per-agent reports plus the broker's (and the
    /// simulator's) counters.
    pub async fn report(&self, outcome: CrewOutcome, elapsed: Duration) -> SwarmReport {
        let stats = self.handle().stats().await.ok();
        let sim = self.sim_stats();
        let totals =
            Totals::from_parts(&outcome.reports, stats.as_ref(), elapsed, outcome.makespan);
        SwarmReport {
            agents: outcome.reports,
            elapsed_secs: elapsed.as_secs_f64(),
            makespan_secs: outcome.makespan.as_secs_f64(),
            timed_out: outcome.timed_out,
            totals,
            backends: self.backends.clone(),
            stats,
            sim,
        }
    }

    /// Stops the broker and the loopback simulator.
    pub async fn shutdown(self) {
        self.broker.stop();
        if let Some(s) = self.sim_server {
            let _ = s.shutdown().await;
        }
    }
}

/// A swarm run's outcome.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SwarmReport {
    pub agents: Vec<AgentReport>,
    /// From the swarm's start (simulator and broker included) to the report.
    pub elapsed_secs: f64,
    /// From the agents' start to the last agent's end.
    pub makespan_secs: f64,
    /// Whether the deadline stopped agents that had not finished.
    pub timed_out: bool,
    pub totals: Totals,
    /// Where each provider's requests went.
    pub backends: Vec<String>,
    pub stats: Option<Stats>,
    /// The simulator's own counters, when the swarm ran one.
    pub sim: Option<crate::sim::SimStats>,
}

/// A run's figures, as `quotaswarm run --json` prints them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    pub agents: usize,
    pub agents_finished: usize,
    /// Agents that returned an error, panicked or were stopped at the deadline.
    pub agents_failed: usize,
    /// Answers providers gave (each an HTTP 200; one answer may serve merged waiters).
    pub completions: u64,
    /// Answers agents received (completions + merged waiters).
    pub answers: u64,
    /// Requests that finally failed, as agents saw them.
    pub errors: u64,
    /// Requests attempted at providers (first attempts, retries and fallbacks).
    pub attempts: u64,
    /// Requests that joined an identical one in flight instead of being sent.
    pub merged: u64,
    /// Attempts sent again on the same model after a retryable failure.
    pub retries: u64,
    /// 429 responses received.
    pub rate_limited: u64,
    /// 529 (and 503) responses received.
    pub overloaded: u64,
    /// Moves down a ladder after a failure (429, 529, open circuit, never fits).
    pub fallbacks: u64,
    /// Input tokens cut from histories by trim policies (estimated).
    pub trimmed_tokens: u64,
    /// Tokens billed by providers (uncached input; output).
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cost_usd: f64,
    pub elapsed_secs: f64,
    pub makespan_secs: f64,
}

impl Totals {
    pub fn from_parts(
        reports: &[AgentReport],
        stats: Option<&Stats>,
        elapsed: Duration,
        makespan: Duration,
    ) -> Totals {
        let finished = reports.iter().filter(|r| r.finished).count();
        let mut t = Totals {
            agents: reports.len(),
            agents_finished: finished,
            agents_failed: reports.len() - finished,
            answers: reports.iter().map(|r| r.completions).sum(),
            errors: reports.iter().map(|r| r.errors).sum(),
            elapsed_secs: elapsed.as_secs_f64(),
            makespan_secs: makespan.as_secs_f64(),
            ..Totals::default()
        };
        if let Some(s) = stats {
            t.completions = s.completed;
            t.attempts = s.lanes.iter().map(|l| l.requests).sum();
            t.merged = s.merged;
            t.retries = s.retries;
            t.rate_limited = s.rate_limited;
            t.overloaded = s.overloaded;
            t.fallbacks = s.fallbacks.values().sum();
            t.trimmed_tokens = s.trimmed_tokens;
            t.input_tokens = s.input_tokens;
            t.output_tokens = s.output_tokens;
            t.cost_usd = s.cost_usd;
        }
        t
    }
}

/// Agents of any kinds, started together and awaited together.
#[derive(Default)]
pub struct Crew {
    agents: Vec<RunningAgent>,
    done: Arc<AtomicUsize>,
}

/// What [`Crew::wait`] returns.
#[derive(Debug, Clone)]
pub struct CrewOutcome {
    pub reports: Vec<AgentReport>,
    /// Whether the deadline stopped agents that had not finished.
    pub timed_out: bool,
    /// From [`Crew::start`] to the last agent's end.
    pub makespan: Duration,
}

impl Crew {
    pub fn new() -> Self {
        Crew::default()
    }

    pub fn add<M: Send + 'static>(&mut self, agent: AgentHandle<M>) {
        self.agents.push(agent.erase());
    }

    pub fn push(&mut self, agent: RunningAgent) {
        self.agents.push(agent);
    }

    pub fn len(&self) -> usize {
        self.agents.len()
    }

    pub fn is_empty(&self) -> bool {
        self.agents.is_empty()
    }

    /// How many agents have stopped so far (readable while [`Crew::wait`] runs).
    pub fn done_counter(&self) -> Arc<AtomicUsize> {
        self.done.clone()
    }

    /// Starts every agent at once.
    pub fn start(&self) -> Instant {
        for a in &self.agents {
            a.start();
        }
        Instant::now()
    }

    /// Waits for every agent, stopping those still running at `deadline` (from
    /// `started`). Reports come in the order agents were added.
    pub async fn wait(self, started: Instant, deadline: Option<Duration>) -> CrewOutcome {
        let done = self.done.clone();
        let waits = self.agents.into_iter().map(|a| {
            let done = done.clone();
            async move {
                let mut a = a;
                let in_time = match deadline {
                    Some(d) => tokio::time::timeout_at(started + d, &mut a.join)
                        .await
                        .is_ok(),
                    None => {
                        let _ = (&mut a.join).await;
                        true
                    }
                };
                let end = Instant::now();
                if !in_time {
                    a.stop("deadline");
                    let _ = (&mut a.join).await;
                }
                done.fetch_add(1, Ordering::Relaxed);
                let mut report = a.final_report();
                if !in_time && !report.finished {
                    report.failure = Some("stopped at the deadline".into());
                }
                (report, !in_time, end)
            }
        });
        let results = futures_util::future::join_all(waits).await;
        let timed_out = results.iter().any(|(_, t, _)| *t);
        let last = results.iter().map(|(_, _, e)| *e).max().unwrap_or(started);
        CrewOutcome {
            reports: results.into_iter().map(|(r, _, _)| r).collect(),
            timed_out,
            makespan: last.saturating_duration_since(started),
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
    spawners: Vec<Spawner>,
}

impl SwarmBuilder {
    pub fn new(config: Config) -> Self {
        SwarmBuilder {
            config,
            backend: Backend::Auto,
            deadline: None,
            spawners: Vec::new(),
        }
    }

    pub fn backend(mut self, backend: Backend) -> Self {
        self.backend = backend;
        self
    }

    /// Stop agents still running this long after the start.
    pub fn deadline(mut self, d: Duration) -> Self {
        self.deadline = Some(d);
        self
    }

    pub fn agent<A: Agent>(mut self, name: impl Into<String>, agent: A) -> Self {
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

    /// Starts the swarm and spawns every agent (idle). Start them with [`Crew::start`].
    pub async fn build(self) -> Result<(Swarm, Crew, Option<Duration>), SwarmError> {
        let swarm = Swarm::start(self.config, self.backend).await?;
        let mut crew = Crew::new();
        for s in self.spawners {
            for a in s(&swarm).await? {
                crew.push(a);
            }
        }
        Ok((swarm, crew, self.deadline))
    }

    /// Runs until every agent finishes or the deadline; returns the report.
    pub async fn run(self) -> Result<SwarmReport, SwarmError> {
        let t0 = Instant::now();
        let (swarm, crew, deadline) = self.build().await?;
        let started = crew.start();
        let outcome = crew.wait(started, deadline).await;
        let report = swarm.report(outcome, t0.elapsed()).await;
        swarm.shutdown().await;
        Ok(report)
    }
}

/// Waits for every agent, or stops the rest at `deadline`.
pub async fn wait_all<M: Send + 'static>(
    agents: Vec<AgentHandle<M>>,
    deadline: Option<Duration>,
) -> (Vec<AgentReport>, bool) {
    let start = Instant::now();
    let mut reports = Vec::new();
    let mut timed_out = false;
    for a in agents {
        let remaining = deadline.map(|d| d.saturating_sub(start.elapsed()));
        let actor = a.actor.clone();
        match remaining {
            Some(r) => {
                let name = a.name.clone();
                let report = a.report.clone();
                let fut = a.wait();
                tokio::pin!(fut);
                match tokio::time::timeout(r, &mut fut).await {
                    Ok(rep) => reports.push(rep),
                    Err(_) => {
                        timed_out = true;
                        actor.stop(Some("deadline".into()));
                        let mut rep = report.lock().map(|r| r.clone()).unwrap_or_default();
                        rep.name = name;
                        rep.failure = Some("stopped at the deadline".into());
                        reports.push(rep);
                    }
                }
            }
            None => reports.push(a.wait().await),
        }
    }
    (reports, timed_out)
}
