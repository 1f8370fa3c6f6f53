//! OpenTelemetry export (feature `otlp`): the broker's per-completion spans
//! (`gen_ai.completion`, with the GenAI semantic-convention attributes and the broker's
//! own) and the events inside them (retries, fallbacks, circuit changes) sent over
//! OTLP/HTTP with protobuf bodies to `{endpoint}/v1/traces`, so Jaeger, Tempo, Langfuse or
//! any OpenTelemetry collector receives them.
//!
//! [`Otlp::start`] builds the exporter from the config's `[otlp]` table; its
//! [`Otlp::layer`] joins a `tracing_subscriber` registry, filtered by [`Otlp::filter`] so
//! only the broker's spans are exported (the filter decides per call site, once: with
//! no export the spans cost what a disabled `tracing` span costs). Spans are batched and
//! sent from a background thread; [`Otlp::flush`] sends what is pending and
//! [`Otlp::shutdown`] does so for the last time, as a process should before it exits.
//!
//! The exporter is `opentelemetry-otlp` 0.33's HTTP one on reqwest's blocking client:
//! the same reqwest 0.13 as the providers (its `blocking` feature), and no gRPC stack.

use crate::config::OtlpConfig;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{
    BatchSpanProcessor, Sampler, SdkTracer, SdkTracerProvider, SpanData, SpanProcessor,
};
use opentelemetry_sdk::Resource;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::time::Duration;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::registry::LookupSpan;

/// The `tracing` layer that turns the broker's spans into OpenTelemetry spans.
pub type OtlpLayer<S> = tracing_opentelemetry::OpenTelemetryLayer<S, SdkTracer>;

/// The target prefix of what is exported: the broker's completion spans and the events
/// recorded inside them.
pub const TARGET: &str = "quotaswarm::broker";

/// Setting up or flushing the export failed. Messages name the URL, never a header.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OtlpError {
    /// The exporter could not be built (an endpoint that is not a URL, no HTTP client).
    #[error("cannot export traces to {url}: {message}")]
    Build {
        /// Where spans were to go.
        url: String,
        /// What the exporter said.
        message: String,
    },
    /// Pending spans could not be sent (the collector is down, refused them, or took
    /// longer than `otlp.timeout_secs`).
    #[error("exporting traces to {url} failed: {message}")]
    Export {
        /// Where spans were to go.
        url: String,
        /// What the exporter said.
        message: String,
    },
}

/// A running OTLP export: the tracer provider, its batch processor and exporter. Cheap
/// to clone (every clone is the same export).
#[derive(Clone)]
pub struct Otlp {
    provider: SdkTracerProvider,
    url: String,
}

impl fmt::Debug for Otlp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Otlp").field("url", &self.url).finish()
    }
}

impl Otlp {
    /// Builds the exporter for `config`. Nothing is sent until spans close. The headers
    /// of `OTEL_EXPORTER_OTLP_HEADERS` are added to the config's, as OpenTelemetry's
    /// exporters do; the endpoint is the config's alone.
    pub fn start(config: &OtlpConfig) -> Result<Otlp, OtlpError> {
        let url = config.traces_url();
        let headers: HashMap<String, String> = config
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), v.expose().to_string()))
            .collect();
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(url.clone())
            .with_timeout(config.timeout)
            .with_headers(headers)
            .build()
            .map_err(|e| OtlpError::Build {
                url: url.clone(),
                message: e.to_string(),
            })?;
        let sampler =
            Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(config.sample_ratio)));
        let resource = Resource::builder()
            .with_service_name(config.service_name.clone())
            .build();
        let provider = SdkTracerProvider::builder()
            .with_span_processor(LastValues(BatchSpanProcessor::builder(exporter).build()))
            .with_sampler(sampler)
            .with_resource(resource)
            .build();
        Ok(Otlp { provider, url })
    }

    /// Where spans are POSTed.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The layer to add to a `tracing_subscriber` registry, with [`Otlp::filter`]:
    /// `registry().with(otlp.layer().with_filter(Otlp::filter()))`.
    pub fn layer<S>(&self) -> OtlpLayer<S>
    where
        S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    {
        tracing_opentelemetry::layer()
            .with_tracer(self.provider.tracer("quotaswarm"))
            .with_threads(false)
            .with_location(false)
            .with_tracked_inactivity(false)
    }

    /// What to export: [`TARGET`] at `info` (the completion spans and their events).
    pub fn filter() -> Targets {
        Targets::new().with_target(TARGET, tracing::Level::INFO)
    }

    /// Sends every span closed so far, waiting for the collector's answer (on a
    /// blocking thread, so a caller on a single-threaded runtime keeps running).
    pub async fn flush(&self) -> Result<(), OtlpError> {
        let provider = self.provider.clone();
        self.blocking(move || provider.force_flush()).await
    }

    /// Sends what is pending and stops the export; spans closed afterwards are dropped.
    pub async fn shutdown(self) -> Result<(), OtlpError> {
        let provider = self.provider.clone();
        self.blocking(move || provider.shutdown()).await
    }

    async fn blocking<F>(&self, f: F) -> Result<(), OtlpError>
    where
        F: FnOnce() -> OTelSdkResult + Send + 'static,
    {
        let export = |message: String| OtlpError::Export {
            url: self.url.clone(),
            message,
        };
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|e| export(e.to_string()))?
            .map_err(|e| export(e.to_string()))
    }
}

/// Keeps one value per attribute key, the last recorded, before the batch processor: a
/// `tracing` field recorded several times (a completion's `attempt` and `lane`, once per
/// attempt) reaches the span as several attributes of one key, which OTLP forbids.
#[derive(Debug)]
struct LastValues<P>(P);

impl<P: SpanProcessor> SpanProcessor for LastValues<P> {
    fn on_start(&self, span: &mut opentelemetry_sdk::trace::Span, cx: &opentelemetry::Context) {
        self.0.on_start(span, cx);
    }

    fn on_end(&self, mut span: SpanData) {
        last_values(&mut span.attributes);
        self.0.on_end(span);
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.0.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.0.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.0.set_resource(resource);
    }
}

/// Drops every attribute a later one of the same key overrides; the order of the kept
/// ones is unchanged.
fn last_values(attributes: &mut Vec<opentelemetry::KeyValue>) {
    let mut seen = HashSet::with_capacity(attributes.len());
    let mut kept: Vec<_> = attributes
        .drain(..)
        .rev()
        .filter(|kv| seen.insert(kv.key.clone()))
        .collect();
    kept.reverse();
    *attributes = kept;
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::KeyValue;

    #[test]
    fn the_last_value_of_a_key_wins_and_order_is_kept() {
        let mut a = vec![
            KeyValue::new("attempt", 0),
            KeyValue::new("lane", "opus"),
            KeyValue::new("model", "m"),
            KeyValue::new("attempt", 1),
            KeyValue::new("lane", "sonnet"),
            KeyValue::new("attempt", 2),
        ];
        last_values(&mut a);
        assert_eq!(
            a,
            vec![
                KeyValue::new("model", "m"),
                KeyValue::new("lane", "sonnet"),
                KeyValue::new("attempt", 2),
            ]
        );
    }

    #[test]
    fn a_bad_endpoint_is_an_error_naming_it() {
        let err = Otlp::start(&OtlpConfig::new("http://exa mple:4318")).unwrap_err();
        assert!(err.to_string().contains("exa mple"), "{err}");
    }
}
