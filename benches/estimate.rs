//! Cost of estimating one more turn on an 80,000-token history, against a full recount.
//!
//! Three ways, one run: a full recount; the estimator's shared cache alone (each
//! message's text hashed to find its count); and a conversation that remembers its
//! counts (`MessageCounts`, as a `History` carries), where only the new turn is read.
//!
//! Run: `cargo bench --bench estimate`. Baseline and subject run in the same process, so
//! the ratio holds on a noisy machine.

use quotaswarm::tokens::{Encoding, Estimator, MessageCounts};
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

/// `rounds` requests continuing `base` by one more user turn each, built before timing
/// (copying a request is the caller's cost, not estimation's).
fn next_turns(base: &CompletionRequest, rounds: usize) -> Vec<CompletionRequest> {
    (0..rounds)
        .map(|r| {
            let mut req = base.clone();
            req.messages
                .push(Message::user(format!("one more question {r}")));
            req
        })
        .collect()
}

fn per_estimate(
    reqs: &[CompletionRequest],
    mut estimate: impl FnMut(&CompletionRequest) -> u64,
) -> f64 {
    let t = Instant::now();
    for req in reqs {
        std::hint::black_box(estimate(req));
    }
    t.elapsed().as_secs_f64() / reqs.len() as f64
}

fn main() {
    let enc = Encoding::Cl100k;
    let mut base = history(80_000);
    let warm = Estimator::new(0.05);
    let total = warm.raw_input(enc, &base);
    println!(
        "history: {} messages, {} tokens",
        base.messages.len(),
        total
    );
    let rounds = 20;

    // Baseline: a full recount (fresh estimator, nothing cached).
    let full = per_estimate(&next_turns(&base, rounds), |req| {
        Estimator::new(0.05).raw_input(enc, req)
    });

    // The shared cache alone: every message is hashed to find its count.
    let cached = per_estimate(&next_turns(&base, rounds), |req| warm.raw_input(enc, req));

    // The conversation remembers its counts (as a `History` does): only the new turn
    // is read. Each request is a copy of the history, so each keeps its own counts.
    base.options.counts = Some(MessageCounts::new());
    let remembered = warm.raw_input(enc, &base);
    assert_eq!(remembered, total, "remembered counts change the estimate");
    let reqs = next_turns(&base, rounds);
    let incremental = per_estimate(&reqs, |req| warm.raw_input(enc, req));
    for req in &reqs {
        assert_eq!(
            warm.raw_input(enc, req),
            Estimator::new(0.05).raw_input(enc, req),
            "the remembered estimate differs from a recount"
        );
    }

    println!("full recount:      {:>10.1} µs per estimate", full * 1e6);
    println!("shared cache only: {:>10.1} µs per estimate", cached * 1e6);
    println!(
        "one more turn:     {:>10.1} µs per estimate",
        incremental * 1e6
    );
    println!(
        "speed-up:          {:>10.1}× (shared cache only: {:.1}×)",
        full / incremental,
        full / cached
    );
}
