//! The wire formats, endpoints and config as a user writes them, in one test binary: both
//! providers and every endpoint style over real loopback HTTP against the simulator,
//! streams, blocks kept whole, and parsers that never panic.
//!
//! | module | shows |
//! |---|---|
//! | `blocks_roundtrip` | Nothing a response carries is lost, over loopback HTTP against the simulator |
//! | `config_overlay` | A config file as a user writes it |
//! | `endpoints_http` | Any endpoint by config, over loopback HTTP against the simulator |
//! | `parsers_never_panic` | Property test |
//! | `provider_http` | Both providers over real loopback HTTP against the simulator |
//! | `stream_http` | Streaming over real loopback HTTP |
//! | `stream_idle` | Streams are bounded by silence, not by length |

mod blocks_roundtrip;
#[path = "../common/mod.rs"]
mod common;
mod config_overlay;
mod endpoints_http;
mod parsers_never_panic;
mod provider_http;
mod stream_http;
mod stream_idle;
