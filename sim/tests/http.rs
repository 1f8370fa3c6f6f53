//! The simulator over real loopback HTTP: both vendors' routes and `GET /_stats`.

mod common;

use common::{chat, messages, sim_stats};
use quotaswarm::config::PREVIOUS_DEFAULTS_TOML;
use quotaswarm::Config;
use quotaswarm_sim::{serve, Simulator};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

#[tokio::test]
async fn serves_both_apis_and_stats_over_http() {
    // The models of the defaults before the 5.5 / GPT-6 generation, which these requests
    // were written for.
    let mut config = Config::from_toml_str_over_defaults(PREVIOUS_DEFAULTS_TOML, "test").unwrap();
    config.sim.latency = Duration::from_millis(5);
    let server = serve(Simulator::new(&config), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let base = format!("http://{}", server.addr);
    let client = reqwest::Client::new();
    let started = Instant::now();

    let hello = json!({"model": "claude-sonnet-4-6", "max_tokens": 64,
                       "messages": [{"role": "user", "content": "Hello"}]});
    let r = messages(&client, &base, "sk-ant-http", &hello).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["anthropic-ratelimit-requests-limit"], "50");
    assert!(r.headers().contains_key("request-id"));
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["type"], "message");

    let hello = json!({"model": "gpt-4o", "max_completion_tokens": 64,
                       "messages": [{"role": "user", "content": "Hello"}]});
    let r = chat(&client, &base, "sk-http", &hello).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-ratelimit-limit-requests"], "500");
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["object"], "chat.completion");

    let r = client
        .post(format!("{base}/v1/messages/count_tokens"))
        .header("x-api-key", "sk-ant-http")
        .header("anthropic-version", "2023-06-01")
        .json(&json!({"model": "claude-sonnet-4-6",
                      "messages": [{"role": "user", "content": "Hello"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let r = client
        .post(format!("{base}/v1/messages"))
        .header("x-api-key", "sk-ant-http")
        .body("{broken")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    let stats = sim_stats(&client, &base).await;
    assert_eq!(stats.total.requests, 4);
    assert_eq!(stats.total.status(200), 3);
    assert_eq!(stats.total.status(400), 1);
    assert_eq!(stats.total.count_tokens_calls, 1);
    assert_eq!(stats.models["gpt-4o"].requests, 1);
    assert_eq!(
        stats.keys[&Simulator::key_fingerprint("sk-ant-http")].requests,
        3
    );
    assert_eq!(stats, server.sim.stats());

    let served = started.elapsed();
    // Idle keep-alive connections would hold a graceful shutdown open.
    drop(client);
    server.shutdown().await.unwrap();
    eprintln!(
        "served in {served:?}, stopped after {:?}",
        started.elapsed()
    );
    // A connection holding the shutdown open would hang it; 10 s leaves a loaded
    // machine room.
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn a_get_to_an_unknown_path_names_get_in_its_404() {
    let server = serve(
        Simulator::new(&Config::default()),
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    // What `quotaswarm top --addr SIM` would ask.
    let r = reqwest::get(format!("http://{}/stats", server.addr))
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["error"]["message"], "Invalid URL (GET /stats)");
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_taken_address_is_refused_with_its_os_error_printed_once() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let Err(err) = serve(Simulator::new(&Config::default()), addr).await else {
        panic!("bound a taken address");
    };
    // As the CLI prints errors: the whole chain.
    let printed = format!("{:#}", anyhow::Error::from(err));
    assert!(
        printed.starts_with(&format!("cannot bind {addr}: ")),
        "{printed}"
    );
    assert_eq!(printed.matches("os error").count(), 1, "{printed}");
}
