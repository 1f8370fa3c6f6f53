//! `quotaswarm run --scenario FILE --json` against a separately started `quotaswarm sim`:
//! the JSON report's figures match the simulator's `/_stats`. And a malformed scenario
//! file makes `quotaswarm run` fail with the field and the line.

use crate::common::{self, start_sim};
use quotaswarm::swarm::Totals;
use std::path::PathBuf;
use std::process::Command;

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("quotaswarm-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The simulator allows opus a tenth of what the broker believes (so some 429s come
/// back) and haiku answers 529 to a share of requests.
const SIM_CONFIG: &str = "[sim]\nburst_secs = 2\nlatency_ms = 20\n\
    [sim.limits.opus]\nrpm = 30\n\
    [[sim.faults]]\nmodel = \"haiku\"\nstatus = 529\nrate = 0.2\n";

const SCENARIO: &str = r#"{
  "name": "cli test",
  "deadline_secs": 60,
  "agents": [
    {"name": "asker", "copies": 4, "model": "claude", "max_tokens": 60,
     "turns": [{"user": "first question"}, {"user": "second question", "max_tokens": 40},
               {"oneshot": {"system": "Be brief.", "user": "a oneshot"}}]},
    {"name": "sorter", "kind": "classifier", "copies": 2, "model": "claude", "max_tokens": 5,
     "coalesce": false, "labels": ["a", "b"], "prompts": ["x", "y", "z", "w"]}
  ]
}"#;

#[test]
fn run_scenario_json_against_a_separate_sim_matches_its_stats() {
    let dir = temp_dir("cli");
    let sim_config = dir.join("sim.toml");
    std::fs::write(&sim_config, SIM_CONFIG).unwrap();
    let (_sim, url) = start_sim(&sim_config);
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[providers.anthropic]\nkind = \"anthropic\"\nbase_url = \"{url}\"\napi_key_env = \"QUOTASWARM_TEST_KEY\"\n\
             [broker]\nburst_secs = 2\nbackoff_base_secs = 0.1\n"
        ),
    )
    .unwrap();
    let scenario = dir.join("scenario.json");
    std::fs::write(&scenario, SCENARIO).unwrap();

    let out = common::run_scenario(&["--json"], &scenario, &config);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stderr: {stderr}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        stdout.trim().lines().count(),
        1,
        "one JSON object: {stdout}"
    );
    let t: Totals = serde_json::from_str(stdout.trim()).expect("JSON report");

    let sim = common::sim_stats(&url);
    println!("{t:?}\n{sim:?}");
    assert_eq!(t.agents_finished, 6);
    assert_eq!(t.errors, 0);
    assert_eq!(t.completions, sim.total.status(200));
    assert_eq!(t.rate_limited, sim.total.status(429));
    assert_eq!(t.overloaded, sim.total.status(529));
    assert_eq!(t.attempts, sim.total.requests);
    assert_eq!(t.input_tokens, sim.total.input_tokens);
    assert_eq!(t.output_tokens, sim.total.output_tokens);
    assert_eq!(t.answers, 4 * 3 + 2 * 4);
    assert!(t.merged > 0, "the four askers' identical turns merge");
    assert!(t.cost_usd > 0.0 && t.elapsed_secs > 0.0 && t.makespan_secs > 0.0);
}

#[test]
fn a_malformed_scenario_fails_the_run_naming_field_and_line() {
    let dir = temp_dir("bad");
    let scenario = dir.join("bad.json");
    std::fs::write(
        &scenario,
        "{\n  \"agents\": [\n    {\"name\": \"a\", \"model\": \"haiku\",\n     \"turns\": [{\"user\": \"hi\", \"max_tokens\": \"many\"}]}\n  ]\n}\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_quotaswarm"))
        .args(["run", "--scenario"])
        .arg(&scenario)
        .output()
        .expect("run quotaswarm");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("line 4"), "{stderr}");
    assert!(stderr.contains("agents[0].turns[0].max_tokens"), "{stderr}");
}
