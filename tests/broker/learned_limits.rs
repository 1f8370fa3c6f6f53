//! Paused-time tests of limits learned from the server: the embedded simulator has limits
//! of its own (`[sim.limits.m]`) and reports them in its `-limit` headers as the real
//! APIs do; the broker starts from the configured limits (or none) and adopts the
//! server's, unless `limits = "config"` pins them.

use quotaswarm::broker::LaneStats;
use quotaswarm::swarm::Swarm;
use quotaswarm::{CompletionRequest, Config};
use std::time::Duration;
use tokio::time::Instant;

/// Seconds of refill each bucket holds, in the broker and in the simulator alike.
const BURST_SECS: f64 = 1.0;
const LATENCY_MS: u64 = 100;
/// Tokens never bind: requests a minute do.
const TOKENS: f64 = 100_000_000.0;

/// One Anthropic model `m` with `limits` (TOML lines; empty: none configured), served by
/// a simulator allowing `sim_rpm` requests a minute.
fn config(limits: &str, sim_rpm: f64) -> Config {
    let text = format!(
        "[sim]\nlatency_ms = {LATENCY_MS}\nper_token_ms = 0\nburst_secs = {BURST_SECS}\n\
         [sim.limits.m]\nrpm = {sim_rpm}\nitpm = {TOKENS}\notpm = {TOKENS}\n\
         [models.m]\nprovider = \"anthropic\"\nmodel = \"claude-sonnet-4-6\"\n\
         burst_secs = {BURST_SECS}\n{limits}\n"
    );
    let mut c = Config::from_toml_str_over_defaults(&text, "test").expect("config");
    // Only `m`: the simulator takes a wire model's limits from the first model naming it.
    c.models.retain(|name, _| name == "m");
    c.ladders.clear();
    c
}

/// Configured limits of `rpm` requests a minute (tokens never bind).
fn configured(rpm: f64) -> String {
    format!("rpm = {rpm}\nitpm = {TOKENS}\notpm = {TOKENS}\n")
}

/// The best makespan of `n` requests at `rpm`: the burst goes at once, the rest at the
/// refill rate, and the last answer takes one call's latency.
fn ideal(n: usize, rpm: f64) -> Duration {
    let rate = rpm / 60.0;
    let burst = rate * BURST_SECS;
    Duration::from_secs_f64((n as f64 - burst) / rate + LATENCY_MS as f64 / 1000.0)
}

struct Run {
    makespan: Duration,
    /// When the lane's limits first came from the server (from the start).
    learned_after: Option<Duration>,
    /// 429s (broker and simulator) counted by the first look after the limits were
    /// learned: those of attempts sent before.
    rate_limited_at_learning: u64,
    /// 429s in all.
    rate_limited: u64,
    /// In flight at the first look, before any answer.
    in_flight_at_start: usize,
    /// The most in flight at any look.
    max_in_flight: usize,
    lane: LaneStats,
}

/// 429s so far, as the broker and the simulator count them.
fn rate_limited(swarm: &Swarm, lane: &LaneStats) -> u64 {
    let sim = quotaswarm_sim::of(swarm).expect("simulator");
    lane.rate_limited + sim.stats().total.status(429)
}

/// Sends `n` requests at once and looks at the lane every millisecond until all are
/// answered.
async fn run(config: Config, n: usize) -> Run {
    let swarm = Swarm::start(config, quotaswarm_sim::embedded())
        .await
        .expect("swarm");
    let h = swarm.handle();
    let start = Instant::now();
    let mut tasks: Vec<_> = (0..n)
        .map(|i| {
            let h = h.clone();
            tokio::spawn(async move {
                let req = CompletionRequest::prompt("m", format!("Task {i}: one line, please."))
                    .max_tokens(20);
                h.complete(req).await
            })
        })
        .collect();
    let mut learned_after = None;
    let mut rate_limited_at_learning = 0;
    let mut in_flight_at_start = None;
    let mut max_in_flight = 0;
    while tasks.iter().any(|t| !t.is_finished()) {
        tokio::time::sleep(Duration::from_millis(1)).await;
        let stats = h.stats().await.expect("stats");
        let lane = stats.lane("m").expect("lane m");
        in_flight_at_start.get_or_insert(lane.in_flight);
        max_in_flight = max_in_flight.max(lane.in_flight);
        if learned_after.is_none() && lane.limit_source == "server" {
            learned_after = Some(start.elapsed());
            rate_limited_at_learning = rate_limited(&swarm, lane);
        }
    }
    let makespan = start.elapsed();
    for t in tasks.drain(..) {
        t.await.expect("join").expect("every request is answered");
    }
    let stats = h.stats().await.expect("stats");
    let lane = stats.lane("m").expect("lane m").clone();
    let run = Run {
        makespan,
        learned_after,
        rate_limited_at_learning,
        rate_limited: rate_limited(&swarm, &lane),
        in_flight_at_start: in_flight_at_start.unwrap_or(0),
        max_in_flight,
        lane,
    };
    swarm.shutdown().await;
    run
}

fn rpm_in_effect(lane: &LaneStats) -> f64 {
    lane.buckets
        .iter()
        .find(|b| b.bucket == "requests")
        .map_or(0.0, |b| b.limit_per_min)
}

fn print(what: &str, r: &Run, ideal: Duration) {
    println!(
        "{what}: makespan {:.2?}, simulator's ideal {:.2?} (ratio {:.3}), limits learned after {:?}, \
         429s {} ({} before learning), rpm in effect {} ({}, {} changes), in flight at start {}, max {}",
        r.makespan,
        ideal,
        ideal.as_secs_f64() / r.makespan.as_secs_f64(),
        r.learned_after,
        r.rate_limited,
        r.rate_limited_at_learning,
        rpm_in_effect(&r.lane),
        r.lane.limit_source,
        r.lane.limit_changes,
        r.in_flight_at_start,
        r.max_in_flight,
    );
}

#[tokio::test(start_paused = true)]
async fn a_key_with_four_times_the_configured_limits_runs_at_the_servers_pace() {
    let (n, sim_rpm) = (100, 600.0);
    let r = run(config(&configured(sim_rpm / 4.0), sim_rpm), n).await;
    let ideal = ideal(n, sim_rpm);
    print("server at 4x the config", &r, ideal);
    assert_eq!(r.lane.limit_source, "server");
    assert_eq!(rpm_in_effect(&r.lane), sim_rpm);
    assert_eq!(r.rate_limited, 0, "no 429s at all");
    assert!(
        ideal.as_secs_f64() / r.makespan.as_secs_f64() >= 0.85,
        "{:?} against the simulator's ideal {ideal:?}",
        r.makespan
    );
}

#[tokio::test(start_paused = true)]
async fn a_key_with_a_quarter_of_the_configured_limits_draws_no_429_once_they_are_learned() {
    let (n, sim_rpm) = (60, 600.0);
    let r = run(config(&configured(sim_rpm * 4.0), sim_rpm), n).await;
    let ideal = ideal(n, sim_rpm);
    print("server at 1/4 of the config", &r, ideal);
    assert_eq!(r.lane.limit_source, "server");
    assert_eq!(rpm_in_effect(&r.lane), sim_rpm);
    assert!(r.learned_after.is_some());
    assert_eq!(
        r.rate_limited, r.rate_limited_at_learning,
        "no 429 after the limits were learned"
    );
}

#[tokio::test(start_paused = true)]
async fn a_model_without_limits_sends_one_request_until_the_server_tells_its_limits() {
    let (n, sim_rpm) = (40, 600.0);
    let r = run(config("", sim_rpm), n).await;
    let ideal = ideal(n, sim_rpm);
    print("no limits configured", &r, ideal);
    assert_eq!(r.in_flight_at_start, 1, "one request in flight at first");
    assert!(r.max_in_flight > 1, "then the lane opens up");
    assert_eq!(r.lane.limit_source, "server");
    assert_eq!(rpm_in_effect(&r.lane), sim_rpm);
    assert_eq!(r.rate_limited, 0);
    // One call's latency alone, then the server's pace.
    assert!(
        r.makespan.as_secs_f64() <= ideal.as_secs_f64() + 2.0 * LATENCY_MS as f64 / 1000.0 + 0.5,
        "{:?} against the simulator's ideal {ideal:?}",
        r.makespan
    );
}

#[tokio::test(start_paused = true)]
async fn limits_config_pins_the_configured_limits() {
    let (n, config_rpm) = (20, 150.0);
    let limits = format!("{}limits = \"config\"\n", configured(config_rpm));
    let r = run(config(&limits, config_rpm * 4.0), n).await;
    let ideal = ideal(n, config_rpm);
    print("pinned at the config's quarter", &r, ideal);
    assert_eq!(r.lane.limit_source, "config");
    assert_eq!(r.lane.limit_changes, 0);
    assert_eq!(rpm_in_effect(&r.lane), config_rpm);
    assert_eq!(r.rate_limited, 0);
    // At the configured pace, not the server's four times faster one.
    assert!(
        r.makespan.as_secs_f64() >= ideal.as_secs_f64() * 0.9,
        "{:?} against the configured pace's {ideal:?}",
        r.makespan
    );
}
