//! Parallel asks: one agent asks three questions at once. `Ctx`'s asking methods take
//! `&self`, so `tokio::join!` keeps all three in flight together (the broker admits each
//! as its quota allows), and the agent's report counts every answer. To ask from spawned
//! tasks instead, move a `ctx.asker()` into each: it counts into the same report.
//! Runs on the simulator:
//!
//! ```sh
//! cargo run --example parallel_asks
//! ```

use quotaswarm::agent::{Agent, AgentResult, Ask, Ctx};
use quotaswarm::swarm::{report_table, SwarmBuilder, SwarmReport};
use quotaswarm::Config;

/// Asks about its three topics at once, then finishes.
struct Surveyor {
    topics: [&'static str; 3],
}

impl Agent for Surveyor {
    type Msg = ();
    async fn on_start(&mut self, ctx: &mut Ctx<()>) -> AgentResult {
        let ask = Ask::new("haiku").max_tokens(60);
        let [a, b, c] = self
            .topics
            .map(|t| format!("In one sentence: what is {t}?"));
        let (a, b, c) = tokio::join!(ctx.ask(&ask, a), ctx.ask(&ask, b), ctx.ask(&ask, c));
        for reply in [a?, b?, c?] {
            println!("[{}] {}", ctx.name(), reply.text());
        }
        ctx.finish();
        Ok(())
    }
}

pub async fn run() -> anyhow::Result<SwarmReport> {
    let surveyor = Surveyor {
        topics: ["a token bucket", "backoff with jitter", "a circuit breaker"],
    };
    let report = SwarmBuilder::new(Config::default())
        .backend(quotaswarm_sim::loopback())
        .agent("surveyor", surveyor)
        .run()
        .await?;
    print!("{}", report_table(&report));
    Ok(report)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    run().await.map(|_| ())
}
