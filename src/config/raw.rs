//! The TOML file as written: plain serde structs with `deny_unknown_fields`, so a typo is
//! an error rather than a silently ignored setting. `validate.rs` turns these into the
//! runtime's types.
//!
//! Every setting is optional here, even those that have no default (a provider's `kind`,
//! a model's `provider` and limits): a file that overlays the built-in defaults names
//! only what it changes, so a required setting can only be checked after the overlay,
//! by `validate.rs`.

use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// `true`: start from nothing instead of the built-in defaults.
    pub replace_defaults: Option<bool>,
    #[serde(default)]
    pub providers: BTreeMap<String, RawProvider>,
    #[serde(default)]
    pub models: BTreeMap<String, RawModel>,
    #[serde(default)]
    pub ladders: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub broker: RawBroker,
    #[serde(default)]
    pub sim: RawSim,
    #[serde(default)]
    pub quota: RawQuota,
    /// Parameter rules by preset name (`[param_presets.NAME]`; see `params.rs`).
    #[serde(default)]
    pub param_presets: BTreeMap<String, RawParamRules>,
    #[serde(default)]
    pub alerts: super::alerts::RawAlerts,
    pub otlp: Option<super::otlp::RawOtlp>,
}

/// One parameter preset as written (see `params.rs` for the keys' meaning).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawParamRules {
    pub unsupported: Option<Vec<String>>,
    pub only_default: Option<Vec<String>>,
    pub exclusive: Option<Vec<Vec<String>>>,
    pub max_stop: Option<usize>,
    pub max_cache_breakpoints: Option<usize>,
    pub with_thinking_unsupported: Option<Vec<String>>,
    pub with_thinking_only_default: Option<Vec<String>>,
    pub with_thinking_tool_choice: Option<Vec<String>>,
    pub tool_choices: Option<Vec<String>>,
    pub thinking_types: Option<Vec<String>>,
    pub efforts: Option<Vec<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProvider {
    /// `anthropic`, `openai` or `sim` (required).
    pub kind: Option<String>,
    pub base_url: Option<String>,
    pub api_key_env: Option<String>,
    /// For `kind = "sim"`: which wire the embedded simulator speaks (`anthropic` |
    /// `openai` | `responses`); for `kind = "openai"`: `openai` (Chat Completions, the
    /// default) or `responses`.
    pub wire: Option<String>,
    /// Per-attempt HTTP timeout in seconds.
    pub timeout_secs: Option<f64>,
    /// Streamed calls: the longest silence, in seconds, before they time out.
    pub stream_idle_timeout_secs: Option<f64>,
    /// The whole endpoint URL (instead of `base_url` and `path`); may hold a query.
    pub url: Option<String>,
    /// The request path after `base_url`, replacing the wire's; `{model}` is the wire model.
    pub path: Option<String>,
    /// `bearer`, `x-api-key`, `api-key` or `none`; default the wire's.
    pub auth: Option<String>,
    /// Query parameters added to every request.
    #[serde(default)]
    pub query: BTreeMap<String, String>,
    /// Headers added to every request.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Chat Completions: `max_tokens` or `max_completion_tokens`, the body field of the
    /// output cap; default by the model's family.
    pub max_tokens_field: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawModel {
    /// The provider's table name (required).
    pub provider: Option<String>,
    /// The wire model name; defaults to the table's name.
    pub model: Option<String>,
    pub rpm: Option<f64>,
    pub itpm: Option<f64>,
    pub otpm: Option<f64>,
    pub tpm: Option<f64>,
    /// `"server"` (default: the server's `-limit` headers replace the limits above) or
    /// `"config"` (the limits above are pinned).
    pub limits: Option<String>,
    pub context_window: Option<u64>,
    /// USD per million tokens.
    pub input_price: Option<f64>,
    pub output_price: Option<f64>,
    pub cache_read_price: Option<f64>,
    pub cache_write_price: Option<f64>,
    pub cache_write_1h_price: Option<f64>,
    /// USD per 1,000 web searches a server tool runs.
    pub web_search_price: Option<f64>,
    /// Bucket capacity in seconds of refill (burst window); default from `[broker]`.
    pub burst_secs: Option<f64>,
    /// Anthropic models only: estimate input with the provider's `count_tokens` endpoint.
    pub count_tokens_rpm: Option<f64>,
    /// The reuse window in seconds; default `[broker] reuse_secs`.
    pub reuse_secs: Option<f64>,
    /// Anthropic models: the broker places prompt-cache breakpoints (default true).
    pub auto_cache: Option<bool>,
    /// The shortest prefix (tokens) the model caches; shorter ones are not marked.
    pub min_cache_tokens: Option<u64>,
    /// `5m` or `1h`: the TTL of the breakpoints the broker places.
    pub cache_ttl: Option<String>,
    /// Whether cache reads count against the input limit (Claude Haiku 3.5 and older).
    pub cache_reads_count: Option<bool>,
    /// The parameter preset (`[param_presets.NAME]`) the model follows.
    pub params: Option<String>,
    /// `refuse` (default) or `drop`: what to do with a parameter the model refuses.
    pub on_unsupported: Option<String>,
    /// Headers added to this model's requests (e.g. `anthropic-beta`).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// JSON fields merged into this model's request bodies.
    pub extra_body: Option<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBroker {
    pub max_attempts: Option<u32>,
    pub retry_after_cap_secs: Option<f64>,
    pub backoff_base_secs: Option<f64>,
    pub backoff_cap_secs: Option<f64>,
    pub burst_secs: Option<f64>,
    pub safety_margin: Option<f64>,
    pub coalesce: Option<bool>,
    pub max_in_flight: Option<usize>,
    pub circuit_threshold: Option<u32>,
    pub circuit_cooldown_secs: Option<f64>,
    pub ladder_max_wait_secs: Option<f64>,
    /// Seconds a ladder request waits for each step up its ladder (0: pure spill; unset:
    /// its max wait).
    pub ladder_prefer_secs: Option<f64>,
    /// How long a request without a `max_wait` waits through rate-limit answers.
    pub rate_limit_patience_secs: Option<f64>,
    pub estimator_cache_entries: Option<usize>,
    /// Default reuse window of every model, in seconds (0: off).
    pub reuse_secs: Option<f64>,
    /// A fixed backoff-jitter seed, for tests only (default: from the OS).
    pub jitter_seed: Option<u64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSim {
    /// Accepted API keys; empty: any key (each key gets its own quota).
    #[serde(default)]
    pub api_keys: Vec<String>,
    /// The simulator's tokenizer counts `token_factor` × the client's tiktoken count.
    pub token_factor: Option<f64>,
    pub latency_ms: Option<f64>,
    pub per_token_ms: Option<f64>,
    pub seed: Option<u64>,
    /// Seconds of refill each simulated bucket holds (default 10: a sixth of a minute's limit).
    pub burst_secs: Option<f64>,
    /// Anthropic OTPM accounting: `actual` (2026 docs) or `max_tokens` (2025 docs).
    pub otpm_mode: Option<String>,
    /// Limits that differ from the models' (keyed by config model name).
    #[serde(default)]
    pub limits: BTreeMap<String, RawSimLimits>,
    #[serde(default)]
    pub faults: Vec<RawFault>,
    /// Answer requests that offer tools with tool calls (default true).
    pub tool_calls: Option<bool>,
    /// With `tool_choice` auto: share of fresh turns answered with a tool call (0..=1).
    pub tool_call_rate: Option<f64>,
    /// With `tool_choice` auto: tool results a loop collects before a text answer.
    pub tool_steps: Option<u32>,
    /// Share of schema-bound replies (forced tools, json_schema) that do not fit (0..=1).
    pub schema_violation_rate: Option<f64>,
    /// Anthropic cache breakpoints and OpenAI automatic prefix caching (default true).
    pub prompt_caching: Option<bool>,
    /// Minimum cacheable prefix by config model name, where it differs from the built-in.
    #[serde(default)]
    pub cache_min_tokens: BTreeMap<String, u64>,
    /// Anthropic extended thinking: signed thinking blocks, checked on replay (default true).
    pub thinking: Option<bool>,
    /// Refuse what the real APIs refuse (unknown fields, parameter combinations, ...).
    pub strict_validation: Option<bool>,
    /// OpenAI: a request refused with a 4xx other than 429 still costs a request (RPM).
    pub charge_refused_requests: Option<bool>,
    /// Bodies larger than this are answered 413 (default 32 MiB).
    pub max_body_bytes: Option<u64>,
    /// Every key is out of money: Anthropic spend-cap 429, OpenAI `insufficient_quota`.
    pub spend_cap: Option<bool>,
    /// Keys that are out of money (when `spend_cap` is false).
    #[serde(default)]
    pub spend_cap_keys: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSimLimits {
    pub rpm: Option<f64>,
    pub itpm: Option<f64>,
    pub otpm: Option<f64>,
    pub tpm: Option<f64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFault {
    /// Config model name the fault applies to; all models when absent.
    pub model: Option<String>,
    /// 500, 502, 503, 504 or 529; absent with `slow_ms` for a slow response.
    pub status: Option<u16>,
    /// Probability per request, 0..=1.
    pub rate: f64,
    /// Extra latency for a slow response.
    pub slow_ms: Option<f64>,
    /// `true`: a streamed response fails mid-stream with an in-stream error event.
    pub mid_stream: Option<bool>,
    /// With `mid_stream`: output tokens sent before the error (default 0).
    pub after_tokens: Option<u64>,
}

/// `[quota]` as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawQuota {
    /// `"memory"` (default) or `"redis"`.
    pub store: Option<String>,
    pub redis_url: Option<String>,
    pub namespace: Option<String>,
    pub local_share: Option<f64>,
    /// Processes assumed to share the namespace until they are seen (default 4).
    pub expected_processes: Option<usize>,
}
