//! What the CLI tests share: `quotaswarm sim` (or any command that announces
//! `listening on URL`) started as a process of its own on a free loopback port, and
//! checks of the errors the CLI prints.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// A child process, killed (and reaped) when dropped.
pub struct ChildProcess(pub Child);

impl Drop for ChildProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A `quotaswarm sim` process.
pub type SimProcess = ChildProcess;

/// Starts `quotaswarm sim --addr 127.0.0.1:0 --config <config>`; returns the process and
/// the URL its first line announces (`listening on URL`).
pub fn start_sim(config: &Path) -> (SimProcess, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_quotaswarm"));
    command
        .args(["sim", "--addr", "127.0.0.1:0", "--config"])
        .arg(config)
        .stderr(Stdio::inherit());
    start_listening(command, "start quotaswarm sim")
}

/// Spawns `command` (`what` it does, for the panic if it cannot) with its stdout piped;
/// returns the process and the URL its first line announces (`listening on URL`).
pub fn start_listening(mut command: Command, what: &str) -> (ChildProcess, String) {
    let mut child = command
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).expect("read");
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
        .to_string();
    (ChildProcess(child), url)
}

/// The shortest run the limits allow for what the simulator charged `m`: the largest of
/// its totals over that bucket's refill rate per second.
#[allow(dead_code)]
pub fn ideal_secs(m: &quotaswarm_sim::Counters, rpm: f64, itpm: f64, otpm: f64) -> f64 {
    [
        m.requests as f64 / (rpm / 60.0),
        m.input_tokens as f64 / (itpm / 60.0),
        m.output_tokens as f64 / (otpm / 60.0),
    ]
    .into_iter()
    .fold(0.0, f64::max)
}

/// `GET {url}/_stats`, on a runtime of its own.
#[allow(dead_code)]
pub fn sim_stats(url: &str) -> quotaswarm_sim::SimStats {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        reqwest::get(format!("{url}/_stats"))
            .await
            .expect("sim stats")
            .json()
            .await
            .expect("sim stats json")
    })
}

/// `quotaswarm run [flags] --scenario <scenario> --config <config>` with the test key set.
#[allow(dead_code)]
pub fn run_scenario(flags: &[&str], scenario: &Path, config: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_quotaswarm"))
        .arg("run")
        .args(flags)
        .arg("--scenario")
        .arg(scenario)
        .arg("--config")
        .arg(config)
        .env("QUOTASWARM_TEST_KEY", "one-key")
        .output()
        .expect("run quotaswarm")
}

/// Asserts that `printed`, an error as the CLI prints it (the whole chain, after the
/// `error: ` of its stderr line if there is one), starts with `start` and names its OS
/// error once.
#[allow(dead_code)]
pub fn starts_with_one_os_error(printed: &str, start: &str) {
    let chain = printed.strip_prefix("error: ").unwrap_or(printed);
    assert!(chain.starts_with(start), "{printed}");
    assert_eq!(printed.matches("os error").count(), 1, "{printed}");
}
