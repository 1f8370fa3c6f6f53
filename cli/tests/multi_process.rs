//! Three `quotaswarm run` OS processes sharing one API key against one `quotaswarm sim`
//! process, in real time, with limits scaled so the run takes 20–40 s.
//!
//! What each store promises, asserted in a way no machine speed can break:
//!
//! - With `--quota-store redis://…` (the machine's Redis, a namespace of its own): the
//!   simulator answers no 429s and every agent of every process finishes. The combined
//!   makespan against the ideal for the combined load (max over buckets of total charged
//!   / refill rate) is printed as a measurement; the assertion only bounds it widely
//!   (between half and twice the ideal), since a loaded machine stretches a real-time
//!   run.
//! - With the memory store (each process believes it owns the whole quota): the same
//!   kind of run, a third as long, draws 429s, and every agent still finishes.
//!
//! Its own test binary, so it does not share the machine with the other real-time tests.
//! About 45 s.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Instant;

const RPM: f64 = 1200.0;
const ITPM: f64 = 120_000.0;
const OTPM: f64 = 60_000.0;
const PROCESSES: usize = 3;
const AGENTS: usize = 8;
const KEY_ENV: &str = "QUOTASWARM_MP_TEST_KEY";

fn redis_url() -> String {
    std::env::var("QUOTASWARM_TEST_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379/0".into())
}

fn limits() -> String {
    format!("rpm = {RPM}\nitpm = {ITPM}\notpm = {OTPM}\nburst_secs = 2\ninput_price = 3.0\noutput_price = 15.0\n")
}

fn sim_config() -> String {
    format!(
        "replace_defaults = true\n[providers.anthropic]\nkind = \"anthropic\"\n\
         [models.m]\nprovider = \"anthropic\"\nmodel = \"claude-sonnet-4-5\"\n{}\
         [sim]\nburst_secs = 2\nlatency_ms = 30\nper_token_ms = 1\n",
        limits()
    )
}

/// The runs' config.
///
/// `local_share = 0.25`: on a loaded machine a Redis call can outlast its 500 ms timeout;
/// the broker then admits locally until Redis answers, and a process that has not yet
/// seen how many processes share the key takes the whole limit (share 1.0), so the
/// three together overshoot and draw 429s (seen once: 12 429s under a full
/// `cargo test --workspace` on a busy machine). A quarter each keeps the three within
/// the limit while degraded. Issue 19 item 7 (`[quota] expected_processes`, default 4,
/// in `src/broker`) makes that the default; then this line can go.
///
/// `max_attempts` is raised far above the default 5 because, without
/// the shared store, three processes each spending the whole quota draw 429s, and today a
/// 429 retried counts against the attempt limit: how many one request meets depends on
/// how the three processes interleave, so with 5 the run failed now and then (one
/// request out of attempts after 14 429s). Once a 429 is a wait within the request's
/// wait budget rather than a spent attempt (issue 19 item 2, in `src/broker`), this can
/// go back to the default.
fn client_config(url: &str, namespace: &str) -> String {
    format!(
        "replace_defaults = true\n[providers.anthropic]\nkind = \"anthropic\"\n\
         base_url = \"{url}\"\napi_key_env = \"{KEY_ENV}\"\n\
         [models.m]\nprovider = \"anthropic\"\nmodel = \"claude-sonnet-4-5\"\n{}\
         [quota]\nnamespace = \"{namespace}\"\nlocal_share = 0.25\n\
         [broker]\nmax_attempts = 1000\n",
        limits()
    )
}

fn words(i: usize, n: usize) -> String {
    let mut s = format!("Question {i}:");
    for w in 0..n {
        s.push_str([" queue", " bucket", " refill", " token", " agent"][(w * 7 + i) % 5]);
    }
    s
}

/// `AGENTS` scripted agents, `turns` one-shot turns each of about 400 input tokens.
fn scenario(process: usize, turns: usize) -> String {
    let turns: Vec<serde_json::Value> = (0..turns)
        .map(|t| {
            serde_json::json!({"oneshot": {
                "system": "Answer briefly.",
                "user": words(process * 100 + t, 380),
                "max_tokens": 120
            }})
        })
        .collect();
    serde_json::json!({
        "name": format!("process {process}"),
        "deadline_secs": 120,
        "agents": [{
            "name": "agent", "kind": "scripted", "model": "m", "copies": AGENTS,
            "coalesce": false, "max_tokens": 120, "turns": turns
        }]
    })
    .to_string()
}

/// A child process killed if the test ends (or fails) before it does.
struct Killed(Option<Child>);

impl Killed {
    /// Waits for it to end by itself and takes its output.
    fn output(mut self) -> std::process::Output {
        self.0
            .take()
            .expect("a running child")
            .wait_with_output()
            .expect("wait")
    }
}

impl Drop for Killed {
    fn drop(&mut self) {
        if let Some(child) = self.0.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn start_sim(dir: &Path) -> (common::SimProcess, String) {
    let path = dir.join("sim.toml");
    std::fs::write(&path, sim_config()).expect("write");
    common::start_sim(&path)
}

struct Run {
    makespan: f64,
    ideal: f64,
    status_429: u64,
    requests: u64,
}

/// Starts `PROCESSES` runs at once against a fresh simulator and waits for them all.
fn run(dir: &Path, store: Option<&str>, turns: usize) -> Run {
    let (_sim, url) = start_sim(dir);
    let namespace = format!("qs-mp-{}-{:08x}", std::process::id(), rand::random::<u32>());
    let config = dir.join("client.toml");
    std::fs::write(&config, client_config(&url, &namespace)).expect("write");
    let started = Instant::now();
    let children: Vec<Killed> = (0..PROCESSES)
        .map(|p| {
            let path = dir.join(format!("scenario-{p}.json"));
            std::fs::write(&path, scenario(p, turns)).expect("write");
            let mut cmd = Command::new(env!("CARGO_BIN_EXE_quotaswarm"));
            cmd.args(["run", "--json", "--quiet", "--scenario"])
                .arg(&path)
                .arg("--config")
                .arg(&config)
                .env(KEY_ENV, "one-key-three-processes")
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit());
            if let Some(url) = store {
                cmd.args(["--quota-store", url]);
            }
            Killed(Some(cmd.spawn().expect("start quotaswarm run")))
        })
        .collect();
    for child in children {
        let out = child.output();
        let totals: serde_json::Value =
            serde_json::from_slice(&out.stdout).expect("the report is one JSON object");
        assert_eq!(
            totals["agents_finished"].as_u64(),
            Some(AGENTS as u64),
            "every agent finishes: {totals}"
        );
    }
    let makespan = started.elapsed().as_secs_f64();
    let sim = common::sim_stats(&url);
    let m = &sim.models["claude-sonnet-4-5"];
    let ideal = common::ideal_secs(m, RPM, ITPM, OTPM);
    Run {
        makespan,
        ideal,
        status_429: sim.total.status(429),
        requests: m.requests,
    }
}

#[test]
fn three_processes_on_one_key_share_the_quota_through_redis_and_not_without_it() {
    let dir = std::env::temp_dir().join(format!("quotaswarm-mp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");

    let shared = run(&dir, Some(&redis_url()), 6);
    println!(
        "redis store: {} processes, {} requests, 429s {}; makespan {:.1}s, ideal {:.1}s (ratio {:.3})",
        PROCESSES,
        shared.requests,
        shared.status_429,
        shared.makespan,
        shared.ideal,
        shared.makespan / shared.ideal
    );

    let alone = run(&dir, None, 2);
    println!(
        "memory store: {} processes, {} requests, 429s {}; makespan {:.1}s, ideal {:.1}s",
        PROCESSES, alone.requests, alone.status_429, alone.makespan, alone.ideal
    );

    assert_eq!(shared.status_429, 0, "no 429s with the shared store");
    assert!(
        (20.0..=45.0).contains(&shared.ideal),
        "the limits should make a 20-40 s run: {}",
        shared.ideal
    );
    // Wide bounds on purpose (the ratio is printed above as the measurement): the lower
    // one says the processes did not each spend the whole quota (the 0 429s say it
    // exactly), the upper one that they kept using it, and it holds on a machine twice
    // as slow as this run needs.
    assert!(
        shared.makespan >= 0.5 * shared.ideal,
        "faster than the quota allows: makespan {:.1}s vs ideal {:.1}s",
        shared.makespan,
        shared.ideal
    );
    assert!(
        shared.makespan <= 2.0 * shared.ideal,
        "makespan {:.1}s vs ideal {:.1}s",
        shared.makespan,
        shared.ideal
    );
    assert!(
        alone.status_429 > 0,
        "each process alone believes it owns the quota"
    );
    // (`run` asserted that every agent of every process finished, for both stores.)
}
