//! Three official-SDK clients (two Anthropic, one OpenAI asking the same Anthropic
//! model), 200 concurrent requests each, against limits that make the run take 20–40 s:
//! every request succeeds, the simulator answers no 429, and the SDKs' own retry
//! counters stay at 0. The clients are spread over two `serve` processes sharing the
//! quota through Redis (127.0.0.1:6379, a namespace of the test's own), so one run
//! shows both: the limits hold under load, and they hold across gateways.
//!
//! Its own test binary: about 30-45 s in real time.

mod common;
#[path = "gateway/harness.rs"]
mod gateway;

use std::process::{Command, Stdio};
use std::time::Instant;

/// 600 requests at 1,200 a minute, after the gateway's 1 s burst of 20: 29 s.
const RPM: u32 = 1200;
const PER_CLIENT: usize = 200;

/// The model's limits, with a burst of `burst_secs`: the simulator's 2 s, the gateway's
/// 1 s, so the requests the broker admits at the limit's pace but that reach the
/// simulator bunched (scheduling on a busy machine) still fit its bucket.
fn limits(burst_secs: u32) -> String {
    format!("rpm = {RPM}\nitpm = 2000000\notpm = 1000000\nburst_secs = {burst_secs}\ninput_price = 3.0\noutput_price = 15.0\n")
}

fn redis_url() -> String {
    std::env::var("QUOTASWARM_TEST_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379/0".into())
}

/// Runs the three clients at once, client `i` against the `i % serves`-th gateway.
fn load(name: &str, redis: bool, serves: usize) {
    let Some(python) = gateway::python() else {
        return;
    };
    let dir = gateway::dir(name);
    let model = |burst| {
        format!(
            "[models.m]\nprovider = \"anthropic\"\nmodel = \"claude-sonnet-4-6\"\n{}",
            limits(burst)
        )
    };
    let (_sim, sim_url) = gateway::start_sim_in(
        &dir,
        &format!(
            "replace_defaults = true\n[providers.anthropic]\nkind = \"anthropic\"\n{}\
             [sim]\nburst_secs = 2\nlatency_ms = 20\nper_token_ms = 1\n",
            model(2)
        ),
    );
    let quota = if redis {
        format!(
            "[quota]\nstore = \"redis\"\nredis_url = \"{}\"\nnamespace = \"qs-gw-{}-{:08x}\"\n",
            redis_url(),
            std::process::id(),
            rand::random::<u32>()
        )
    } else {
        String::new()
    };
    let config = dir.join("gateway.toml");
    std::fs::write(
        &config,
        gateway::config(&sim_url, &format!("{}{quota}", model(1))),
    )
    .expect("write");
    let started: Vec<_> = (0..serves).map(|_| gateway::start_serve(&config)).collect();
    let script = gateway::script("sdk_load.py");
    let t0 = Instant::now();
    let children: Vec<_> = ["anthropic", "anthropic", "openai"]
        .iter()
        .enumerate()
        .map(|(i, wire)| {
            let url = &started[i % serves].1;
            let tag = format!("client{i}");
            Command::new(&python)
                .arg(&script)
                .args([*wire, url.as_str(), "m", "200", tag.as_str()])
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("start python")
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().expect("wait");
        assert!(out.status.success(), "a client failed: {out:?}");
        let r: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
        println!("{name}: {r}");
        assert_eq!(r["succeeded"], PER_CLIENT, "every request succeeds: {r}");
        assert_eq!(r["retries"], 0, "the SDK never retried: {r}");
    }
    let seconds = t0.elapsed().as_secs_f64();
    println!(
        "{name}: {seconds:.1}s for {} requests (ideal {:.1}s)",
        3 * PER_CLIENT,
        (3.0 * PER_CLIENT as f64 - f64::from(RPM) / 60.0) / (f64::from(RPM) / 60.0)
    );
    let sim = gateway::sim_stats(&sim_url);
    let m = &sim["models"]["claude-sonnet-4-6"];
    println!("{name}: {seconds:.1}s; simulator: {m}");
    assert_eq!(
        sim["total"]["statuses"]["429"].as_u64().unwrap_or(0),
        0,
        "no 429 at the simulator: {sim}"
    );
    assert_eq!(m["requests"].as_u64(), Some(3 * PER_CLIENT as u64), "{sim}");
    // The limits decide how long the run must take (the burst first, then the refill);
    // finishing sooner would mean the quota was overrun. A slow machine only makes the
    // run longer, so only the lower bound is asserted.
    let ideal = (3.0 * PER_CLIENT as f64 - f64::from(RPM) / 60.0) / (f64::from(RPM) / 60.0);
    assert!(
        (20.0..=40.0).contains(&ideal),
        "limits for a 20-40 s run: {ideal:.1}s"
    );
    assert!(
        seconds >= 0.9 * ideal,
        "the run took {seconds:.1}s, less than the limits allow ({ideal:.1}s)"
    );
}

#[test]
fn three_sdk_clients_of_200_concurrent_requests_each_over_two_gateways_sharing_redis() {
    load("load-redis", true, 2);
}
