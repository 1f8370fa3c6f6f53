//! # quotaswarm
//!
//! A runtime for swarms of LLM agents that never fall over on rate limits. Agents are
//! ractor actors; they never call an LLM API themselves but send completion requests to
//! one `QuotaBroker`, which owns every quota bucket and dispatches to provider actors.
//!
//! | module | holds |
//! |---|---|
//! | [`types`] | provider-neutral messages, requests, completions, usage |
//! | [`config`] | the TOML config: providers, models, ladders, broker, simulator; built-in defaults |
//! | [`secret`] | `ApiKey`, whose `Debug`/`Display` print `***` |
//! | [`provider`] | the Anthropic and OpenAI wire formats, rate-limit headers, failure classification, transports |
//! | [`tokens`] | pre-flight token estimation with tiktoken, a shared cache and calibration |
//! | [`trim`] | pure history trimming that keeps conversations valid |
//! | [`broker`] | the QuotaBroker actor: lanes, admission, retries, coalescing, fallback, stats |
//! | [`agent`] | the `Agent` trait, its context and the actor wrapper |
//! | [`scripted`] | `ScriptedAgent`, replaying user turns |
//! | [`monitor`] | the stats server (`/stats` JSON, `/metrics` Prometheus) and the `top` view |
//! | [`swarm`] | starting simulator, broker and agents together; reports |
//! | [`scenario`] | scenario files (JSON): agents by kind or scripted turns; the built-in demo |
//! | [`cli`] | the `quotaswarm` command line (the binary only parses and calls this) |
//! | [`sim`] | the built-in simulator of both APIs, in-process or over loopback HTTP |

// Failures carry the rate-limit snapshot of their response by value: they are moved
// once per attempt, never on a hot loop.
#![allow(clippy::result_large_err)]

// The ready-made agents in `agents/` are written against `quotaswarm::…` paths and are
// compiled into `scenario::kinds` too; this lets those paths resolve inside this crate.
extern crate self as quotaswarm;

pub mod agent;
pub mod broker;
pub mod cli;
pub mod config;
pub mod monitor;
pub mod provider;
pub mod scenario;
pub mod scripted;
pub mod secret;
pub mod sim;
pub mod swarm;
pub mod tokens;
pub mod trim;
pub mod types;

pub use broker::{BrokerError, BrokerHandle, Stats};
pub use config::Config;
pub use secret::ApiKey;
pub use types::{Completion, CompletionRequest, ContentBlock, Message, Role, Usage};
