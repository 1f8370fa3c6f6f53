//! A fallback ladder: the simulator gives opus and sonnet a tenth of the quota the broker
//! believes they have, so they soon answer 429; each refused request moves down the
//! `claude` ladder (opus → sonnet → haiku) at once instead of waiting, the next ones skip
//! the paused rungs at admission, and the report counts the moves and which rung answered.
//!
//! ```sh
//! cargo run --example fallback_ladder
//! ```

use quotaswarm::agent::Ask;
use quotaswarm::swarm::{SwarmBuilder, SwarmReport};
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
    if let Some(stats) = &report.stats {
        for (path, n) in &stats.fallbacks {
            println!("fell back {path}: {n} times");
        }
        for lane in stats.lanes.iter().filter(|l| l.completions > 0) {
            println!("{} answered {} requests", lane.model, lane.completions);
        }
    }
    for a in &report.agents {
        println!(
            "{}: {} answers, {} from a lower rung",
            a.name, a.completions, a.fallbacks
        );
    }
    Ok(report)
}

#[tokio::main]
#[allow(dead_code)]
async fn main() -> anyhow::Result<()> {
    run().await.map(|_| ())
}
