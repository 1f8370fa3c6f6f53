//! `ScriptedAgent`: replays a scenario's turns. A chat turn's user text joins the history,
//! then the reply (or the scripted `assistant` text, so runs are reproducible); a oneshot
//! turn is a standalone request that leaves the history alone. It lives in the runtime
//! crate (`quotaswarm::scripted`), because scenario files and `quotaswarm run` use it;
//! read it there, in `src/scripted.rs`.

pub use quotaswarm::scripted::{ScriptedAgent, Turn};
