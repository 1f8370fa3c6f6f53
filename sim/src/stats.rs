//! Counters the simulator keeps, per key fingerprint, per model and in total; served at
//! `GET /_stats` and by `Simulator::stats()`.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Counts for one key, one model, or everything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Counters {
    /// Every request answered (count_tokens included), whatever its status.
    pub requests: u64,
    /// Responses by HTTP status, keyed `"200"`, `"429"`, ...
    pub statuses: BTreeMap<String, u64>,
    /// Input tokens charged to the limits (Anthropic ITPM: input + cache writes, cache
    /// reads left out; OpenAI prompt, cached tokens included).
    pub input_tokens: u64,
    /// Output tokens actually generated.
    pub output_tokens: u64,
    /// Calls to `/v1/messages/count_tokens`.
    pub count_tokens_calls: u64,
    /// Streamed (SSE) responses, however they ended (also counted in `requests`).
    #[serde(default)]
    pub streams: u64,
    /// Streams the client abandoned before the end (connection closed, receiver
    /// dropped); they are charged only the output tokens actually sent.
    #[serde(default)]
    pub cancelled_streams: u64,
    /// Streams ended by an injected mid-stream error event.
    #[serde(default)]
    pub stream_errors: u64,
    /// Input tokens read from the prompt cache (Anthropic `cache_read_input_tokens`,
    /// OpenAI `cached_tokens`). Anthropic reads are not in `input_tokens`; OpenAI's are.
    #[serde(default)]
    pub cache_read_tokens: u64,
    /// Input tokens written to the prompt cache (Anthropic
    /// `cache_creation_input_tokens`; also in `input_tokens`).
    #[serde(default)]
    pub cache_write_tokens: u64,
}

impl Counters {
    /// How many responses had `status`.
    pub fn status(&self, status: u16) -> u64 {
        self.statuses.get(&status.to_string()).copied().unwrap_or(0)
    }

    fn add(&mut self, e: &Event) {
        self.requests = self.requests.saturating_add(1);
        *self.statuses.entry(e.status.to_string()).or_insert(0) += 1;
        self.input_tokens = self.input_tokens.saturating_add(e.input_tokens);
        self.output_tokens = self.output_tokens.saturating_add(e.output_tokens);
        self.count_tokens_calls = self
            .count_tokens_calls
            .saturating_add(u64::from(e.count_tokens));
        self.streams = self.streams.saturating_add(u64::from(e.stream));
        self.cancelled_streams = self
            .cancelled_streams
            .saturating_add(u64::from(e.cancelled));
        self.stream_errors = self.stream_errors.saturating_add(u64::from(e.stream_error));
        self.cache_read_tokens = self.cache_read_tokens.saturating_add(e.cache_read);
        self.cache_write_tokens = self.cache_write_tokens.saturating_add(e.cache_write);
    }
}

/// A snapshot of all the simulator's counters, from [`Simulator::stats`](super::Simulator::stats)
/// or `GET /_stats`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SimStats {
    /// Every request.
    pub total: Counters,
    /// By key fingerprint (`key_1a2b3c4d`); requests without a key are not listed here.
    pub keys: BTreeMap<String, Counters>,
    /// By wire model name; requests naming no known model are not listed here.
    pub models: BTreeMap<String, Counters>,
}

/// One answered request, as recorded.
#[derive(Debug, Clone, Default)]
pub(crate) struct Event {
    pub key: Option<String>,
    pub model: Option<String>,
    pub status: u16,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub count_tokens: bool,
    pub stream: bool,
    pub cancelled: bool,
    pub stream_error: bool,
    pub cache_read: u64,
    pub cache_write: u64,
}

impl SimStats {
    pub(crate) fn record(&mut self, e: &Event) {
        self.total.add(e);
        if let Some(k) = &e.key {
            self.keys.entry(k.clone()).or_default().add(e);
        }
        if let Some(m) = &e.model {
            self.models.entry(m.clone()).or_default().add(e);
        }
    }
}
