//! The `quotaswarm` binary: parses arguments and calls the library.

use clap::Parser;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
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
