//! A tool-using agent: the `Bookkeeper` (from `quotaswarm-agents`) adds up expenses with
//! a local calculator and keeps the total in a local notes store. `ctx.run_tools` sends
//! the request with both tools, runs each tool call the model makes, sends the results
//! back, and repeats until the model answers in words.
//!
//! ```sh
//! cargo run --example tool_agent
//! ```
//!
//! It runs against the built-in simulator over loopback HTTP (no API key needed), whose
//! model calls the tools with made-up arguments that fit their schemas: three turns of
//! tool calls, then an answer.

use quotaswarm::agent::{Ask, ToolRun};
use quotaswarm::swarm::{report_table, SwarmBuilder, SwarmReport};
use quotaswarm::types::{ContentBlock, Role};
use quotaswarm::Config;
use quotaswarm_agents::bookkeeper::{Bookkeeper, Ledger};
use std::time::Duration;

const TASK: &str = "Expenses this month: rent 1200, food 430.50, travel 210. \
     Add them up, note the total under \"total\", read it back and report it.";

/// Runs the bookkeeper on `target` (a model or ladder); returns the report and its run.
pub async fn run_on(target: &str) -> anyhow::Result<(SwarmReport, ToolRun)> {
    let agent = Bookkeeper::new(Ask::new(target).max_tokens(400), TASK);
    let mut config = Config::default();
    // The simulated model calls a tool on every fresh turn (by default on half of
    // them), then goes on until it holds `tool_steps` results.
    config.sim.tool_call_rate = 1.0;
    config.sim.tool_steps = 3;
    let mut report = SwarmBuilder::new(config)
        .backend(quotaswarm_sim::loopback())
        .agent("bookkeeper", agent)
        .deadline(Duration::from_secs(60))
        .run()
        .await?;
    // What the bookkeeper returned: its `Ledger`, typed, in its report.
    let ledger = report.agents[0].take_output::<Ledger>();
    let ledger = ledger
        .ok_or_else(|| anyhow::anyhow!("the bookkeeper did not finish: {:?}", report.agents))?;
    Ok((report, ledger.run))
}

/// Prints the conversation: tool calls, their results, the answer.
fn print_transcript(run: &ToolRun) {
    for m in &run.transcript.messages {
        for b in &m.content {
            match (m.role, b) {
                (Role::User, ContentBlock::Text { text, .. }) => println!("user: {text}"),
                (_, ContentBlock::ToolUse { name, input, .. }) => println!("  → {name}({input})"),
                (_, ContentBlock::ToolResult { is_error, .. }) => {
                    let tag = if *is_error { "error" } else { "result" };
                    println!("  ← {tag}: {}", b.tool_result_text());
                }
                (Role::Assistant, ContentBlock::Text { text, .. }) => println!("model: {text}"),
                _ => {}
            }
        }
    }
    println!(
        "[{} steps, {} tool calls, {} input + {} output tokens]",
        run.steps, run.tool_calls, run.usage.input_tokens, run.usage.output_tokens
    );
}

pub async fn run() -> anyhow::Result<(SwarmReport, ToolRun)> {
    let (report, run) = run_on("sonnet").await?;
    print_transcript(&run);
    print!("{}", report_table(&report));
    Ok((report, run))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    run().await.map(|_| ())
}
