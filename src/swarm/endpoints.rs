//! Wiring: the provider endpoints a config describes, each with its transport (real HTTP
//! or the in-process simulator) and its key. The broker takes endpoints ready-made and
//! never knows whether a simulator stands behind them. A provider's own path, query,
//! key scheme and headers (`[providers.X]`) wrap its wire in a [`Routed`].

use crate::broker::StartError;
use crate::config::{Config, Transport as TransportKind};
use crate::provider::{self, Endpoint, HttpTransport, Route, Routed, Transport};
use std::collections::HashMap;
use std::sync::Arc;

/// The key sent to the simulator when no other is set.
pub const SIM_KEY: &str = "quotaswarm-sim";

/// The endpoints `config` describes. Providers with `kind = "sim"` use `sim` (a
/// transport to the in-process simulator, e.g. `quotaswarm_sim::Simulator::transport`)
/// and the simulator's key.
pub fn endpoints(
    config: &Config,
    sim: Option<Arc<dyn Transport>>,
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
            TransportKind::Embedded => embedded(name, sim.as_ref())?,
        };
        let key = p.resolve_key().or_else(|| {
            (p.transport == TransportKind::Embedded).then(|| crate::ApiKey::new(SIM_KEY))
        });
        // `auth = "none"` sends no key, whatever is set.
        let key = key.filter(|_| p.auth != crate::config::Auth::None);
        out.insert(
            name.clone(),
            Endpoint {
                name: name.clone(),
                provider: Routed::wrap(provider::for_wire(p.wire), Route::of(p)),
                transport,
                key,
            },
        );
    }
    Ok(out)
}

fn embedded(
    name: &str,
    sim: Option<&Arc<dyn Transport>>,
) -> Result<Arc<dyn Transport>, StartError> {
    sim.cloned().ok_or_else(|| StartError::Provider {
        provider: name.to_string(),
        message: "kind = \"sim\" needs the embedded simulator".into(),
    })
}
