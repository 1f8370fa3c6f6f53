//! `quotaswarm run [--scenario FILE] [--config FILE] [--json] [--stats-addr ADDR]`.
//!
//! With no scenario it runs the built-in demo (`cli/src/scenario/default.json` over
//! `cli/src/scenario/default.toml`) on the simulator served over loopback HTTP. With a
//! scenario, requests go where the config says: real providers whose API key is set, the
//! simulator for the rest (`base_url` may point at any compatible server). A status line
//! refreshes on stderr while the run goes; the report is a table, or with `--json` one
//! JSON object on stdout (the run's [`Totals`](quotaswarm::swarm::Totals)).
//!
//! The exit code says how the run went ([`Exit`]). Ctrl-C or SIGTERM cuts the agents
//! still running and prints the partial report; a second one exits at once.

use crate::exit::{Exit, EXIT_CODES};
use crate::interrupt::Interrupts;
use crate::scenario::{RunOptions, Scenario};
use clap::Args;
use quotaswarm::swarm::{report_table, Backend};
use std::io::IsTerminal;
use std::path::PathBuf;

#[derive(Debug, Args)]
#[command(after_help = EXIT_CODES)]
pub struct RunArgs {
    /// Scenario file (JSON); the built-in demo otherwise.
    #[arg(long)]
    pub scenario: Option<PathBuf>,
    /// Config file; with no scenario and no config, the demo's own limits and faults.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Print the final report as one JSON object on stdout (and no status line).
    #[arg(long)]
    pub json: bool,
    /// Send every provider's requests to the simulator, even when API keys are set.
    #[arg(long)]
    pub sim: bool,
    /// Instead of the demo: this many scripted chat agents (on the config's `claude`
    /// ladder), requests going where `Backend::Auto` says.
    #[arg(long, conflicts_with = "scenario")]
    pub agents: Option<u32>,
    /// With `--agents`: turns per agent (default 3).
    #[arg(long, conflicts_with = "scenario")]
    pub turns: Option<u32>,
    /// Cut agents still running after this many seconds (overrides the scenario's).
    #[arg(long)]
    pub deadline_secs: Option<f64>,
    /// Serve the broker's statistics (`/stats`, `/metrics`) on this address during the run.
    #[arg(long, value_name = "ADDR")]
    pub stats_addr: Option<std::net::SocketAddr>,
    /// Exit 0 even when agents failed or were cut at the deadline, or requests ended in
    /// errors (the report still shows them).
    #[arg(long)]
    pub allow_errors: bool,
}

pub async fn run(args: RunArgs) -> anyhow::Result<Exit> {
    let interrupts = Interrupts::listen()?;
    let (mut scenario, config, backend) = match &args.scenario {
        None if args.agents.is_some() || args.turns.is_some() => {
            let config = super::load_config(args.config.as_deref())?;
            let target = if config.rungs("claude").is_some() {
                "claude".to_string()
            } else {
                config.models.keys().next().cloned().unwrap_or_default()
            };
            let scenario =
                Scenario::simple(args.agents.unwrap_or(6), args.turns.unwrap_or(3), &target);
            let backend = if args.sim {
                Backend::LoopbackSim
            } else {
                Backend::Auto
            };
            (scenario, config, backend)
        }
        None => {
            let (scenario, demo_config) = Scenario::builtin_demo()?;
            match &args.config {
                Some(path) => (
                    scenario,
                    quotaswarm::Config::load(path)?,
                    Backend::LoopbackSim,
                ),
                None => (scenario, demo_config, Backend::LoopbackSim),
            }
        }
        Some(path) => {
            let scenario = Scenario::load(path)?;
            let backend = if args.sim {
                Backend::LoopbackSim
            } else {
                Backend::Auto
            };
            (
                scenario,
                super::load_config(args.config.as_deref())?,
                backend,
            )
        }
    };
    if let Some(d) = args.deadline_secs {
        scenario.deadline_secs = Some(d);
    }
    let json = args.json;
    let title = scenario.name.clone().unwrap_or_else(|| "scenario".into());
    let agents: usize = scenario.agents.iter().map(|a| a.names().len()).sum();
    let opts = RunOptions {
        progress: !json && std::io::stderr().is_terminal()
            || std::env::var_os("QUOTASWARM_PROGRESS").is_some(),
        stats_addr: args.stats_addr,
        stdout_reserved: json,
        on_start: Some(Box::new(move |swarm| {
            if !json {
                eprintln!("quotaswarm: {title}: {agents} agents");
                for line in &swarm.backends {
                    eprintln!("  {line}");
                }
            }
        })),
        interrupt: Some({
            let interrupts = interrupts.clone();
            Box::pin(async move {
                interrupts.first().await;
            })
        }),
    };
    let report = scenario.run(config, backend, opts).await?;
    if json {
        println!("{}", serde_json::to_string(&report.totals)?);
    } else {
        println!();
        print!("{}", report_table(&report));
    }
    Ok(match interrupts.received() {
        Some(signal) if report.interrupted => Exit::Interrupted(signal),
        _ if report.totals.is_clean() || args.allow_errors => Exit::Clean,
        _ => Exit::Failures,
    })
}
