//! Errors with `?`: agents read their prompts from a file. Any error type converts into
//! `AgentError` with `?` (here `std::io::Error`, and the broker's own errors), so a
//! missing file ends that agent, the run's report records the I/O error as its failure,
//! and the other agents go on. Runs on the simulator:
//!
//! ```sh
//! cargo run --example prompts_from_file
//! ```

use quotaswarm::agent::{Agent, AgentResult, Ask, Ctx};
use quotaswarm::swarm::{SwarmBuilder, SwarmReport};
use quotaswarm::Config;
use std::path::PathBuf;

/// Asks each line of its file, one after another.
struct FileReader {
    path: PathBuf,
}

impl Agent for FileReader {
    type Msg = ();
    async fn on_start(&mut self, ctx: &mut Ctx<()>) -> AgentResult {
        let prompts = tokio::fs::read_to_string(&self.path).await?; // std::io::Error
        let ask = Ask::new("haiku").max_tokens(60);
        for prompt in prompts.lines().filter(|l| !l.trim().is_empty()) {
            let reply = ctx.ask(&ask, prompt).await?; // BrokerError
            println!("[{}] {prompt} {}", ctx.name(), reply.text());
        }
        ctx.finish();
        Ok(())
    }
}

pub async fn run() -> anyhow::Result<SwarmReport> {
    let dir = std::env::temp_dir().join(format!("quotaswarm-prompts-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let prompts = dir.join("prompts.txt");
    std::fs::write(&prompts, "What is a token bucket?\nWhat is backoff?\n")?;
    let report = SwarmBuilder::new(Config::default())
        .backend(quotaswarm_sim::loopback())
        .agent("reader", FileReader { path: prompts })
        .agent(
            "lost",
            FileReader {
                path: dir.join("missing.txt"),
            },
        )
        .run()
        .await;
    std::fs::remove_dir_all(&dir)?;
    let report = report?;
    for a in &report.agents {
        let outcome = a.failure.as_deref().unwrap_or("finished");
        println!("{}: {} answers; {outcome}", a.name, a.completions);
    }
    Ok(report)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    run().await.map(|_| ())
}
