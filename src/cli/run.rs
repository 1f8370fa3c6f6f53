//! `quotaswarm run`: a small swarm of scripted agents; prints where requests went and what
//! happened.

use crate::scripted::ScriptedAgent;
use crate::swarm::{wait_all, Backend, Swarm};
use clap::Args;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Config file; built-in defaults otherwise.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Number of agents.
    #[arg(long, default_value_t = 6)]
    pub agents: usize,
    /// Turns per agent.
    #[arg(long, default_value_t = 3)]
    pub turns: usize,
    /// Stop agents still running after this many seconds.
    #[arg(long, default_value_t = 120)]
    pub deadline_secs: u64,
    /// Serve the broker's statistics (`/stats`, `/metrics`) on this address during the run.
    #[arg(long, value_name = "ADDR")]
    pub stats_addr: Option<std::net::SocketAddr>,
}

const TOPICS: [&str; 6] = [
    "token buckets",
    "actor mailboxes",
    "exponential backoff",
    "circuit breakers",
    "request coalescing",
    "context windows",
];

pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    let config = super::load_config(args.config.as_deref())?;
    let targets: Vec<String> = ["claude", "gpt"]
        .iter()
        .filter(|t| config.rungs(t).is_some())
        .map(|t| t.to_string())
        .chain(config.models.keys().take(1).cloned())
        .collect();
    let swarm = Swarm::start(config, Backend::Auto).await?;
    println!(
        "quotaswarm: {} agents, {} turns each",
        args.agents, args.turns
    );
    for line in &swarm.backends {
        println!("  {line}");
    }
    let stats_server = match args.stats_addr {
        Some(addr) => Some(swarm.serve_stats(addr).await?),
        None => None,
    };
    if let Some(server) = &stats_server {
        println!(
            "stats on {}  (watch: quotaswarm top --addr {})",
            server.url(),
            server.addr
        );
    }
    let started = std::time::Instant::now();
    let mut handles = Vec::new();
    for i in 0..args.agents {
        let target = &targets[i % targets.len()];
        let topic = TOPICS[i % TOPICS.len()];
        let users: Vec<String> = (0..args.turns)
            .map(|t| format!("Turn {t}: explain {topic} to agent {i} in two sentences."))
            .collect();
        let users: Vec<&str> = users.iter().map(String::as_str).collect();
        let mut agent = ScriptedAgent::chat(target.clone(), &users);
        agent.max_tokens = 200;
        agent.system = Some(format!("You are agent {i}, a concise explainer."));
        handles.push(swarm.spawn(format!("agent-{i:02}"), agent).await?);
    }
    let (reports, timed_out) =
        wait_all(handles, Some(Duration::from_secs(args.deadline_secs))).await;
    let stats = swarm.handle().stats().await?;
    println!();
    println!(
        "{:<10} {:>6} {:>6} {:>8} {:>8}  note",
        "agent", "done", "errors", "in tok", "out tok"
    );
    for r in &reports {
        println!(
            "{:<10} {:>6} {:>6} {:>8} {:>8}  {}",
            r.name,
            r.completions,
            r.errors,
            r.input_tokens,
            r.output_tokens,
            r.failure
                .clone()
                .or(r.last_error.clone())
                .unwrap_or_default()
        );
    }
    println!();
    println!(
        "completions {}  failed {}  merged {}  retries {}  429s {}  cost ${:.4}  elapsed {:.1}s{}",
        stats.completed,
        stats.failed,
        stats.merged,
        stats.retries,
        stats.rate_limited,
        stats.cost_usd,
        started.elapsed().as_secs_f64(),
        if timed_out { "  (deadline hit)" } else { "" }
    );
    for lane in stats.lanes.iter().filter(|l| l.requests > 0) {
        println!(
            "  {:<12} requests {:>4}  completions {:>4}  queue wait p95 {:>6.2}s  in {:>7} out {:>6} tokens",
            lane.model, lane.requests, lane.completions, lane.queue_wait_p95_secs, lane.input_tokens, lane.output_tokens
        );
    }
    if let Some(sim) = &swarm.sim_server {
        let s = sim.sim.stats();
        println!(
            "simulator (loopback HTTP {}): {} requests received, {} answered 429",
            sim.addr,
            s.total.requests,
            s.total.status(429)
        );
    }
    if let Some(server) = stats_server {
        server.shutdown().await?;
    }
    swarm.shutdown().await;
    Ok(())
}
