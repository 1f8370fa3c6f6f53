//! `quotaswarm serve`: an Anthropic- and OpenAI-compatible HTTP gateway in front of the
//! broker, so agents written with any vendor SDK share one quota. Like an agent, it is a
//! front end: vendor-format requests become broker requests, broker replies go back in
//! the client's format.
//!
//! | module | holds |
//! |---|---|
//! | `routes` | the HTTP routes, routing by `model`, admission, SSE |
//! | `anthropic` | the Messages wire, server side |
//! | `openai` | the Chat Completions wire, server side |
//! | `clients` | client keys (SHA-256) and per-client limits and budgets |
//! | `errors` | errors in each vendor's shape |
//! | `ratelimit` | the broker's view as rate-limit headers |
//! | `settings` | the config file's `[gateway]` table |
//! | `shutdown` | SIGTERM: stop accepting, drain, exit |
//! | `usage` | per-client counters for `/stats` and `/metrics` |

mod anthropic;
mod clients;
mod errors;
mod openai;
mod ratelimit;
mod routes;
mod settings;
mod shutdown;
mod usage;

/// A one-word answer of wire model `model`, for the translation tests.
#[cfg(test)]
fn said_hi(id: &str, model: &str) -> quotaswarm::Completion {
    quotaswarm::Completion::from_provider(
        id.into(),
        model.into(),
        vec![quotaswarm::types::ContentBlock::text("hi")],
        quotaswarm::types::StopReason::EndTurn,
        Default::default(),
    )
}

/// [`said_hi`] with `input` tokens sent (`cached` of them read from the cache) and
/// `output` tokens answered.
#[cfg(test)]
fn said_hi_using(
    id: &str,
    model: &str,
    input: u64,
    cached: u64,
    output: u64,
) -> quotaswarm::Completion {
    let mut c = said_hi(id, model);
    c.usage.input_tokens = input;
    c.usage.cache_read_input_tokens = cached;
    c.usage.output_tokens = output;
    c
}

/// The JSON payloads of an SSE body's `data:` lines (a `[DONE]` left out).
#[cfg(test)]
fn sse_data(sse: &str) -> Vec<serde_json::Value> {
    sse.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str(d).ok())
        .collect()
}

use anyhow::Context;
use clap::Args;
use quotaswarm::swarm::Swarm;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:8788")]
    pub addr: SocketAddr,
    /// Config file: providers, models, ladders, and a `[gateway]` table (clients).
    #[arg(long)]
    pub config: Option<PathBuf>,
}

pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let (config, settings) = match &args.config {
        Some(p) => settings::load(p)?,
        None => (quotaswarm::Config::default(), settings::Settings::default()),
    };
    if settings.clients.is_empty() && !args.addr.ip().is_loopback() {
        anyhow::bail!(
            "no [gateway.clients] configured: the gateway would accept any key, so it listens \
             only on a loopback address; configure clients to listen on {}",
            args.addr
        );
    }
    // Providers whose key is set go to their API (or `base_url`); the rest to the built-in
    // simulator on loopback, so `quotaswarm serve` with no key and no config works at once.
    let export = crate::telemetry::install(config.otlp.as_ref())?;
    let swarm = Swarm::start(config, quotaswarm_sim::auto())
        .await
        .context("starting the broker")?;
    for line in &swarm.backends {
        eprintln!("{line}");
    }
    if let Some(e) = &export {
        eprintln!("traces to {}", e.url());
    }
    let rates = ratelimit::RateView::default();
    rates.spawn_refresh(swarm.handle());
    let gw = Arc::new(routes::Gateway {
        handle: swarm.handle(),
        clients: clients::Clients::new(&settings.clients),
        queue: Arc::new(tokio::sync::Semaphore::new(settings.max_queue.max(1))),
        max_body: settings.max_body_bytes,
        ready: AtomicBool::new(true),
        access_log: settings.access_log,
        rates,
        usage: usage::Usage::default(),
    });
    let app = routes::router(gw.clone()).layer(axum::extract::DefaultBodyLimit::disable());
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .with_context(|| format!("cannot listen on {}", args.addr))?;
    let bound = listener.local_addr()?;
    println!("listening on http://{bound}");
    std::io::stdout().flush()?;

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let draining = gw.clone();
    let server = axum::serve(listener, app).with_graceful_shutdown(async move {
        shutdown::signal().await;
        draining.ready.store(false, Ordering::Release);
        eprintln!("quotaswarm serve: draining in-flight requests");
        let _ = stop_tx.send(true);
    });
    let drain = Duration::from_secs(settings.drain_secs);
    let mut stop = stop_rx;
    let deadline = async move {
        let _ = stop.wait_for(|s| *s).await;
        tokio::time::sleep(drain).await;
    };
    tokio::select! {
        r = server => r.context("serving")?,
        () = deadline => eprintln!("quotaswarm serve: drain deadline of {drain:?} passed; exiting"),
    }
    swarm.shutdown().await;
    if let Some(e) = export {
        e.finish().await;
    }
    Ok(())
}
