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
//! | [`sim`] | the built-in simulator of both APIs, in-process or over loopback HTTP |

pub mod config;
pub mod provider;
pub mod secret;
pub mod sim;
pub mod types;

pub use config::Config;
pub use secret::ApiKey;
pub use types::{Completion, CompletionRequest, ContentBlock, Message, Role, Usage};
