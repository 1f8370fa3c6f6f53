//! Scale: N agents (100,000 by default) of one turn each on one broker, against the
//! simulator over loopback HTTP, with limits raised so that quota does not bind; prints
//! the run's figures and the process's peak resident memory (`VmHWM`, Linux).
//!
//! ```text
//! cargo run --release --example swarm_scale -- 100000
//! ```

use quotaswarm::swarm::{SwarmBuilder, SwarmReport};
use quotaswarm::Config;
use quotaswarm_agents::ScriptedAgent;
use std::time::Instant;

/// The default config's haiku, on the simulator, with limits far above what the run asks (the broker's
/// default `max_in_flight`, 64 per lane: the rest of the agents' requests queue).
const CONFIG: &str = r#"
[models.haiku]
rpm = 10000000
itpm = 500000000
otpm = 500000000

[sim]
latency_ms = 1
per_token_ms = 0
"#;

/// A memory figure of this process from `/proc/self/status` (`VmHWM:`, the peak
/// resident memory so far, or `VmRSS:`, the current), in MiB (`None` off Linux).
fn memory_mib(field: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kib: f64 = line
        .trim_start_matches(field)
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib / 1024.0)
}

/// Runs `n` one-turn agents, printing the memory after spawning them, the run's figures
/// and the peak memory.
pub async fn run(n: u32) -> anyhow::Result<SwarmReport> {
    let config = Config::from_toml_str_over_defaults(CONFIG, "swarm_scale")?;
    let started = Instant::now();
    let mut swarm = SwarmBuilder::new(config).backend(quotaswarm_sim::loopback());
    for i in 0..n {
        let question = format!("Agent {i}: what is a token bucket?");
        swarm = swarm.agent(format!("a{i}"), ScriptedAgent::chat("haiku", &[&question]));
    }
    let built = swarm.build().await?;
    if let Some(mib) = memory_mib("VmRSS:") {
        println!("{n} agents spawned: {mib:.0} MiB resident");
    }
    let report = built.run().await;
    let t = &report.totals;
    println!(
        "{n} agents: {} completions, {} errors, {} agents failed, {:.1} s",
        t.completions,
        t.errors,
        t.agents_failed,
        started.elapsed().as_secs_f64()
    );
    match memory_mib("VmHWM:") {
        Some(mib) => println!("peak memory: {mib:.0} MiB (VmHWM)"),
        None => println!("peak memory: not available on this platform"),
    }
    Ok(report)
}

#[tokio::main]
#[allow(dead_code)]
async fn main() -> anyhow::Result<()> {
    let n: u32 = match std::env::args().nth(1) {
        Some(a) => a.parse()?,
        None => 100_000,
    };
    run(n).await.map(|_| ())
}
