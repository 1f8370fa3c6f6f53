//! What `quotaswarm run` prints, as a newcomer meets it: log lines without colour escapes
//! when stderr is not a terminal, a `--json` report with per-agent and per-model
//! sections and money rounded, and `--agents N` agents that each ask their own questions.
//! Each test runs the binary once on the in-process simulator, for a second or two.

use serde_json::Value;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_quotaswarm");

fn run(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.arg("run")
        .args(args)
        .env_remove("ANTHROPIC_API_KEY")
        .env_remove("OPENAI_API_KEY")
        .env_remove("NO_COLOR");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run quotaswarm");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn piped_stderr_gets_log_lines_without_escape_codes() {
    let out = run(
        &[
            "--sim",
            "--agents",
            "2",
            "--turns",
            "1",
            "--progress-secs",
            "0.2",
        ],
        &[("RUST_LOG", "quotaswarm=info")],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(" INFO "), "the log is on: {stderr}");
    assert!(!stderr.contains('\x1b'), "no escape byte: {stderr:?}");
}

#[test]
fn json_has_totals_per_agent_and_per_model_with_money_rounded() {
    let out = run(&["--sim", "--agents", "3", "--turns", "2", "--json"], &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout.trim().lines().count(),
        1,
        "one JSON object: {stdout}"
    );
    let v: Value = serde_json::from_str(stdout.trim()).expect("JSON");
    // The totals stay where scripts read them.
    assert_eq!(v["agents"], 3, "{v}");
    assert_eq!(v["agents_finished"], 3, "{v}");
    let agents = v["per_agent"].as_array().expect("per_agent");
    let names: Vec<&str> = agents.iter().filter_map(|a| a["name"].as_str()).collect();
    assert_eq!(names, ["agent-1", "agent-2", "agent-3"]);
    assert!(agents.iter().all(|a| a["completions"] == 2), "{v}");
    let models = v["per_model"].as_array().expect("per_model");
    assert!(!models.is_empty(), "{v}");
    let completions: u64 = models
        .iter()
        .map(|m| m["completions"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(Some(completions), v["completions"].as_u64(), "{v}");
    // Money to a millionth of a dollar.
    for cost in std::iter::once(&v["cost_usd"]).chain(models.iter().map(|m| &m["cost_usd"])) {
        if let Some(c) = cost.as_f64() {
            assert!(((c * 1e6).round() - c * 1e6).abs() < 1e-6, "{c}");
            assert!(
                cost.to_string()
                    .split('.')
                    .nth(1)
                    .is_none_or(|d| d.len() <= 6),
                "{cost}"
            );
        }
    }
}

#[test]
fn each_agent_of_agents_n_asks_its_own_questions() {
    // Identical prompts would be merged into one request each turn.
    let out = run(&["--sim", "--agents", "4", "--turns", "2", "--json"], &[]);
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["merged"], 0, "{v}");
    assert_eq!(v["answers"], 8, "{v}");
    assert_eq!(v["completions"], 8, "{v}");
    let help = Command::new(BIN)
        .args(["run", "--help"])
        .output()
        .expect("help");
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("own"), "--help says so: {help}");
}
