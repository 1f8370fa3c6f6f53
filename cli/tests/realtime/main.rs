//! The real-time tests, in one test binary so they run side by side instead of one after
//! another (each mostly waits on rate limits; together they take about as long as the
//! longest). Everything else runs in paused, virtual time.
//!
//! | module | shows |
//! |---|---|
//! | `chaos` | three `quotaswarm run` processes sharing one key through Redis, with faults, while Redis is killed and restarted: every ask answered |
//! | `e2e_swarm` | 24 agents against a separate `quotaswarm sim` process: 0 429s, the makespan against the ideal |
//! | `scenario_default` | the built-in demo exercises every mechanism and matches the simulator's counters |
//! | `scenario_cli` | `quotaswarm run --scenario --json` against `quotaswarm sim`, and CLI errors |
//! | `interrupt` | SIGINT / SIGTERM during `quotaswarm run --json`: the partial report, exit 130 / 143 |
//! | `progress` | with stderr piped, plain status lines every `--progress-secs`; none with `--quiet` |
//! | `wrong_endpoint` | a `base_url` where nothing listens fails within seconds, naming the URL |

mod chaos;
#[path = "../common/mod.rs"]
mod common;
mod e2e_swarm;
mod interrupt;
#[path = "../common/load.rs"]
mod load;
mod progress;
mod scenario_cli;
mod scenario_default;
mod wrong_endpoint;
