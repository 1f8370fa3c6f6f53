//! Paused-time tests of spill scheduling: a ladder request goes to the rung projected to
//! finish it first (after the preference for higher rungs), against the embedded
//! simulator.

use quotaswarm::swarm::Swarm;
use quotaswarm::{CompletionRequest, Config};
use std::time::Duration;
use tokio::time::Instant;

/// Requests a minute of the first rung; the second has a third of it.
const BIG_RPM: f64 = 600.0;
const SMALL_RPM: f64 = BIG_RPM / 3.0;
/// Bucket capacity, in seconds of refill, of both rungs.
const BURST_SECS: f64 = 1.0;
const LATENCY_MS: u64 = 100;
/// Enough requests that both rungs together need about 10 s.
const N: usize = 146;

/// A two-rung ladder `spill` = big, small (small with a third of big's limits; requests a
/// minute bind, tokens never do) and the given `ladder_prefer_secs`. `ladder_max_wait` is
/// a minute, so that only the placement decides where a request goes.
fn config(prefer_secs: f64) -> Config {
    let model = |name: &str, wire: &str, rpm: f64| {
        format!(
            "[models.{name}]\nprovider = \"anthropic\"\nmodel = \"{wire}\"\n\
             rpm = {rpm}\nitpm = {tpm}\notpm = {tpm}\nburst_secs = {BURST_SECS}\n",
            tpm = rpm * 10_000.0,
        )
    };
    let text = format!(
        "[sim]\nlatency_ms = {LATENCY_MS}\nper_token_ms = 0\n\
         [broker]\nladder_max_wait_secs = 60\nladder_prefer_secs = {prefer_secs}\n\
         {}{}[ladders]\nspill = [\"big\", \"small\"]\n",
        model("big", "claude-sonnet-4-6", BIG_RPM),
        model("small", "claude-haiku-4-5", SMALL_RPM),
    );
    let mut c = Config::from_toml_str_over_defaults(&text, "test").expect("config");
    // Only these two: the simulator takes each wire model's limits from the first model
    // config naming it, and the defaults name the same wire models.
    c.models.retain(|name, _| name == "big" || name == "small");
    c.ladders.retain(|name, _| name == "spill");
    c
}

/// The best makespan with both rungs: their bursts go at once, the rest at their summed
/// refill rate, and the last answer takes one call's latency.
fn ideal() -> Duration {
    let rate = (BIG_RPM + SMALL_RPM) / 60.0;
    let burst = rate * BURST_SECS;
    Duration::from_secs_f64((N as f64 - burst) / rate + LATENCY_MS as f64 / 1000.0)
}

/// Sends `requests` at once and counts the answers by the model that gave them: (big,
/// small).
async fn answered_by(
    h: &quotaswarm::BrokerHandle,
    requests: impl Iterator<Item = CompletionRequest>,
) -> (usize, usize) {
    let tasks: Vec<_> = requests
        .map(|req| {
            let h = h.clone();
            tokio::spawn(async move { h.complete(req).await })
        })
        .collect();
    let (mut on_big, mut on_small) = (0, 0);
    for t in tasks {
        match t.await.unwrap().unwrap().model.as_str() {
            "big" => on_big += 1,
            _ => on_small += 1,
        }
    }
    (on_big, on_small)
}

struct Run {
    makespan: Duration,
    on_big: usize,
    on_small: usize,
    rate_limited: u64,
}

/// Sends the swarm at once and waits for every answer.
async fn run(prefer_secs: f64) -> Run {
    let swarm = Swarm::start(config(prefer_secs), quotaswarm_sim::embedded())
        .await
        .unwrap();
    let h = swarm.handle();
    let start = Instant::now();
    let requests = (0..N).map(|i| {
        CompletionRequest::prompt("spill", format!("Task {i}: one line, please.")).max_tokens(20)
    });
    let (on_big, on_small) = answered_by(&h, requests).await;
    let makespan = start.elapsed();
    let stats = h.stats().await.unwrap();
    let lanes: u64 = ["big", "small"]
        .iter()
        .map(|m| stats.lane(m).unwrap().rate_limited)
        .sum();
    let sim = quotaswarm_sim::of(&swarm)
        .unwrap()
        .stats()
        .total
        .status(429);
    Run {
        makespan,
        on_big,
        on_small,
        rate_limited: lanes + sim,
    }
}

#[tokio::test(start_paused = true)]
async fn with_no_preference_a_ladder_uses_both_rungs_and_finishes_near_the_ideal() {
    let r = run(0.0).await;
    let ideal = ideal();
    println!(
        "prefer 0: makespan {:.2?} (ideal {:.2?}), big {}, small {}, 429s {}",
        r.makespan, ideal, r.on_big, r.on_small, r.rate_limited
    );
    assert_eq!(r.rate_limited, 0, "no 429s");
    assert!(
        r.makespan.as_secs_f64() <= ideal.as_secs_f64() * 1.1,
        "{:?} against an ideal of {ideal:?}",
        r.makespan
    );
    assert!(r.on_small > 0 && r.on_big > r.on_small);
}

#[tokio::test(start_paused = true)]
async fn with_a_large_preference_everything_stays_on_the_first_rung() {
    let r = run(1_000_000.0).await;
    println!(
        "prefer 1e6: makespan {:.2?}, big {}, small {}, 429s {}",
        r.makespan, r.on_big, r.on_small, r.rate_limited
    );
    assert_eq!(r.rate_limited, 0, "no 429s");
    assert_eq!((r.on_big, r.on_small), (N, 0));
}

#[tokio::test(start_paused = true)]
async fn a_request_sets_its_own_preference_over_the_config() {
    let swarm = Swarm::start(config(1_000_000.0), quotaswarm_sim::embedded())
        .await
        .unwrap();
    let h = swarm.handle();
    let requests = (0..N).map(|i| {
        CompletionRequest::prompt("spill", format!("Task {i}."))
            .max_tokens(20)
            .prefer_secs(0.0)
    });
    let (_, on_small) = answered_by(&h, requests).await;
    println!("prefer_secs(0) over a config of 1e6: {on_small} on small");
    assert!(on_small > 0);
}

/// The first rung reserves `max_tokens` of a small output-token bucket for each request
/// and gets most of it back when the answer is short; the second rung is slow. Requests
/// placed on the second rung while the first looked busy move back up as soon as the
/// first rung's refunds show it would serve them sooner.
#[tokio::test(start_paused = true)]
async fn a_queued_request_moves_to_the_rung_that_now_serves_it_sooner() {
    let text = format!(
        "[sim]\nlatency_ms = {LATENCY_MS}\nper_token_ms = 0\n\
         [broker]\nladder_prefer_secs = 0\n\
         [models.big]\nprovider = \"anthropic\"\nmodel = \"claude-sonnet-4-6\"\n\
         rpm = 6000\nitpm = 10000000\notpm = 6000\nburst_secs = 10\n\
         [models.small]\nprovider = \"anthropic\"\nmodel = \"claude-haiku-4-5\"\n\
         rpm = 6\nitpm = 10000000\notpm = 10000000\nburst_secs = 10\n\
         [ladders]\nspill = [\"big\", \"small\"]\n"
    );
    let mut c = Config::from_toml_str_over_defaults(&text, "test").expect("config");
    c.models.retain(|name, _| name == "big" || name == "small");
    c.ladders.retain(|name, _| name == "spill");
    let swarm = Swarm::start(c, quotaswarm_sim::embedded()).await.unwrap();
    let h = swarm.handle();
    let start = Instant::now();
    let requests = (0..6)
        .map(|i| CompletionRequest::prompt("spill", format!("Task {i}: say hi.")).max_tokens(1000));
    let (_, on_small) = answered_by(&h, requests).await;
    let took = start.elapsed();
    println!("re-placement: {on_small} of 6 answered by small, in {took:.2?}");
    assert!(on_small <= 1, "{on_small} answered by small");
    assert!(took < Duration::from_secs(5), "{took:?}");
}
