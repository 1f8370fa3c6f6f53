//! The seam to a simulator. The core does not contain one (it lives in the
//! `quotaswarm-sim` crate, which depends on this one): a [`Backend`] that routes
//! requests to a simulator carries a [`Simulate`] that starts it, and the swarm keeps
//! the [`RunningSim`] it returns for its endpoints, its report and its shutdown.

use crate::config::Config;
use crate::provider::Transport;
use futures_util::future::BoxFuture;
use std::any::Any;
use std::sync::Arc;

/// Starts simulators for a swarm (implemented by `quotaswarm-sim`).
pub trait Simulate: Send + Sync {
    /// A simulator of `config`'s models served on loopback HTTP.
    fn serve<'a>(
        &'a self,
        config: &'a Config,
    ) -> BoxFuture<'a, Result<Box<dyn RunningSim>, Box<dyn std::error::Error + Send + Sync>>>;

    /// A simulator of `config`'s models called in-process (no sockets; works in paused
    /// tokio time).
    fn embedded(&self, config: &Config) -> Box<dyn RunningSim>;
}

/// A simulator a swarm started.
pub trait RunningSim: Send + Sync {
    /// Where it listens (`http://127.0.0.1:PORT`), if it is served over HTTP.
    fn base_url(&self) -> Option<String>;

    /// A transport that calls it in-process.
    fn transport(&self) -> Arc<dyn Transport>;

    /// Its counters, as the report carries them.
    fn stats(&self) -> serde_json::Value;

    /// Stops serving it (nothing for an in-process one).
    fn shutdown(self: Box<Self>) -> BoxFuture<'static, ()>;

    /// The simulator itself, for its crate to hand back typed (`quotaswarm_sim::of`).
    fn as_any(&self) -> &dyn Any;
}

/// Where the requests of a [`Backend::Sim`] go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SimRoute {
    /// Real providers for those whose API key is set; the rest to the simulator served
    /// on loopback HTTP.
    Auto,
    /// Everything to the simulator served on loopback HTTP (keys ignored).
    Loopback,
    /// Everything to the simulator in-process.
    Embedded,
    /// Exactly as the config says; `kind = "sim"` providers to the in-process simulator.
    AsConfigured,
}

/// Where requests go. Without a simulator only real providers can answer; the
/// `quotaswarm-sim` crate makes the simulated ones (`quotaswarm_sim::auto()`,
/// `loopback()`, `embedded()`).
#[derive(Clone)]
#[non_exhaustive]
pub enum Backend {
    /// Real providers; one with no API key set is an error
    /// ([`SwarmError::NoSimulator`](super::SwarmError::NoSimulator)).
    Auto,
    /// Exactly as the config says (a `kind = "sim"` provider is an error).
    AsConfigured,
    /// A simulator answers where `route` says.
    Sim {
        /// Which providers go to the simulator.
        route: SimRoute,
        /// What starts it.
        sim: Arc<dyn Simulate>,
    },
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Backend::Auto => f.write_str("Auto"),
            Backend::AsConfigured => f.write_str("AsConfigured"),
            Backend::Sim { route, .. } => f.debug_struct("Sim").field("route", route).finish(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Swarm, SwarmError};
    use super::*;

    #[tokio::test]
    async fn a_provider_that_needs_the_simulator_is_an_error_without_one() {
        let config = Config::from_toml_str(
            "[providers.p]\nkind = \"sim\"\nwire = \"anthropic\"\n\
             [models.m]\nprovider = \"p\"\nmodel = \"claude-sonnet-4-5\"\nrpm = 10\nitpm = 1000\notpm = 1000\n",
            "test",
        )
        .expect("test config");
        match Swarm::start(config, Backend::AsConfigured).await {
            Err(SwarmError::NoSimulator { providers }) => assert_eq!(providers, ["p"]),
            Err(e) => panic!("expected NoSimulator, got {e}"),
            Ok(_) => panic!("expected NoSimulator, got a swarm"),
        }
    }
}
