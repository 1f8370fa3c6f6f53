//! The live dashboard in a real browser, in real time: `quotaswarm run --stats-addr`
//! runs a swarm on the simulator (four lanes, 429s, 529s, fallbacks and merges), headless
//! Chromium opens `/`, and the test reads the rendered DOM twice: every lane appears,
//! and the completion count the page shows grows while the page stays open (it polls by
//! itself; the test never reloads it). It also checks the page fits a phone's width, and
//! writes screenshots to `target/dashboard.png` (a laptop's screen),
//! `target/dashboard-full.png` (the whole page) and `target/dashboard-phone.png` for a
//! person to look at.
//!
//! Needs Debian's `chromium` (`apt-get install chromium`; or set `CHROMIUM` to a
//! binary). Without it the test fails when `CI=true` and is skipped, loudly, elsewhere.
//! Every wait is on a condition with a generous timeout, never a fixed sleep.

mod cdp;

use cdp::{find_chromium, Browser};
use quotaswarm::monitor::fetch_stats;
use quotaswarm::Stats;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Generous: the machine may be busy building other crates.
const TIMEOUT: Duration = Duration::from_secs(120);
/// The page polls this often (its `?every=` parameter), so the test needs less time.
const POLL_MS: u32 = 500;

/// Four lanes and the troubles the dashboard draws: the simulator gives opus a far
/// smaller quota than the broker believes (429s, fallbacks down the claude ladder) and
/// answers 529 to a fifth of haiku's requests (retries).
const CONFIG: &str = r#"
replace_defaults = true

[providers.anthropic]
kind = "anthropic"

[providers.openai]
kind = "openai"

[models.opus]
provider = "anthropic"
model = "claude-opus-4-6"
rpm = 30
itpm = 30000
otpm = 6000
input_price = 5.0
output_price = 25.0

[models.sonnet]
provider = "anthropic"
model = "claude-sonnet-4-6"
rpm = 60
itpm = 20000
otpm = 4000
input_price = 3.0
output_price = 15.0

[models.haiku]
provider = "anthropic"
model = "claude-haiku-4-5"
rpm = 90
itpm = 40000
otpm = 6000
input_price = 1.0
output_price = 5.0

[models.gpt-4o-mini]
provider = "openai"
model = "gpt-4o-mini"
rpm = 60
tpm = 20000
input_price = 0.15
output_price = 0.6

[ladders]
claude = ["opus", "sonnet", "haiku"]
gpt = ["gpt-4o-mini"]

[broker]
burst_secs = 5

[sim]
burst_secs = 10
latency_ms = 150
per_token_ms = 2

[sim.limits.opus]
rpm = 6

[[sim.faults]]
model = "haiku"
status = 529
rate = 0.2
"#;

/// Agents with far more turns than the test watches (the run is stopped when the test
/// ends): distinct questions on both ladders, and three copies asking the same ones
/// (merged).
fn scenario() -> String {
    let turns = |agent: &str, n: usize| -> Vec<serde_json::Value> {
        (0..n)
            .map(|i| {
                serde_json::json!({ "oneshot": {
                    "user": format!("{agent}, question {i}: how should a swarm share one rate limit \
                                     when every agent wants the large model at once?"),
                    "max_tokens": 60 + (i % 5) as u32 * 20
                }})
            })
            .collect()
    };
    let mut agents = Vec::new();
    for a in 0..6 {
        let name = format!("analyst-{a}");
        agents.push(serde_json::json!({
            "name": name, "model": "claude", "max_wait_secs": 3, "turns": turns(&name, 400)
        }));
    }
    for a in 0..2 {
        let name = format!("tagger-{a}");
        agents
            .push(serde_json::json!({ "name": name, "model": "gpt", "turns": turns(&name, 400) }));
    }
    agents.push(serde_json::json!({
        "name": "echo", "copies": 3, "model": "claude", "turns": turns("echo", 400)
    }));
    serde_json::json!({ "name": "dashboard test", "agents": agents }).to_string()
}

/// A scratch directory, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Scratch {
        let dir = std::env::temp_dir().join(format!(
            "quotaswarm-dashboard-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `quotaswarm run`, killed (and reaped) when dropped.
struct Run {
    child: Child,
    addr: SocketAddr,
    stderr_log: PathBuf,
}

impl Drop for Run {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Run {
    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_log).unwrap_or_default()
    }
}

fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
}

/// Starts the swarm with its stats server on a free port and waits until `/stats`
/// shows a first completion. A port taken between our probe and the run's bind (exit 3)
/// is retried on another.
fn start_run(dir: &Path, rt: &tokio::runtime::Runtime) -> (Run, Stats) {
    let config = dir.join("dashboard.toml");
    let scenario_path = dir.join("dashboard.json");
    std::fs::write(&config, CONFIG).unwrap();
    std::fs::write(&scenario_path, scenario()).unwrap();
    let client = reqwest::Client::new();
    for attempt in 1..=3 {
        let addr = free_port();
        let stderr_log = dir.join(format!("run-{attempt}.stderr"));
        let child = Command::new(env!("CARGO_BIN_EXE_quotaswarm"))
            .args([
                "run",
                "--sim",
                "--quiet",
                "--allow-errors",
                "--deadline-secs",
                "900",
            ])
            .arg("--config")
            .arg(&config)
            .arg("--scenario")
            .arg(&scenario_path)
            .arg("--stats-addr")
            .arg(addr.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr_log).unwrap())
            .spawn()
            .expect("start quotaswarm run");
        let mut run = Run {
            child,
            addr,
            stderr_log,
        };
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = run.child.try_wait() {
                if status.code() == Some(3) && attempt < 3 {
                    break; // the port was taken meanwhile: try another
                }
                panic!("quotaswarm run exited early ({status}):\n{}", run.stderr());
            }
            if let Ok(stats) = rt.block_on(fetch_stats(&client, addr)) {
                if stats.completed > 0 {
                    return (run, stats);
                }
            }
            assert!(
                started.elapsed() < TIMEOUT,
                "no completion on http://{addr}/stats within {TIMEOUT:?}:\n{}",
                run.stderr()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    unreachable!("the loop returns or panics")
}

/// Polls `probe` until it returns `Some`, failing after [`TIMEOUT`] with `what`.
fn wait_for<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let started = Instant::now();
    loop {
        if let Some(v) = probe() {
            return v;
        }
        assert!(
            started.elapsed() < TIMEOUT,
            "timed out after {TIMEOUT:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The opening tag of the element carrying `marker` (e.g. `id="completed"`).
fn tag_with<'a>(dom: &'a str, marker: &str) -> Option<&'a str> {
    let at = dom.find(marker)?;
    let start = dom[..at].rfind('<')?;
    let end = at + dom[at..].find('>')?;
    Some(&dom[start..=end])
}

/// The value of attribute `name` in an opening tag.
fn attr<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let key = format!(" {name}=\"");
    let at = tag.find(&key)? + key.len();
    let len = tag[at..].find('"')?;
    Some(&tag[at..at + len])
}

/// What the page shows, read from its rendered DOM.
#[derive(Debug)]
struct Shown {
    /// The completion count: the `completed` tile's `data-value`, checked against the
    /// number printed in it.
    completed: u64,
    /// The lanes drawn (`data-lane` of each lane card).
    lanes: Vec<String>,
    samples: usize,
}

fn read_page(dom: &str) -> Option<Shown> {
    let app = tag_with(dom, "id=\"app\"")?;
    if attr(app, "data-ready") != Some("true") {
        return None;
    }
    let samples = attr(app, "data-samples")?.parse().ok()?;
    let tile = tag_with(dom, "id=\"completed\"")?;
    let completed: u64 = attr(tile, "data-value")?.parse().ok()?;
    // The number printed in the tile is the same count.
    let after = &dom[dom.find("id=\"completed\"")?..];
    let value = after.split("class=\"value\">").nth(1)?.split('<').next()?;
    assert_eq!(
        value.replace(',', ""),
        completed.to_string(),
        "the tile prints what it carries"
    );
    let lanes = dom
        .split("<article ")
        .skip(1)
        .filter_map(|t| {
            let open = format!(" {}", t.split('>').next().unwrap_or_default());
            attr(&open, "data-lane").map(str::to_string)
        })
        .collect();
    Some(Shown {
        completed,
        lanes,
        samples,
    })
}

fn target_dir() -> PathBuf {
    // CARGO_TARGET_TMPDIR is `<target>/tmp`.
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("target dir")
        .to_path_buf()
}

#[test]
fn the_dashboard_shows_every_lane_and_live_completions_in_chromium() {
    let Some(chromium) = find_chromium() else {
        let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
        assert!(
            !ci,
            "CI=true but no chromium: install Debian's `chromium` (or set CHROMIUM)"
        );
        // Straight to the process's stderr: the test harness captures `eprintln!` of a
        // passing test, and a skip must be seen.
        let _ = std::io::Write::write_all(
            &mut std::io::stderr(),
            "\n\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\
             !!! SKIPPED dashboard browser test: no chromium at /usr/bin/chromium,  !!!\n\
             !!! on PATH or in $CHROMIUM (apt-get install -y chromium)              !!!\n\
             !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n"
                .as_bytes(),
        );
        return;
    };
    let scratch = Scratch::new();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (run, stats) = start_run(&scratch.0, &rt);
    let lanes: Vec<String> = stats.lanes.iter().map(|l| l.model.clone()).collect();
    assert_eq!(lanes, ["gpt-4o-mini", "haiku", "opus", "sonnet"]);

    let url = format!("http://{}/?every={POLL_MS}", run.addr);
    let mut page = Browser::open(&chromium, &scratch.0.join("profile"), &url, 1280, 900);

    // First read: the page has drawn every lane and a completion count.
    let first = wait_for("the page to show every lane and a completion", || {
        page.dom()
            .and_then(|d| read_page(&d))
            .filter(|s| s.completed > 0 && s.lanes.len() == lanes.len())
    });
    assert_eq!(first.lanes, lanes, "{first:?}");

    // Second read, same page, no reload: once the broker has completed more, the page
    // shows a larger count by itself.
    let client = reqwest::Client::new();
    wait_for("the broker to complete more", || {
        rt.block_on(fetch_stats(&client, run.addr))
            .ok()
            .filter(|s| s.completed > first.completed)
    });
    let second = wait_for("the page to show the larger count", || {
        page.dom()
            .and_then(|d| read_page(&d))
            .filter(|s| s.completed > first.completed)
    });
    assert!(
        second.completed > first.completed,
        "{first:?} then {second:?}"
    );
    assert_eq!(second.lanes, lanes, "{second:?}");
    assert!(second.samples > first.samples, "{first:?} then {second:?}");

    // Enough history for the charts to draw lines, then the laptop screenshot.
    let want = std::env::var("DASHBOARD_SAMPLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(16usize);
    wait_for("the page to gather samples for its charts", || {
        page.dom()
            .and_then(|d| read_page(&d))
            .filter(|s| s.samples >= want)
    });
    let target = target_dir();
    let png = page.screenshot();
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    std::fs::write(target.join("dashboard.png"), png).unwrap();
    std::fs::write(
        target.join("dashboard-full.png"),
        page.screenshot_full_page(),
    )
    .unwrap();

    // A phone: one column, nothing wider than the screen.
    page.resize(390, 844, true);
    let fits = wait_for("the page to re-render at phone width", || {
        page.eval(
            "({ drawn: document.getElementById('app').dataset.width, \
                scroll: document.documentElement.scrollWidth, \
                cols: getComputedStyle(document.getElementById('lanes')).gridTemplateColumns })",
        )
        .filter(|v| v["drawn"].as_str() == Some("390"))
    });
    let scroll = fits["scroll"].as_u64().unwrap_or(u64::MAX);
    assert!(scroll <= 390, "wider than the phone: {fits}");
    let cols = fits["cols"].as_str().unwrap_or_default();
    assert_eq!(
        cols.split_whitespace().count(),
        1,
        "one lane column: {fits}"
    );
    std::fs::write(target.join("dashboard-phone.png"), page.screenshot()).unwrap();
    println!(
        "dashboard: {} then {} completions shown; screenshots in {}",
        first.completed,
        second.completed,
        target.display()
    );
}
