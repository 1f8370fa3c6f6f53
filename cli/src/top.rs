//! `quotaswarm top`: polls a stats server's `/stats` and redraws the frame that
//! [`render_top`] draws (ANSI clear + home; no TUI crate). `--once` prints one frame
//! without clearing, for scripts and tests.

use clap::Args;
use quotaswarm::monitor::{fetch_stats, render_top, DEFAULT_ADDR};
use std::io::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

/// Clear the screen, cursor home.
const CLEAR: &str = "\x1b[2J\x1b[H";

#[derive(Debug, Args)]
pub struct TopArgs {
    /// Address of the stats server (`quotaswarm run --stats-addr ADDR`).
    #[arg(long, default_value_t = DEFAULT_ADDR)]
    pub addr: SocketAddr,
    /// Milliseconds between refreshes (at least 100).
    #[arg(long, default_value_t = 1000)]
    pub interval_ms: u64,
    /// Print one frame without clearing the screen, then exit.
    #[arg(long)]
    pub once: bool,
    /// Frame width in columns; `$COLUMNS` or 120 otherwise.
    #[arg(long)]
    pub width: Option<usize>,
}

pub async fn top(args: TopArgs) -> anyhow::Result<()> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()?;
    let width = args
        .width
        .or_else(|| std::env::var("COLUMNS").ok()?.trim().parse().ok())
        .unwrap_or(120);
    if args.once {
        let stats = fetch_stats(&client, args.addr).await?;
        print!("{}", render_top(&stats, width));
        return Ok(());
    }
    let mut tick = tokio::time::interval(Duration::from_millis(args.interval_ms.max(100)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
        let stats = fetch_stats(&client, args.addr).await?;
        let mut out = std::io::stdout().lock();
        write!(out, "{CLEAR}{}", render_top(&stats, width))?;
        out.flush()?;
    }
}
