//! Streaming: an agent prints tokens as they arrive.
//!
//! ```sh
//! cargo run --example streaming
//! ```
//!
//! Without API keys it streams from the built-in simulator over loopback HTTP (with a
//! little per-token latency so you can watch). The request goes through the broker like
//! any other (admitted only when it fits, retried before the first delta, settled on the
//! tokens actually produced); dropping the stream cancels it.

use futures_util::StreamExt;
use quotaswarm::broker::StreamItem;
use quotaswarm::provider::StreamEvent;
use quotaswarm::swarm::Swarm;
use quotaswarm::{Completion, CompletionRequest, Config};
use std::io::Write;

/// Streams one answer to stdout; returns the text printed and the final completion.
pub async fn run() -> anyhow::Result<(String, Completion)> {
    let mut config = Config::default();
    config.sim.per_token = std::time::Duration::from_millis(15);
    let swarm = Swarm::start(config, quotaswarm_sim::auto()).await?;
    let req = CompletionRequest::prompt("claude", "Tell me about token buckets.").max_tokens(80);
    let mut stream = swarm.handle().stream(req).await?;
    let mut printed = String::new();
    let mut done = None;
    while let Some(item) = stream.next().await {
        match item? {
            StreamItem::Event(StreamEvent::TextDelta { text, .. }) => {
                print!("{text}");
                std::io::stdout().flush()?;
                printed.push_str(&text);
            }
            StreamItem::Event(_) => {}
            StreamItem::Done(c) => {
                println!(
                    "\n\n[{} answered: {} input, {} output tokens]",
                    c.model, c.usage.input_tokens, c.usage.output_tokens
                );
                done = Some(c);
            }
        }
    }
    swarm.shutdown().await;
    let done = done.ok_or_else(|| anyhow::anyhow!("the stream ended without its completion"))?;
    Ok((printed, done))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    run().await.map(|_| ())
}
