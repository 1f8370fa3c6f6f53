//! The broker's added cost per completion, with an instant in-process provider.
//!
//! Run: `cargo bench --bench broker`. The baseline calls the same endpoint (wire encode,
//! instant transport, decode) directly; the subject goes through `BrokerHandle::complete`
//! (validation, key, estimate, mailbox, admission, dispatch, settle, reply). Both run in
//! the same process, so the difference and ratio hold on a noisy machine.

use futures_util::future::BoxFuture;
use hdrhistogram::Histogram;
use quotaswarm::broker::{self, StartOptions};
use std::collections::HashMap;

mod common;

/// jemalloc, as a deployment that needs this throughput should use: with glibc's malloc,
/// frees on one thread of what another allocated (a caller's request freed by the
/// broker's task, the reply the other way) contend on glibc's arena locks, and at 64
/// callers that caps the broker well below what its instructions allow (BENCHMARKS.md
/// has both figures). Both sides of the comparison run with it.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use common::{config, endpoint, request, spread};

async fn run(
    label: &str,
    n: usize,
    callers: usize,
    f: impl Fn(usize) -> BoxFuture<'static, ()> + Send + Sync + 'static,
) -> (f64, Histogram<u64>) {
    let (rate, all) = spread(n, callers, f).await;
    println!(
        "{label:<28} {:>9.0} completions/s   p50 {:>7.1} µs   p99 {:>7.1} µs",
        rate,
        all.value_at_quantile(0.5) as f64 / 1000.0,
        all.value_at_quantile(0.99) as f64 / 1000.0
    );
    (rate, all)
}

#[tokio::main]
async fn main() {
    // `QUOTASWARM_BENCH_CALLERS=N` measures N callers only (e.g. under a profiler).
    let only = std::env::var("QUOTASWARM_BENCH_CALLERS")
        .ok()
        .and_then(|c| c.parse::<usize>().ok());
    for callers in only.map_or(vec![1, 64], |c| vec![c.max(1)]) {
        println!("--- {callers} concurrent caller(s)");
        measure(callers).await;
    }
}

async fn measure(callers: usize) {
    // `QUOTASWARM_BENCH_DIVIDE=N` runs a Nth of the completions (e.g. under a profiler).
    let divide = std::env::var("QUOTASWARM_BENCH_DIVIDE")
        .ok()
        .and_then(|d| d.parse::<usize>().ok())
        .unwrap_or(1)
        .max(1);
    let n = if callers == 1 { 10_000 } else { 40_000 } / divide;
    let ep = endpoint();
    // Baseline: the endpoint alone.
    let direct = {
        let ep = ep.clone();
        move |i: usize| -> BoxFuture<'static, ()> {
            let ep = ep.clone();
            Box::pin(async move {
                let _ = ep.complete("claude-sonnet-4-5", &request(i)).await;
            })
        }
    };
    // Warm-up (the tokenizer's tables, built on first use; the allocator), so that
    // neither side pays for it in its measured run.
    quotaswarm::tokens::Encoding::Cl100k.count("warm-up");
    run("warm-up (direct)", 2_000 / divide, callers, direct.clone()).await;
    // `QUOTASWARM_BENCH_SKIP_DIRECT=1` leaves the baseline out (a profile of the broker's
    // side alone); the figures against it are then meaningless.
    let skip = std::env::var_os("QUOTASWARM_BENCH_SKIP_DIRECT").is_some();
    let (base_rate, base) = run(
        "direct endpoint (baseline)",
        if skip { 1 } else { n },
        callers,
        direct,
    )
    .await;

    let mut eps = HashMap::new();
    eps.insert("p".to_string(), ep);
    let b = broker::start(config("1e12"), eps, StartOptions::default())
        .await
        .expect("broker");
    let h = b.handle.clone();
    let through = move |i: usize| -> BoxFuture<'static, ()> {
        let h = h.clone();
        Box::pin(async move {
            let r = h.complete(request(i)).await;
            debug_assert!(r.is_ok());
        })
    };
    run("warm-up (broker)", 2_000 / divide, callers, through.clone()).await;
    let (rate, sub) = run("through the broker", n, callers, through).await;
    let stats = b.handle.stats().await.expect("stats");
    println!(
        "added per completion: p50 {:.1} µs, p99 {:.1} µs; throughput ratio broker/direct = {:.2}",
        (sub.value_at_quantile(0.5) as f64 - base.value_at_quantile(0.5) as f64) / 1000.0,
        (sub.value_at_quantile(0.99) as f64 - base.value_at_quantile(0.99) as f64) / 1000.0,
        rate / base_rate
    );
    println!(
        "broker handling time per message: p50 {:.0} µs, p99 {:.0} µs; completed {}",
        stats.handling_p50_us, stats.handling_p99_us, stats.completed
    );
    b.stop();
}
