//! Real providers: with `ANTHROPIC_API_KEY` and/or `OPENAI_API_KEY` set, requests for
//! that provider go to the real API (one short request each, a fraction of a cent);
//! without them it says how to set them and runs on the simulator instead.
//!
//! ```sh
//! ANTHROPIC_API_KEY=sk-ant-... OPENAI_API_KEY=sk-... cargo run --example real_providers
//! ```

use quotaswarm::swarm::{Backend, SwarmBuilder, SwarmReport};
use quotaswarm::Config;
use quotaswarm_agents::ScriptedAgent;

pub async fn run_with(backend: Backend) -> anyhow::Result<SwarmReport> {
    let mut builder = SwarmBuilder::new(Config::default()).backend(backend);
    for (name, target) in [("claude-agent", "haiku"), ("openai-agent", "luna")] {
        let mut agent = ScriptedAgent::chat(target, &["Say hello in five words."]);
        agent.max_tokens = 20;
        builder = builder.agent(name, agent);
    }
    let report = builder.run().await?;
    for line in &report.backends {
        println!("{line}");
    }
    for a in &report.agents {
        let err = a.last_error.clone().unwrap_or_default();
        println!("{}: {} answers {err}", a.name, a.completions);
    }
    Ok(report)
}

pub async fn run() -> anyhow::Result<SwarmReport> {
    let keys = ["ANTHROPIC_API_KEY", "OPENAI_API_KEY"];
    if keys.iter().all(|k| std::env::var_os(k).is_none()) {
        println!(
            "No API key set: export ANTHROPIC_API_KEY and/or OPENAI_API_KEY to use the real APIs."
        );
        println!("Running on the simulator instead.");
    }
    // Auto: the real API for each provider whose key is set, the simulator for the rest.
    run_with(quotaswarm_sim::auto()).await
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    run().await.map(|_| ())
}
