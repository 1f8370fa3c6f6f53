//! Paused-time tests of admission against the embedded simulator (the real simulator,
//! called in-process so a minute of quota takes no real minute).

use futures_util::future::join_all;
use quotaswarm::swarm::Swarm;
use quotaswarm::{CompletionRequest, Config};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

fn config(models: &str, sim: &str) -> Config {
    let text = format!(
        "[providers.anthropic]\nkind = \"sim\"\nwire = \"anthropic\"\n\
         [providers.openai]\nkind = \"sim\"\nwire = \"openai\"\n{models}\n[sim]\nlatency_ms = 20\n{sim}"
    );
    Config::from_toml_str(&text, "test").expect("test config")
}

/// Model `m` (wire `claude-sonnet-4-5`) with `rpm = 1000` and `limits`.
fn sonnet_m(limits: &str) -> String {
    format!("[models.m]\nprovider = \"anthropic\"\nmodel = \"claude-sonnet-4-5\"\nrpm = 1000\n{limits}\n")
}

/// A swarm of [`config`] over the embedded simulator, and its handle.
async fn start(models: &str, sim: &str) -> (Swarm, quotaswarm::BrokerHandle) {
    let swarm = Swarm::start(config(models, sim), quotaswarm_sim::embedded())
        .await
        .unwrap();
    let h = swarm.handle();
    (swarm, h)
}

/// A user text of roughly `words` tokens.
fn text(i: usize, words: usize) -> String {
    let mut s = format!("request {i}:");
    for w in 0..words {
        s.push_str([" alpha", " beta", " gamma", " delta"][(w + i) % 4]);
    }
    s
}

#[tokio::test(start_paused = true)]
async fn a_burst_of_three_minutes_of_input_finishes_in_about_three_minutes_in_order_without_429s() {
    let (swarm, h) = start(&sonnet_m("itpm = 6000\notpm = 100000"), "").await;
    let t0 = Instant::now();
    let done_at = Arc::new(std::sync::Mutex::new(vec![None; 30]));
    // join_all polls in order, so the requests reach the broker in order.
    let futs = (0..30).map(|i| {
        let h = h.clone();
        let done_at = done_at.clone();
        async move {
            let req = CompletionRequest::prompt("m", text(i, 540)).max_tokens(50);
            let r = h.complete(req).await;
            done_at.lock().unwrap()[i] = Some(Instant::now());
            r
        }
    });
    let results = join_all(futs).await;
    let elapsed = t0.elapsed();
    assert!(
        results.iter().all(|r| r.is_ok()),
        "{:?}",
        results.iter().find(|r| r.is_err())
    );
    let sim = quotaswarm_sim::of(&swarm).unwrap().stats();
    let charged = sim.total.input_tokens;
    println!(
        "charged {charged} input tokens ({:.2} minutes of ITPM) in {:.1} virtual s; 429s: {}",
        charged as f64 / 6000.0,
        elapsed.as_secs_f64(),
        sim.total.status(429)
    );
    assert!(
        charged >= 17_000,
        "the burst needs about 3 minutes of input: {charged}"
    );
    assert_eq!(sim.total.status(429), 0, "no 429s by design");
    // The sim's bucket starts full (one minute); ours holds the 10 s burst window.
    let ideal = (charged as f64 - 1000.0) / 100.0;
    let secs = elapsed.as_secs_f64();
    assert!(
        secs > ideal * 0.85 && secs < ideal * 1.15,
        "took {secs:.1}s, ideal {ideal:.1}s"
    );
    let times: Vec<Instant> = done_at.lock().unwrap().iter().map(|t| t.unwrap()).collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "completed out of order"
    );
}

#[tokio::test(start_paused = true)]
async fn calibration_brings_the_estimate_within_5_percent_and_no_429s() {
    let (swarm, h) = start(
        "[models.g]\nprovider = \"openai\"\nmodel = \"gpt-4o\"\nrpm = 1000\ntpm = 20000\n",
        "token_factor = 1.2\n",
    )
    .await;
    let mut last_error = 1.0;
    for i in 0..12 {
        let req = CompletionRequest::prompt("g", text(i, 300 + 20 * i)).max_tokens(100);
        let est = h.prepare(req.clone()).unwrap().rungs[0].est_input;
        let done = h.complete(req).await.unwrap();
        let charged = done.usage.total_input();
        last_error = (est as f64 - charged as f64) / charged as f64;
        println!(
            "request {i}: estimated {est}, charged {charged}, error {:+.1}%",
            last_error * 100.0
        );
    }
    assert!(
        last_error.abs() < 0.05,
        "estimate off by {:.1}%",
        last_error * 100.0
    );
    let sim = quotaswarm_sim::of(&swarm).unwrap().stats();
    assert_eq!(sim.total.status(429), 0);
    let stats = h.stats().await.unwrap();
    assert_eq!(stats.rate_limited, 0);
}

#[tokio::test(start_paused = true)]
async fn a_second_client_eating_half_the_quota_is_absorbed_via_headers() {
    use quotaswarm::provider::{self, Endpoint};
    let (swarm, h) = start(&sonnet_m("itpm = 60000\notpm = 1000000"), "").await;
    let sim = quotaswarm_sim::of(&swarm).unwrap().clone();
    // The other client: same key, about half the ITPM (500 tokens/s) for 6 minutes.
    let other = Endpoint {
        name: "other".into(),
        provider: provider::for_wire(quotaswarm::config::Wire::Anthropic),
        transport: Arc::new(quotaswarm_sim::EmbeddedTransport { sim: sim.clone() }),
        key: Some(quotaswarm::ApiKey::new(quotaswarm::swarm::SIM_KEY)),
    };
    let other_task = tokio::spawn(async move {
        let mut ok = 0;
        for i in 0..360 {
            let req = CompletionRequest::prompt("m", text(10_000 + i, 430)).max_tokens(20);
            if other.complete("claude-sonnet-4-5", &req).await.is_ok() {
                ok += 1;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        ok
    });
    // The swarm: 20 agents that would like all of the quota.
    let agents = (0..20).map(|a| {
        let h = h.clone();
        async move {
            let mut n = 0;
            for t in 0..30 {
                let req = CompletionRequest::prompt("m", text(a * 100 + t, 900)).max_tokens(20);
                if h.complete(req).await.is_ok() {
                    n += 1;
                }
            }
            n
        }
    });
    let done: usize = join_all(agents).await.into_iter().sum();
    let other_ok = other_task.await.unwrap();
    let stats = h.stats().await.unwrap();
    let lane = stats.lane("m").unwrap();
    let share = lane.rate_limited as f64 / lane.requests as f64;
    println!(
        "broker: {done} completions, {} requests, {} 429s ({:.2}%); other client: {other_ok} ok",
        lane.requests,
        lane.rate_limited,
        share * 100.0
    );
    assert_eq!(done, 600, "every request completes");
    assert!(share < 0.025, "429 share {:.2}%", share * 100.0);
}

#[tokio::test(start_paused = true)]
async fn count_tokens_estimates_exactly_under_its_own_request_bucket() {
    let (swarm, h) = start(
        &sonnet_m("itpm = 100000\notpm = 100000\ncount_tokens_rpm = 2"),
        "token_factor = 1.3\n",
    )
    .await;
    let t0 = Instant::now();
    for i in 0..3 {
        h.complete(CompletionRequest::prompt("m", text(i, 200)))
            .await
            .unwrap();
    }
    // Two counts a minute: the third waited about 30 s for its count.
    let took = t0.elapsed();
    assert!(took >= Duration::from_secs(25), "{took:?}");
    let lane = h.stats().await.unwrap().lane("m").unwrap().clone();
    assert_eq!(
        lane.estimated_input_tokens, lane.charged_input_tokens,
        "the provider's count is exact"
    );
    let sim = quotaswarm_sim::of(&swarm).unwrap().stats();
    assert_eq!(sim.total.count_tokens_calls, 3);
}
