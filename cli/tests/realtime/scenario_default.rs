//! The default demo (`quotaswarm run` with no arguments), run through the same core the
//! CLI calls, on the simulator over loopback HTTP: its merged, trimmed, fallback and retry
//! figures are non-zero, and every figure the simulator can see matches its counters.

use quotaswarm_cli::scenario::{RunOptions, Scenario};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_run_exercises_every_mechanism_and_matches_the_simulator() {
    let (scenario, config) = Scenario::builtin_demo().expect("built-in demo parses");
    let agents: usize = scenario.agents.iter().map(|a| a.names().len()).sum();
    assert!((18..=22).contains(&agents), "about 20 agents: {agents}");
    let report = scenario
        .run(config, quotaswarm_sim::loopback(), RunOptions::default())
        .await
        .expect("the demo runs");
    let t = &report.totals;
    let sim = quotaswarm_sim::stats_of(&report).expect("simulator counters");
    println!("{}", quotaswarm::swarm::report_table(&report));

    assert!(!report.timed_out);
    assert_eq!(t.agents_finished, agents, "{:?}", report.agents);
    assert_eq!(t.errors, 0);
    assert!(t.merged > 0, "merged");
    assert!(t.trimmed_tokens > 0, "trimmed");
    assert!(t.fallbacks > 0, "fallbacks");
    assert!(t.retries > 0, "retries");
    assert!(t.rate_limited > 0 && t.overloaded > 0, "429s and 529s");
    // The limits make a run of 20-40 s; a busy machine stretches it, so the bound is
    // the demo's own deadline (90 s), which `timed_out` above already checks.
    assert!(
        (10.0..=90.0).contains(&t.makespan_secs),
        "a run of 20-40 s (slower in a debug build on a busy machine): {}",
        t.makespan_secs
    );

    // What the simulator saw.
    let non_200 = sim.total.requests - sim.total.status(200);
    assert_eq!(t.attempts, sim.total.requests, "every attempt reached it");
    assert_eq!(t.completions, sim.total.status(200));
    assert_eq!(t.rate_limited, sim.total.status(429));
    assert_eq!(t.overloaded, sim.total.status(529));
    // Each failed attempt was either retried on its model or moved down the ladder (a
    // fallback may also happen without a failed attempt: a rung that is paused, open or
    // too slow for the request's max_wait is skipped).
    assert!(
        t.retries <= non_200 && non_200 <= t.retries + t.fallbacks,
        "{} retries, {} fallbacks, {non_200} failed attempts",
        t.retries,
        t.fallbacks
    );
    assert_eq!(t.input_tokens, sim.total.input_tokens);
    assert_eq!(t.output_tokens, sim.total.output_tokens);
    // Merged waiters got answers that cost no request.
    assert_eq!(t.answers, t.completions + t.merged);
    // Fallbacks come from opus (its simulated quota is smaller than configured) and
    // the retries from haiku's injected 529s.
    let stats = report.stats.as_ref().expect("broker stats");
    assert!(
        stats.fallbacks.keys().any(|k| k.starts_with("opus->")),
        "{:?}",
        stats.fallbacks
    );
    assert_eq!(
        stats.lane("haiku").map(|l| l.retries),
        Some(sim.models["claude-haiku-5-5"].status(529))
    );
}
