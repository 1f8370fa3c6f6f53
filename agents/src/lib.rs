//! Ready-made quotaswarm agents, one per file, written to be read and copied.
//!
//! | file | agent | shows |
//! |---|---|---|
//! | `scripted.rs` | [`ScriptedAgent`] | replaying a scenario's turns |
//! | `persona.rs` | [`Persona`] | a chat that keeps its history (trim it with a policy) |
//! | `researcher.rs` | [`Researcher`] | identical re-checks of shared context, merged by the broker |
//! | `summarizer.rs` | [`Summarizer`] | cheap work on a ladder's cheapest rung |
//! | `classifier.rs` | [`Router`] | classifying on the cheap rung and forwarding to other agents |
//! | `critics.rs` | [`Critic`], [`spawn_pair`] | two agents critiquing each other through messages |
//! | `bookkeeper.rs` | [`Bookkeeper`] | a tool loop over two local tools (calculator, notes) |
//!
//! `quotaswarm run` and scenario files (the `quotaswarm-cli` package) name these same
//! types by kind, so what you read here is what the CLI runs.

pub mod bookkeeper;
pub mod classifier;
pub mod critics;
pub mod persona;
pub mod researcher;
pub mod scripted;
pub mod summarizer;

pub use bookkeeper::Bookkeeper;
pub use classifier::Router;
pub use critics::{spawn_pair, Critic, CriticMsg};
pub use persona::Persona;
pub use researcher::Researcher;
pub use scripted::{ScriptedAgent, Turn};
pub use summarizer::Summarizer;
