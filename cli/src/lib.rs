//! The `quotaswarm` command line and the scenario files it runs. `src/main.rs` only
//! parses arguments and calls [`main`].
//!
//! | module | holds |
//! |---|---|
//! | [`scenario`] | scenario files (JSON): agents by kind (the `quotaswarm-agents` crate) or scripted turns; the built-in demo |
//! | `run` | `quotaswarm run`: the demo, a scenario, or a quick scripted swarm |
//! | `sim` | `quotaswarm sim`: the simulator served over HTTP |
//! | `serve` | `quotaswarm serve`: the Anthropic- and OpenAI-compatible gateway |
//! | `top` | `quotaswarm top`: a live view of a running broker's statistics |
//! | [`exit`] | the exit codes: clean, failures, bad input, could not run, interrupted |
//! | `checked` | numbers from the scenario file and the flags made durations and counts, checked |
//! | `interrupt` | Ctrl-C and SIGTERM during a run |
//! | [`telemetry`] | log lines on stderr; the `[otlp]` export of the broker's spans, joined once the config is read |
//! | `json_report` | `run --json`: the totals, per-agent and per-model sections, money rounded |

mod checked;
pub mod exit;
mod interrupt;
mod json_report;
mod run;
pub mod scenario;
mod serve;
mod sim;
pub mod telemetry;
mod top;

pub use exit::Exit;

use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "quotaswarm",
    version,
    about = "Swarms of LLM agents that never fall over on rate limits"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a swarm: real providers whose API keys are set, the simulator for the rest.
    Run(run::RunArgs),
    /// Serve the simulator of both APIs over HTTP.
    Sim {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8787")]
        addr: SocketAddr,
        /// Config file (models, limits, simulator settings); built-in defaults otherwise.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Serve an Anthropic- and OpenAI-compatible gateway in front of the broker.
    Serve(serve::ServeArgs),
    /// Watch a running broker's statistics, like `top` (polls `http://ADDR/stats`).
    Top(top::TopArgs),
}

/// Runs the command line; returns how it ended (its exit code). On an error, see
/// [`Exit::of_error`].
pub async fn main(cli: Cli) -> anyhow::Result<Exit> {
    match cli.command {
        Command::Run(args) => run::run(args).await,
        Command::Sim { addr, config } => sim::sim(addr, config).await.map(|()| Exit::Clean),
        Command::Serve(args) => serve::serve(args).await.map(|()| Exit::Clean),
        Command::Top(args) => top::top(args).await.map(|()| Exit::Clean),
    }
}

pub(crate) fn load_config(path: Option<&std::path::Path>) -> anyhow::Result<quotaswarm::Config> {
    Ok(match path {
        Some(p) => quotaswarm::Config::load(p)?,
        None => quotaswarm::Config::default(),
    })
}
