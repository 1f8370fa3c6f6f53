//! A simulator of the Anthropic Messages, OpenAI Chat Completions and OpenAI Responses
//! APIs, for
//! quotaswarm's tests, examples and keyless runs.
//!
//! One [`Simulator`] answers [`HttpRequest`]s by path, so the same code serves in-process
//! ([`EmbeddedTransport`], works in paused tokio time) and over HTTP ([`serve`]). A swarm
//! uses it through a backend from this crate: `SwarmBuilder::new(config)
//! .backend(quotaswarm_sim::loopback())` (or [`auto`], [`embedded`], [`as_configured`]);
//! [`of`] gives a running swarm's simulator back.
//!
//! The simulator keeps its own token buckets (`bucket.rs`, `limiter.rs`) on purpose,
//! rather than sharing the broker's: it stands in for the provider that enforces the
//! limits, and a limiter shared with the broker would agree with the broker's bugs
//! instead of answering them with 429s.
//!
//! | file | holds |
//! |---|---|
//! | `bucket.rs` | one continuously refilled bucket, pure over `now` |
//! | `limiter.rs` | the bucket set of one (key, model): admission and settlement |
//! | `checked.rs` | config numbers bounded for the simulator's arithmetic |
//! | `tokens.rs` | the simulator's own token counting (tiktoken × `token_factor`) |
//! | `reply.rs` | deterministic answers from a hash of the request |
//! | `faults.rs` | seeded fault injection |
//! | `anthropic.rs` | the Anthropic routes; error bodies, ids and rate-limit headers |
//! | `anthropic_request.rs` | an Anthropic request's checks before admission |
//! | `anthropic_create.rs` | `POST /v1/messages` past the checks: admission and the reply |
//! | `anthropic_reject.rs` | Anthropic refusals (rate limits, overload, spend cap) |
//! | `openai.rs` | the OpenAI route, its checks, error bodies and headers |
//! | `content.rs`, `openai_body.rs` | each vendor's reply content, whole and streamed |
//! | `responses.rs` | the OpenAI Responses route: its items' checks, read as a chat body |
//! | `responses_body.rs` | a Responses answer: output items, usage, named stream events |
//! | `validate.rs` | strict validation: unknown fields, parameter rules, unanswered tools |
//! | `tools.rs`, `schema.rs` | tool calls and JSON made up to fit a schema |
//! | `cache.rs` | prompt caching: prefixes, breakpoints, reads and writes per key |
//! | `thinking.rs` | extended thinking: signed blocks, checked on replay |
//! | `format.rs` | Go durations, RFC 3339 resets, `retry-after` |
//! | `stream.rs` | streamed (SSE) answers: the producer task, cancellation, settlement |
//! | `routes.rs` | other addresses of the wires (Azure, Gemini, keyless local servers), the request log |
//! | `stats.rs` | counters behind `GET /_stats` |
//! | `server.rs` | the axum server |
//! | `swarm.rs` | the swarm backends, the in-process transport |
//!
//! Keys are never logged or echoed; stats name a key by a fingerprint (`key_1a2b3c4d`).

mod anthropic;
mod anthropic_create;
mod anthropic_reject;
mod anthropic_request;
mod bucket;
mod cache;
mod checked;
mod content;
mod faults;
mod format;
mod limiter;
mod openai;
mod openai_body;
mod reply;
mod responses;
mod responses_body;
mod routes;
mod schema;
mod server;
mod server_tools;
mod stats;
mod stream;
mod swarm;
mod thinking;
mod tokens;
mod tools;
mod validate;

pub use routes::SeenRequest;
pub use server::{serve, SimError, SimServer};
pub use stats::{Counters, SimStats};
pub use swarm::{as_configured, auto, embedded, loopback, of, stats_of, EmbeddedTransport};

use bucket::Bucket;
use faults::{Drawn, Faults};
use limiter::{Cost, Denial, ModelBuckets, Window};
use quotaswarm::config::{Config, Fault, Limits, OtpmMode, Wire};
use quotaswarm::provider::{HttpRequest, HttpResponse, StreamingResponse};
use reqwest::header::{HeaderMap, HeaderValue};
use stats::Event;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::time::Instant;

/// count_tokens' own per-key request limit (Anthropic tier 1).
const COUNT_TOKENS_RPM: f64 = 100.0;

/// A model the simulator serves.
#[derive(Debug, Clone)]
struct ModelSpec {
    limits: Limits,
    context_window: u64,
}

impl ModelSpec {
    fn wire(&self) -> Wire {
        match self.limits {
            Limits::Split { .. } => Wire::Anthropic,
            Limits::Combined { .. } => Wire::OpenAi,
        }
    }
}

/// A caller's key, as far as the simulator keeps it: a hash for the bucket map and a
/// short label for stats. The key itself is dropped after authentication.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct KeyId {
    hash: u64,
    label: String,
}

impl KeyId {
    fn of(key: &str) -> KeyId {
        let hash = reply::fnv1a(format!("quotaswarm-sim-key:{key}").as_bytes());
        KeyId {
            hash,
            label: format!("key_{:08x}", hash >> 32),
        }
    }

    /// Whether this is the key a keyless request is served under (`routes.rs`).
    fn is_anonymous(&self) -> bool {
        *self == KeyId::of(routes::ANONYMOUS_KEY)
    }
}

enum Auth {
    Missing,
    Invalid,
}

struct Inner {
    models: Mutex<HashMap<String, ModelSpec>>,
    api_keys: Vec<String>,
    token_factor: f64,
    latency: Duration,
    per_token: Duration,
    otpm_mode: OtpmMode,
    burst_secs: f64,
    // std Mutexes: never held across an await.
    buckets: Mutex<HashMap<(u64, String), ModelBuckets>>,
    count_buckets: Mutex<HashMap<u64, Bucket>>,
    faults: Mutex<Faults>,
    stats: Mutex<SimStats>,
    /// Key of the thinking signatures (the fault seed).
    seed: u64,
    tools: tools::Policy,
    prompt_caching: bool,
    cache_min_tokens: HashMap<String, u64>,
    cache: Mutex<cache::CacheStore>,
    thinking: bool,
    strict: bool,
    charge_refused: bool,
    max_body_bytes: u64,
    spend_cap_all: bool,
    /// Hashes of the keys that are out of money.
    spend_capped: Mutex<HashSet<u64>>,
    /// Serve requests without a key (the config has a provider with `auth = "none"`).
    keyless: bool,
    /// What the latest requests looked like (`routes.rs`).
    seen_requests: Mutex<std::collections::VecDeque<SeenRequest>>,
    /// Open (true) unless a test holds replies back ([`Simulator::hold`]): a held reply
    /// waits here after its quota is charged, so a test can line requests up behind one
    /// in-flight call without racing the network.
    gate: tokio::sync::watch::Sender<bool>,
}

/// What a request turned out to be about (key, model, tokens), for headers and stats;
/// filled in by each wire's handler as it learns it.
#[derive(Default)]
struct Seen {
    key: Option<KeyId>,
    model: Option<String>,
    input: u64,
    output: u64,
    cache_read: u64,
    cache_write: u64,
}

impl Seen {
    /// What the stats record of a request answered with `status`.
    fn into_event(self, status: u16, count_tokens: bool) -> Event {
        Event {
            key: self.key.map(|k| k.label),
            model: self.model,
            status,
            input_tokens: self.input,
            output_tokens: self.output,
            count_tokens,
            cache_read: self.cache_read,
            cache_write: self.cache_write,
            ..Event::default()
        }
    }
}

/// A simulator of both APIs with per-key rate limits, deterministic answers and injected
/// faults. Cheap to clone: clones share one state (buckets, faults, stats).
///
/// It answers `POST /v1/messages`, `/v1/messages/count_tokens`, `/v1/chat/completions`
/// and `/v1/responses` like the real services (bodies, headers, 429s with their
/// rate-limit headers and `retry-after`), and `GET /_stats` with [`SimStats`] as JSON.
/// The same routes answer behind Azure OpenAI's addresses (v1 and classic, with the
/// `api-key` header), Gemini's OpenAI-compatible one, and without a key when the config
/// has an `auth = "none"` provider; `GET /_requests` lists what the latest requests
/// looked like ([`Simulator::requests`]).
///
/// Like the real services, and each switchable in `[sim]` (see
/// [`SimConfig`](quotaswarm::config::SimConfig)): it calls tools (a forced `tool_choice`
/// always, with input that fits the tool's schema; `auto` at a rate, for a few loop
/// steps) and fills `json_schema` response formats; caches prompt prefixes per key
/// (Anthropic breakpoints with their TTLs, reads free against ITPM; OpenAI automatic
/// prefixes); answers `thinking` requests with signed thinking blocks and refuses a
/// replayed tool loop whose thinking is missing or edited; refuses unknown fields,
/// parameter combinations the model rejects, unanswered tool calls and a missing
/// `anthropic-version`; counts a refused OpenAI request against RPM; holds a sixth of
/// a minute's limit per bucket; answers 413 for oversized bodies; and plays an
/// out-of-money key (Anthropic spend cap, OpenAI `insufficient_quota`).
#[derive(Clone)]
pub struct Simulator {
    inner: Arc<Inner>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding a lock cannot leave these maps inconsistent in a way that
    // matters more than refusing all further requests would.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Simulator {
    /// A simulator serving every model of `config` under its wire name, with the
    /// model's limits (or `config.sim.limits`' override) and the `[sim]` settings.
    pub fn new(config: &Config) -> Self {
        let mut models = HashMap::new();
        for m in config.models.values() {
            let limits = config.sim.limits.get(&m.model).copied().unwrap_or(m.limits);
            let limits = checked::limits(&m.model, limits);
            models.entry(m.model.clone()).or_insert(ModelSpec {
                limits,
                context_window: m.context_window,
            });
        }
        let s = &config.sim;
        Simulator {
            inner: Arc::new(Inner {
                models: Mutex::new(models),
                api_keys: s.api_keys.clone(),
                token_factor: checked::token_factor(s.token_factor),
                latency: s.latency,
                per_token: s.per_token,
                otpm_mode: s.otpm_mode,
                burst_secs: checked::burst_secs(s.burst_secs),
                buckets: Mutex::new(HashMap::new()),
                count_buckets: Mutex::new(HashMap::new()),
                faults: Mutex::new(Faults::new(s.faults.clone(), s.seed)),
                stats: Mutex::new(SimStats::default()),
                seed: s.seed,
                tools: tools::Policy {
                    enabled: s.tool_calls,
                    rate: s.tool_call_rate,
                    steps: s.tool_steps,
                    violation_rate: s.schema_violation_rate,
                },
                prompt_caching: s.prompt_caching,
                cache_min_tokens: s.cache_min_tokens.clone().into_iter().collect(),
                cache: Mutex::new(cache::CacheStore::default()),
                thinking: s.thinking,
                strict: s.strict_validation,
                charge_refused: s.charge_refused_requests,
                max_body_bytes: s.max_body_bytes,
                spend_cap_all: s.spend_cap,
                spend_capped: Mutex::new(
                    s.spend_cap_keys.iter().map(|k| KeyId::of(k).hash).collect(),
                ),
                keyless: config
                    .providers
                    .values()
                    .any(|p| p.auth == quotaswarm::config::Auth::None),
                seen_requests: Mutex::new(Default::default()),
                gate: tokio::sync::watch::Sender::new(true),
            }),
        }
    }

    /// Handles one request as the HTTP server would, waiting for the whole body (a
    /// streamed answer is returned as its complete SSE text).
    pub async fn handle(&self, request: HttpRequest) -> HttpResponse {
        let response = self.handle_streaming(request).await;
        let (status, headers) = (response.status, response.headers.clone());
        // The simulator's bodies never fail; keep the head if one somehow did.
        response.collect().await.unwrap_or(HttpResponse {
            status,
            headers,
            body: Default::default(),
        })
    }

    /// Handles one request; the body of a streamed answer (`"stream": true`) arrives
    /// chunk by chunk. Dropping the body stops generation: the simulator records a
    /// cancelled stream and charges only the output tokens sent.
    pub async fn handle_streaming(&self, request: HttpRequest) -> StreamingResponse {
        self.handle_method("POST", request).await
    }

    /// Like [`Simulator::handle_streaming`] for a request with this HTTP method (the
    /// server's): routing is by path alone (the path may carry a query, and stand for a
    /// vendor path behind another address: see `routes.rs`), and a 404 names the method
    /// and path asked.
    pub(crate) async fn handle_method(
        &self,
        method: &str,
        request: HttpRequest,
    ) -> StreamingResponse {
        let request = match routes::normalise(self, request) {
            Ok(r) => r,
            Err(refused) => return StreamingResponse::complete(*refused),
        };
        let full = match request.path.as_str() {
            "/v1/messages" => return anthropic::messages(self, &request).await,
            "/v1/chat/completions" => return openai::chat(self, &request).await,
            "/v1/responses" => return responses::create(self, &request).await,
            "/v1/messages/count_tokens" => anthropic::count_tokens(self, &request),
            "/_stats" => self.stats_response(),
            "/_requests" => routes::log_response(&lock(&self.inner.seen_requests)),
            _ if anthropic::looks_like(&request) => anthropic::not_found(self, &request),
            _ => openai::not_found(self, method, &request),
        };
        StreamingResponse::complete(full)
    }

    /// Holds every reply back (after its request is counted and charged) until
    /// [`release`](Self::release): for tests that need requests in flight at once.
    pub fn hold(&self) {
        self.inner.gate.send_replace(false);
    }

    /// Lets held replies go, and every later one.
    pub fn release(&self) {
        self.inner.gate.send_replace(true);
    }

    /// A snapshot of every counter.
    pub fn stats(&self) -> SimStats {
        lock(&self.inner.stats).clone()
    }

    /// What the latest requests (up to 256) looked like, oldest first: path, query,
    /// credential headers, other headers and body parameters (`GET /_requests`).
    pub fn requests(&self) -> Vec<SeenRequest> {
        lock(&self.inner.seen_requests).iter().cloned().collect()
    }

    /// The label under which `/_stats` lists `key`.
    pub fn key_fingerprint(key: &str) -> String {
        KeyId::of(key).label
    }

    /// Replaces the injected faults (the seeded sequence carries on).
    pub fn set_faults(&self, faults: Vec<Fault>) {
        lock(&self.inner.faults).set(faults);
    }

    /// Changes a model's limits for every key, keeping what each key has used. Returns
    /// false if the simulator does not serve `wire_model`.
    pub fn set_limits(&self, wire_model: &str, limits: Limits) -> bool {
        let limits = checked::limits(wire_model, limits);
        {
            let mut models = lock(&self.inner.models);
            let Some(spec) = models.get_mut(wire_model) else {
                return false;
            };
            spec.limits = limits;
        }
        let now = Instant::now();
        for ((_, model), b) in lock(&self.inner.buckets).iter_mut() {
            if model == wire_model {
                b.set_limits(limits, now);
            }
        }
        true
    }

    /// Puts `key` out of money (`true`: Anthropic answers the spend-cap 429, OpenAI
    /// `insufficient_quota`) or back in (`false`; a `sim.spend_cap = true` config keeps
    /// every key out).
    pub fn set_spend_cap(&self, key: &str, capped: bool) {
        let hash = KeyId::of(key).hash;
        let mut set = lock(&self.inner.spend_capped);
        if capped {
            set.insert(hash);
        } else {
            set.remove(&hash);
        }
    }

    fn spend_capped(&self, key: &KeyId) -> bool {
        self.inner.spend_cap_all || lock(&self.inner.spend_capped).contains(&key.hash)
    }

    /// Whether a body of `len` bytes is over the size limit.
    fn too_large(&self, len: usize) -> bool {
        len as u64 > self.inner.max_body_bytes
    }

    /// Charges one request to the key's RPM without admission (a refused request).
    fn charge_request(&self, key: &KeyId, model: &str) {
        self.with_buckets(key, model, |b, now| b.charge_request(now));
    }

    /// Looks up an Anthropic request's prefixes in the key's cache.
    fn cache_anthropic(&self, key: &KeyId, model: &str, p: &cache::Prefixes) -> cache::Outcome {
        let min = cache::min_cacheable(model, &self.inner.cache_min_tokens);
        lock(&self.inner.cache).anthropic(key.hash, model, p, min, Instant::now())
    }

    /// Looks up an OpenAI prompt's prefixes in the key's cache.
    fn cache_openai(&self, key: &KeyId, model: &str, p: &cache::Prefixes) -> cache::Outcome {
        lock(&self.inner.cache).openai(key.hash, model, p, Instant::now())
    }

    /// Makes a response's cache writes readable.
    fn cache_commit(&self, key: &KeyId, model: &str, outcome: &cache::Outcome) {
        lock(&self.inner.cache).commit(key.hash, model, &outcome.pending, Instant::now());
    }

    fn stats_response(&self) -> HttpResponse {
        let body = serde_json::to_vec(&self.stats()).unwrap_or_default();
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        HttpResponse {
            status: 200,
            headers,
            body: body.into(),
        }
    }

    fn model(&self, wire_model: &str) -> Option<ModelSpec> {
        lock(&self.inner.models).get(wire_model).cloned()
    }

    /// Checks the caller's key against the configured list (any key when it is empty).
    fn authenticate(&self, key: Option<&str>) -> Result<KeyId, Auth> {
        let key = key.filter(|k| !k.is_empty()).ok_or(Auth::Missing)?;
        let keys = &self.inner.api_keys;
        let anonymous = self.inner.keyless && key == routes::ANONYMOUS_KEY;
        if !anonymous && !keys.is_empty() && !keys.iter().any(|k| k == key) {
            return Err(Auth::Invalid);
        }
        Ok(KeyId::of(key))
    }

    fn with_buckets<R>(
        &self,
        key: &KeyId,
        model: &str,
        f: impl FnOnce(&mut ModelBuckets, Instant) -> R,
    ) -> Option<R> {
        let limits = self.model(model)?.limits;
        let now = Instant::now();
        let mut all = lock(&self.inner.buckets);
        let b = all
            .entry((key.hash, model.to_string()))
            .or_insert_with(|| ModelBuckets::with_burst(limits, self.inner.burst_secs, now));
        Some(f(b, now))
    }

    fn admit(&self, key: &KeyId, model: &str, cost: Cost) -> Result<(), Denial> {
        let verdict = self
            .with_buckets(key, model, |b, now| b.admit(cost, now))
            .unwrap_or(Ok(()));
        if let Err(d) = &verdict {
            tracing::debug!(model, dim = ?d.dim, requested = d.requested, used = d.used, limit = d.limit, wait = ?d.wait, "simulator: 429");
        }
        verdict
    }

    fn settle(&self, key: &KeyId, model: &str, reserved: f64, actual: f64) {
        self.with_buckets(key, model, |b, now| b.settle(reserved, actual, now));
    }

    fn windows(&self, key: &KeyId, model: &str) -> Vec<Window> {
        self.with_buckets(key, model, |b, now| b.windows(now))
            .unwrap_or_default()
    }

    /// Takes one count_tokens request from the key's own bucket.
    fn admit_count_tokens(&self, key: &KeyId) -> Result<(), Duration> {
        let now = Instant::now();
        let mut all = lock(&self.inner.count_buckets);
        let b = all
            .entry(key.hash)
            .or_insert_with(|| Bucket::per_minute(COUNT_TOKENS_RPM, now));
        match b.time_until(1.0, now) {
            Ok(d) if d.is_zero() => {
                b.take(1.0, now);
                Ok(())
            }
            Ok(d) => Err(d),
            Err(_) => Err(Duration::from_secs(60)),
        }
    }

    fn draw_fault(&self, model: &str) -> Drawn {
        lock(&self.inner.faults).draw(model)
    }

    fn record(&self, event: &Event) {
        lock(&self.inner.stats).record(event);
    }

    /// Simulated generation time.
    async fn generate_delay(&self, output_tokens: u64, slow: Duration) {
        // Closed only while a test holds replies; the sender lives as long as `self`.
        let _ = self.inner.gate.subscribe().wait_for(|open| *open).await;
        let per = self
            .inner
            .per_token
            .saturating_mul(u32::try_from(output_tokens).unwrap_or(u32::MAX));
        let d = self.inner.latency.saturating_add(per).saturating_add(slow);
        if !d.is_zero() {
            tokio::time::sleep(d).await;
        }
    }
}

/// A fresh `req_…` id.
fn request_id() -> String {
    format!("req_{}", reply::hex_id(rand::random::<u64>(), 24))
}

/// Sets a header, skipping values that are not valid header text.
fn put(headers: &mut HeaderMap, name: &'static str, value: impl AsRef<str>) {
    if let Ok(v) = HeaderValue::from_str(value.as_ref()) {
        headers.insert(name, v);
    }
}

fn json_response(status: u16, body: &serde_json::Value) -> HttpResponse {
    let mut headers = HeaderMap::new();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    HttpResponse {
        status,
        headers,
        body: serde_json::to_vec(body).unwrap_or_default().into(),
    }
}

/// The credential in `Authorization: Bearer …`.
fn bearer(request: &HttpRequest) -> Option<&str> {
    request
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_parity;
