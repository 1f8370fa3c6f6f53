//! What the CLI tests share: `quotaswarm sim` started as a process of its own on a free
//! loopback port.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// A `quotaswarm sim` process, killed (and reaped) when dropped.
pub struct SimProcess(pub Child);

impl Drop for SimProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `quotaswarm sim --addr 127.0.0.1:0 --config <config>`; returns the process and
/// the URL its first line announces (`listening on URL`).
pub fn start_sim(config: &Path) -> (SimProcess, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_quotaswarm"))
        .args(["sim", "--addr", "127.0.0.1:0", "--config"])
        .arg(config)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start quotaswarm sim");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).expect("read");
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
        .to_string();
    (SimProcess(child), url)
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
