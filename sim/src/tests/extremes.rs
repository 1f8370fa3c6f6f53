//! Extreme numbers in a config built in code (which skips `Config::load`'s checks) or
//! handed to `set_limits`: the simulator answers, it does not panic.

use super::*;

#[tokio::test(start_paused = true)]
async fn extreme_config_numbers_do_not_panic() {
    for v in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 1e300, -1.0, 0.0] {
        let sim = sim_with(|c| {
            c.sim.burst_secs = v;
            c.sim.token_factor = v;
            c.sim.latency = Duration::MAX;
            c.sim.per_token = Duration::MAX;
            c.sim.faults = vec![
                Fault::new(FaultKind::Slow(Duration::MAX), 1.0),
                Fault::new(FaultKind::Slow(Duration::MAX), 1.0),
            ];
            c.sim.limits.insert(SONNET.into(), split(v, v, v));
        });
        for _ in 0..3 {
            let r = sim.handle(anthropic(&hello(5))).await;
            assert!([200, 429].contains(&r.status), "{v}: {}", r.status);
            let r = sim.handle(openai(&chat(5))).await;
            assert!([200, 429].contains(&r.status), "{v}: {}", r.status);
        }
        assert!(sim.set_limits(GPT, combined(v, v)));
        let r = sim.handle(openai(&chat(5))).await;
        assert!([200, 429].contains(&r.status), "{v}: {}", r.status);
        assert_eq!(sim.stats().total.requests, 7);
    }
}
