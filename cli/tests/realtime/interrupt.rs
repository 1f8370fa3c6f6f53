//! Ctrl-C (SIGINT) or SIGTERM during `quotaswarm run --json`: the agents are cut, the
//! partial report is the JSON object on stdout, and the exit code is 130 (143).

use quotaswarm::swarm::Totals;
use std::io::{BufRead, BufReader, Read};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// One request a minute, on the in-process simulator: the second turn waits a minute.
const SLOW_CONFIG: &str = "[providers.anthropic]\nkind = \"sim\"\nwire = \"anthropic\"\n\
    [models.haiku]\nprovider = \"anthropic\"\nmodel = \"claude-haiku-4-5\"\nrpm = 1\nitpm = 100000\notpm = 100000\n";

const SCENARIO: &str = r#"{"agents": [{"name": "asker", "model": "haiku", "copies": 2,
    "turns": [{"user": "hello"}, {"user": "and again"}]}]}"#;

/// Starts the run, waits until its agents are running, sends `signal`; returns how the
/// process ended, its stdout and its stderr.
fn interrupt_a_run(tag: &str, signal: &str) -> (ExitStatus, String, String, Duration) {
    let dir =
        std::env::temp_dir().join(format!("quotaswarm-interrupt-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("slow.toml");
    std::fs::write(&config, SLOW_CONFIG).unwrap();
    let scenario = dir.join("scenario.json");
    std::fs::write(&scenario, SCENARIO).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_quotaswarm"))
        .args(["run", "--json", "--stats-addr", "127.0.0.1:0", "--scenario"])
        .arg(&scenario)
        .arg("--config")
        .arg(&config)
        .env_remove("OPENAI_API_KEY")
        // The status line too (off with --json otherwise), for its last line.
        .env("QUOTASWARM_PROGRESS", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start quotaswarm run");
    // With --json, the stats server's announcement goes to stderr, just before the
    // agents start.
    let (tx, rx) = mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line.clone());
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    let url = rx
        .iter()
        .find_map(|l| {
            l.strip_prefix("stats on ")
                .and_then(|rest| rest.split_whitespace().next())
                .map(str::to_string)
        })
        .expect("the run announces its stats server");
    wait_for_first_answer(&url);
    let sent = Instant::now();
    let kill = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(kill.success());
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(sent.elapsed() < Duration::from_secs(20), "ends soon after");
        std::thread::sleep(Duration::from_millis(20));
    };
    let took = sent.elapsed();
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    let stderr = reader.join().unwrap();
    (status, stdout, stderr, took)
}

/// Polls the run's `/stats` until the broker has answered once: the agents are then
/// waiting for their second turn, a minute away.
fn wait_for_first_answer(url: &str) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let t0 = Instant::now();
    loop {
        let completed = rt.block_on(async {
            let stats: serde_json::Value = reqwest::get(format!("{url}/stats"))
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            stats["completed"].as_u64()
        });
        if completed.unwrap_or(0) >= 1 {
            return;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "no answer from {url}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn assert_partial_report(stdout: &str, stderr: &str) {
    assert_eq!(
        stdout.trim().lines().count(),
        1,
        "one JSON object: {stdout}"
    );
    let t: Totals = serde_json::from_str(stdout.trim()).expect("the JSON report");
    assert!(t.interrupted, "{t:?}");
    assert_eq!(t.agents, 2);
    assert_eq!(t.agents_cut, 2, "both were waiting for their second turn");
    assert_eq!(
        t.answers, 2,
        "the identical first turns, merged into one request"
    );
    assert_eq!(t.errors, 0);
    assert!(stderr.contains("interrupted"), "{stderr}");
    // The last status line counts the cut agents as cut, not as done.
    assert!(stderr.contains("agents 0/2 (2 cut)"), "{stderr}");
}

#[test]
fn sigint_cuts_the_run_prints_the_partial_json_report_and_exits_130() {
    let (status, stdout, stderr, took) = interrupt_a_run("int", "-INT");
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert_partial_report(&stdout, &stderr);
    assert!(stderr.contains("Ctrl-C again to quit at once"), "{stderr}");
    // The agents stop at their pending asks: the second turn (a minute away) is not
    // waited for. Kept well under that minute rather than near the 2 s grace period,
    // so a loaded machine cannot fail it.
    assert!(took < Duration::from_secs(20), "{took:?}");
}

#[test]
fn sigterm_does_the_same_and_exits_143() {
    let (status, stdout, stderr, _) = interrupt_a_run("term", "-TERM");
    assert_eq!(status.code(), Some(143), "{stderr}");
    assert_partial_report(&stdout, &stderr);
    // SIGTERM comes from a supervisor: no offer to press anything.
    assert!(!stderr.contains("again to quit"), "{stderr}");
}
