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
    /// Milliseconds between refreshes (100 to 3600000).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(100..=3_600_000))]
    pub interval_ms: u64,
    /// Print one frame without clearing the screen, then exit.
    #[arg(long)]
    pub once: bool,
    /// Frame width in columns (20 to 1000); `$COLUMNS` or 120 otherwise.
    #[arg(long, value_parser = clap::value_parser!(u16).range(20..=1000))]
    pub width: Option<u16>,
}

pub async fn top(args: TopArgs) -> anyhow::Result<()> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()?;
    // `COLUMNS` is taken only within the flag's range (a stray huge value would size
    // the frame's buffers).
    let width = args
        .width
        .or_else(|| {
            let c: u16 = std::env::var("COLUMNS").ok()?.trim().parse().ok()?;
            (20..=1000).contains(&c).then_some(c)
        })
        .map_or(120, usize::from);
    if args.once {
        let stats = fetch_stats(&client, args.addr).await?;
        print!("{}", render_top(&stats, width));
        return Ok(());
    }
    let mut tick = tokio::time::interval(Duration::from_millis(args.interval_ms));
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
