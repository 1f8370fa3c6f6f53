//! Scenario files: a swarm described in JSON, run by `quotaswarm run --scenario FILE`.
//!
//! ```json
//! {
//!   "name": "two researchers and a scripted chat",
//!   "deadline_secs": 60,
//!   "agents": [
//!     {"name": "researcher", "kind": "researcher", "copies": 2, "model": "claude",
//!      "context": "Our API allows 50 requests per minute.",
//!      "prompts": ["What limits us?", "What should we cache?"]},
//!     {"name": "chat", "ladder": ["sonnet", "haiku"], "system": "Be brief.",
//!      "max_tokens": 200, "trim": {"max_input_tokens": 2000}, "coalesce": false,
//!      "turns": [
//!        {"user": "Hello!", "assistant": "Hi."},
//!        {"user": "Explain token buckets.", "max_tokens": 300},
//!        {"oneshot": {"system": "Translate to French.", "user": "Good morning"}}
//!      ]}
//!   ]
//! }
//! ```
//!
//! An agent has a `name`, either a `kind` with its inputs or scripted `turns` (kind
//! `scripted`, the default), and how it asks: `model` (a model or ladder of the config) or
//! `ladder` (an inline list of models), `system`, `max_tokens`, `max_wait_secs` (then move
//! down the ladder), `prefer_secs` (wait this much longer per step up the ladder rather
//! than spill to a rung that finishes sooner; default: the config's), `trim` (`max_input_tokens`, `summarize`), `coalesce` (default true),
//! `reuse_secs` (answer an identical request from a completion this recent; default: the
//! config's `reuse_secs`) and `copies` (default 1; copies are named `NAME-1`, `NAME-2`,
//! ...). Kinds and their
//! inputs (see the `agents/` crate):
//!
//! | kind | inputs |
//! |---|---|
//! | `scripted` | `turns` |
//! | `persona` | `system` (the persona), `prompts` (its questions, one chat turn each) |
//! | `researcher` | `context` (shared, re-checked before each question), `prompts` |
//! | `summarizer` | `prompts` (documents), run on the cheapest rung of `model` |
//! | `classifier` | `labels`, `prompts` (items), run on the cheapest rung of `model` |
//! | `critic_pair` | `prompts` (one question), `rounds` (default 2); each copy is two agents |
//!
//! A chat turn (`{"user": ...}`) sends the history with its user text and keeps the reply
//! in the history. With `"assistant"` the request is still made (and counted, and
//! charged): the scripted text replaces the reply in the history, so the following turns
//! send the same text on every run. A `oneshot` turn is a standalone request that leaves
//! the history alone.
//!
//! Unknown fields are errors; every error names the field's path and the line
//! (`scenario demo.json, line 7, column 21: agents[1].turns[0].max_tokens: invalid type`).
//! All agents start at once; each sends its next turn when the previous one is answered.
//!
//! | module | holds |
//! |---|---|
//! | `spec` | the parsed scenario: [`Scenario`], [`AgentSpec`], [`Kind`]; `--agents N`; the demo |
//! | `parse` | the file's raw shapes, checked while parsing (errors with path and line) |
//! | `spawn` | names and models checked against the config; agents spawned by kind |
//! | `run` | [`Scenario::run`]: the swarm, the stats server, interrupts, the report |
//! | `progress` | the status line on stderr |
//! | `error` | [`ScenarioError`] |

mod error;
mod parse;
mod progress;
mod run;
mod spawn;
mod spec;

pub use error::ScenarioError;
pub use progress::Progress;
pub use run::{Interrupt, OnStart, RunOptions};
pub use spec::{AgentSpec, Kind, Scenario};

/// The demo `quotaswarm run` runs with no arguments: its config (limits and faults)...
pub const DEFAULT_CONFIG: &str = include_str!("default.toml");
/// ...and its agents.
pub const DEFAULT_SCENARIO: &str = include_str!("default.json");
