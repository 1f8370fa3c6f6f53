//! Wiring: the provider endpoints a config describes, each with its transport (real HTTP
//! or the in-process simulator) and its key. The broker takes endpoints ready-made and
//! never knows whether a simulator stands behind them.

use crate::broker::StartError;
use crate::config::{Config, Transport as TransportKind};
use crate::provider::{self, Endpoint, HttpTransport, Transport};
#[cfg(feature = "sim")]
use crate::sim::{EmbeddedTransport, Simulator};
use std::collections::HashMap;
use std::sync::Arc;

/// The key sent to the simulator when no other is set.
pub const SIM_KEY: &str = "quotaswarm-sim";

/// Stands in for the simulator when the crate is built without the `sim` feature.
#[cfg(not(feature = "sim"))]
pub enum Simulator {}

/// The endpoints `config` describes. Providers with `kind = "sim"` use `sim` (the
/// in-process simulator) and the simulator's key.
pub fn endpoints(
    config: &Config,
    sim: Option<&Simulator>,
) -> Result<HashMap<String, Endpoint>, StartError> {
    let mut out = HashMap::new();
    for (name, p) in &config.providers {
        let transport: Arc<dyn Transport> = match p.transport {
            TransportKind::Http => Arc::new(
                HttpTransport::new(&p.base_url, p.timeout)
                    .map_err(|e| StartError::Provider {
                        provider: name.clone(),
                        message: e.to_string(),
                    })?
                    .stream_idle_timeout(p.stream_idle_timeout),
            ),
            TransportKind::Embedded => embedded(name, sim)?,
        };
        let key = p.resolve_key().or_else(|| {
            (p.transport == TransportKind::Embedded).then(|| crate::ApiKey::new(SIM_KEY))
        });
        out.insert(
            name.clone(),
            Endpoint {
                name: name.clone(),
                provider: provider::for_wire(p.wire),
                transport,
                key,
            },
        );
    }
    Ok(out)
}

#[cfg(feature = "sim")]
fn embedded(name: &str, sim: Option<&Simulator>) -> Result<Arc<dyn Transport>, StartError> {
    match sim {
        Some(sim) => Ok(Arc::new(EmbeddedTransport { sim: sim.clone() })),
        None => Err(StartError::Provider {
            provider: name.to_string(),
            message: "kind = \"sim\" needs the embedded simulator".into(),
        }),
    }
}

#[cfg(not(feature = "sim"))]
fn embedded(name: &str, _sim: Option<&Simulator>) -> Result<Arc<dyn Transport>, StartError> {
    Err(StartError::Provider {
        provider: name.to_string(),
        message: "kind = \"sim\" needs quotaswarm built with the `sim` feature".into(),
    })
}
