//! Agents and swarms through the public API, in one test binary: asks, tools, thinking,
//! structured output, and what deadlines, stops and panics do to a swarm.
//!
//! | module | shows |
//! |---|---|
//! | `agent_api` | The agent API |
//! | `agent_structured` | Typed structured output on the simulator over loopback HTTP |
//! | `agent_thinking` | Thinking as the current Claude models take it, against the simulator over loopback HTTP (which accepts and refuses each kind as the real models do, by generation) |
//! | `agent_tools` | The tool loop on the simulator over loopback HTTP |
//! | `swarm_cut` | Deadlines, stops and interrupts cut agents |
//! | `swarm_panic` | A panicking agent is reported in the final report, and the others finish |

mod agent_api;
mod agent_structured;
mod agent_thinking;
mod agent_tools;
#[path = "../common/mod.rs"]
mod common;
mod swarm_cut;
mod swarm_panic;
