//! Monitoring while the swarm runs: the broker's statistics are a message away
//! (`BrokerHandle::stats`), served as JSON and Prometheus metrics by `serve_stats`
//! (watch them with `quotaswarm top --addr ADDR`), and shown here as a status line:
//! refreshed in place on a terminal, printed every 2 s otherwise.
//!
//! ```sh
//! cargo run --example monitoring
//! ```

use quotaswarm::swarm::status_line;
use quotaswarm::swarm::{Crew, Swarm, SwarmReport};
use quotaswarm::Config;
use quotaswarm_agents::ScriptedAgent;
use std::io::IsTerminal;
use std::time::Duration;

pub async fn run() -> anyhow::Result<SwarmReport> {
    let t0 = tokio::time::Instant::now();
    let swarm = Swarm::start(Config::default(), quotaswarm_sim::loopback()).await?;
    let server = swarm.serve_stats(([127, 0, 0, 1], 0).into()).await?;
    println!(
        "stats on {}  (try: quotaswarm top --addr {})",
        server.url(),
        server.addr
    );
    let mut crew = Crew::new();
    for i in 0..12 {
        let agent = ScriptedAgent::chat("sonnet", &[&format!("Question {i}"), "And then?"]);
        crew.add(swarm.spawn_idle(format!("agent-{i}"), agent).await?);
    }
    let (total, done) = (crew.len(), crew.done_counter());
    let started = crew.start();
    let mut waiting = tokio::spawn(crew.wait(started, Some(Duration::from_secs(60))));
    // On a terminal one status line redrawn in place; in a pipe or a log, a line every 2 s.
    let terminal = std::io::stderr().is_terminal();
    let every = Duration::from_millis(if terminal { 250 } else { 2000 });
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    let outcome = loop {
        tokio::select! {
            outcome = &mut waiting => break outcome?,
            _ = ticks.tick() => {
                let stats = swarm.handle().stats().await?;
                let d = done.load(std::sync::atomic::Ordering::Relaxed);
                let line = status_line(&stats, d, total, started.elapsed());
                if terminal {
                    eprint!("\r{line}\x1b[K");
                } else {
                    println!("{line}");
                }
            }
        }
    };
    if terminal {
        eprintln!();
    }
    let json = reqwest::get(format!("{}/stats", server.url()))
        .await?
        .text()
        .await?;
    println!("GET /stats: {} bytes of JSON", json.len());
    let report = swarm.report(outcome, t0.elapsed()).await;
    server.shutdown().await?;
    swarm.shutdown().await;
    Ok(report)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    run().await.map(|_| ())
}
