//! `quotaswarm top`: the pure frame of a live broker, and the binary (`--once`) against a
//! live stats server over loopback, in real time.

use quotaswarm::monitor::render_top;
use quotaswarm::swarm::Swarm;
use quotaswarm::{CompletionRequest, Config, Stats};
use tokio::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_quotaswarm");

async fn live_swarm() -> Swarm {
    let swarm = Swarm::start(Config::default(), quotaswarm_sim::embedded())
        .await
        .unwrap();
    let h = swarm.handle();
    let (a, b, c) = tokio::join!(
        h.complete(CompletionRequest::prompt(
            "claude",
            "What is a token bucket?"
        )),
        h.complete(CompletionRequest::prompt(
            "claude",
            "What is a leaky bucket?"
        )),
        h.complete(CompletionRequest::prompt("gpt", "What is backoff?")),
    );
    for r in [a, b, c] {
        r.unwrap();
    }
    swarm
}

/// The table row of `model` (rows start with the model name).
fn row<'a>(frame: &'a str, model: &str) -> &'a str {
    frame
        .lines()
        .find(|l| l.split_whitespace().next() == Some(model))
        .unwrap_or_else(|| panic!("no row for {model} in\n{frame}"))
}

fn assert_frame_shows(frame: &str, stats: &Stats) {
    assert!(
        frame.contains(&format!("requests {}", stats.requests)),
        "{frame}"
    );
    assert!(
        frame.contains(&format!("completed {}", stats.completed)),
        "{frame}"
    );
    assert!(
        frame.contains(&format!("cost ${:.4}", stats.cost_usd)),
        "{frame}"
    );
    assert!(frame.contains("429s "), "{frame}");
    for lane in &stats.lanes {
        let r = row(frame, &lane.model);
        assert!(r.contains('%'), "no headroom for {}: {r}", lane.model);
        assert!(r.contains(&format!("${:.4}", lane.cost_usd)), "{r}");
        assert_eq!(
            r.matches('%').count(),
            lane.buckets.len(),
            "one headroom per bucket: {r}"
        );
    }
}

#[tokio::test]
async fn top_frame_of_a_live_broker_shows_every_lane_headroom_and_totals() {
    let swarm = live_swarm().await;
    let stats = swarm.handle().stats().await.unwrap();
    assert_eq!(stats.requests, 3);
    assert!(stats.lanes.len() >= 2);
    let frame = render_top(&stats, 200);
    assert_frame_shows(&frame, &stats);
    // The lane that served opus has spent something; its row says so.
    let opus = stats.lane("opus").unwrap();
    assert!(opus.cost_usd > 0.0);
    assert!(row(&frame, "opus").contains(&format!("${:.4}", opus.cost_usd)));
    swarm.shutdown().await;
}

#[tokio::test]
async fn top_once_prints_the_live_servers_lanes_without_clearing() {
    let swarm = live_swarm().await;
    let server = swarm
        .serve_stats("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let out = Command::new(BIN)
        .args(["top", "--once", "--width", "200", "--addr"])
        .arg(server.addr.to_string())
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stdout.contains('\x1b'), "--once must not clear the screen");
    let stats = swarm.handle().stats().await.unwrap();
    assert_frame_shows(&stdout, &stats);
    server.shutdown().await.unwrap();
    swarm.shutdown().await;
}

#[tokio::test]
async fn top_says_clearly_when_nothing_answers_at_the_address() {
    // Bind then drop to get a port nobody listens on.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let out = Command::new(BIN)
        .args(["top", "--once", "--addr"])
        .arg(addr.to_string())
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "no quotaswarm stats server answers at http://{addr}/stats"
        )),
        "{stderr}"
    );
}

#[tokio::test]
async fn run_with_stats_addr_announces_the_server() {
    let out = Command::new(BIN)
        .args([
            "run",
            "--agents",
            "1",
            "--turns",
            "1",
            "--stats-addr",
            "127.0.0.1:0",
        ])
        .env_remove("ANTHROPIC_API_KEY")
        .env_remove("OPENAI_API_KEY")
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout
        .lines()
        .find(|l| l.starts_with("stats on http://127.0.0.1:"))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(
        !line.contains("127.0.0.1:0 "),
        "prints the bound port: {line}"
    );
}
