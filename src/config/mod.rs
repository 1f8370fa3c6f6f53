//! Configuration: one TOML file describes providers, models, ladders, the broker and the
//! simulator.
//!
//! The file is parsed into raw structs ([`raw`]) that reject unknown fields, then
//! validated ([`validate`]) into the types below, with errors that name the path
//! (`models.sonnet.itpm must be > 0`). [`Config::default`] is the built-in
//! `defaults.toml` (published tier-1 limits and prices) run through the same path.

mod raw;
mod validate;

pub use raw::RawConfig;

use crate::secret::ApiKey;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// The built-in defaults, as TOML.
pub const DEFAULTS_TOML: &str = include_str!("defaults.toml");

/// A configuration error. The message names the offending path.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("config {origin}: {message}")]
    Parse { origin: String, message: String },
    #[error("{path} {problem}")]
    Invalid { path: String, problem: String },
}

impl ConfigError {
    pub(crate) fn invalid(path: impl Into<String>, problem: impl Into<String>) -> Self {
        ConfigError::Invalid {
            path: path.into(),
            problem: problem.into(),
        }
    }
}

/// Which wire format a provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Wire {
    Anthropic,
    #[serde(rename = "openai")]
    OpenAi,
}

impl Wire {
    pub fn as_str(self) -> &'static str {
        match self {
            Wire::Anthropic => "anthropic",
            Wire::OpenAi => "openai",
        }
    }
}

/// How requests reach a provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// Real HTTP to `base_url`.
    Http,
    /// The embedded simulator, called in-process (no sockets; works in paused time).
    Embedded,
}

#[derive(Debug, Clone)]
pub struct ProviderConfig {
    pub name: String,
    pub wire: Wire,
    pub transport: Transport,
    /// Without a trailing slash, e.g. `https://api.anthropic.com`.
    pub base_url: String,
    pub api_key_env: Option<String>,
    /// A key set in code (never read from a file); wins over `api_key_env`.
    pub api_key: Option<ApiKey>,
    pub timeout: Duration,
}

impl ProviderConfig {
    /// The key from this provider's environment variable, if set.
    pub fn api_key_from_env(&self) -> Option<ApiKey> {
        self.api_key_env.as_deref().and_then(ApiKey::from_env)
    }

    /// The key to send: the one set in code, else the environment's.
    pub fn resolve_key(&self) -> Option<ApiKey> {
        self.api_key.clone().or_else(|| self.api_key_from_env())
    }
}

/// A model's per-minute limits. Anthropic-style models have separate input and output
/// token limits; OpenAI-style models one combined limit charged input + max_tokens.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "style", rename_all = "snake_case")]
pub enum Limits {
    Split { rpm: f64, itpm: f64, otpm: f64 },
    Combined { rpm: f64, tpm: f64 },
}

impl Limits {
    pub fn rpm(&self) -> f64 {
        match *self {
            Limits::Split { rpm, .. } | Limits::Combined { rpm, .. } => rpm,
        }
    }

    /// Every limit multiplied by `factor` (for tests and scaled demos).
    pub fn scaled(&self, factor: f64) -> Limits {
        match *self {
            Limits::Split { rpm, itpm, otpm } => Limits::Split {
                rpm: rpm * factor,
                itpm: itpm * factor,
                otpm: otpm * factor,
            },
            Limits::Combined { rpm, tpm } => Limits::Combined {
                rpm: rpm * factor,
                tpm: tpm * factor,
            },
        }
    }
}

/// USD per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct Prices {
    pub input: f64,
    pub output: f64,
    pub cache_read: f64,
    pub cache_write: f64,
}

impl Prices {
    /// The cost in USD of `usage` at these prices.
    pub fn cost(&self, usage: &crate::types::Usage) -> f64 {
        (usage.input_tokens as f64 * self.input
            + usage.output_tokens as f64 * self.output
            + usage.cache_read_input_tokens as f64 * self.cache_read
            + usage.cache_creation_input_tokens as f64 * self.cache_write)
            / 1_000_000.0
    }
}

#[derive(Debug, Clone)]
pub struct ModelConfig {
    /// The config name (`sonnet`).
    pub name: String,
    pub provider: String,
    /// The wire model name (`claude-sonnet-4-5`).
    pub model: String,
    pub limits: Limits,
    pub context_window: u64,
    pub prices: Prices,
    /// Bucket capacity, in seconds of refill.
    pub burst: Duration,
    /// When set, input is estimated with Anthropic's `count_tokens`, at most this many per minute.
    pub count_tokens_rpm: Option<f64>,
}

#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// Attempts per rung, the first included.
    pub max_attempts: u32,
    /// A server's `retry-after` above this is capped to it.
    pub retry_after_cap: Duration,
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
    /// Estimates are multiplied by `1 + safety_margin`.
    pub safety_margin: f64,
    pub coalesce: bool,
    /// Most requests in flight per lane.
    pub max_in_flight: usize,
    pub circuit_threshold: u32,
    pub circuit_cooldown: Duration,
    /// The longest a ladder request waits for a rung before moving down, when the request
    /// sets no `max_wait` of its own.
    pub ladder_max_wait: Duration,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        BrokerConfig {
            max_attempts: 5,
            retry_after_cap: Duration::from_secs(60),
            backoff_base: Duration::from_millis(500),
            backoff_cap: Duration::from_secs(30),
            safety_margin: 0.05,
            coalesce: true,
            max_in_flight: 64,
            circuit_threshold: 5,
            circuit_cooldown: Duration::from_secs(30),
            ladder_max_wait: Duration::from_secs(10),
        }
    }
}

/// Anthropic output-token accounting in the simulator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtpmMode {
    /// Charged on the tokens actually produced (2026 docs).
    Actual,
    /// `max_tokens` reserved at admission, adjusted at the end (2025 docs).
    MaxTokens,
}

/// An injected fault.
#[derive(Debug, Clone, PartialEq)]
pub struct Fault {
    /// Wire model name it applies to; every model when `None`.
    pub model: Option<String>,
    pub kind: FaultKind,
    pub rate: f64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FaultKind {
    Status(u16),
    Slow(Duration),
    /// A streamed response fails with an in-stream error event after this many output
    /// tokens (Anthropic `event: error` overloaded, OpenAI `{"error":…}` chunk). Applies
    /// to streamed requests only.
    MidStream {
        after_tokens: u64,
    },
}

#[derive(Debug, Clone)]
pub struct SimConfig {
    pub api_keys: Vec<String>,
    pub token_factor: f64,
    pub latency: Duration,
    pub per_token: Duration,
    pub seed: u64,
    /// Seconds of refill each bucket holds (60: one minute's limit, as documented).
    pub burst_secs: f64,
    pub otpm_mode: OtpmMode,
    /// Limits by wire model name, where they differ from the models'.
    pub limits: BTreeMap<String, Limits>,
    pub faults: Vec<Fault>,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            api_keys: Vec::new(),
            token_factor: 1.1,
            latency: Duration::from_millis(20),
            per_token: Duration::ZERO,
            seed: 1,
            burst_secs: 60.0,
            otpm_mode: OtpmMode::Actual,
            limits: BTreeMap::new(),
            faults: Vec::new(),
        }
    }
}

/// The validated configuration the runtime uses.
#[derive(Debug, Clone)]
pub struct Config {
    pub providers: BTreeMap<String, ProviderConfig>,
    pub models: BTreeMap<String, ModelConfig>,
    pub ladders: BTreeMap<String, Vec<String>>,
    pub broker: BrokerConfig,
    pub sim: SimConfig,
}

impl Config {
    /// Parses and validates TOML text. `origin` names it in errors.
    pub fn from_toml_str(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
            origin: origin.to_string(),
            message: e.to_string(),
        })?;
        validate::validate(raw)
    }

    /// Reads a file. Tables it leaves out (`providers`, `models`, `ladders`) come from the
    /// built-in defaults; a table it names replaces the default entry of that name.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_toml_str_over_defaults(&text, &path.display().to_string())
    }

    /// Like [`Config::from_toml_str`], layered over the defaults.
    pub fn from_toml_str_over_defaults(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let user: RawConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
            origin: origin.to_string(),
            message: e.to_string(),
        })?;
        let mut raw: RawConfig = toml::from_str(DEFAULTS_TOML).map_err(|e| ConfigError::Parse {
            origin: "built-in defaults".into(),
            message: e.to_string(),
        })?;
        if !user.models.is_empty() {
            // A file that names its own models defines the whole model set; keep the
            // defaults' ladders only if their models still exist.
            raw.models = user.models;
            let models = &raw.models;
            raw.ladders
                .retain(|_, rungs| rungs.iter().all(|m| models.contains_key(m)));
        }
        raw.providers.extend(user.providers);
        raw.ladders.extend(user.ladders);
        raw.broker = user.broker;
        raw.sim = user.sim;
        validate::validate(raw)
    }

    pub fn model(&self, name: &str) -> Option<&ModelConfig> {
        self.models.get(name)
    }

    /// The rungs `target` names: a ladder's models, or the one model.
    pub fn rungs(&self, target: &str) -> Option<Vec<String>> {
        if let Some(l) = self.ladders.get(target) {
            return Some(l.clone());
        }
        self.models
            .contains_key(target)
            .then(|| vec![target.to_string()])
    }

    /// Points every HTTP provider at the embedded simulator (for runs without keys).
    pub fn use_embedded_sim(&mut self) {
        for p in self.providers.values_mut() {
            p.transport = Transport::Embedded;
        }
    }

    /// Points every provider of `wire` at `base_url` over HTTP (e.g. a `quotaswarm sim`).
    pub fn point_at(&mut self, wire: Wire, base_url: &str) {
        for p in self.providers.values_mut().filter(|p| p.wire == wire) {
            p.transport = Transport::Http;
            p.base_url = base_url.trim_end_matches('/').to_string();
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        // The defaults are part of the binary and covered by `defaults_validate`; should
        // they ever fail, an empty config is the only safe fallback.
        Config::from_toml_str(DEFAULTS_TOML, "built-in defaults").unwrap_or_else(|e| {
            tracing::error!(error = %e, "built-in defaults are invalid");
            Config {
                providers: BTreeMap::new(),
                models: BTreeMap::new(),
                ladders: BTreeMap::new(),
                broker: BrokerConfig::default(),
                sim: SimConfig::default(),
            }
        })
    }
}

#[cfg(test)]
mod tests;
