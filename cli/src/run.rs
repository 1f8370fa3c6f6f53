//! `quotaswarm run [--scenario FILE | --agents N [--turns N]] [--config FILE] [--json]
//! [--sim] [--deadline-secs N] [--stats-addr ADDR] [--progress-secs N] [--quiet]
//! [--transcript DIR]`.
//!
//! With no scenario it runs the built-in demo (`cli/src/scenario/default.json` over
//! `cli/src/scenario/default.toml`) on the simulator served over loopback HTTP. With a
//! scenario, requests go where the config says: real providers whose API key is set, the
//! simulator for the rest (`base_url` may point at any compatible server). A status line
//! shows progress on stderr while the run goes: refreshed in place on a terminal, else
//! one plain line every `--progress-secs` (5 s); `--quiet` silences it. The report is a
//! table, or with `--json` one JSON object on stdout (the run's
//! [`Totals`](quotaswarm::swarm::Totals), then `per_agent` and `per_model` sections) and
//! no status line.
//!
//! The exit code says how the run went ([`Exit`]). Ctrl-C or SIGTERM cuts the agents
//! still running and prints the partial report; a second one exits at once.

use crate::checked::{self, MAX_AGENTS, MAX_TURNS};
use crate::exit::{Exit, EXIT_CODES};
use crate::interrupt::Interrupts;
use crate::scenario::{Progress, RunOptions, Scenario};
use clap::Args;
use quotaswarm::swarm::report_table;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

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
    /// ladder), requests going where `quotaswarm_sim::auto()` says (real APIs whose key is set, the simulator for the rest). Each agent asks its own
    /// questions, so no two requests are identical and none are merged.
    #[arg(long, value_name = "N", conflicts_with = "scenario", value_parser = agents_count)]
    pub agents: Option<u32>,
    /// With `--agents`: turns per agent (default 3).
    #[arg(long, value_name = "N", requires = "agents", value_parser = turns_count)]
    pub turns: Option<u32>,
    /// Cut agents still running after this many seconds (overrides the scenario's; above
    /// 0).
    #[arg(long, value_name = "SECS", value_parser = checked::positive_secs_arg)]
    pub deadline_secs: Option<Duration>,
    /// Serve the broker's statistics (`/stats`, `/metrics`) on this address during the run.
    #[arg(long, value_name = "ADDR")]
    pub stats_addr: Option<std::net::SocketAddr>,
    /// When stderr is not a terminal (a pipe, a file, a CI log): print the status line
    /// this often, one plain line each time. On a terminal it refreshes in place.
    #[arg(long, value_name = "SECS", default_value = "5", value_parser = checked::positive_secs_arg)]
    pub progress_secs: Duration,
    /// No status line and no start-up lines on stderr (the report and errors still
    /// print).
    #[arg(long, short)]
    pub quiet: bool,
    /// Exit 0 even when agents failed or were cut at the deadline, or requests ended in
    /// errors (the report still shows them).
    #[arg(long)]
    pub allow_errors: bool,
    /// Share one quota with every other process using the same key through the Redis at
    /// this URL (`redis://HOST:PORT/DB`): `[quota] store = "redis"` with this
    /// `redis_url`, the config's namespace and local share kept.
    #[arg(long, value_name = "URL", value_parser = redis_url)]
    pub quota_store: Option<String>,
    /// Write what each agent asked and was answered to DIR/AGENT.jsonl (one JSON line
    /// per completion: the request, the answer or the error), creating DIR.
    #[arg(long, value_name = "DIR")]
    pub transcript: Option<PathBuf>,
}

/// A Redis URL (`redis://HOST:PORT/DB`, `rediss://` or `unix://`).
fn redis_url(s: &str) -> Result<String, String> {
    if ["redis://", "rediss://", "unix://"]
        .iter()
        .any(|p| s.starts_with(p))
    {
        Ok(s.to_string())
    } else {
        Err("must be a Redis URL such as redis://127.0.0.1:6379/0".into())
    }
}

/// `--agents`: 1 to [`MAX_AGENTS`] (`--agents 0` would otherwise run one agent).
fn agents_count(s: &str) -> Result<u32, String> {
    checked::count_arg(s, MAX_AGENTS)
}

/// `--turns`: 1 to [`MAX_TURNS`].
fn turns_count(s: &str) -> Result<u32, String> {
    checked::count_arg(s, MAX_TURNS)
}

pub async fn run(args: RunArgs) -> anyhow::Result<Exit> {
    let interrupts = Interrupts::listen()?;
    let (mut scenario, config, backend) = match (&args.scenario, args.agents) {
        (None, Some(agents)) => {
            let config = super::load_config(args.config.as_deref())?;
            let target = if config.rungs("claude").is_some() {
                "claude".to_string()
            } else {
                config.models.keys().next().cloned().unwrap_or_default()
            };
            let scenario = Scenario::simple(agents, args.turns.unwrap_or(3), &target);
            let backend = if args.sim {
                quotaswarm_sim::loopback()
            } else {
                quotaswarm_sim::auto()
            };
            (scenario, config, backend)
        }
        (None, None) => {
            let (scenario, demo_config) = Scenario::builtin_demo()?;
            match &args.config {
                Some(path) => (
                    scenario,
                    quotaswarm::Config::load(path)?,
                    quotaswarm_sim::loopback(),
                ),
                None => (scenario, demo_config, quotaswarm_sim::loopback()),
            }
        }
        (Some(path), _) => {
            let scenario = Scenario::load(path)?;
            let backend = if args.sim {
                quotaswarm_sim::loopback()
            } else {
                quotaswarm_sim::auto()
            };
            (
                scenario,
                super::load_config(args.config.as_deref())?,
                backend,
            )
        }
    };
    if let Some(d) = args.deadline_secs {
        scenario.deadline = Some(d);
    }
    let mut config = config;
    if let Some(url) = &args.quota_store {
        config.quota = config.quota.clone().redis(url.clone());
    }
    if let Some(dir) = &args.transcript {
        std::fs::create_dir_all(dir).map_err(|e| {
            anyhow::anyhow!(
                "cannot create the transcript directory {}: {e}",
                dir.display()
            )
        })?;
        config.transcript = Some(dir.clone());
    }
    let json = args.json;
    let title = scenario.name.clone().unwrap_or_else(|| "scenario".into());
    let agents: usize = scenario.agents.iter().map(|a| a.names().len()).sum();
    // `--json` is for scripts: no status line unless QUOTASWARM_PROGRESS asks for one.
    let wanted = !json || std::env::var_os("QUOTASWARM_PROGRESS").is_some();
    let progress = if args.quiet || !wanted {
        Progress::Off
    } else if std::io::stderr().is_terminal() {
        Progress::Refresh
    } else {
        Progress::Lines(args.progress_secs)
    };
    let quiet = args.quiet;
    let opts = RunOptions {
        progress,
        stats_addr: args.stats_addr,
        stdout_reserved: json,
        on_start: Some(Box::new(move |swarm| {
            if !json && !quiet {
                let plural = if agents == 1 { "" } else { "s" };
                eprintln!("quotaswarm: {title} ({agents} agent{plural})");
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
        println!(
            "{}",
            serde_json::to_string(&crate::json_report::json_report(&report)?)?
        );
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
