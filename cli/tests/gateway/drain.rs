//! SIGTERM with 50 requests in flight through `quotaswarm serve`: all 50 complete, new
//! connections are refused, the process exits 0.

use crate::gateway;

use std::time::{Duration, Instant};

#[test]
fn sigterm_drains_the_requests_in_flight_then_exits_0() {
    let Some(python) = gateway::python() else {
        return;
    };
    let dir = gateway::dir("drain");
    let model = "[models.m]\nprovider = \"anthropic\"\nmodel = \"claude-sonnet-4-6\"\nrpm = 6000\nitpm = 1000000\notpm = 1000000\ninput_price = 3.0\noutput_price = 15.0\n";
    // Answers take 3 s, long enough to be caught in flight.
    let (_sim, sim_url) = gateway::start_sim_in(
        &dir,
        &format!("replace_defaults = true\n[providers.anthropic]\nkind = \"anthropic\"\n{model}[sim]\nlatency_ms = 3000\nper_token_ms = 0\n"),
    );
    let (mut serve, url) =
        gateway::start_gateway_in(&dir, &sim_url, model, std::process::Stdio::inherit());
    let pid = serve.0.id().to_string();
    let out = gateway::run_script(&python, "sdk_drain.py", &[&url, &pid]);
    let seen: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    println!("{seen}");
    assert_eq!(seen["completed"], 50);
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = serve.0.try_wait().expect("wait") {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "serve did not exit after draining"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "serve exited with {status}");
}
