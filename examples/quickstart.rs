//! Quickstart: three scripted chat agents on the `claude` ladder, run to the end, then the
//! report table. Runs on the simulator (loopback HTTP), no API key needed:
//!
//! ```sh
//! cargo run --example quickstart
//! ```

use quotaswarm::swarm::report_table;
use quotaswarm::swarm::{SwarmBuilder, SwarmReport};
use quotaswarm::Config;
use quotaswarm_agents::ScriptedAgent;

pub async fn run() -> anyhow::Result<SwarmReport> {
    let mut swarm = SwarmBuilder::new(Config::default()).backend(quotaswarm_sim::loopback());
    for i in 1..=3 {
        let questions = [
            &format!("Hello from agent {i}!") as &str,
            "What is a token bucket?",
        ];
        swarm = swarm.agent(
            format!("chat-{i}"),
            ScriptedAgent::chat("claude", &questions),
        );
    }
    let report = swarm.run().await?;
    print!("{}", report_table(&report));
    Ok(report)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    run().await.map(|_| ())
}
