//! The `quotaswarm` command as a user runs it, in one test binary: arguments, exit codes,
//! output, transcripts, scenarios, `top`, and the OTLP export.
//!
//! | module | shows |
//! |---|---|
//! | `exit_codes` | `quotaswarm run` ends as a script expects |
//! | `monitor_top` | `quotaswarm top` |
//! | `parsers_never_panic` | Property tests |
//! | `run_args` | `quotaswarm run`'s arguments |
//! | `run_otlp` | `quotaswarm run` with an `[otlp]` table in its config |
//! | `run_output` | What `quotaswarm run` prints, as a newcomer meets it |
//! | `run_transcript` | `quotaswarm run --transcript DIR` |
//! | `scenario_caching` | The prompt-caching scenario (`cli/src/scenario/caching.json` over `caching.toml`), run through the same core `quotaswarm run --scenario  |
//! | `scenario_format` | The scenario format |

#[path = "../common/mod.rs"]
mod common;
mod exit_codes;
mod monitor_top;
mod parsers_never_panic;
mod run_args;
mod run_otlp;
mod run_output;
mod run_transcript;
mod scenario_caching;
mod scenario_format;
