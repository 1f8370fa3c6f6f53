//! The `quotaswarm` binary: parses arguments and calls the library.

use clap::Parser;
use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(colour())
        .init();
    let cli = quotaswarm_cli::Cli::parse();
    match quotaswarm_cli::main(cli).await {
        Ok(exit) => exit.into(),
        Err(e) => {
            eprintln!("error: {e:#}");
            quotaswarm_cli::Exit::of_error(&e).into()
        }
    }
}

/// Colour in log lines only on a terminal, and not when `NO_COLOR` is set to anything
/// (no-color.org): escape codes in a log file or a CI log are noise.
fn colour() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}
