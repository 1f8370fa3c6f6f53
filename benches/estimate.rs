//! Cost of estimating one more turn on an 80,000-token history, against a full recount.
//!
//! Run: `cargo bench --bench estimate`. Baseline and subject run in the same process, so
//! the ratio holds on a noisy machine.

use quotaswarm::tokens::{Encoding, Estimator};
use quotaswarm::{CompletionRequest, Message};
use std::time::Instant;

fn history(tokens_target: u64) -> CompletionRequest {
    let mut req = CompletionRequest::prompt("sonnet", "start");
    let mut i = 0u64;
    let enc = Encoding::Cl100k;
    let mut total = 0;
    while total < tokens_target {
        let text = format!(
            "Turn {i}: the broker admitted request {i} after {} ms; buckets refill continuously at limit/60 per second, and the queue drains in order while headroom stays above zero.",
            i * 7 % 1000
        );
        total += enc.count(&text) + 4;
        req.messages.push(if i.is_multiple_of(2) {
            Message::assistant(text)
        } else {
            Message::user(text)
        });
        i += 1;
    }
    req
}

fn main() {
    let base = history(80_000);
    let enc = Encoding::Cl100k;
    let warm = Estimator::new(0.05);
    let total = warm.raw_input(enc, &base);
    println!(
        "history: {} messages, {} tokens",
        base.messages.len(),
        total
    );

    let rounds = 20;
    // Baseline: a full recount (fresh estimator, nothing cached).
    let t = Instant::now();
    for r in 0..rounds {
        let mut req = base.clone();
        req.messages
            .push(Message::user(format!("one more question {r}")));
        let cold = Estimator::new(0.05);
        std::hint::black_box(cold.raw_input(enc, &req));
    }
    let full = t.elapsed().as_secs_f64() / rounds as f64;

    // Subject: the shared cache already holds the history; only the new turn is counted.
    let t = Instant::now();
    for r in 0..rounds {
        let mut req = base.clone();
        req.messages
            .push(Message::user(format!("one more question {r}")));
        std::hint::black_box(warm.raw_input(enc, &req));
    }
    let incremental = t.elapsed().as_secs_f64() / rounds as f64;
    println!("full recount:      {:>10.1} µs per estimate", full * 1e6);
    println!(
        "one more turn:     {:>10.1} µs per estimate",
        incremental * 1e6
    );
    println!("speed-up:          {:>10.1}×", full / incremental);
}
