//! `quotaswarm run` ends as a script expects: 0 for a clean run, 1 when requests ended in
//! errors or agents were cut (0 with `--allow-errors`), 2 for bad input, 3 when the run
//! cannot start (a stats address in use). Each test runs
//! the binary once for a second or two (the interrupted code, 130, is tested in
//! `realtime/interrupt.rs`).

use crate::common;

use common::SimProcess;
use quotaswarm::swarm::Totals;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_quotaswarm");

/// Two chat turns on haiku.
const SCENARIO: &str = r#"{"agents": [{"name": "asker", "model": "haiku",
    "turns": [{"user": "hello"}, {"user": "and again"}]}]}"#;

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("quotaswarm-exit-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// `quotaswarm sim` on a free port, accepting only the key `right`.
fn start_sim(dir: &Path) -> (SimProcess, String) {
    let config = write(dir, "sim.toml", "[sim]\napi_keys = [\"right\"]\n");
    common::start_sim(&config)
}

/// Runs the scenario against that simulator, sending the key `key`.
fn run_against_sim(tag: &str, key: &str, extra: &[&str]) -> Output {
    let dir = temp_dir(tag);
    let (_sim, url) = start_sim(&dir);
    let config = write(
        &dir,
        "config.toml",
        &format!(
            "[providers.anthropic]\nkind = \"anthropic\"\nbase_url = \"{url}\"\napi_key_env = \"QUOTASWARM_EXIT_TEST_KEY\"\n"
        ),
    );
    let scenario = write(&dir, "scenario.json", SCENARIO);
    Command::new(BIN)
        .args(["run", "--json", "--scenario"])
        .arg(scenario)
        .arg("--config")
        .arg(config)
        .args(extra)
        .env("QUOTASWARM_EXIT_TEST_KEY", key)
        .env_remove("OPENAI_API_KEY")
        .output()
        .expect("run quotaswarm")
}

fn totals(out: &Output) -> Totals {
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("one JSON object on stdout ({e}): {stdout}"))
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_run_whose_every_request_gets_401_exits_1() {
    let out = run_against_sim("401", "wrong", &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let t = totals(&out);
    assert_eq!(t.errors, 2);
    assert_eq!(t.answers, 0);
    assert_eq!(
        (t.agents_finished, t.agents_finished_with_errors),
        (0, 1),
        "an agent whose requests ended in errors is not a clean finish"
    );
}

#[test]
fn allow_errors_makes_the_same_run_exit_0() {
    let out = run_against_sim("allow", "wrong", &["--allow-errors"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(totals(&out).agents_finished_with_errors, 1);
}

#[test]
fn a_healthy_run_exits_0() {
    let out = run_against_sim("healthy", "right", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let t = totals(&out);
    assert_eq!((t.agents_finished, t.answers, t.errors), (1, 2, 0));
}

/// One request a minute, on the in-process simulator.
const SLOW_CONFIG: &str = "[providers.anthropic]\nkind = \"sim\"\nwire = \"anthropic\"\n\
    [models.haiku]\nprovider = \"anthropic\"\nmodel = \"claude-haiku-4-5\"\nrpm = 1\nitpm = 100000\notpm = 100000\n";

#[test]
fn a_run_cut_at_its_deadline_exits_1_and_counts_the_agent_cut() {
    let dir = temp_dir("deadline");
    let config = write(&dir, "slow.toml", SLOW_CONFIG);
    let scenario = write(&dir, "scenario.json", SCENARIO);
    let t0 = std::time::Instant::now();
    let out = Command::new(BIN)
        // 5 s: the first turn is answered within it even on a loaded machine; the second
        // is a minute away.
        .args(["run", "--json", "--deadline-secs", "5", "--scenario"])
        .arg(scenario)
        .arg("--config")
        .arg(config)
        .env_remove("OPENAI_API_KEY")
        .output()
        .expect("run quotaswarm");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let t = totals(&out);
    assert_eq!((t.agents_cut, t.answers), (1, 1), "{t:?}");
    assert!(t.timed_out && !t.interrupted);
    assert!(
        t0.elapsed().as_secs_f64() < 30.0,
        "the second turn (a minute away) was not awaited"
    );
}

#[test]
fn an_empty_scenario_is_bad_input() {
    let dir = temp_dir("empty");
    let scenario = write(&dir, "empty.json", r#"{"name": "nothing", "agents": []}"#);
    let out = Command::new(BIN)
        .args(["run", "--scenario"])
        .arg(&scenario)
        .output()
        .expect("run quotaswarm");
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("has no agents"), "{err}");
    assert!(err.contains("empty.json"), "{err}");
}

#[test]
fn an_invalid_config_or_scenario_or_argument_is_bad_input() {
    let dir = temp_dir("bad");
    let scenario = write(&dir, "scenario.json", SCENARIO);
    let bad_config = write(&dir, "bad.toml", "[models.haiku]\nrpm = \"lots\"\n");
    let runs: [Vec<std::ffi::OsString>; 4] = [
        vec![
            "run".into(),
            "--scenario".into(),
            dir.join("missing.json").into(),
        ],
        vec![
            "run".into(),
            "--scenario".into(),
            write(&dir, "broken.json", "{\"agents\": [").into(),
        ],
        vec![
            "run".into(),
            "--scenario".into(),
            scenario.into_os_string(),
            "--config".into(),
            bad_config.into_os_string(),
        ],
        vec!["run".into(), "--no-such-flag".into()],
    ];
    for args in runs {
        let out = Command::new(BIN)
            .args(&args)
            .output()
            .expect("run quotaswarm");
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
    }
}

#[test]
fn run_help_documents_the_exit_codes() {
    let out = Command::new(BIN)
        .args(["run", "--help"])
        .output()
        .expect("run quotaswarm");
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for line in [
        "Exit codes:",
        "  0 ",
        "  1 ",
        "  2 ",
        "  3 ",
        "  130 ",
        "--allow-errors",
    ] {
        assert!(help.contains(line), "{line:?} in {help}");
    }
}

#[test]
fn a_stats_address_in_use_exits_3_naming_it() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = Command::new(BIN)
        .args([
            "run",
            "--sim",
            "--agents",
            "1",
            "--turns",
            "1",
            "--stats-addr",
            &addr,
        ])
        .env_remove("ANTHROPIC_API_KEY")
        .env_remove("OPENAI_API_KEY")
        .output()
        .expect("run quotaswarm");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains(&format!("cannot serve stats on {addr}")),
        "{err}"
    );
}
