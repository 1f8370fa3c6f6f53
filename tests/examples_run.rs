//! Every example runs to completion (each example's `main` calls a `run` function that
//! these tests call too), so the examples cannot rot.

#[allow(dead_code)]
#[path = "../examples/agent_output.rs"]
mod agent_output;
#[allow(dead_code)]
#[path = "../examples/coalescing.rs"]
mod coalescing;
#[allow(dead_code)]
#[path = "../examples/custom_agent.rs"]
mod custom_agent;
#[allow(dead_code)]
#[path = "../examples/fallback_ladder.rs"]
mod fallback_ladder;
#[allow(dead_code)]
#[path = "../examples/long_history.rs"]
mod long_history;
#[allow(dead_code)]
#[path = "../examples/monitoring.rs"]
mod monitoring;
#[allow(dead_code)]
#[path = "../examples/parallel_asks.rs"]
mod parallel_asks;
#[allow(dead_code)]
#[path = "../examples/prompts_from_file.rs"]
mod prompts_from_file;
#[allow(dead_code)]
#[path = "../examples/quickstart.rs"]
mod quickstart;
#[allow(dead_code)]
#[path = "../examples/real_providers.rs"]
mod real_providers;
#[allow(dead_code)]
#[path = "../examples/reasoning_cost.rs"]
mod reasoning_cost;
#[allow(dead_code)]
#[path = "../examples/streaming.rs"]
mod streaming;
#[allow(dead_code)]
#[path = "../examples/swarm_scale.rs"]
mod swarm_scale;
#[allow(dead_code)]
#[path = "../examples/tool_agent.rs"]
mod tool_agent;
#[allow(dead_code)]
#[path = "../examples/typed_reply.rs"]
mod typed_reply;

use quotaswarm::swarm::SwarmReport;

fn all_finished(r: &SwarmReport) {
    assert!(!r.timed_out);
    assert_eq!(r.totals.agents_finished, r.agents.len(), "{:?}", r.agents);
    assert_eq!(r.totals.errors, 0);
}

/// Runs an example's `run` and checks that every agent finished without errors.
async fn finished(
    run: impl std::future::Future<Output = anyhow::Result<SwarmReport>>,
) -> SwarmReport {
    let r = run.await.unwrap();
    all_finished(&r);
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swarm_scale_runs() {
    // 100,000 by default (BENCHMARKS.md); a few hundred here.
    let r = finished(swarm_scale::run(300)).await;
    assert_eq!(r.totals.answers, 300);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quickstart_custom_agent_and_monitoring_run_and_get_every_answer() {
    let r = finished(quickstart::run()).await;
    assert_eq!(r.totals.answers, 6, "quickstart");
    let r = finished(custom_agent::run()).await;
    assert_eq!(r.totals.answers, 3, "custom_agent");
    let r = finished(monitoring::run()).await;
    assert_eq!(r.totals.answers, 24, "monitoring");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_output_reads_each_agents_typed_result_from_the_report() {
    let r = finished(agent_output::run()).await;
    assert_eq!(r.agents.len(), agent_output::VOTERS.len());
    for (name, _) in agent_output::VOTERS {
        let vote = r.output::<agent_output::Vote>(name);
        assert!(vote.is_some_and(|v| !v.reason.is_empty()), "{:?}", r.agents);
    }
    for a in &r.agents {
        let json = a.output_json.as_ref().expect("the output, serialized");
        assert!(
            json["yes"].is_boolean() && json["reason"].is_string(),
            "{json}"
        );
    }
}

#[test]
fn the_readme_shows_the_custom_agent_example_verbatim() {
    let example = include_str!("../examples/custom_agent.rs");
    let start = example.find("// README: custom agent\n").unwrap();
    let end = example.find("// README: end").unwrap();
    let body = &example[start + "// README: custom agent\n".len()..end];
    assert!(body.lines().count() < 30, "under 30 lines");
    let readme = include_str!("../README.md");
    assert!(
        readme.contains(body),
        "README's custom agent differs from examples/custom_agent.rs"
    );
}

/// The README's custom agent compiles as shown: its code blocks under "## A custom
/// agent", joined, are `examples/custom_agent.rs` minus its `//!` header and its
/// `// README:` marker lines.
#[test]
fn the_readme_shows_the_whole_custom_agent_example() {
    let example = include_str!("../examples/custom_agent.rs");
    let file: String = example
        .lines()
        .filter(|l| !l.starts_with("//!") && !l.starts_with("// README:"))
        .map(|l| format!("{l}\n"))
        .collect();
    let readme = include_str!("../README.md");
    let start = readme.find("## A custom agent").unwrap();
    let end = start + readme[start..].find("\n## ").unwrap();
    let mut blocks = Vec::new();
    let mut rest = &readme[start..end];
    while let Some(open) = rest.find("```rust,ignore\n") {
        let code = &rest[open + "```rust,ignore\n".len()..];
        let close = code.find("```\n").unwrap();
        blocks.push(&code[..close]);
        rest = &code[close..];
    }
    assert_eq!(blocks.len(), 2, "the agent, then the swarm that runs it");
    assert_eq!(
        blocks.join("\n").trim(),
        file.trim(),
        "README's custom agent differs from examples/custom_agent.rs"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_asks_are_all_counted_in_the_agents_report() {
    let r = finished(parallel_asks::run()).await;
    assert_eq!(r.agents.len(), 1);
    assert_eq!(r.agents[0].completions, 3, "{:?}", r.agents[0]);
    assert_eq!(r.totals.answers, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prompts_from_file_reports_a_missing_file_as_the_agents_failure() {
    let r = prompts_from_file::run().await.unwrap();
    assert!(!r.timed_out);
    let (reader, lost) = (&r.agents[0], &r.agents[1]);
    assert!(reader.finished, "{reader:?}");
    assert_eq!(reader.completions, 2);
    assert!(!lost.finished);
    assert_eq!(lost.completions, 0);
    let not_found = std::fs::read_to_string("/no/such/quotaswarm/prompts.txt").unwrap_err();
    assert_eq!(
        lost.failure.as_deref(),
        Some(not_found.to_string().as_str())
    );
    assert_eq!(r.totals.agents_failed, 1);
    assert_eq!(r.totals.errors, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coalescing_merges_identical_rechecks() {
    let r = finished(coalescing::run()).await;
    assert!(r.totals.merged >= 1, "{:?}", r.totals);
    assert_eq!(r.totals.answers, r.totals.completions + r.totals.merged);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fallback_ladder_falls_back() {
    let r = finished(fallback_ladder::run()).await;
    assert!(r.totals.fallbacks > 0, "{:?}", r.totals);
    // All the way down, as the README promises: opus → sonnet → haiku.
    let stats = r.stats.as_ref().unwrap();
    assert!(
        stats.fallbacks.contains_key("sonnet->haiku"),
        "{:?}",
        stats.fallbacks
    );
    assert!(
        stats.lane("haiku").is_some_and(|l| l.completions > 0),
        "haiku answered"
    );
    assert!(r.totals.fallback_answers > 0, "{:?}", r.totals);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_history_is_trimmed() {
    let r = finished(long_history::run()).await;
    assert!(r.totals.trimmed_tokens > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_providers_falls_back_to_the_simulator() {
    // `run` would use real APIs when keys are set; the test forces the simulator.
    let r = finished(real_providers::run_with(quotaswarm_sim::loopback())).await;
    assert_eq!(r.totals.answers, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_prints_every_token_of_the_answer() {
    let (printed, done) = streaming::run().await.unwrap();
    assert!(!printed.is_empty());
    assert_eq!(
        printed,
        done.text(),
        "every token was printed as it arrived"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_agent_runs_its_tools_until_the_model_answers() {
    let (r, run) = tool_agent::run().await.unwrap();
    all_finished(&r);
    assert_eq!(run.tool_turns, 3, "{run:?}");
    assert_eq!(run.steps, run.tool_turns + 1);
    assert_eq!(r.agents[0].completions, run.steps as u64);
    assert!(!run.text().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_reply_parses_on_both_wires() {
    let r = finished(typed_reply::run()).await;
    assert_eq!(r.totals.answers, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reasoning_cost_counts_reasoning_tokens_and_matches_the_sum_by_hand() {
    let (r, f) = reasoning_cost::run().await.unwrap();
    all_finished(&r);
    assert_eq!(r.totals.answers, 12);
    // Effort high: the simulator reports 1,024 to 2,047 reasoning tokens per reply.
    assert!(f.usage.reasoning_tokens >= 12 * 1024, "{f:?}");
    assert!(f.usage.reasoning_tokens < f.usage.output_tokens, "{f:?}");
    let close = (f.reported_usd - f.by_hand_usd).abs() <= 1e-9 * f.by_hand_usd.max(1.0);
    assert!(
        close,
        "reported {} vs by hand {}",
        f.reported_usd, f.by_hand_usd
    );
    assert!(f.by_hand_usd > f.without_reasoning_usd * 2.0, "{f:?}");
}
