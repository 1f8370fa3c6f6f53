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
