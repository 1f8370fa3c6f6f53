//! Brokers sharing one quota through Redis (127.0.0.1:6379, or `QUOTASWARM_TEST_REDIS`),
//! over loopback HTTP against one simulator, in real time (sockets: no paused clock).
//! Each test uses a namespace of its own.

use quotaswarm::config::{Config, Wire};
use quotaswarm::sim::{serve, SimServer, Simulator};
use quotaswarm::swarm::{Backend, Swarm};
use quotaswarm::{ApiKey, CompletionRequest};
use std::time::{Duration, Instant};

fn redis_url() -> String {
    std::env::var("QUOTASWARM_TEST_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379/0".into())
}

fn namespace(test: &str) -> String {
    format!(
        "qs-test-{test}-{}-{:08x}",
        std::process::id(),
        rand::random::<u32>()
    )
}

/// One Anthropic model `m`; the broker's limits are generous, the simulator's are `sim`.
fn config(ns: &str, url: &str, extra: &str) -> Config {
    let text = format!(
        "[providers.anthropic]\nkind = \"sim\"\nwire = \"anthropic\"\n\
         [models.m]\nprovider = \"anthropic\"\nmodel = \"claude-sonnet-4-5\"\n\
         rpm = 6000\nitpm = 1000000\notpm = 1000000\n\
         [quota]\nstore = \"redis\"\nredis_url = \"{url}\"\nnamespace = \"{ns}\"\n{extra}"
    );
    Config::from_toml_str(&text, "test").expect("test config")
}

async fn sim(config: &Config) -> SimServer {
    serve(Simulator::new(config), ([127, 0, 0, 1], 0).into())
        .await
        .expect("serve the simulator")
}

async fn swarm(mut config: Config, sim: &SimServer) -> Swarm {
    let url = format!("http://{}", sim.addr);
    config.point_at(Wire::Anthropic, &url);
    for p in config.providers.values_mut() {
        p.api_key = Some(ApiKey::new("shared-test-key"));
    }
    Swarm::start(config, Backend::AsConfigured)
        .await
        .expect("start the swarm")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_seen_by_one_process_pauses_the_lane_in_the_others() {
    let ns = namespace("pause429");
    // The simulator allows 2 requests at once, then two a second: the third of three
    // quick requests draws a 429 with retry-after 1 s; when it ends there is room for
    // A's retry and B's request.
    let extra =
        "[sim]\nburst_secs = 1\n[sim.limits.m]\nrpm = 120\nitpm = 1000000\notpm = 1000000\n";
    let server = sim(&config(&ns, &redis_url(), extra)).await;
    let a = swarm(config(&ns, &redis_url(), extra), &server).await;
    let b = swarm(config(&ns, &redis_url(), extra), &server).await;
    let ha = a.handle();
    let mut calls = Vec::new();
    for i in 0..3 {
        let h = ha.clone();
        calls.push(tokio::spawn(async move {
            h.complete(CompletionRequest::prompt("m", format!("question {i}")).max_tokens(10))
                .await
        }));
    }
    // Wait for A's 429 (the pause reaches Redis a moment later).
    let deadline = Instant::now() + Duration::from_secs(5);
    while ha.stats().await.expect("stats").rate_limited == 0 {
        assert!(Instant::now() < deadline, "no 429 in A");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let sent = Instant::now();
    let reply = b
        .handle()
        .complete(CompletionRequest::prompt("m", "from B").max_tokens(10))
        .await
        .expect("B is answered");
    let waited = sent.elapsed();
    assert!(!reply.text().is_empty());
    let sb = b.handle().stats().await.expect("stats");
    assert!(
        waited >= Duration::from_millis(500),
        "B went at once: {waited:?}"
    );
    assert_eq!(
        sb.rate_limited, 0,
        "B waited out A's pause ({waited:?}) instead of drawing its own 429"
    );
    for c in calls {
        c.await.expect("join").expect("A's calls are answered");
    }
    a.shutdown().await;
    b.shutdown().await;
}
