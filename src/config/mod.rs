//! Configuration: one TOML file describes providers, models, ladders, the broker and the
//! simulator.
//!
//! A file overlays the built-in [`DEFAULTS_TOML`] (published tier-1 limits and prices)
//! setting by setting ([`Config::load`]): it names only what it changes, and
//! `replace_defaults = true` starts from nothing instead. The file is parsed into private
//! raw structs that reject unknown fields (`raw.rs`), layered over the defaults on the
//! TOML tables (`overlay.rs`), then validated into the types below (`validate.rs`), with
//! errors that name the file, the line (`locate.rs`) and the path
//! (`config my.toml, line 7: models.sonnet.itpm must be > 0`). [`Config::default`] is
//! the defaults alone, through the same path.
//!
//! The validated types are plain data: adjust fields in code after loading (tests scale
//! limits, the CLI points providers at a simulator) rather than building them from
//! scratch; most are `#[non_exhaustive]` so that new settings are not breaking changes.

mod alerts;
mod endpoint;
pub mod family;
mod keypath;
mod locate;
mod otlp;
mod overlay;
mod params;
mod problem;
mod quota;
mod raw;
mod validate;

pub use params::{OnUnsupported, Param, ParamRules, ToolChoiceKind};

pub(crate) use raw::RawConfig;

use crate::secret::ApiKey;
pub use quota::{QuotaConfig, QuotaStore, DEFAULT_REDIS_URL};

pub use alerts::AlertsConfig;
pub use endpoint::{Auth, MaxTokensField, RESERVED_BODY_FIELDS, RESERVED_HEADERS};
pub use otlp::{OtlpConfig, DEFAULT_OTLP_ENDPOINT};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// The built-in defaults, as TOML: the Anthropic and OpenAI providers (keys from
/// `ANTHROPIC_API_KEY` / `OPENAI_API_KEY`), the models each vendor lists as current with
/// their prices and starting limits, and a few ladders. Config files overlay it (see
/// [`Config::from_toml_str_over_defaults`]).
pub const DEFAULTS_TOML: &str = include_str!("defaults.toml");

/// The models the defaults named before the 5.5 / GPT-6 generation (Claude Opus 4.6,
/// Sonnet 4.6, Haiku 4.5; gpt-4o, gpt-4o-mini), under the same names and ladders, as an
/// overlay for [`Config::from_toml_str_over_defaults`]: for code (and tests) that rely on
/// what those models accept and the newer ones refuse.
pub const PREVIOUS_DEFAULTS_TOML: &str = include_str!("previous.toml");

/// A configuration error. The message names the file, the line when it is known, and the
/// setting's path: `config my.toml, line 7: models.sonnet.itpm must be > 0`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}")]
    Read {
        /// The file's path.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The text is not valid TOML, or has an unknown or mistyped field.
    #[error("{}: {message}", at(.origin, *.line))]
    Parse {
        /// Where the text came from (a path, or the `origin` given by the caller).
        origin: String,
        /// The 1-based line of the error, when the parser gave a position.
        line: Option<usize>,
        /// The TOML parser's message.
        message: String,
    },
    /// A value is out of range, a required setting is missing, or a setting refers to
    /// something that does not exist.
    #[error("{}: {path} {problem}", at(.origin, *.line))]
    Invalid {
        /// Where the text came from (a path, or the `origin` given by the caller).
        origin: String,
        /// The 1-based line where the setting (or, when it is missing, its table) is
        /// written; `None` when the text does not mention it (a built-in default).
        line: Option<usize>,
        /// The setting's path, e.g. `models.sonnet.itpm`.
        path: String,
        /// What is wrong with it, e.g. `must be > 0`.
        problem: String,
    },
}

/// `config ORIGIN, line N`, or `config ORIGIN` without a line.
fn at(origin: &str, line: Option<usize>) -> String {
    match line {
        Some(n) => format!("config {origin}, line {n}"),
        None => format!("config {origin}"),
    }
}

/// Which wire format a provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Wire {
    /// Anthropic Messages (`POST /v1/messages`), with split input/output token limits.
    Anthropic,
    /// OpenAI Chat Completions (`POST /v1/chat/completions`), with one combined token
    /// limit.
    #[serde(rename = "openai")]
    OpenAi,
    /// OpenAI Responses (`POST /v1/responses`), on an OpenAI provider
    /// (`wire = "responses"`): same keys, limits and headers as Chat Completions.
    Responses,
}

impl Wire {
    /// The name used in config files: `anthropic`, `openai` or `responses`.
    pub fn as_str(self) -> &'static str {
        match self {
            Wire::Anthropic => "anthropic",
            Wire::OpenAi => "openai",
            Wire::Responses => "responses",
        }
    }

    /// Whether this is one of OpenAI's wires (Chat Completions or Responses): one
    /// combined token limit, `x-ratelimit-*` headers, OpenAI model families.
    pub fn is_openai(self) -> bool {
        matches!(self, Wire::OpenAi | Wire::Responses)
    }
}

/// How requests reach a provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Transport {
    /// Real HTTP to `base_url`.
    Http,
    /// The embedded simulator, called in-process (no sockets; works in paused time).
    Embedded,
}

/// One provider (`[providers.NAME]`): where and how to reach it, and its key.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ProviderConfig {
    /// The table's name (`anthropic`); models refer to it.
    pub name: String,
    /// The wire format (`kind = "anthropic" | "openai"`, or `wire` for `kind = "sim"`;
    /// `wire = "responses"` on an OpenAI provider).
    pub wire: Wire,
    /// Real HTTP, or the embedded simulator (`kind = "sim"`).
    pub transport: Transport,
    /// Without a trailing slash or `/v1`, e.g. `https://api.anthropic.com`.
    pub base_url: String,
    /// The environment variable holding the API key (`api_key_env`).
    pub api_key_env: Option<String>,
    /// A key set in code (never read from a file); wins over `api_key_env`.
    pub api_key: Option<ApiKey>,
    /// Per-attempt HTTP timeout (`timeout_secs`, default 600 s) of non-streamed calls.
    pub timeout: Duration,
    /// How long a streamed call may go without receiving a byte, for its headers or
    /// between chunks, before it times out (`stream_idle_timeout_secs`, default 60 s).
    /// Streams have no total timeout: a long answer that keeps arriving completes.
    pub stream_idle_timeout: Duration,
    /// The request path after `base_url` (`path`, or the path of `url`), replacing the
    /// wire's (`/v1/messages`, `/v1/chat/completions`); `{model}` in it stands for the
    /// wire model (classic Azure's deployment). `None`: the wire's.
    pub path: Option<String>,
    /// How the key is sent (`auth`; default the wire's: `x-api-key` for Anthropic,
    /// `bearer` otherwise). [`Auth::None`] sends none and is never simulated.
    pub auth: Auth,
    /// Query parameters of every request (`query`, and those of `url`), e.g. Azure's
    /// `api-version`.
    pub query: Vec<(String, String)>,
    /// Headers of every request (`headers`); credential values never show in `Debug`.
    pub headers: crate::types::ExtraHeaders,
    /// Chat Completions: the body field of the output cap (`max_tokens_field`). `None`:
    /// by the model's family, `max_completion_tokens` but for the legacy gpt-3.5 and
    /// gpt-4 models (`max_tokens`).
    pub max_tokens_field: Option<MaxTokensField>,
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

    /// Sends this provider's requests to `origin` (`http://127.0.0.1:8787`, e.g. a
    /// simulator) over HTTP, keeping what follows the host in its base URL (Azure v1's
    /// `/openai`), its path, query, key scheme and headers.
    pub fn point_at(&mut self, origin: &str) {
        let after_scheme = self.base_url.find("://").map_or(0, |i| i + 3);
        let rest = self.base_url[after_scheme..]
            .find('/')
            .map_or("", |i| &self.base_url[after_scheme + i..]);
        self.base_url = format!("{}{rest}", origin.trim_end_matches('/'));
        self.transport = Transport::Http;
    }

    /// Whether this provider can be called for real: it needs no key (`auth = "none"`)
    /// or has one. One that cannot goes to the simulator under `quotaswarm_sim::auto()`.
    pub fn can_call(&self) -> bool {
        self.auth == Auth::None || self.resolve_key().is_some()
    }
}

/// A model's per-minute limits. Anthropic-style models have separate input and output
/// token limits; OpenAI-style models one combined limit charged input + max_tokens.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "style", rename_all = "snake_case")]
pub enum Limits {
    /// Separate input and output limits (`rpm`, `itpm`, `otpm` in the config).
    Split {
        /// Requests per minute.
        rpm: f64,
        /// Input tokens per minute.
        itpm: f64,
        /// Output tokens per minute.
        otpm: f64,
    },
    /// One token limit for input and output together (`rpm`, `tpm`).
    Combined {
        /// Requests per minute.
        rpm: f64,
        /// Tokens (input + output) per minute.
        tpm: f64,
    },
}

impl Limits {
    /// Requests per minute.
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

/// Where a model's limits come from (`[models.NAME] limits = "server" | "config"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum LimitPolicy {
    /// `limits = "server"` (the default) with limits configured: they are a starting
    /// point, and the limits the server reports in its `-limit` headers replace them
    /// whenever they differ (up or down).
    Learn,
    /// `limits = "server"` with no limits configured (`rpm`, `itpm`, `otpm`, `tpm` all
    /// absent): one request in flight until the server's first `-limit` headers (or the
    /// shared quota store) give the limits.
    Discover,
    /// `limits = "config"`: the configured limits, whatever the server reports.
    Pinned,
}

/// The per-minute figure a model configured without limits ([`LimitPolicy::Discover`])
/// holds until the server reports its own: large enough never to hold a request back,
/// finite so that the bucket arithmetic stays exact.
pub const UNKNOWN_LIMIT: f64 = 1e9;

/// A model's prices, in USD per million tokens (`input_price`, `output_price`,
/// `cache_read_price`, `cache_write_price` in the config).
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct Prices {
    /// Uncached input tokens.
    pub input: f64,
    /// Output tokens.
    pub output: f64,
    /// Input tokens read from the prompt cache (default: 10 % of `input`).
    pub cache_read: f64,
    /// Input tokens written to the prompt cache with the default 5-minute TTL (default:
    /// 125 % of `input`).
    pub cache_write: f64,
    /// Input tokens written to the prompt cache with the 1-hour TTL
    /// (`cache_write_1h_price`; default: 200 % of `input`).
    pub cache_write_1h: f64,
    /// USD per 1,000 web searches run by a server tool (`web_search_price`; default
    /// Anthropic's $10), billed on top of the tokens.
    pub web_search: f64,
}

impl Prices {
    /// Anthropic's web search price: USD per 1,000 searches.
    pub const WEB_SEARCH_PER_1K: f64 = 10.0;

    /// The cost in USD of `usage` at these prices. Reasoning tokens are part of
    /// `output_tokens` and priced with them; web searches at `web_search` per 1,000.
    pub fn cost(&self, usage: &crate::types::Usage) -> f64 {
        (usage.input_tokens as f64 * self.input
            + usage.output_tokens as f64 * self.output
            + usage.cache_read_input_tokens as f64 * self.cache_read
            + usage.cache_creation_input_tokens as f64 * self.cache_write)
            / 1_000_000.0
            + usage
                .cache_creation_1h_input_tokens
                .min(usage.cache_creation_input_tokens) as f64
                * (self.cache_write_1h - self.cache_write)
                / 1_000_000.0
            + usage.web_search_requests as f64 * self.web_search / 1_000.0
    }

    /// What prompt caching saved in USD: `reads` tokens paid at the read price instead
    /// of the input price, less the surcharge of `writes` tokens paid at the write price
    /// (`writes_1h` of them at the 1-hour write price); negative while a cache is written
    /// and not yet read.
    pub fn cache_savings(&self, reads: u64, writes: u64, writes_1h: u64) -> f64 {
        let writes_1h = writes_1h.min(writes);
        (reads as f64 * (self.input - self.cache_read)
            - (writes - writes_1h) as f64 * (self.cache_write - self.input)
            - writes_1h as f64 * (self.cache_write_1h - self.input))
            / 1_000_000.0
    }
}

/// One model (`[models.NAME]`): the broker keeps one lane per model.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ModelConfig {
    /// The config name (`sonnet`), which requests and ladders use.
    pub name: String,
    /// The name of its provider (a key of [`Config::providers`]).
    pub provider: String,
    /// The wire model name (`claude-sonnet-4-5`); defaults to the config name.
    pub model: String,
    /// Its configured rate limits: the broker's starting point, which the server's
    /// `-limit` headers replace unless [`ModelConfig::limit_policy`] pins them. For a
    /// model configured without limits ([`LimitPolicy::Discover`]) these are
    /// placeholders of [`UNKNOWN_LIMIT`] each, used only until the first headers.
    pub limits: Limits,
    /// Where the broker takes the model's limits from (`limits = "server" | "config"`).
    pub limit_policy: LimitPolicy,
    /// The context window, in tokens (default 200 000).
    pub context_window: u64,
    /// Its prices, for the cost figures; `None` when the config gives no `input_price` or
    /// no `output_price` (a warning at load): its cost is then unknown, counted as 0 in
    /// the dollar figures and reported as unknown.
    pub prices: Option<Prices>,
    /// Bucket capacity, in seconds of refill (`burst_secs`; default `[broker]
    /// burst_secs`, itself 10 s): how much of a minute's limit may go out at once.
    pub burst: Duration,
    /// When set, input is estimated with Anthropic's `count_tokens`, at most this many per minute.
    pub count_tokens_rpm: Option<f64>,
    /// The reuse window (`reuse_secs`; default `[broker] reuse_secs`): an identical
    /// request within this long of a completion is answered from it. Zero: off.
    pub reuse: Duration,
    /// Whether the broker places prompt-cache breakpoints on requests to this model
    /// (`auto_cache`; default true for Anthropic models, always false for OpenAI models,
    /// whose caching needs no breakpoints). A request can opt out
    /// (`options.auto_cache = Some(false)`).
    pub auto_cache: bool,
    /// The shortest prefix, in tokens, the model caches (`min_cache_tokens`; the built-in
    /// models set theirs, others default to 1,024): the broker places no breakpoint
    /// whose prefix it estimates below it, since the provider would not cache it.
    pub min_cache_tokens: u64,
    /// The TTL of the breakpoints the broker places (`cache_ttl = "5m" | "1h"`, default
    /// 5m; 1h writes cost twice the input price instead of 1.25×).
    pub cache_ttl: crate::types::CacheTtl,
    /// Whether cache reads count against the input-token limit (`cache_reads_count`,
    /// default false: for current Claude models they do not; Claude Haiku 3.5 and older
    /// models count them). OpenAI models always count every prompt token.
    pub cache_reads_count: bool,
    /// The parameters the model accepts (`params = "PRESET"`, see [`ParamRules`]).
    pub params: ParamRules,
    /// What the broker does with a request that breaks [`ModelConfig::params`]
    /// (`on_unsupported`, default refuse).
    pub on_unsupported: OnUnsupported,
    /// Headers of this model's requests (`headers`, e.g. `anthropic-beta`), over the
    /// provider's; a request's own win over them.
    pub headers: crate::types::ExtraHeaders,
    /// JSON fields merged into this model's request bodies (`extra_body`); a request's
    /// own win over them.
    pub extra_body: Option<serde_json::Map<String, serde_json::Value>>,
}

impl ModelConfig {
    /// `req` with this model's headers and `extra_body` under its own (unchanged, not
    /// copied, when the model sets none).
    pub fn with_extras(
        &self,
        req: std::sync::Arc<crate::types::CompletionRequest>,
    ) -> std::sync::Arc<crate::types::CompletionRequest> {
        if self.headers.is_empty() && self.extra_body.is_none() {
            return req;
        }
        let mut r = (*req).clone();
        r.options.headers = r.options.headers.over(&self.headers);
        if let Some(base) = &self.extra_body {
            let mut body = base.clone();
            body.extend(r.options.extra_body.take().unwrap_or_default());
            r.options.extra_body = Some(body);
        }
        std::sync::Arc::new(r)
    }

    /// The cost in USD of `usage` at this model's prices; 0 when it has none (see
    /// [`ModelConfig::prices`]).
    pub fn cost(&self, usage: &crate::types::Usage) -> f64 {
        self.prices.map_or(0.0, |p| p.cost(usage))
    }
}

/// The broker's policy (`[broker]`). The defaults are [`BrokerConfig::default`]'s.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct BrokerConfig {
    /// Attempts per rung, the first included (default 5). Only failures count: 5xx,
    /// timeouts and transport errors. A rate-limit answer (429, or 529/503 overloaded)
    /// is a wait, bounded by [`BrokerConfig::rate_limit_patience`] instead.
    pub max_attempts: u32,
    /// A server's `retry-after` above this is capped to it (default 60 s).
    pub retry_after_cap: Duration,
    /// The first backoff's ceiling when the server gives no `retry-after`; each retry
    /// doubles it, with full jitter (default 0.5 s).
    pub backoff_base: Duration,
    /// The most any backoff waits (default 30 s).
    pub backoff_cap: Duration,
    /// Estimates are multiplied by `1 + safety_margin` (default 0.05).
    pub safety_margin: f64,
    /// Whether identical concurrent requests share one call (default true; a request
    /// can opt out).
    pub coalesce: bool,
    /// Most requests in flight per lane (default 64).
    pub max_in_flight: usize,
    /// Consecutive model failures that open a lane's circuit (default 5).
    pub circuit_threshold: u32,
    /// How long an open circuit stays open before a probe (default 30 s).
    pub circuit_cooldown: Duration,
    /// The longest a ladder request waits for a rung before moving down, when the request
    /// sets no `max_wait` of its own (default 10 s).
    pub ladder_max_wait: Duration,
    /// How much longer a ladder request waits for each step up its ladder: it is placed
    /// on (and moved while queued to) the rung projected to finish it first, after this
    /// handicap per step down (`ladder_prefer_secs`; 0: pure spill). A request may set
    /// its own (`prefer_secs`). `None` (the default): each request's max wait
    /// (`ladder_max_wait` unless it sets one), so a request spills only to a rung that
    /// finishes it sooner by more than it was willing to wait anyway.
    pub ladder_prefer: Option<Duration>,
    /// How long a request waits through rate-limit answers (429, 529, 503) on one rung,
    /// retrying (`rate_limit_patience_secs`, default 300 s); a request's longer
    /// `max_wait` extends it. Past it, the request fails with
    /// [`BrokerError::RateLimitedTooLong`](crate::broker::BrokerError::RateLimitedTooLong).
    pub rate_limit_patience: Duration,
    /// Most token counts the estimator caches (default 100 000); beyond that the least
    /// useful are evicted and counted again when seen.
    pub estimator_cache_entries: usize,
    /// The default reuse window of every model (`reuse_secs`, default 0: off). See
    /// [`ModelConfig::reuse`].
    pub reuse: Duration,
    /// A fixed seed for the backoff jitter (`jitter_seed`), for tests only: a test that
    /// checks the exact waits sets it. `None` (the default): each process seeds its
    /// jitter from the OS, so processes and restarts never retry in step.
    pub jitter_seed: Option<u64>,
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
            ladder_prefer: None,
            rate_limit_patience: Duration::from_secs(300),
            estimator_cache_entries: crate::tokens::DEFAULT_CACHE_ENTRIES,
            reuse: Duration::ZERO,
            jitter_seed: None,
        }
    }
}

/// Anthropic output-token accounting in the simulator (`sim.otpm_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtpmMode {
    /// Charged on the tokens actually produced (2026 docs).
    Actual,
    /// `max_tokens` reserved at admission, adjusted at the end (2025 docs).
    MaxTokens,
}

/// A fault the simulator injects (`[[sim.faults]]`), drawn per request from a seeded
/// sequence.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Fault {
    /// Wire model name it applies to; every model when `None`.
    pub model: Option<String>,
    /// What happens.
    pub kind: FaultKind,
    /// Probability per request, 0..=1.
    pub rate: f64,
}

impl Fault {
    /// A fault of `kind` on a share `rate` (0..=1) of every model's requests.
    pub fn new(kind: FaultKind, rate: f64) -> Self {
        Fault {
            model: None,
            kind,
            rate,
        }
    }

    /// Limits the fault to wire model `model` (`claude-sonnet-4-5`).
    pub fn for_model(mut self, model: impl Into<String>) -> Self {
        self.model = Some(model.into());
        self
    }
}

/// What an injected fault does.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum FaultKind {
    /// Answer with this error status (500, 502, 503, 504 or 529 in a config file) and
    /// the vendor's error body.
    Status(u16),
    /// Answer normally, this much later.
    Slow(Duration),
    /// A streamed response fails with an in-stream error event after this many output
    /// tokens (Anthropic `event: error` overloaded, OpenAI `{"error":…}` chunk). Applies
    /// to streamed requests only.
    MidStream {
        /// Output tokens sent before the error (0: right after the stream starts).
        after_tokens: u64,
    },
}

/// The built-in simulator's settings (`[sim]`). The defaults are [`SimConfig::default`]'s.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SimConfig {
    /// Accepted API keys; empty (the default): any key, each with its own quota.
    pub api_keys: Vec<String>,
    /// The simulator counts `token_factor` × the client's tiktoken count (default 1.1),
    /// so the broker's estimates are off as they would be against a real provider.
    pub token_factor: f64,
    /// Fixed latency of every answer (default 20 ms).
    pub latency: Duration,
    /// Extra latency per output token (default 0).
    pub per_token: Duration,
    /// Seed of the fault draws (default 1).
    pub seed: u64,
    /// Seconds of refill each simulated bucket holds, in (0, 60] (default 10: a sixth
    /// of a minute's limit). The providers document per-minute limits but enforce them
    /// over shorter intervals ("60 RPM may behave as 1 request/second"), so a whole
    /// minute's quota never goes through in one second; 10 s matches `[broker]
    /// burst_secs`. A single request larger than the burst but within the minute's
    /// limit is still admitted when the bucket is full.
    pub burst_secs: f64,
    /// How Anthropic output tokens are charged (default [`OtpmMode::Actual`]).
    pub otpm_mode: OtpmMode,
    /// Limits by wire model name, where they differ from the models'.
    pub limits: BTreeMap<String, Limits>,
    /// Injected faults.
    pub faults: Vec<Fault>,
    /// Requests that offer tools may be answered with tool calls (default true): a forced
    /// `tool_choice` always is, `auto` as [`SimConfig::tool_call_rate`] and
    /// [`SimConfig::tool_steps`] say, `none` never. Off: always text.
    pub tool_calls: bool,
    /// With `tool_choice` auto, the share (0..=1, default 0.5) of fresh turns (no tool
    /// result since the last plain user turn) answered with a tool call, decided from a
    /// hash of the request, so the same request always gets the same answer.
    pub tool_call_rate: f64,
    /// With `tool_choice` auto, a tool loop that has started goes on calling tools while
    /// it holds fewer than this many tool results since the last plain user turn, then
    /// answers with text (default 2).
    pub tool_steps: u32,
    /// Share (0..=1, default 0) of schema-bound replies (a forced tool's input, an
    /// OpenAI `json_schema` reply) generated *not* to fit the schema (a required field
    /// left out), so clients can test their typed errors.
    pub schema_violation_rate: f64,
    /// Prompt caching (default true): Anthropic `cache_control` breakpoints cached per
    /// key for their TTL (reads free against ITPM), OpenAI automatic prefix caching
    /// (`cached_tokens`, still charged to TPM).
    pub prompt_caching: bool,
    /// Minimum cacheable prefix by wire model name, where it differs from the built-in
    /// rule (4,096 for Opus 4.5/4.6 and Haiku 4.5, 2,048 for Haiku 3.x, else 1,024).
    pub cache_min_tokens: BTreeMap<String, u64>,
    /// Anthropic extended thinking (default true): `thinking` requests are validated and
    /// answered with signed thinking blocks, whose signatures are checked on replay.
    pub thinking: bool,
    /// Refuse what the real APIs refuse (default true): unknown top-level fields,
    /// rejected parameter combinations, unanswered tool calls, a missing
    /// `anthropic-version` header.
    pub strict_validation: bool,
    /// OpenAI: a request refused with a 4xx other than 429 still costs one request of
    /// the key's RPM, as the real API counts failed requests (default true).
    pub charge_refused_requests: bool,
    /// Request bodies larger than this are answered `413` (default 32 MiB, Anthropic's
    /// documented limit).
    pub max_body_bytes: u64,
    /// Every key is out of money (default false): Anthropic answers the spend-cap 429
    /// (`enforced_spend_limit_reached`, no `retry-after`), OpenAI 429
    /// `insufficient_quota`.
    pub spend_cap: bool,
    /// Keys that are out of money, when [`SimConfig::spend_cap`] is false.
    pub spend_cap_keys: Vec<String>,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            api_keys: Vec::new(),
            token_factor: 1.1,
            latency: Duration::from_millis(20),
            per_token: Duration::ZERO,
            seed: 1,
            burst_secs: 10.0,
            otpm_mode: OtpmMode::Actual,
            limits: BTreeMap::new(),
            faults: Vec::new(),
            tool_calls: true,
            tool_call_rate: 0.5,
            tool_steps: 2,
            schema_violation_rate: 0.0,
            prompt_caching: true,
            cache_min_tokens: BTreeMap::new(),
            thinking: true,
            strict_validation: true,
            charge_refused_requests: true,
            max_body_bytes: 32 * 1024 * 1024,
            spend_cap: false,
            spend_cap_keys: Vec::new(),
        }
    }
}

/// The validated configuration the runtime uses. Get one from [`Config::load`],
/// [`Config::from_toml_str`] or [`Config::default`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// Providers by name.
    pub providers: BTreeMap<String, ProviderConfig>,
    /// Models by config name.
    pub models: BTreeMap<String, ModelConfig>,
    /// Ladders by name: model names, best first. A request to a ladder falls back down
    /// it when a rung is exhausted, paused, open or failing.
    pub ladders: BTreeMap<String, Vec<String>>,
    /// The broker's policy.
    pub broker: BrokerConfig,
    /// The simulator's settings.
    pub sim: SimConfig,
    /// Where the quota lives (`[quota]`): this process, or Redis shared by several.
    pub quota: QuotaConfig,
    /// When the broker raises alerts and where it sends them (`[alerts]`).
    pub alerts: AlertsConfig,
    /// Where the per-completion spans are exported over OTLP/HTTP (`[otlp]`); none (no
    /// export) unless the table is present. Exporting needs the `otlp` feature.
    pub otlp: Option<OtlpConfig>,
    /// Where each agent's transcript goes (`DIR/AGENT.jsonl`: what it asked and was
    /// answered); none by default. Not read from the file: `quotaswarm run --transcript
    /// DIR` sets it.
    pub transcript: Option<std::path::PathBuf>,
    /// What loading found questionable but not wrong (a model without prices), one line
    /// each, placed like errors (`config my.toml, line 3: models.x has no ...`). Also
    /// logged with `tracing::warn!` when the config is loaded.
    pub warnings: Vec<String>,
}

impl Config {
    /// Parses and validates TOML text on its own, without the built-in defaults (as if it
    /// said `replace_defaults = true`): everything must be given. `origin` names the text
    /// in errors and warnings. Errs with [`ConfigError::Parse`] or
    /// [`ConfigError::Invalid`].
    pub fn from_toml_str(text: &str, origin: &str) -> Result<Config, ConfigError> {
        build(text, origin, Layering::Alone)
    }

    /// Reads a config file and layers it over the built-in defaults, as
    /// [`Config::from_toml_str_over_defaults`] does. Errs with [`ConfigError::Read`] if
    /// the file cannot be read, otherwise with [`ConfigError::Parse`] or
    /// [`ConfigError::Invalid`], naming the file and the line.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_toml_str_over_defaults(&text, &path.display().to_string())
    }

    /// Parses TOML text and layers it over the built-in defaults ([`DEFAULTS_TOML`]),
    /// setting by setting: `[models.sonnet]` with only `itpm = 60000` changes that one
    /// number and keeps every other setting of sonnet, and every other model, provider
    /// and ladder; a new model needs only what has no default (its `provider` and its
    /// limits); `[broker]` and `[sim]` overlay the same way. Arrays (a ladder's rungs,
    /// `[[sim.faults]]`, `sim.api_keys`) replace the default's. A model table that sets
    /// `tpm` drops the default's `itpm`/`otpm`, and the reverse. With a top-level
    /// `replace_defaults = true` the text starts from nothing instead, as
    /// [`Config::from_toml_str`].
    ///
    /// Unknown fields are errors. Errors and warnings name `origin`, the line in `text`
    /// and the setting's path.
    pub fn from_toml_str_over_defaults(text: &str, origin: &str) -> Result<Config, ConfigError> {
        build(text, origin, Layering::OverDefaults)
    }

    /// Like [`Config::from_toml_str_over_defaults`], over [`Config::previous_defaults`]:
    /// the text layered on the defaults with [`PREVIOUS_DEFAULTS_TOML`] over them.
    pub fn from_toml_str_over_previous_defaults(
        text: &str,
        origin: &str,
    ) -> Result<Config, ConfigError> {
        build(text, origin, Layering::OverPreviousDefaults)
    }

    /// The model of config name `name`.
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

    /// The first rung `target` names (the model itself for a model), without copying.
    pub fn first_rung<'a>(&'a self, target: &str) -> Option<&'a str> {
        match self.ladders.get(target) {
            Some(l) => l.first().map(String::as_str),
            None => self.models.get_key_value(target).map(|(k, _)| k.as_str()),
        }
    }

    /// Points every HTTP provider at the embedded simulator (for runs without keys).
    pub fn use_embedded_sim(&mut self) {
        for p in self.providers.values_mut() {
            p.transport = Transport::Embedded;
        }
    }

    /// Points every provider of `wire` at `base_url` over HTTP (e.g. a `quotaswarm sim`),
    /// keeping what follows the host in each one's own ([`ProviderConfig::point_at`]).
    pub fn point_at(&mut self, wire: Wire, base_url: &str) {
        for p in self.providers.values_mut().filter(|p| p.wire == wire) {
            p.point_at(base_url);
        }
    }
}

impl Config {
    /// The built-in defaults with [`PREVIOUS_DEFAULTS_TOML`] over them: `opus`, `sonnet`,
    /// `haiku`, `gpt-4o` and `gpt-4o-mini` as the defaults named them before the 5.5 /
    /// GPT-6 generation (the current `sol` and `luna` stay, outside the ladders).
    pub fn previous_defaults() -> Config {
        Config::from_toml_str_over_previous_defaults("", "previous defaults").unwrap_or_else(|e| {
            // Covered by a test, like the defaults; the current ones are the fallback.
            tracing::error!(error = %e, "the previous defaults are invalid");
            Config::default()
        })
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
                quota: QuotaConfig::default(),
                alerts: AlertsConfig::default(),
                otlp: None,
                transcript: None,
                warnings: Vec::new(),
            }
        })
    }
}

/// Whether a text stands alone or overlays the built-in defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layering {
    Alone,
    OverDefaults,
    /// Over the defaults with [`PREVIOUS_DEFAULTS_TOML`] over them.
    OverPreviousDefaults,
}

/// Parse the text (its own unknown fields and types are errors, with their line), overlay
/// it on the defaults unless asked not to, validate, and place any problem in the text.
fn build(text: &str, origin: &str, layering: Layering) -> Result<Config, ConfigError> {
    let parse_error = |e: toml::de::Error, origin: &str, text: &str| ConfigError::Parse {
        origin: origin.to_string(),
        line: e.span().map(|s| locate::line_at(text, s.start)),
        message: e.message().trim_end().to_string(),
    };
    // The file on its own first, so that its mistakes are reported with their line.
    let user: RawConfig = keypath::parse(text).map_err(|e| ConfigError::Parse {
        origin: origin.to_string(),
        line: e.span.map(|s| locate::line_at(text, s.start)),
        message: e.message,
    })?;
    let raw = if layering == Layering::Alone || user.replace_defaults == Some(true) {
        user
    } else {
        let mut merged: toml::Table = toml::from_str(DEFAULTS_TOML)
            .map_err(|e| parse_error(e, "built-in defaults", DEFAULTS_TOML))?;
        if layering == Layering::OverPreviousDefaults {
            let previous: toml::Table = toml::from_str(PREVIOUS_DEFAULTS_TOML)
                .map_err(|e| parse_error(e, "previous defaults", PREVIOUS_DEFAULTS_TOML))?;
            overlay::overlay(&mut merged, previous);
        }
        let over: toml::Table = toml::from_str(text).map_err(|e| parse_error(e, origin, text))?;
        overlay::overlay(&mut merged, over);
        // Both layers passed on their own, so the merge can only fail if they disagree
        // on a type, which the file's own check would have caught.
        toml::Value::Table(merged)
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Parse {
                origin: origin.to_string(),
                line: None,
                message: e.message().trim_end().to_string(),
            })?
    };
    // A problem found after the overlay is placed where the user's text wrote it.
    let place = |p: problem::Problem| ConfigError::Invalid {
        origin: origin.to_string(),
        line: locate::line_of(text, &p.path),
        path: p.path,
        problem: p.problem,
    };
    let (mut config, warnings) = validate::validate(raw).map_err(place)?;
    for w in warnings {
        let message = place(w).to_string();
        tracing::warn!("{message}");
        config.warnings.push(message);
    }
    Ok(config)
}

#[cfg(test)]
mod tests;
