//! Injected faults and latency: seeded, per vendor, and slow responses.

use super::*;

async fn statuses(sim: &Simulator, n: usize) -> Vec<u16> {
    let mut out = vec![];
    for i in 0..n {
        let b = json!({"model": SONNET, "max_tokens": 5, "messages": [{"role": "user", "content": format!("q{i}")}]});
        out.push(sim.handle(anthropic(&b)).await.status);
    }
    out
}

#[tokio::test(start_paused = true)]
async fn injects_faults_deterministically_by_seed_and_can_turn_them_off() {
    let faulty = |seed: u64| {
        sim_with(|c| {
            c.sim.seed = seed;
            c.sim.faults = vec![Fault::new(FaultKind::Status(529), 0.5).for_model(SONNET)];
        })
    };
    let (a, b) = (faulty(9), faulty(9));
    let sa = statuses(&a, 30).await;
    assert_eq!(sa, statuses(&b, 30).await);
    assert!(sa.contains(&200) && sa.contains(&529), "{sa:?}");
    assert_ne!(sa, statuses(&faulty(10), 30).await);

    let r = loop {
        let r = a.handle(anthropic(&hello(5))).await;
        if r.status == 529 {
            break r;
        }
    };
    assert_eq!(anthropic_error(&r).0, "overloaded_error");
    let stats = a.stats();
    let ok = stats.total.status(200);
    assert_eq!(
        header(&r, "anthropic-ratelimit-requests-remaining"),
        (50 - ok).to_string(),
        "faulted requests consume nothing"
    );

    a.set_faults(vec![]);
    assert!(statuses(&a, 10).await.iter().all(|s| *s == 200));
}

#[tokio::test(start_paused = true)]
async fn maps_openai_faults_to_the_engine_overloaded_503() {
    let sim = sim_with(|c| {
        c.sim.faults = vec![Fault::new(FaultKind::Status(503), 1.0)];
    });
    let r = answer(&sim, openai(&chat(5)), 503).await;
    assert!(openai_error(&r)["message"]
        .as_str()
        .unwrap()
        .contains("The engine is currently overloaded"));
    assert_eq!(header(&r, "x-ratelimit-remaining-requests"), "500");
}

#[tokio::test(start_paused = true)]
async fn slows_responses_with_latency_per_token_and_slow_faults() {
    let sim = sim_with(|c| {
        c.sim.latency = Duration::from_millis(100);
        c.sim.per_token = Duration::from_millis(10);
        c.sim.faults = vec![Fault::new(FaultKind::Slow(Duration::from_secs(2)), 1.0)];
    });
    let start = Instant::now();
    let r = sim.handle(anthropic(&hello(50))).await;
    let out = body(&r)["usage"]["output_tokens"].as_u64().unwrap();
    assert_eq!(
        start.elapsed(),
        Duration::from_millis(100 + 10 * out + 2000)
    );
}
