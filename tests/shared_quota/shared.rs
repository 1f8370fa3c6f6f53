//! Brokers sharing one quota through Redis (127.0.0.1:6379, or `QUOTASWARM_TEST_REDIS`),
//! over loopback HTTP against one simulator, in real time (sockets: no paused clock).
//! Each test uses a namespace of its own.

use crate::common;

use common::{namespace, redis_url};
use quotaswarm::config::{Config, Wire};
use quotaswarm::swarm::{Backend, Swarm};
use quotaswarm::{ApiKey, CompletionRequest};
use quotaswarm_sim::{serve, SimServer, Simulator};
use std::time::{Duration, Instant};

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
    // Wait until A's 429 has paused the lane in Redis (read from Redis itself, not
    // guessed with a sleep): B then starts while the pause holds, however slow the
    // machine, and knows how much of it is left.
    let keys = quotaswarm::quota::LaneKeys::new(
        &ns,
        &quotaswarm::quota::key_fingerprint("shared-test-key"),
        "claude-sonnet-4-5",
    );
    let mut conn = redis::Client::open(redis_url().as_str())
        .expect("url")
        .get_multiplexed_async_connection()
        .await
        .expect("redis");
    let deadline = Instant::now() + Duration::from_secs(10);
    let (asked, pause_left) = loop {
        // Asked before Redis answers: the pause ends no earlier than `asked + pttl`.
        let asked = Instant::now();
        let pttl: i64 = redis::cmd("PTTL")
            .arg(&keys.pause)
            .query_async(&mut conn)
            .await
            .expect("pttl");
        if pttl > 0 {
            break (asked, Duration::from_millis(pttl.unsigned_abs()));
        }
        assert!(Instant::now() < deadline, "A's 429 never paused the lane");
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let reply = b
        .handle()
        .complete(CompletionRequest::prompt("m", "from B").max_tokens(10))
        .await
        .expect("B is answered");
    let waited = asked.elapsed();
    assert!(!reply.text().is_empty());
    let sb = b.handle().stats().await.expect("stats");
    assert!(
        waited + Duration::from_millis(1) >= pause_left,
        "B went before the pause ended: {waited:?} of {pause_left:?}"
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

/// A `redis-server` of the test's own on `port`, killed on drop.
struct OwnRedis(std::process::Child);

impl OwnRedis {
    fn start(port: u16) -> OwnRedis {
        let child = std::process::Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("start redis-server (install it: apt-get install redis-server)");
        let deadline = Instant::now() + Duration::from_secs(5);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        OwnRedis(child)
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Whether lane `m`'s buckets (under namespace `ns`) are in the Redis at `url`: the
/// lane admitted through it.
async fn lane_buckets_exist(ns: &str, url: &str) -> bool {
    let keys = quotaswarm::quota::LaneKeys::new(
        ns,
        &quotaswarm::quota::key_fingerprint("shared-test-key"),
        "claude-sonnet-4-5",
    );
    let client = redis::Client::open(url).expect("url");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("the test's redis");
    redis::cmd("EXISTS")
        .arg(&keys.buckets)
        .query_async(&mut conn)
        .await
        .expect("exists")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_and_restarted_mid_run_every_request_is_answered_and_sharing_resumes() {
    let port = free_port();
    let url = format!("redis://127.0.0.1:{port}/0");
    let ns = namespace("restart");
    // 300 requests a minute (5/s) for the key, at the simulator and in the config.
    let limits = "[sim]\nburst_secs = 2\nlatency_ms = 20\n";
    let mut redis = Some(OwnRedis::start(port));
    let mut c = config(&ns, &url, limits);
    scale_rpm(&mut c, 300.0);
    let server = sim(&c).await;
    let a = swarm(c.clone(), &server).await;
    let b = swarm(c.clone(), &server).await;

    let stop_at = Instant::now() + Duration::from_secs(9);
    let mut load = Vec::new();
    for (p, h) in [a.handle(), b.handle()].into_iter().enumerate() {
        for agent in 0..4 {
            let h = h.clone();
            load.push(tokio::spawn(async move {
                let mut answered = 0u32;
                let mut i = 0;
                while Instant::now() < stop_at {
                    i += 1;
                    let req = CompletionRequest::prompt("m", format!("p{p} a{agent} q{i}"))
                        .max_tokens(10);
                    h.complete(req).await.expect("every request is answered");
                    answered += 1;
                }
                answered
            }));
        }
    }
    // Kill Redis at 2 s, restart it at 5 s; watch the alert.
    let (ha, hb) = (a.handle(), b.handle());
    let mut alert_seen = false;
    let started = Instant::now();
    while Instant::now() < stop_at {
        let t = started.elapsed();
        if t >= Duration::from_secs(2) && t < Duration::from_secs(5) && redis.is_some() {
            redis = None; // killed
        }
        if t >= Duration::from_secs(5) && redis.is_none() {
            redis = Some(OwnRedis::start(port));
        }
        let (sa, sb) = (ha.stats().await.expect("a"), hb.stats().await.expect("b"));
        alert_seen |= sa.quota_store_degraded && sb.quota_store_degraded;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut answered = 0;
    for l in load {
        answered += l.await.expect("a load task ends");
    }
    // Give the reconnect loop time to see the restarted server.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (sa, sb) = (ha.stats().await.expect("a"), hb.stats().await.expect("b"));
    let sim_stats = server.sim.stats();
    let limited = sim_stats.total.status(429);
    println!(
        "restart: {answered} requests answered, {limited} 429s, outages {} / {}",
        sa.quota_store_outages, sb.quota_store_outages
    );
    assert!(
        alert_seen,
        "both processes raised the alert while Redis was down"
    );
    assert!(
        !sa.quota_store_degraded && !sb.quota_store_degraded,
        "the alert cleared"
    );
    assert!(sa.quota_store_outages >= 1 && sb.quota_store_outages >= 1);
    // Shared admission resumed: the restarted (empty) server holds the lane again.
    let exists = lane_buckets_exist(&ns, &url).await;
    assert!(
        exists,
        "admissions went through Redis again after the restart"
    );
    assert!(
        limited <= 10,
        "429s stay bounded during the outage: {limited}"
    );
    a.shutdown().await;
    b.shutdown().await;
}

/// Sets model `m`'s request limit, in the config and at the simulator.
fn scale_rpm(c: &mut Config, rpm: f64) {
    use quotaswarm::config::Limits;
    if let Some(m) = c.models.get_mut("m") {
        if let Limits::Split { itpm, otpm, .. } = m.limits {
            m.limits = Limits::Split { rpm, itpm, otpm };
        }
    }
    c.sim.limits.clear();
}

/// 50 identical requests, one every 200 ms, alternating between two brokers sharing a
/// namespace; returns the provider calls the simulator saw and the two brokers' stats.
async fn fifty_identical(extra: &str) -> (u64, quotaswarm::Stats, quotaswarm::Stats) {
    let ns = namespace("reuse");
    let c = config(&ns, &redis_url(), extra);
    let server = sim(&c).await;
    let a = swarm(c.clone(), &server).await;
    let b = swarm(c, &server).await;
    let mut reused = 0;
    for i in 0..50 {
        let h = if i % 2 == 0 { a.handle() } else { b.handle() };
        let reply = h
            .complete(CompletionRequest::prompt("m", "Is the context still valid?").max_tokens(20))
            .await
            .expect("answered");
        reused += u32::from(reply.reused);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let calls = server.sim.stats().total.requests;
    let (sa, sb) = (
        a.handle().stats().await.expect("a"),
        b.handle().stats().await.expect("b"),
    );
    assert_eq!(u64::from(reused), sa.reused + sb.reused);
    a.shutdown().await;
    b.shutdown().await;
    assert_key_never_written(&ns).await;
    (calls, sa, sb)
}

/// Every key under `ns`, and every value in it, is free of the API key.
async fn assert_key_never_written(ns: &str) {
    let client = redis::Client::open(redis_url().as_str()).expect("url");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("redis");
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{ns}:*"))
        .query_async(&mut conn)
        .await
        .expect("keys");
    assert!(!keys.is_empty(), "the run wrote to Redis");
    for k in keys {
        assert!(!k.contains("shared-test-key"), "{k}");
        let kind: String = redis::cmd("TYPE")
            .arg(&k)
            .query_async(&mut conn)
            .await
            .expect("type");
        let dump: Vec<String> = match kind.as_str() {
            "string" => vec![redis::cmd("GET")
                .arg(&k)
                .query_async(&mut conn)
                .await
                .expect("get")],
            "hash" => redis::cmd("HGETALL")
                .arg(&k)
                .query_async(&mut conn)
                .await
                .expect("hgetall"),
            "zset" => redis::cmd("ZRANGE")
                .arg(&k)
                .arg(0)
                .arg(-1)
                .query_async(&mut conn)
                .await
                .expect("zrange"),
            other => panic!("unexpected type {other} of {k}"),
        };
        for v in dump {
            assert!(!v.contains("shared-test-key"), "{k}: {v}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reuse_window_answers_identical_requests_across_processes_from_one_call() {
    let (on, off) = tokio::join!(
        fifty_identical("[broker]\nreuse_secs = 30\n"),
        fifty_identical("")
    );
    let (calls_on, sa, sb) = on;
    let (calls_off, oa, ob) = off;
    println!("reuse window: 30 s -> {calls_on} provider call(s); off -> {calls_off}");
    assert_eq!(calls_on, 1, "one provider call for 50 identical requests");
    assert_eq!(sa.reused + sb.reused, 49);
    assert!(sa.reused > 0 && sb.reused > 0, "both processes reuse");
    assert!(sa.reused_tokens_saved > 0);
    assert_eq!(calls_off, 50, "without the window every request is a call");
    assert_eq!(oa.reused + ob.reused, 0);
}

/// Polls `stats` until `done` holds (the deadline only bounds a failure).
async fn wait_for(
    h: &quotaswarm::BrokerHandle,
    what: &str,
    done: impl Fn(&quotaswarm::Stats) -> bool,
) -> quotaswarm::Stats {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let s = h.stats().await.expect("stats");
        if done(&s) {
            return s;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Lane `m`'s requests-per-minute limit as the broker admits with it now.
fn rpm_limit(s: &quotaswarm::Stats) -> Option<f64> {
    let lane = s.lanes.iter().find(|l| l.model == "m")?;
    lane.buckets
        .iter()
        .find(|b| b.bucket == "requests")
        .map(|b| b.limit_per_min)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_at_start_admits_with_the_expected_share_then_shares_when_it_answers() {
    // Nothing listens on the port until the test starts its own redis-server there.
    let port = free_port();
    let url = format!("redis://127.0.0.1:{port}/0");
    let ns = namespace("downatstart");
    let mut c = config(&ns, &url, "");
    scale_rpm(&mut c, 600.0);
    assert_eq!(c.quota.expected_processes, 4, "the documented default");
    let server = sim(&c).await;
    let a = swarm(c, &server).await;
    let h = a.handle();

    // Never having seen the process set, it assumes 4 processes: a quarter of the limit.
    let s = wait_for(&h, "the degraded alert", |s| s.quota_store_degraded).await;
    assert!(s.quota_store_outages >= 1);
    let limit = rpm_limit(&s).expect("lane m");
    assert!(
        (limit - 150.0).abs() < 1e-6,
        "local share of 600 rpm: {limit}"
    );
    let reply = h
        .complete(CompletionRequest::prompt("m", "while redis is down").max_tokens(10))
        .await
        .expect("answered with the local share");
    assert!(!reply.reused);

    // Redis answers: the alert clears and admission goes through it.
    let _redis = OwnRedis::start(port);
    let s = wait_for(&h, "the alert to clear", |s| !s.quota_store_degraded).await;
    assert_eq!(rpm_limit(&s), Some(600.0), "full limits again");
    h.complete(CompletionRequest::prompt("m", "with redis up").max_tokens(10))
        .await
        .expect("answered through the store");
    let exists = lane_buckets_exist(&ns, &url).await;
    assert!(exists, "the admission after Redis came up went through it");
    a.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_one_process_learns_from_the_server_reach_the_others_through_redis() {
    let url = redis_url();
    let ns = namespace("learned");
    // The key has four times the configured 6,000 requests a minute.
    let extra = "[sim.limits.m]\nrpm = 24000\nitpm = 1000000\notpm = 1000000\n";
    let server = sim(&config(&ns, &url, extra)).await;
    let a = swarm(config(&ns, &url, extra), &server).await;
    let b = swarm(config(&ns, &url, extra), &server).await;
    let sb = b.handle().stats().await.expect("stats");
    assert_eq!(
        rpm_limit(&sb),
        Some(6000.0),
        "B starts at the configured limit"
    );

    a.handle()
        .complete(CompletionRequest::prompt("m", "from A").max_tokens(10))
        .await
        .expect("A is answered");
    let sa = a.handle().stats().await.expect("stats");
    assert_eq!(rpm_limit(&sa), Some(24000.0), "A took the server's limit");

    // The store holds it under the lane's key...
    let keys = quotaswarm::quota::LaneKeys::new(
        &ns,
        &quotaswarm::quota::key_fingerprint("shared-test-key"),
        "claude-sonnet-4-5",
    );
    let mut conn = redis::Client::open(url.as_str())
        .expect("url")
        .get_multiplexed_async_connection()
        .await
        .expect("redis");
    // A tells the store through its link's channel, after the lane adopted the limit:
    // the write may land a moment after A's stats show the new limit (a read at once
    // failed once in ~20 runs), so the read waits for it.
    let deadline = Instant::now() + Duration::from_secs(30);
    let stored = loop {
        let stored: Option<String> = redis::cmd("HGET")
            .arg(&keys.buckets)
            .arg("L1")
            .query_async(&mut conn)
            .await
            .expect("hget");
        if stored.is_some() || Instant::now() >= deadline {
            break stored;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(stored.as_deref(), Some("24000"));

    // ...and B, which sent nothing, adopts it at its next sync (every heartbeat).
    let asked = Instant::now();
    let sb = wait_for(&b.handle(), "B to adopt A's learned limits", |s| {
        rpm_limit(s) == Some(24000.0)
    })
    .await;
    let lane = sb.lane("m").expect("lane m");
    println!(
        "B adopted rpm {:?} ({}) {:?} after A learned it, having sent {} requests",
        rpm_limit(&sb),
        lane.limit_source,
        asked.elapsed(),
        lane.requests
    );
    assert_eq!(lane.limit_source, "server");
    assert_eq!(lane.requests, 0);
    a.shutdown().await;
    b.shutdown().await;
}
