//! A fallback ladder: the simulator gives opus and sonnet a tenth of the quota the broker
//! believes they have, so they soon answer 429; each refused request moves down the
//! `claude` ladder (opus → sonnet → haiku) at once instead of waiting, the next ones skip
//! the paused rungs at admission, and the report counts the moves and which rung answered.
//!
//! ```sh
//! cargo run --example fallback_ladder
//! ```

use quotaswarm::agent::Ask;
use quotaswarm::swarm::{report_table, SwarmBuilder, SwarmReport};
use quotaswarm::Config;
use quotaswarm_agents::persona::Persona;

const CONFIG: &str = r#"
[sim]
burst_secs = 10
[sim.limits.opus]
rpm = 5
[sim.limits.sonnet]
rpm = 5
"#;

pub async fn run() -> anyhow::Result<SwarmReport> {
    let config = Config::from_toml_str_over_defaults(CONFIG, "fallback example")?;
    let mut swarm = SwarmBuilder::new(config).backend(quotaswarm_sim::loopback());
    for i in 1..=6 {
        let questions = vec![format!("Question {i}: why fall back?")];
        let agent = Persona::new(Ask::new("claude").max_tokens(60), "Be brief.", questions);
        swarm = swarm.agent(format!("agent-{i}"), agent);
    }
    let report = swarm.run().await?;
    // Per agent: its answers and how many came from a lower rung; per lane: what it
    // answered.
    print!("{}", report_table(&report));
    for (path, n) in report.stats.iter().flat_map(|s| &s.fallbacks) {
        println!("fell back {path}: {n} times");
    }
    Ok(report)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    run().await.map(|_| ())
}
