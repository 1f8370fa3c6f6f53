//! End to end, real time, real sockets: a swarm of 24 agents sharing one key against a
//! separately started `quotaswarm sim` process, with limits scaled so the run takes about
//! 30 s. The simulator must answer no 429s and every turn is answered. The makespan
//! against the ideal the limits allow (max over buckets of total charged / refill rate)
//! is printed as a measurement and only bounded widely (half to twice the ideal): a
//! loaded machine stretches a real-time run, and the test must not depend on its speed.

use crate::common::{self, start_sim};
use quotaswarm::config::Wire;
use quotaswarm::swarm::{wait_all, Backend, Swarm};
use quotaswarm::{ApiKey, Config};
use quotaswarm_agents::{ScriptedAgent, Turn};
use quotaswarm_sim::SimStats;
use std::time::{Duration, Instant};

const RPM: f64 = 1200.0;
const ITPM: f64 = 120_000.0;
const OTPM: f64 = 60_000.0;

fn config_text() -> String {
    format!(
        "[providers.anthropic]\nkind = \"anthropic\"\n\
         [models.m]\nprovider = \"anthropic\"\nmodel = \"claude-sonnet-4-5\"\n\
         rpm = {RPM}\nitpm = {ITPM}\notpm = {OTPM}\nburst_secs = 2\n\
         [sim]\nburst_secs = 2\nlatency_ms = 30\nper_token_ms = 1\n"
    )
}

fn words(i: usize, n: usize) -> String {
    let mut s = format!("Question {i}:");
    for w in 0..n {
        s.push_str([" queue", " bucket", " refill", " token", " agent"][(w * 7 + i) % 5]);
    }
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_swarm_sharing_one_key_uses_nearly_all_the_quota_without_429s() {
    let dir = std::env::temp_dir().join(format!("quotaswarm-e2e-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("limits.toml");
    std::fs::write(&path, config_text()).unwrap();
    let (_sim, url) = start_sim(&path);

    let mut config = Config::from_toml_str(&config_text(), "e2e").unwrap();
    config.point_at(Wire::Anthropic, &url);
    for p in config.providers.values_mut() {
        p.api_key = Some(ApiKey::new("one-shared-key"));
    }
    let swarm = Swarm::start(config, Backend::AsConfigured).await.unwrap();

    let agents = 24;
    let turns = 6;
    let started = Instant::now();
    let mut handles = Vec::new();
    for a in 0..agents {
        let turns = (0..turns)
            .map(|t| Turn::Oneshot {
                system: Some("Answer briefly.".into()),
                user: words(a * 100 + t, 380),
                max_tokens: Some(120),
            })
            .collect();
        handles.push(
            swarm
                .spawn(format!("agent-{a}"), ScriptedAgent::new("m", turns))
                .await
                .unwrap(),
        );
    }
    let (reports, timed_out) = wait_all(handles, Some(Duration::from_secs(120))).await;
    let makespan = started.elapsed().as_secs_f64();
    assert!(!timed_out);
    let completions: u64 = reports.iter().map(|r| r.completions).sum();
    assert_eq!(completions, (agents * turns) as u64, "{reports:?}");

    let sim: SimStats = reqwest::get(format!("{url}/_stats"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let m = &sim.models["claude-sonnet-4-5"];
    let ideal = common::ideal_secs(m, RPM, ITPM, OTPM);
    println!(
        "e2e: {} requests, {} input + {} output tokens charged; 429s {}; makespan {makespan:.1}s, ideal {ideal:.1}s (ratio {:.3})",
        m.requests,
        m.input_tokens,
        m.output_tokens,
        sim.total.status(429),
        makespan / ideal
    );
    assert_eq!(sim.total.status(429), 0, "no 429s by design");
    assert!(
        (20.0..=45.0).contains(&ideal),
        "the limits should make a 20-40 s run: {ideal}"
    );
    // The swarm neither outran the quota (the 0 429s say it exactly) nor left it
    // unused; twice the ideal holds with a wide margin on a busy machine.
    assert!(
        (0.5 * ideal..=2.0 * ideal).contains(&makespan),
        "makespan {makespan:.1}s vs ideal {ideal:.1}s"
    );
    swarm.shutdown().await;
}
