//! Coalescing: eight researchers re-check the same shared context at the same moment.
//! Their re-checks are identical requests, so the broker sends one and answers all eight
//! (`merged` in the report); their own questions differ and are sent one by one.
//!
//! ```sh
//! cargo run --example coalescing
//! ```

use quotaswarm::agent::Ask;
use quotaswarm::swarm::{SwarmBuilder, SwarmReport};
use quotaswarm::Config;
use quotaswarm_agents::researcher::Researcher;

pub async fn run() -> anyhow::Result<SwarmReport> {
    let context = "We share one API key: 50 requests and 30,000 input tokens per minute.";
    let mut swarm = SwarmBuilder::new(Config::default()).backend(quotaswarm_sim::loopback());
    for i in 1..=8 {
        let question = format!("What should researcher {i} look at first?");
        let agent = Researcher::new(Ask::new("haiku").max_tokens(80), context, vec![question]);
        swarm = swarm.agent(format!("researcher-{i}"), agent);
    }
    let report = swarm.run().await?;
    let t = &report.totals;
    println!(
        "{} answers from {} provider calls: {} requests merged into identical ones in flight",
        t.answers, t.completions, t.merged
    );
    Ok(report)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    run().await.map(|_| ())
}
