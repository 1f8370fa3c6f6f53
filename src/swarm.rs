//! The swarm builder: starts the simulator (when needed), the broker with its provider
//! actors, and agents; runs until every agent finishes or a deadline; reports.

use crate::agent::{spawn_agent, Agent, AgentHandle, AgentReport, SpawnError};
use crate::broker::{self, Broker, BrokerHandle, StartError, StartOptions, Stats};
use crate::config::{Config, Transport, Wire};
use crate::sim::{self, SimServer, Simulator};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
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
    pub elapsed_secs: f64,
    /// Whether the deadline stopped agents that had not finished.
    pub timed_out: bool,
    pub stats: Option<Stats>,
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
