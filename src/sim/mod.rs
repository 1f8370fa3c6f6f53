//! The built-in simulator of both APIs. TODO(sim helper).

use crate::config::Config;
use crate::provider::{HttpRequest, HttpResponse, Transport, TransportError};
use futures_util::future::BoxFuture;
use std::net::SocketAddr;
use std::sync::Arc;

/// The simulator's state; cheap to clone (shared).
#[derive(Clone)]
pub struct Simulator {
    _inner: Arc<()>,
}

impl Simulator {
    pub fn new(_config: &Config) -> Self {
        Simulator {
            _inner: Arc::new(()),
        }
    }

    /// Handles one request as the HTTP server would (used in-process by `EmbeddedTransport`).
    pub async fn handle(&self, _request: HttpRequest) -> HttpResponse {
        todo!()
    }
}

/// Calls the simulator in-process: no sockets, so it works in paused tokio time.
#[derive(Clone)]
pub struct EmbeddedTransport {
    pub sim: Simulator,
}

impl Transport for EmbeddedTransport {
    fn send(&self, request: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        Box::pin(async move { Ok(self.sim.handle(request).await) })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("cannot bind {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// A running HTTP simulator. Dropping it does not stop it; call `shutdown`.
pub struct SimServer {
    pub addr: SocketAddr,
    pub sim: Simulator,
}

/// Serves `sim` on `addr` (port 0 picks a free one).
pub async fn serve(_sim: Simulator, _addr: SocketAddr) -> Result<SimServer, SimError> {
    todo!()
}
