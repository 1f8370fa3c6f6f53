//! The stats server over real loopback HTTP, in real time (sockets and paused time do not
//! mix): a live broker over the embedded simulator serves `/metrics` and `/stats`.

use prometheus_parse::{Scrape, Value};
use quotaswarm::monitor::{self, MonitorError};
use quotaswarm::swarm::Swarm;
use quotaswarm::{ApiKey, CompletionRequest, Config, Stats};
use std::collections::BTreeSet;
use std::net::SocketAddr;

/// A key nobody would print by accident; the simulator accepts only this one, so every
/// completion below proves the broker really holds it.
const SECRET: &str = "sk-ant-api03-QSWARM-TEST-SECRET-7f3a9c1e";

fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// A broker over the embedded simulator that has answered a few completions on two
/// lanes (one request merged into an identical one in flight).
/// A live swarm with its stats served on loopback.
async fn served_swarm() -> (Swarm, quotaswarm::monitor::StatsServer) {
    let swarm = live_swarm().await;
    let server = swarm.serve_stats(loopback()).await.unwrap();
    (swarm, server)
}

async fn live_swarm() -> Swarm {
    let mut config = Config::default();
    for p in config.providers.values_mut() {
        p.api_key = Some(ApiKey::new(SECRET));
    }
    config.sim.api_keys = vec![SECRET.to_string()];
    let swarm = Swarm::start(config, quotaswarm_sim::embedded())
        .await
        .unwrap();
    let h = swarm.handle();
    let same = CompletionRequest::prompt("claude", "What is a token bucket?");
    let (a, b, c, d) = tokio::join!(
        h.complete(same.clone()),
        h.complete(same),
        h.complete(CompletionRequest::prompt("claude", "And a leaky bucket?")),
        h.complete(CompletionRequest::prompt("gpt", "What is backoff?")),
    );
    for r in [a, b, c, d] {
        r.unwrap();
    }
    swarm
}

async fn get(url: &str) -> reqwest::Response {
    reqwest::get(url).await.unwrap()
}

fn scrape(text: &str) -> Scrape {
    Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).unwrap()
}

fn value(v: &Value) -> f64 {
    match v {
        Value::Counter(x) | Value::Gauge(x) | Value::Untyped(x) => *x,
        other => panic!("not a scalar: {other:?}"),
    }
}

/// Families named in the monitoring brief; each must be announced with `# HELP`.
const FAMILIES: &[&str] = &[
    "quotaswarm_mailbox_depth",
    "quotaswarm_messages_received_total",
    "quotaswarm_requests_total",
    "quotaswarm_merged_total",
    "quotaswarm_retries_total",
    "quotaswarm_rate_limited_total",
    "quotaswarm_rate_limited_share",
    "quotaswarm_backoff_wait_seconds",
    "quotaswarm_fallbacks_total",
    "quotaswarm_trimmed_tokens_total",
    "quotaswarm_cost_usd_total",
    "quotaswarm_cost_burn_usd_per_minute",
    "quotaswarm_wasted_usd_total",
    "quotaswarm_lane_queue_depth",
    "quotaswarm_lane_in_flight",
    "quotaswarm_lane_queue_wait_seconds",
    "quotaswarm_lane_bucket_level",
    "quotaswarm_lane_bucket_headroom_ratio",
    "quotaswarm_lane_time_to_exhaustion_seconds",
    "quotaswarm_lane_circuit_open",
    "quotaswarm_lane_responses_total",
    "quotaswarm_lane_tokens_total",
    "quotaswarm_lane_cost_usd_total",
    "quotaswarm_lane_estimation_error_ratio",
];

#[tokio::test]
async fn metrics_of_a_live_broker_parse_and_hold_every_family() {
    let (swarm, server) = served_swarm().await;
    assert_ne!(server.addr.port(), 0, "the bound port is returned");

    let r = get(&format!("{}/metrics", server.url())).await;
    assert_eq!(r.status(), 200);
    let ct = r.headers()["content-type"].to_str().unwrap().to_string();
    assert!(ct.starts_with("text/plain; version=0.0.4"), "{ct}");
    let text = r.text().await.unwrap();
    let stats = swarm.handle().stats().await.unwrap();
    let s = scrape(&text);

    for family in FAMILIES {
        assert!(s.docs.contains_key(*family), "no # HELP for {family}");
    }
    let sample = |name: &str, labels: &[(&str, &str)]| {
        s.samples
            .iter()
            .find(|x| x.metric == name && labels.iter().all(|(k, v)| x.labels.get(k) == Some(*v)))
            .map(|x| value(&x.value))
            .unwrap_or_else(|| panic!("no sample {name} {labels:?}\n{text}"))
    };

    // Counters match the snapshot taken just after (no traffic in between).
    assert_eq!(
        sample("quotaswarm_requests_total", &[]),
        stats.requests as f64
    );
    assert_eq!(sample("quotaswarm_requests_total", &[]), 4.0);
    assert_eq!(sample("quotaswarm_merged_total", &[]), stats.merged as f64);
    assert!(stats.merged >= 1, "{stats:?}");
    assert_eq!(
        sample("quotaswarm_completed_total", &[]),
        stats.completed as f64
    );
    assert!((sample("quotaswarm_cost_usd_total", &[]) - stats.cost_usd).abs() < 1e-12);
    assert!(stats.cost_usd > 0.0);
    sample("quotaswarm_backoff_wait_seconds", &[("quantile", "0.5")]);
    sample("quotaswarm_backoff_wait_seconds", &[("quantile", "0.95")]);

    // Every lane has its per-lane families, every bucket its level and headroom.
    for lane in &stats.lanes {
        let m = lane.model.as_str();
        assert_eq!(
            sample("quotaswarm_lane_queue_depth", &[("model", m)]),
            lane.queue_depth as f64
        );
        sample("quotaswarm_lane_in_flight", &[("model", m)]);
        sample(
            "quotaswarm_lane_circuit_open",
            &[("model", m), ("state", "closed")],
        );
        sample(
            "quotaswarm_lane_queue_wait_seconds",
            &[("model", m), ("quantile", "0.95")],
        );
        sample("quotaswarm_lane_cost_usd_total", &[("model", m)]);
        sample("quotaswarm_lane_estimation_error_ratio", &[("model", m)]);
        for kind in ["input", "output", "cache_read", "cache_write"] {
            sample(
                "quotaswarm_lane_tokens_total",
                &[("model", m), ("kind", kind)],
            );
        }
        for status in lane.status.keys() {
            sample(
                "quotaswarm_lane_responses_total",
                &[("model", m), ("status", status)],
            );
        }
        for b in &lane.buckets {
            let labels = [("model", m), ("bucket", b.bucket.as_str())];
            sample("quotaswarm_lane_bucket_level", &labels);
            let ratio = sample("quotaswarm_lane_bucket_headroom_ratio", &labels);
            assert!((0.0..=1.0).contains(&ratio), "{m} {}: {ratio}", b.bucket);
        }
    }
    // Lanes that served traffic answered 200 and charged tokens.
    let used: Vec<_> = stats.lanes.iter().filter(|l| l.requests > 0).collect();
    assert_eq!(used.len(), 2, "opus and gpt-4o served: {used:?}");
    for lane in used {
        let m = lane.model.as_str();
        assert!(
            sample(
                "quotaswarm_lane_responses_total",
                &[("model", m), ("status", "200")]
            ) > 0.0
        );
        assert!(
            sample(
                "quotaswarm_lane_tokens_total",
                &[("model", m), ("kind", "input")]
            ) > 0.0
        );
    }
    // Time to exhaustion: a sample exactly for the buckets that are draining.
    let tte: BTreeSet<(String, String)> = s
        .samples
        .iter()
        .filter(|x| x.metric == "quotaswarm_lane_time_to_exhaustion_seconds")
        .map(|x| {
            (
                x.labels.get("model").unwrap().to_string(),
                x.labels.get("bucket").unwrap().to_string(),
            )
        })
        .collect();
    let known_bucket = |(m, b): &(String, String)| {
        stats
            .lane(m)
            .is_some_and(|l| l.buckets.iter().any(|x| &x.bucket == b))
    };
    assert!(tte.iter().all(known_bucket), "{tte:?}");
    for x in s
        .samples
        .iter()
        .filter(|x| x.metric == "quotaswarm_lane_time_to_exhaustion_seconds")
    {
        let secs = value(&x.value);
        assert!(secs.is_finite() && secs >= 0.0, "{secs}");
    }

    server.shutdown().await.unwrap();
    swarm.shutdown().await;
}

#[tokio::test]
async fn stats_json_deserializes_into_the_brokers_stats() {
    let swarm = live_swarm().await;
    let server = monitor::serve(swarm.handle(), loopback()).await.unwrap();
    let r = get(&format!("{}/stats", server.url())).await;
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let served: Stats = r.json().await.unwrap();
    let direct = swarm.handle().stats().await.unwrap();

    // Same shape: the same lanes with the same buckets; counters that only traffic moves
    // are equal (clock-driven figures such as bucket levels and uptime drift).
    let shape = |s: &Stats| -> Vec<(String, Vec<String>)> {
        s.lanes
            .iter()
            .map(|l| {
                (
                    l.model.clone(),
                    l.buckets.iter().map(|b| b.bucket.clone()).collect(),
                )
            })
            .collect()
    };
    assert_eq!(shape(&served), shape(&direct));
    assert!(!served.lanes.is_empty());
    assert_eq!(served.requests, direct.requests);
    assert_eq!(served.completed, direct.completed);
    assert_eq!(served.merged, direct.merged);
    assert_eq!(served.input_tokens, direct.input_tokens);
    assert_eq!(served.output_tokens, direct.output_tokens);
    assert_eq!(served.cost_usd, direct.cost_usd);
    assert_eq!(served.fallbacks, direct.fallbacks);
    for (a, b) in served.lanes.iter().zip(&direct.lanes) {
        assert_eq!(a.status, b.status, "{}", a.model);
        assert_eq!(a.requests, b.requests, "{}", a.model);
        assert_eq!(a.provider_model, b.provider_model);
    }
    // Asking for the direct snapshot was one more message.
    assert!(served.messages_received < direct.messages_received);

    server.shutdown().await.unwrap();
    swarm.shutdown().await;
}

#[tokio::test]
async fn the_api_key_never_appears_in_stats_or_metrics() {
    let (swarm, server) = served_swarm().await;
    let base = server.url();
    for path in ["/", "/stats", "/metrics"] {
        let body = get(&format!("{base}{path}")).await.text().await.unwrap();
        assert!(!body.is_empty(), "{path}");
        assert!(!body.contains(SECRET), "{path} shows the key");
        assert!(
            !body.contains("QSWARM-TEST-SECRET"),
            "{path} shows part of the key"
        );
    }
    let stats = swarm.handle().stats().await.unwrap();
    assert!(!monitor::render_top(&stats, 200).contains("QSWARM-TEST-SECRET"));
    server.shutdown().await.unwrap();
    swarm.shutdown().await;
}

#[tokio::test]
async fn answers_503_once_the_broker_has_stopped() {
    let (swarm, server) = served_swarm().await;
    swarm.broker.stop();
    // The actor stops asynchronously: wait until a stats call says so (not a fixed
    // sleep a loaded machine could outlast).
    let handle = swarm.handle();
    for _ in 0..1000 {
        if handle.stats().await.is_err() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    for path in ["/stats", "/metrics"] {
        let r = get(&format!("{}{path}", server.url())).await;
        assert_eq!(r.status(), 503, "{path}");
    }
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn shutdown_stops_listening_and_fetch_says_nothing_answers() {
    let (swarm, server) = served_swarm().await;
    let addr = server.addr;
    let client = reqwest::Client::new();
    let stats = monitor::fetch_stats(&client, addr).await.unwrap();
    assert_eq!(stats.requests, 4);
    server.shutdown().await.unwrap();

    let err = monitor::fetch_stats(&client, addr).await.unwrap_err();
    assert!(matches!(err, MonitorError::Unreachable { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains(&format!("http://{addr}/stats")), "{msg}");
    assert!(msg.contains("no quotaswarm stats server answers"), "{msg}");
    swarm.shutdown().await;
}

#[tokio::test]
async fn binding_a_taken_port_is_a_bind_error_naming_the_address() {
    let swarm = live_swarm().await;
    let first = swarm.serve_stats(loopback()).await.unwrap();
    let Err(err) = swarm.serve_stats(first.addr).await else {
        panic!("bound the same port twice");
    };
    assert!(
        matches!(err, MonitorError::Bind { addr, .. } if addr == first.addr),
        "{err:?}"
    );
    assert!(err.to_string().contains(&first.addr.to_string()));
    first.shutdown().await.unwrap();
    swarm.shutdown().await;
}
