//! What a reasoning model's run costs, reasoning included: four agents ask an OpenAI
//! reasoning model (`o4-mini`, effort high) three questions each; every reply's usage
//! carries `completion_tokens_details.reasoning_tokens` (decoded as
//! `Usage::reasoning_tokens`, a part of `output_tokens`, billed at the output price).
//! The run's reported cost is checked against the sum by hand from the token counts
//! and the model's prices.
//!
//! ```sh
//! cargo run --example reasoning_cost
//! ```
//!
//! It runs against the built-in simulator over loopback HTTP (no API key needed), whose
//! reasoning models think 1,024–2,047 hidden tokens per reply at effort high and report
//! them as the API does.

use quotaswarm::agent::{Agent, AgentResult, Ctx};
use quotaswarm::swarm::{report_table, SwarmBuilder, SwarmReport};
use quotaswarm::types::{ReasoningEffort, Usage};
use quotaswarm::{CompletionRequest, Config};
use std::time::Duration;

/// o4-mini's prices, USD per million tokens (OpenAI's pricing page).
pub const INPUT_PRICE: f64 = 1.10;
pub const CACHED_PRICE: f64 = 0.275;
pub const OUTPUT_PRICE: f64 = 4.40;

const AGENTS: usize = 4;
const QUESTIONS: [&str; 3] = [
    "Prove that there are infinitely many primes.",
    "Is 1,000,003 prime? Explain how you checked.",
    "How many trailing zeros does 100! have?",
];

fn config() -> anyhow::Result<Config> {
    let text = format!(
        "[models.o4-mini]\nprovider = \"openai\"\nrpm = 1000\ntpm = 2000000\n\
         context_window = 200000\ninput_price = {INPUT_PRICE}\n\
         output_price = {OUTPUT_PRICE}\ncache_read_price = {CACHED_PRICE}\n"
    );
    Ok(Config::from_toml_str_over_defaults(
        &text,
        "reasoning_cost example",
    )?)
}

/// Asks its questions one after another; returns the usage summed over its replies.
struct Thinker {
    index: usize,
}

impl Agent<Usage> for Thinker {
    type Msg = ();
    async fn on_start(&mut self, ctx: &mut Ctx<(), Usage>) -> AgentResult {
        let mut sum = Usage::default();
        for q in QUESTIONS {
            let req = CompletionRequest::prompt("o4-mini", format!("(student {}) {q}", self.index))
                .reasoning_effort(ReasoningEffort::High)
                .max_tokens(4000);
            let u = ctx.complete(req).await?.usage;
            sum.input_tokens += u.input_tokens;
            sum.cache_read_input_tokens += u.cache_read_input_tokens;
            sum.output_tokens += u.output_tokens;
            sum.reasoning_tokens += u.reasoning_tokens;
        }
        ctx.finish_with(sum);
        Ok(())
    }
}

/// The run's token counts (summed over every reply) and its cost: as reported, and by
/// hand from the counts and the prices.
#[derive(Debug, Clone, Copy, Default)]
pub struct Figures {
    pub usage: Usage,
    pub reported_usd: f64,
    pub by_hand_usd: f64,
    /// What the run would seem to cost were reasoning tokens left out.
    pub without_reasoning_usd: f64,
}

pub async fn run() -> anyhow::Result<(SwarmReport, Figures)> {
    let mut swarm = SwarmBuilder::new(config()?)
        .backend(quotaswarm_sim::loopback())
        .deadline(Duration::from_secs(60));
    for index in 0..AGENTS {
        swarm = swarm.agent(format!("thinker-{index}"), Thinker { index });
    }
    let report = swarm.run().await?;

    let mut usage = Usage::default();
    for index in 0..AGENTS {
        if let Some(u) = report.output::<Usage>(&format!("thinker-{index}")) {
            usage.input_tokens += u.input_tokens;
            usage.cache_read_input_tokens += u.cache_read_input_tokens;
            usage.output_tokens += u.output_tokens;
            usage.reasoning_tokens += u.reasoning_tokens;
        }
    }
    let by_hand = (usage.input_tokens as f64 * INPUT_PRICE
        + usage.cache_read_input_tokens as f64 * CACHED_PRICE
        + usage.output_tokens as f64 * OUTPUT_PRICE)
        / 1_000_000.0;
    let without_reasoning = by_hand - usage.reasoning_tokens as f64 * OUTPUT_PRICE / 1_000_000.0;
    let figures = Figures {
        usage,
        reported_usd: report.totals.cost_usd,
        by_hand_usd: by_hand,
        without_reasoning_usd: without_reasoning,
    };
    print!("{}", report_table(&report));
    println!(
        "tokens: input {} (+{} cached), output {} of which reasoning {}",
        usage.input_tokens,
        usage.cache_read_input_tokens,
        usage.output_tokens,
        usage.reasoning_tokens
    );
    println!(
        "by hand: ({} × ${INPUT_PRICE} + {} × ${CACHED_PRICE} + {} × ${OUTPUT_PRICE}) / 1M = ${by_hand:.6}",
        usage.input_tokens, usage.cache_read_input_tokens, usage.output_tokens
    );
    println!(
        "reported: ${:.6}   (reasoning left out it would read ${without_reasoning:.6})",
        report.totals.cost_usd
    );
    Ok((report, figures))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    run().await?;
    Ok(())
}
