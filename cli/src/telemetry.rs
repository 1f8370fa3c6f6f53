//! The process's tracing: log lines on stderr (`RUST_LOG`, default `warn`), and, once a
//! command has loaded a config with an `[otlp]` table, the broker's per-completion spans
//! exported to that OpenTelemetry collector ([`quotaswarm::monitor::otlp`]).
//!
//! The subscriber is set up before the config is read, so the export joins it later:
//! its layer and its filter sit in reload slots that start empty and filter out every
//! call site (no cost while nothing is exported). [`install`] fills them; [`Export::finish`]
//! sends the last spans before the command returns.

use quotaswarm::config::OtlpConfig;
use quotaswarm::monitor::otlp::{Otlp, OtlpLayer};
use std::sync::OnceLock;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{reload, EnvFilter, Layer, Registry};

type LayerSlot = reload::Handle<Option<OtlpLayer<Registry>>, Registry>;
type FilterSlot = reload::Handle<Targets, Registry>;

static SLOTS: OnceLock<(LayerSlot, FilterSlot)> = OnceLock::new();

/// Sets the process's subscriber: log lines on stderr, with colour when `colour`, and
/// the empty slots of the OTLP export. Once per process.
pub fn init(colour: bool) {
    let (layer, layer_slot) = reload::Layer::new(None);
    let (filter, filter_slot) = reload::Layer::new(Targets::new());
    let env = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    let log = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .with_filter(env);
    let set = tracing_subscriber::registry()
        .with(layer.with_filter(filter))
        .with(log)
        .try_init();
    if set.is_ok() {
        let _ = SLOTS.set((layer_slot, filter_slot));
    }
}

/// The OTLP export a command started: finish it before returning.
#[derive(Debug)]
pub struct Export(Otlp);

impl Export {
    /// Where spans go.
    pub fn url(&self) -> &str {
        self.0.url()
    }

    /// Sends the spans still pending and stops the export. A collector that cannot be
    /// reached is reported on stderr; it does not change how the command ended.
    pub async fn finish(self) {
        if let Err(e) = self.0.shutdown().await {
            eprintln!("quotaswarm: {e}");
        }
    }
}

/// Starts exporting the broker's spans to `config`'s collector, when there is one.
pub fn install(config: Option<&OtlpConfig>) -> anyhow::Result<Option<Export>> {
    let Some(config) = config else {
        return Ok(None);
    };
    let Some((layer_slot, filter_slot)) = SLOTS.get() else {
        anyhow::bail!("[otlp] needs the process's tracing set up first (telemetry::init)");
    };
    let otlp = Otlp::start(config)?;
    layer_slot.reload(Some(otlp.layer()))?;
    // Reloading the filter rebuilds every call site's interest: the spans turn on now.
    filter_slot.reload(Otlp::filter())?;
    Ok(Some(Export(otlp)))
}
