//! With stderr not a terminal (here a pipe), `quotaswarm run` prints its status line as
//! plain lines every `--progress-secs`, and nothing with `--quiet`.

use std::process::Command;

/// Two agents of two turns on a simulator that takes 1 s per answer: a run of at least
/// 2 s (the simulator's latency is a real sleep), ten intervals of `--progress-secs 0.2`,
/// so a periodic line comes before the last one even on a loaded machine.
fn run(extra: &[&str]) -> String {
    let dir = std::env::temp_dir().join(format!("quotaswarm-progress-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("slow.toml");
    std::fs::write(&config, "[sim]\nlatency_ms = 1000\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_quotaswarm"))
        .args(["run", "--sim", "--agents", "2", "--turns", "2", "--config"])
        .arg(&config)
        .args(extra)
        .output()
        .expect("run quotaswarm");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    stderr
}

fn status_lines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.starts_with('[') && l.contains("s] agents "))
        .collect()
}

#[test]
fn piped_stderr_gets_a_plain_status_line_every_progress_secs() {
    let stderr = run(&["--progress-secs", "0.2"]);
    println!("{stderr}");
    let lines = status_lines(&stderr);
    // At least one periodic line and the last (how many periodic ones depends on the
    // machine's speed).
    assert!(
        lines.len() >= 2,
        "a line every 0.2 s, and the last: {lines:?}"
    );
    assert!(!stderr.contains('\r'), "no carriage returns: {stderr:?}");
    assert!(
        lines.iter().all(|l| !l.contains('\x1b')),
        "no ANSI: {lines:?}"
    );
    assert!(
        lines.last().is_some_and(|l| l.contains("agents 2/2")),
        "the last line is the end: {lines:?}"
    );
}

#[test]
fn quiet_prints_no_status_line() {
    let stderr = run(&["--progress-secs", "0.2", "--quiet"]);
    assert!(status_lines(&stderr).is_empty(), "{stderr}");
    assert!(
        !stderr.contains("quotaswarm: "),
        "no start-up lines: {stderr}"
    );
}
