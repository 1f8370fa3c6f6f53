//! Monitoring, in one test binary: the broker's figures and alerts in paused time, and the
//! stats server over real loopback HTTP.
//!
//! | module | shows |
//! |---|---|
//! | `alerts` | The broker's alerts end to end, in paused time against the embedded simulator (the real simulator called in-process, so minutes of traffic take no real minutes) |
//! | `server` | The stats server over real loopback HTTP, in real time (sockets and paused time do not mix) |
//! | `stats` | Paused-time tests of the broker's monitoring figures |

mod alerts;
#[path = "../common/mod.rs"]
mod common;
mod server;
mod stats;
