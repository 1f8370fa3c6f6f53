//! Agents that return results: each voter asks its model for a typed `Vote` and returns
//! it (`impl Agent<Vote>`, then `ctx.finish_with(vote)`); the code that ran the swarm
//! reads every vote back from the report, typed, and tallies them. Nothing is shared
//! between the agents and their caller while they run.
//!
//! ```sh
//! cargo run --example agent_output
//! ```
//!
//! It runs against the built-in simulator over loopback HTTP (no API key needed), whose
//! models answer with made-up JSON that fits the schema.

use quotaswarm::agent::{Agent, AgentResult, Ask, Ctx};
use quotaswarm::swarm::{report_table, SwarmBuilder, SwarmReport};
use quotaswarm::Config;
use std::time::Duration;

const QUESTION: &str = "Should a client retry a 529 on the same model before falling back?";

/// The voters: agent name and the model it asks.
pub const VOTERS: [(&str, &str); 3] = [
    ("voter-1", "sonnet"),
    ("voter-2", "haiku"),
    ("voter-3", "luna"),
];

/// One vote: the schema the model fills, and what its agent returns.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct Vote {
    /// Yes or no.
    pub yes: bool,
    /// Why, in one line.
    pub reason: String,
}

/// Asks its model for a vote and returns it.
struct Voter {
    target: &'static str,
}

impl Agent<Vote> for Voter {
    type Msg = ();
    async fn on_start(&mut self, ctx: &mut Ctx<(), Vote>) -> AgentResult {
        // The cap includes a reasoning model's hidden reasoning (`luna` spends a few
        // hundred tokens on it at the default effort), so it leaves room for both.
        let ask = Ask::new(self.target).max_tokens(1500);
        let vote: Vote = ctx.ask_json(&ask, QUESTION).await?;
        ctx.finish_with(vote);
        Ok(())
    }
}

pub async fn run() -> anyhow::Result<SwarmReport> {
    let mut swarm = SwarmBuilder::new(Config::default())
        .backend(quotaswarm_sim::loopback())
        .deadline(Duration::from_secs(60));
    for (name, target) in VOTERS {
        swarm = swarm.agent(name, Voter { target });
    }
    let report = swarm.run().await?;

    println!("{QUESTION}");
    let mut yes = 0;
    for (name, _) in VOTERS {
        // The `Vote` the agent returned, typed (`None` had it failed).
        match report.output::<Vote>(name) {
            Some(vote) => {
                yes += usize::from(vote.yes);
                let answer = if vote.yes { "yes" } else { "no" };
                println!("  {name}: {answer} ({})", vote.reason);
            }
            None => println!("  {name}: no vote"),
        }
    }
    println!("{yes} of {} voted yes", VOTERS.len());
    // The JSON report (`quotaswarm run --json`, `serde_json::to_string(&report)`) carries
    // each agent's output too.
    if let Some(json) = &report.agents[0].output_json {
        println!("as JSON: {json}");
    }
    print!("{}", report_table(&report));
    Ok(report)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    run().await.map(|_| ())
}
