//! What clients hear when the gateway refuses, through the official Python SDKs: a
//! wrong key → 401, a client over its RPM → 429 with `retry-after`, over its budget →
//! the vendor's spend-limit error, an oversized body → 413, a max-wait that cannot be
//! met → 429 with `retry-after`, a full queue → 529 (Anthropic) / 503 (OpenAI). Then
//! the gateway's `/stats` and `/metrics` count each client's requests, errors, tokens,
//! cost and refusals under its name.

use crate::gateway;

#[test]
fn refusals_reach_the_sdks_in_their_vendors_shape() {
    let Some(python) = gateway::python() else {
        return;
    };
    let dir = gateway::dir("refusals");
    // The simulator serves the models the gateway's config names.
    let (_sim, sim_url) = gateway::start_sim_in(
        &dir,
        "[sim]\nlatency_ms = 5\nper_token_ms = 0\n[models.sonnet]\nmodel = \"claude-sonnet-4-6\"\n\
         [models.haiku]\nmodel = \"claude-haiku-4-5\"\n",
    );
    let rest = format!(
        "[models.sonnet]\nprovider = \"anthropic\"\nmodel = \"claude-sonnet-4-6\"\nrpm = 50\nitpm = 30000\notpm = 8000\ninput_price = 3.0\noutput_price = 15.0\n\
         [models.slow]\nprovider = \"anthropic\"\nmodel = \"claude-haiku-4-5\"\nrpm = 1\nitpm = 30000\notpm = 8000\nburst_secs = 1\ninput_price = 1.0\noutput_price = 5.0\n\
         [gateway]\nmax_body_bytes = 65536\nmax_queue = 2\n\
         [gateway.clients.alice]\nkey_sha256 = \"{}\"\nrpm = 3\n\
         [gateway.clients.bob]\nkey_sha256 = \"{}\"\nbudget_usd = 0.000001\n\
         [gateway.clients.carol]\nkey_sha256 = \"{}\"\n",
        gateway::sha256("alice-key"),
        gateway::sha256("bob-key"),
        gateway::sha256("carol-key"),
    );
    let (_serve, url) =
        gateway::start_gateway_in(&dir, &sim_url, &rest, std::process::Stdio::inherit());
    let out = gateway::run_script(&python, "sdk_refusals.py", &[&url]);
    let seen: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("the script prints one JSON object");
    println!("{seen}");
    assert_eq!(seen["wrong_key"], 401);
    assert_eq!(seen["budget"], "insufficient_quota");
    assert_eq!(seen["too_large"], 413);
    assert_eq!(seen["full_queue_anthropic"][0], 529);
    assert_eq!(seen["full_queue_openai"][0], 503);
    assert!(seen["rpm_anthropic_retry_after"].as_f64().unwrap_or(0.0) >= 1.0);
    per_client_counters_name_the_client(&url);
}

/// alice sent 3 answered requests and 2 over her RPM; bob 1 answered and 2 over his
/// budget (carol's count depends on how many tries the max-wait took).
fn per_client_counters_name_the_client(url: &str) {
    let stats: serde_json::Value =
        serde_json::from_str(&gateway::get(&format!("{url}/stats"))).expect("stats json");
    let clients = &stats["clients"];
    println!("clients: {clients}");
    assert!(
        stats["lanes"].is_array(),
        "the broker's stats stay: {stats}"
    );
    let alice = &clients["alice"];
    assert_eq!(alice["requests"], 5, "{alice}");
    assert_eq!(alice["errors"]["429"], 2, "{alice}");
    assert_eq!(alice["refusals"]["client_rate_limit"], 2, "{alice}");
    assert!(alice["input_tokens"].as_u64().unwrap_or(0) > 0, "{alice}");
    assert!(alice["output_tokens"].as_u64().unwrap_or(0) > 0, "{alice}");
    let bob = &clients["bob"];
    assert_eq!(bob["requests"], 3, "{bob}");
    assert_eq!(bob["errors"]["429"], 2, "{bob}");
    assert_eq!(bob["refusals"]["budget"], 2, "{bob}");
    assert!(bob["cost_usd"].as_f64().unwrap_or(0.0) > 0.0, "{bob}");
    assert!(clients.get("not-a-client-key").is_none(), "{clients}");

    let metrics = gateway::get(&format!("{url}/metrics"));
    for line in [
        "quotaswarm_gateway_client_requests_total{client=\"alice\"} 5",
        "quotaswarm_gateway_client_requests_total{client=\"bob\"} 3",
        "quotaswarm_gateway_client_errors_total{client=\"alice\",status=\"429\"} 2",
        "quotaswarm_gateway_client_refusals_total{client=\"alice\",reason=\"client_rate_limit\"} 2",
        "quotaswarm_gateway_client_refusals_total{client=\"bob\",reason=\"budget\"} 2",
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "no {line:?} in:\n{metrics}"
        );
    }
    assert!(
        metrics.contains("quotaswarm_gateway_client_output_tokens_total{client=\"bob\"} "),
        "{metrics}"
    );
    for key in ["alice-key", "bob-key", "carol-key", "the-provider-key"] {
        assert!(!metrics.contains(key), "no key in the metrics:\n{metrics}");
    }
}
