//! A long history, trimmed: one persona keeps chatting with long questions; its `Ask`
//! carries a trim policy, so once the history outgrows 600 input tokens the broker drops
//! the oldest turns (keeping the system prompt and the newest turns, alternation valid)
//! instead of refusing the request. The agent's own history keeps everything.
//!
//! ```sh
//! cargo run --example long_history
//! ```

use quotaswarm::agent::Ask;
use quotaswarm::swarm::{SwarmBuilder, SwarmReport};
use quotaswarm::Config;
use quotaswarm_agents::persona::Persona;

pub async fn run() -> anyhow::Result<SwarmReport> {
    let filler = "Please answer at length and recall everything we said before. ".repeat(8);
    let questions = (1..=8).map(|i| format!("Part {i}. {filler}")).collect();
    let ask = Ask::new("sonnet").max_tokens(120).trim(600);
    let agent = Persona::new(ask, "You are a historian of computing.", questions);
    let report = SwarmBuilder::new(Config::default())
        .backend(quotaswarm_sim::loopback())
        .agent("historian", agent)
        .run()
        .await?;
    let t = &report.totals;
    println!(
        "{} turns answered; {} input tokens trimmed from the history by the policy",
        t.answers, t.trimmed_tokens
    );
    Ok(report)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    run().await.map(|_| ())
}
