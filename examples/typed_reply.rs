//! Typed replies: an agent asks for a Rust type (`Deserialize` + `schemars::JsonSchema`)
//! and gets it back parsed. `ctx.ask_json` derives the type's JSON Schema, adapts it to
//! strict structured output and sends it (OpenAI `response_format`, a forced tool on
//! Anthropic); a reply that does not fit is `AgentError::Unfit`, with the raw text and
//! serde's message.
//!
//! ```sh
//! cargo run --example typed_reply
//! ```
//!
//! It runs against the built-in simulator over loopback HTTP (no API key needed), whose
//! models answer with made-up JSON that fits the schema.

use quotaswarm::agent::{Agent, AgentResult, Ask, Ctx};
use quotaswarm::swarm::{SwarmBuilder, SwarmReport};
use quotaswarm::Config;
use std::time::Duration;

/// A support ticket, triaged.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
pub struct Triage {
    /// Whether it needs someone now.
    pub urgent: bool,
    /// The team that should take it.
    pub team: Team,
    /// One line for the on-call engineer.
    pub summary: String,
}

/// Who takes a ticket.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Team {
    Billing,
    Infrastructure,
    Product,
}

/// Triages one ticket on its target and prints the result.
struct Triager {
    target: &'static str,
}

impl Agent for Triager {
    type Msg = ();
    async fn on_start(&mut self, ctx: &mut Ctx<()>) -> AgentResult {
        // The cap includes a reasoning model's hidden reasoning (`luna` spends a few
        // hundred tokens on it at the default effort), so it leaves room for both.
        let ask = Ask::new(self.target).max_tokens(1500);
        let ticket = "Ticket: checkout fails with a 502 since the deploy at 09:10.";
        // A reply that does not fit `Triage` is `AgentError::Unfit` (its text and serde's
        // message): here `?` makes it this agent's reported failure.
        let t: Triage = ctx.ask_json(&ask, ticket).await?;
        println!("[{}] {t:?}", self.target);
        ctx.finish();
        Ok(())
    }
}

pub async fn run() -> anyhow::Result<SwarmReport> {
    let report = SwarmBuilder::new(Config::default())
        .backend(quotaswarm_sim::loopback())
        .agent("triage-anthropic", Triager { target: "sonnet" })
        .agent("triage-openai", Triager { target: "luna" })
        .deadline(Duration::from_secs(60))
        .run()
        .await?;
    Ok(report)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    run().await.map(|_| ())
}
