//! The `quotaswarm` binary: parses arguments and calls the library.

use clap::Parser;
use std::io::IsTerminal;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    quotaswarm_cli::telemetry::init(colour());
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
