//! `quotaswarm run`'s arguments: bad input is refused at once, with a message that says
//! what to give instead; and a stats address that is taken is named, its OS error once.

use crate::common;

use quotaswarm::Config;
use quotaswarm_cli::scenario::{RunOptions, Scenario};
use std::process::Command;

fn run(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_quotaswarm"))
        .arg("run")
        .args(args)
        .output()
        .expect("run quotaswarm");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `quotaswarm run <args>` fails, and its stderr says every one of `parts`; returns the
/// stderr.
fn refused(args: &[&str], parts: &[&str]) -> String {
    let (ok, stderr) = run(args);
    assert!(!ok, "{args:?}");
    for part in parts {
        assert!(stderr.contains(part), "{part:?} missing from: {stderr}");
    }
    stderr
}

#[test]
fn zero_agents_is_refused() {
    refused(
        &["--agents", "0"],
        &["invalid value '0' for '--agents <N>': must be at least 1"],
    );
    refused(&["--agents", "2", "--turns", "0"], &["must be at least 1"]);
}

#[test]
fn a_quota_store_that_is_not_a_redis_url_is_refused() {
    refused(
        &["--quota-store", "http://127.0.0.1:6379"],
        &["must be a Redis URL such as redis://127.0.0.1:6379/0"],
    );
}

#[test]
fn a_missing_config_file_prints_its_os_error_once_and_is_bad_input() {
    let out = Command::new(env!("CARGO_BIN_EXE_quotaswarm"))
        .args(["run", "--config", "/no/such/quotaswarm/config.toml"])
        .output()
        .expect("run quotaswarm");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    common::starts_with_one_os_error(
        &stderr,
        "cannot read config file /no/such/quotaswarm/config.toml: ",
    );
}

#[test]
fn turns_without_agents_is_refused_instead_of_replacing_the_demo() {
    refused(&["--turns", "2"], &["--agents <N>", "required"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_stats_address_is_named_with_its_os_error_once() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let scenario = Scenario::simple(1, 1, "haiku");
    let opts = RunOptions {
        stats_addr: Some(addr),
        ..RunOptions::default()
    };
    let e = scenario
        .run(Config::default(), quotaswarm_sim::embedded(), opts)
        .await
        .unwrap_err();
    // As the CLI prints errors: the whole chain.
    let printed = format!("{:#}", anyhow::Error::from(e));
    common::starts_with_one_os_error(&printed, &format!("cannot serve stats on {addr}: "));
    assert!(!printed.contains("spawn"), "{printed}");
}

#[test]
fn a_zero_or_out_of_range_duration_flag_is_refused() {
    for (flag, value) in [
        ("--deadline-secs", "0"),
        ("--deadline-secs", "1e300"),
        ("--deadline-secs", "-1"),
        ("--deadline-secs", "NaN"),
        ("--progress-secs", "inf"),
        ("--progress-secs", "0"),
    ] {
        // `--flag=VALUE`: a bare `-1` would read as a flag.
        let stderr = refused(
            &[&format!("{flag}={value}")],
            &[&format!("invalid value '{value}' for '{flag} <SECS>'")],
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[test]
fn a_scenario_with_max_wait_secs_1e300_is_bad_input_not_a_panic() {
    let dir = std::env::temp_dir().join(format!("quotaswarm-1e300-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let scenario = dir.join("huge.json");
    std::fs::write(
        &scenario,
        r#"{"agents": [{"name": "a", "model": "haiku", "max_wait_secs": 1e300,
            "turns": [{"user": "hi"}]}]}"#,
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_quotaswarm"))
        .args(["run", "--sim", "--scenario"])
        .arg(&scenario)
        .output()
        .expect("run quotaswarm");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("`max_wait_secs` must be"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
