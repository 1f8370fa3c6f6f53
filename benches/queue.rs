//! The broker's cost per message with a short and with a long queue on one lane.
//!
//! Run: `cargo bench --bench queue`. One lane is blocked (one request per minute, already
//! used), then `queued` requests wait on it: 10 (the baseline) or 10,000. With that queue
//! in place it measures, per message:
//!
//! - an arrival: one more streamed request queued on the lane (caller-side validation,
//!   key and cached estimate, then the broker's admission attempt: the head does not fit,
//!   the lane's timer is set). Sent back to back from one task, so caller and broker work
//!   overlap; the figure is wall time per request until the broker has handled them all.
//! - an abandon: the caller drops its stream, the broker takes the request out of the
//!   queue. Caller-side work is one message send, so this is the broker's own cost.
//!
//! Both scenarios run in the same process, one after the other, so the ratio (10,000
//! against 10) holds on a noisy machine.

use quotaswarm::broker::{self, BrokerHandle, CompletionStream, StartOptions};
use quotaswarm::CompletionRequest;
use std::collections::HashMap;
use std::time::{Duration, Instant};

mod common;

use common::{config, endpoint};

fn request() -> CompletionRequest {
    // The same text every time: the estimate comes from the shared cache, so the
    // caller's share of an arrival stays small. Streams are never coalesced.
    CompletionRequest::prompt("m", "a question that waits for its turn")
}

/// Requests sent per measured batch.
const BATCH: usize = 500;
/// Measured batches per scenario (the median is reported).
const ROUNDS: usize = 9;

async fn queue_depth(h: &BrokerHandle) -> u64 {
    h.stats().await.expect("stats").queue_depth
}

async fn enqueue(h: &BrokerHandle, n: usize) -> Vec<CompletionStream> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(h.stream(request()).await.expect("stream"));
    }
    out
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

struct Figures {
    arrival_us: f64,
    abandon_us: f64,
    handling_p50_us: f64,
    handling_p99_us: f64,
}

async fn scenario(queued: usize) -> Figures {
    let mut eps = HashMap::new();
    eps.insert("p".to_string(), endpoint());
    let b = broker::start(config("1"), eps, StartOptions::default())
        .await
        .expect("broker");
    let h = b.handle.clone();
    // Use up the lane's one request a minute: everything after it queues.
    h.complete(request()).await.expect("first request");
    let _waiting = enqueue(&h, queued).await;
    assert_eq!(queue_depth(&h).await, queued as u64);

    let (mut arrivals, mut abandons) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let t = Instant::now();
        let batch = enqueue(&h, BATCH).await;
        // The stats reply comes after every message this task sent before it.
        assert_eq!(queue_depth(&h).await, (queued + BATCH) as u64);
        arrivals.push(t.elapsed().as_secs_f64() * 1e6 / BATCH as f64);

        let t = Instant::now();
        drop(batch);
        assert_eq!(queue_depth(&h).await, queued as u64);
        abandons.push(t.elapsed().as_secs_f64() * 1e6 / BATCH as f64);
    }
    let stats = h.stats().await.expect("stats");
    b.stop();
    // Let the stopped broker's tasks wind down before the next scenario.
    tokio::time::sleep(Duration::from_millis(50)).await;
    Figures {
        arrival_us: median(arrivals),
        abandon_us: median(abandons),
        handling_p50_us: stats.handling_p50_us,
        handling_p99_us: stats.handling_p99_us,
    }
}

#[tokio::main]
async fn main() {
    // Warm-up: tiktoken, the allocator, the runtime's threads.
    let _ = scenario(10).await;
    let base = scenario(10).await;
    let long = scenario(10_000).await;
    println!(
        "{:<16} {:>14} {:>14} {:>18}",
        "queued on lane", "arrival µs", "abandon µs", "handling p50/p99"
    );
    for (n, f) in [(10, &base), (10_000, &long)] {
        println!(
            "{n:<16} {:>14.2} {:>14.2} {:>11.0} / {:.0} µs",
            f.arrival_us, f.abandon_us, f.handling_p50_us, f.handling_p99_us
        );
    }
    println!(
        "ratio 10,000 / 10: arrival {:.2}, abandon {:.2}",
        long.arrival_us / base.arrival_us,
        long.abandon_us / base.abandon_us
    );
}
