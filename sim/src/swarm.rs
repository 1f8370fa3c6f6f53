//! Plugging the simulator into a swarm: the [`Backend`]s that route requests to it,
//! the in-process [`EmbeddedTransport`], and typed access to a running swarm's
//! simulator.

use crate::{serve, SimServer, SimStats, Simulator};
use futures_util::future::BoxFuture;
use quotaswarm::config::Config;
use quotaswarm::provider::{
    HttpRequest, HttpResponse, StreamingResponse, Transport, TransportError,
};
use quotaswarm::swarm::{Backend, RunningSim, SimRoute, Simulate, Swarm, SwarmReport};
use std::any::Any;
use std::net::SocketAddr;
use std::sync::Arc;

/// Real providers for those whose API key is set; the rest go to a simulator served on
/// loopback HTTP.
pub fn auto() -> Backend {
    backend(SimRoute::Auto)
}

/// Everything to a simulator served on loopback HTTP (keys ignored).
pub fn loopback() -> Backend {
    backend(SimRoute::Loopback)
}

/// Everything to the simulator in-process (no sockets; works in paused time).
pub fn embedded() -> Backend {
    backend(SimRoute::Embedded)
}

/// Exactly as the config says; `kind = "sim"` providers go to the in-process simulator.
pub fn as_configured() -> Backend {
    backend(SimRoute::AsConfigured)
}

fn backend(route: SimRoute) -> Backend {
    Backend::Sim {
        route,
        sim: Arc::new(Starter),
    }
}

/// The simulator a swarm runs (the loopback one first, else the in-process one), to
/// read its stats, inject faults or change limits while it runs.
pub fn of(swarm: &Swarm) -> Option<&Simulator> {
    let running = swarm.sim_server.as_ref().or(swarm.simulator.as_ref())?;
    let any = running.as_any();
    any.downcast_ref::<Simulator>()
        .or_else(|| any.downcast_ref::<SimServer>().map(|s| &s.sim))
}

/// The simulator's counters in a swarm's report, typed.
pub fn stats_of(report: &SwarmReport) -> Option<SimStats> {
    serde_json::from_value(report.sim.clone()?).ok()
}

/// Starts simulators for [`Swarm::start`].
struct Starter;

impl Simulate for Starter {
    fn serve<'a>(
        &'a self,
        config: &'a Config,
    ) -> BoxFuture<'a, Result<Box<dyn RunningSim>, Box<dyn std::error::Error + Send + Sync>>> {
        Box::pin(async move {
            let server = serve(
                Simulator::new(config),
                SocketAddr::from(([127, 0, 0, 1], 0)),
            )
            .await?;
            Ok(Box::new(server) as Box<dyn RunningSim>)
        })
    }

    fn embedded(&self, config: &Config) -> Box<dyn RunningSim> {
        Box::new(Simulator::new(config))
    }
}

impl RunningSim for Simulator {
    fn base_url(&self) -> Option<String> {
        None
    }

    fn transport(&self) -> Arc<dyn Transport> {
        Simulator::transport(self)
    }

    fn stats(&self) -> serde_json::Value {
        serde_json::to_value(Simulator::stats(self)).unwrap_or_default()
    }

    fn shutdown(self: Box<Self>) -> BoxFuture<'static, ()> {
        Box::pin(async {})
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl RunningSim for SimServer {
    fn base_url(&self) -> Option<String> {
        Some(format!("http://{}", self.addr))
    }

    fn transport(&self) -> Arc<dyn Transport> {
        self.sim.transport()
    }

    fn stats(&self) -> serde_json::Value {
        RunningSim::stats(&self.sim)
    }

    fn shutdown(self: Box<Self>) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            if let Err(e) = SimServer::shutdown(*self).await {
                tracing::warn!(error = %e, "simulator shutdown");
            }
        })
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl Simulator {
    /// A transport that calls this simulator in-process.
    pub fn transport(&self) -> Arc<dyn Transport> {
        Arc::new(EmbeddedTransport { sim: self.clone() })
    }
}

/// Calls the simulator in-process: no sockets, so it works in paused tokio time. Never
/// fails with a [`TransportError`].
#[derive(Clone)]
pub struct EmbeddedTransport {
    /// The simulator that answers.
    pub sim: Simulator,
}

impl Transport for EmbeddedTransport {
    fn send(&self, request: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        Box::pin(async move { Ok(self.sim.handle(request).await) })
    }

    fn send_streaming(
        &self,
        request: HttpRequest,
    ) -> BoxFuture<'_, Result<StreamingResponse, TransportError>> {
        Box::pin(async move { Ok(self.sim.handle_streaming(request).await) })
    }
}
