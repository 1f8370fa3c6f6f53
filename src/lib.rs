//! # quotaswarm
//!
//! A runtime for swarms of LLM agents that never fall over on rate limits. Agents are
//! ractor actors; they never call an LLM API themselves but send completion requests to
//! one `QuotaBroker`, which owns every quota bucket and runs each admitted attempt in a task of its own.
//!
//! | module | holds |
//! |---|---|
//! | [`types`] | provider-neutral messages, requests, completions, usage |
//! | [`config`] | the TOML config: providers, models, ladders, broker, simulator; built-in defaults |
//! | [`secret`] | `ApiKey`, whose `Debug`/`Display` print `***` |
//! | [`provider`] | the Anthropic and OpenAI wire formats, rate-limit headers, failure classification, transports |
//! | [`tokens`] | pre-flight token estimation with tiktoken, a shared cache and calibration |
//! | [`trim`] | pure history trimming that keeps conversations valid |
//! | [`quota`] | where a lane's buckets live: this process, or Redis shared by several processes on one key |
//! | [`broker`] | the QuotaBroker actor: lanes, admission, retries, coalescing, fallback, stats |
//! | [`agent`] | the `Agent` trait, its context and the actor wrapper |
//! | [`monitor`] | the stats server (`/stats` JSON, `/metrics` Prometheus) and the `top` view |
//! | [`swarm`] | starting a broker (on real APIs or a simulator backend) and agents together; reports |
//!
//! The two vendor wire formats, as the providers speak them and the broker relies on them
//! (endpoints, error bodies, rate-limit headers, retry rules, caching, thinking), are
//! described in `docs/providers.md`, with links to the vendors' own pages.
//!
//! Feature `monitor` (the stats server over HTTP) is on by default;
//! `default-features = false` leaves the broker, the providers and the agent API without
//! any HTTP server. Feature `otlp` (off by default, on in the command line) exports the
//! per-completion spans to an OpenTelemetry backend over OTLP/HTTP (`monitor::otlp`, the
//! config's `[otlp]` table). The simulator of both APIs (in-process or over loopback HTTP) is its
//! own crate, `quotaswarm-sim` (`sim/`), plugged in through [`swarm::Backend`];
//! ready-made agents live in `quotaswarm-agents` (`agents/`), the `quotaswarm` command
//! line and scenario files in `quotaswarm-cli` (`cli/`).

// Failures carry the rate-limit snapshot of their response by value: they are moved
// once per attempt, never on a hot loop.
#![allow(clippy::result_large_err)]
#![warn(missing_docs)]

pub mod agent;
pub mod broker;
pub mod config;
pub mod monitor;
pub mod provider;
pub mod quota;
pub mod secret;
pub mod swarm;
pub mod tokens;
pub mod trim;
pub mod types;

pub use broker::{BrokerError, BrokerHandle, Stats};
pub use config::Config;
pub use secret::ApiKey;
pub use types::{
    CacheControl, Completion, CompletionRequest, ContentBlock, Message, OutputSchema, Role, Tool,
    ToolChoice, Usage,
};
