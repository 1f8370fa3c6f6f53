//! The access log: with `access_log = true`, `quotaswarm serve` writes one JSON line per
//! request on stderr naming the wire, client, model, status and duration, and never the
//! client's key or the request's body.

use crate::gateway;

use std::io::Read;
use std::process::Stdio;

const KEY: &str = "dana-secret-key-0123";
const PROMPT: &str = "a prompt that must stay out of the log";

#[test]
fn the_access_log_is_one_json_line_per_request_without_keys_or_bodies() {
    let dir = gateway::dir("access-log");
    // The simulator serves the model the gateway's config names.
    let (_sim, sim_url) = gateway::start_sim_in(
        &dir,
        "[sim]\nlatency_ms = 5\nper_token_ms = 0\n[models.sonnet]\nmodel = \"claude-sonnet-4-6\"\n",
    );
    let rest = format!(
        "[models.sonnet]\nprovider = \"anthropic\"\nmodel = \"claude-sonnet-4-6\"\nrpm = 50\nitpm = 30000\notpm = 8000\n\
         [gateway]\naccess_log = true\n\
         [gateway.clients.dana]\nkey_sha256 = \"{}\"\n",
        gateway::sha256(KEY),
    );
    let (mut serve, url) = gateway::start_gateway_in(&dir, &sim_url, &rest, Stdio::piped());

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let status = rt.block_on(async {
        reqwest::Client::new()
            .post(format!("{url}/v1/messages"))
            .header("x-api-key", KEY)
            .header("anthropic-version", "2023-06-01")
            .json(&serde_json::json!({
                "model": "sonnet", "max_tokens": 16,
                "messages": [{"role": "user", "content": PROMPT}],
            }))
            .send()
            .await
            .expect("request")
            .status()
    });
    assert_eq!(status, 200);

    // The line is written before the answer goes out; stopping the gateway ends its
    // stderr, so reading it to the end sees every line.
    let _ = serve.0.kill();
    let _ = serve.0.wait();
    let mut stderr = String::new();
    serve
        .0
        .stderr
        .take()
        .expect("piped stderr")
        .read_to_string(&mut stderr)
        .expect("read stderr");
    println!("{stderr}");
    let lines: Vec<serde_json::Value> = stderr
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert_eq!(lines.len(), 1, "one access-log line: {stderr}");
    let line = &lines[0];
    assert_eq!(line["wire"], "anthropic", "{line}");
    assert_eq!(line["client"], "dana", "{line}");
    assert_eq!(line["model"], "sonnet", "{line}");
    assert_eq!(line["status"], 200, "{line}");
    assert!(line["ms"].as_f64().is_some_and(|ms| ms >= 0.0), "{line}");
    assert!(line["ts"].as_f64().is_some_and(|ts| ts > 0.0), "{line}");
    assert!(!stderr.contains(KEY), "the key is in the log: {stderr}");
    assert!(
        !stderr.contains(PROMPT),
        "the prompt is in the log: {stderr}"
    );
    assert!(!stderr.contains("the-provider-key"), "{stderr}");
}
