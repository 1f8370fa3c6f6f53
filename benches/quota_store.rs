//! The shared quota store's cost: admission through Redis against the in-process
//! buckets, in one run.
//!
//! Run: `cargo bench --bench quota_store` (needs Redis at 127.0.0.1:6379, or the URL in
//! `QUOTASWARM_BENCH_REDIS`). Measures, each store after the other in the same process:
//!
//! - the script's round trip alone (`RedisQuota::admit`, one caller, sequential);
//! - a completion through `BrokerHandle::complete` with an instant in-process provider,
//!   one caller (admission latency as the caller sees it: p50 / p99) and 64 concurrent
//!   callers (throughput), with `[quota] store = "memory"` and `"redis"`.

use hdrhistogram::Histogram;
use quotaswarm::broker::{self, StartOptions};
use quotaswarm::config::Config;
use quotaswarm::quota::{BucketSpec, RedisQuota};
use std::collections::HashMap;
use std::time::Instant;

mod common;

use common::{config, endpoint, request, spread};

fn redis_url() -> String {
    std::env::var("QUOTASWARM_BENCH_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379/0".into())
}

fn namespace(what: &str) -> String {
    format!(
        "qs-bench-{what}-{}-{:08x}",
        std::process::id(),
        rand::random::<u32>()
    )
}

fn quantiles(h: &Histogram<u64>) -> (f64, f64) {
    (
        h.value_at_quantile(0.5) as f64 / 1000.0,
        h.value_at_quantile(0.99) as f64 / 1000.0,
    )
}

async fn script_round_trip(n: usize) {
    let q = RedisQuota::new(&redis_url(), &namespace("script")).expect("redis url");
    let lane = q.lane("bench", "m");
    let b = vec![
        BucketSpec {
            limit_per_min: 1e12,
            capacity: 1e12,
        };
        3
    ];
    let mut h = Histogram::<u64>::new(3).expect("histogram");
    for _ in 0..n {
        let t = Instant::now();
        q.admit(&lane, &b, &[1.0, 100.0, 10.0])
            .await
            .expect("redis answers");
        let _ = h.record(t.elapsed().as_nanos() as u64);
    }
    let (p50, p99) = quantiles(&h);
    println!(
        "{:<34} p50 {p50:>7.1} µs   p99 {p99:>7.1} µs",
        "script round trip (admit)"
    );
}

async fn through_broker(label: &str, config: Config, n: usize, callers: usize) {
    let eps = HashMap::from([("p".to_string(), endpoint())]);
    let b = broker::start(config, eps, StartOptions::default())
        .await
        .expect("broker");
    let h = b.handle.clone();
    // Warm up (connection, script cache, estimator).
    for i in 0..200 {
        let _ = h.complete(request(usize::MAX - i)).await;
    }
    let (rate, all) = spread(n, callers, move |i| {
        let h = h.clone();
        Box::pin(async move {
            h.complete(request(i)).await.expect("answered");
        })
    })
    .await;
    let (p50, p99) = quantiles(&all);
    println!("{label:<34} {rate:>9.0} completions/s   p50 {p50:>8.1} µs   p99 {p99:>8.1} µs");
    b.stop();
}

fn with_store(redis: bool) -> Config {
    let mut c = config("1e12");
    if redis {
        c.quota = c.quota.clone().redis(redis_url());
        c.quota.namespace = namespace("broker");
    }
    c
}

#[tokio::main]
async fn main() {
    script_round_trip(5_000).await;
    for callers in [1, 64] {
        let n = if callers == 1 { 5_000 } else { 20_000 };
        println!("--- {callers} concurrent caller(s), {n} completions each store");
        through_broker("memory store", with_store(false), n, callers).await;
        through_broker("redis store", with_store(true), n, callers).await;
    }
}
