//! `wasted_usd`: what failed attempts cost. Paused time against the embedded simulator
//! with injected faults: 529s answered before generation are billed nothing; a stream cut
//! mid-way is billed its input (reported at the stream's start) and the output it had
//! produced; a cancelled stream what it had produced. The expectation is computed here by
//! hand, from the partial usage the failed streams reported to their callers and,
//! independently, from the simulator's ledger, at sonnet's list prices.

use crate::common;

use futures_util::StreamExt;
use quotaswarm::broker::{self, Broker, BrokerHandle, StartOptions, StreamItem};
use quotaswarm::provider::ProviderError;
use quotaswarm::{BrokerError, CompletionRequest, Config, Usage};
use quotaswarm_sim::Simulator;
use std::time::Duration;

/// Sonnet's list prices, USD per million tokens (the built-in defaults).
const INPUT_PRICE: f64 = 3.0;
const OUTPUT_PRICE: f64 = 15.0;

fn usd(input: u64, output: u64) -> f64 {
    (input as f64 * INPUT_PRICE + output as f64 * OUTPUT_PRICE) / 1e6
}

async fn start(sim_extra: &str) -> (Broker, Simulator) {
    let mut config = Config::from_toml_str_over_previous_defaults(
        &format!(
            "[broker]\nbackoff_base_secs = 0.05\n[sim]\nlatency_ms = 5\nseed = 1\n{sim_extra}"
        ),
        "test",
    )
    .unwrap();
    config.use_embedded_sim();
    let prices = config.model("sonnet").unwrap().prices.unwrap();
    assert_eq!((prices.input, prices.output), (INPUT_PRICE, OUTPUT_PRICE));
    for m in config.models.values_mut() {
        m.limits = m.limits.scaled(20.0);
    }
    let sim = Simulator::new(&config);
    let endpoints = quotaswarm::swarm::endpoints(&config, Some(sim.transport())).unwrap();
    let b = broker::start(config, endpoints, StartOptions::default())
        .await
        .unwrap();
    (b, sim)
}

fn question(i: usize) -> CompletionRequest {
    CompletionRequest::prompt(
        "sonnet",
        format!("Question {i}: stream me a long answer about token buckets."),
    )
    .max_tokens(120)
    .temperature(0.0)
    .coalesce(false)
}

/// Runs one stream to its end: the completion's usage, or the partial usage of the
/// mid-stream failure that reached the caller.
async fn run_stream(h: &BrokerHandle, i: usize) -> Result<Usage, Usage> {
    let mut stream = h.stream(question(i)).await.unwrap();
    while let Some(item) = stream.next().await {
        match item {
            Ok(StreamItem::Done(c)) => return Ok(c.usage),
            Ok(StreamItem::Event(_)) => {}
            Err(BrokerError::Provider {
                error: ProviderError::MidStream { partial_usage, .. },
                ..
            }) => return Err(partial_usage),
            Err(e) => panic!("stream {i}: unexpected error {e}"),
        }
    }
    panic!("stream {i} ended without a completion or an error")
}

#[tokio::test(start_paused = true)]
async fn wasted_usd_is_what_cut_streams_were_billed_and_529s_add_nothing() {
    let (b, sim) = start(
        "[[sim.faults]]\nmodel = \"sonnet\"\nstatus = 529\nrate = 0.1\n\
         [[sim.faults]]\nmodel = \"sonnet\"\nmid_stream = true\nafter_tokens = 5\nrate = 0.1\n",
    )
    .await;
    let h = &b.handle;
    let (mut ok, mut cut) = (Usage::default(), Usage::default());
    let mut cuts = 0;
    for i in 0..60 {
        match run_stream(h, i).await {
            Ok(u) => {
                ok.input_tokens += u.input_tokens;
                ok.output_tokens += u.output_tokens;
            }
            Err(u) => {
                cuts += 1;
                cut.input_tokens += u.input_tokens;
                cut.output_tokens += u.output_tokens;
            }
        }
    }
    let stats = h.stats().await.unwrap();
    let lane = stats.lane("sonnet").unwrap();
    let ledger = sim.stats().models["claude-sonnet-4-6"].clone();
    let overloaded = ledger.status(529);
    println!(
        "{} attempts: {overloaded} answered 529, {} streams cut after 5 tokens; cut streams billed {} input + {} output tokens",
        lane.requests, ledger.stream_errors, cut.input_tokens, cut.output_tokens
    );
    assert!(overloaded > 0, "some attempts were answered 529");
    assert!(cuts > 0, "some streams were cut");
    assert_eq!(cuts, ledger.stream_errors, "every cut reached its caller");
    assert_eq!(lane.overloaded, overloaded);
    assert_eq!(
        cut.output_tokens,
        5 * cuts,
        "each cut stream had produced 5 tokens"
    );

    // By hand, from what the cut streams reported to their callers...
    let from_streams = usd(cut.input_tokens, cut.output_tokens);
    // ...and from the simulator's ledger: everything it billed, less the completions.
    let from_ledger = usd(
        ledger.input_tokens - ok.input_tokens,
        ledger.output_tokens - ok.output_tokens,
    );
    println!(
        "wasted_usd {:.6}; by hand from the streams {from_streams:.6}, from the ledger {from_ledger:.6}; cost_usd {:.6}",
        stats.wasted_usd, stats.cost_usd
    );
    assert!(stats.wasted_usd > 0.0);
    assert!((stats.wasted_usd - from_streams).abs() < 1e-12);
    assert!((stats.wasted_usd - from_ledger).abs() < 1e-12);
    assert!((lane.wasted_usd - stats.wasted_usd).abs() < 1e-12);
    // What was wasted is part of what was spent.
    let spent = usd(ok.input_tokens, ok.output_tokens) + from_streams;
    assert!((stats.cost_usd - spent).abs() < 1e-12);
    assert_eq!(stats.input_tokens, ledger.input_tokens);
    assert_eq!(stats.output_tokens, ledger.output_tokens);
    b.stop();
}

#[tokio::test(start_paused = true)]
async fn failures_answered_before_generation_waste_nothing() {
    let (b, sim) = start("[[sim.faults]]\nmodel = \"sonnet\"\nstatus = 529\nrate = 0.3\n").await;
    for i in 0..20 {
        assert!(run_stream(&b.handle, i).await.is_ok());
    }
    let stats = b.handle.stats().await.unwrap();
    assert!(sim.stats().total.status(529) > 0);
    assert!(stats.overloaded > 0 && stats.retries > 0);
    assert_eq!(stats.wasted_usd, 0.0);
    assert!(stats.cost_usd > 0.0);
    b.stop();
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_stream_wastes_what_it_had_produced() {
    let (b, sim) = start("per_token_ms = 20\n").await;
    let h = &b.handle;
    let deltas = common::three_deltas_then_drop(h, question(0)).await;
    let mut lane = None;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let stats = h.stats().await.unwrap();
        let l = stats.lane("sonnet").unwrap().clone();
        if l.cancelled_streams == 1 && sim.stats().total.cancelled_streams == 1 {
            lane = Some(l);
            break;
        }
    }
    let lane = lane.expect("the broker and the simulator saw the cancellation");
    let ledger = sim.stats().models["claude-sonnet-4-6"].clone();
    // Input as billed; output between what the caller read and what was generated
    // (a frame or two may be in flight when the caller lets go).
    let low = usd(ledger.input_tokens, deltas);
    let high = usd(ledger.input_tokens, ledger.output_tokens + 1);
    println!(
        "cancelled after {deltas} deltas: simulator billed {} input + {} output; wasted_usd {:.6} in [{low:.6}, {high:.6}]",
        ledger.input_tokens, ledger.output_tokens, lane.wasted_usd
    );
    assert!(lane.wasted_usd >= low - 1e-12 && lane.wasted_usd <= high + 1e-12);
    assert_eq!(lane.completions, 0);
    assert!((lane.cost_usd - lane.wasted_usd).abs() < 1e-12);
    b.stop();
}
