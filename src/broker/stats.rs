//! Broker statistics: counters kept per lane and broker-wide (changed only through their
//! `on_*` methods), the [`Stats`] snapshot types (serde) and the mailbox counters that
//! monitoring reads without sending a message.

use super::circuit::CircuitState;
use super::window::{Windowed, WindowedHistogram};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::time::Instant;

/// Mailbox counters. ractor keeps none, so senders (through the broker's mailbox wrapper)
/// count what they send and the broker counts what it handles.
#[derive(Debug, Default)]
pub(crate) struct MailboxCounters {
    pub(crate) received: AtomicU64,
    pub(crate) handled: AtomicU64,
}

impl MailboxCounters {
    pub(crate) fn depth(&self) -> u64 {
        // Read `handled` first: `received` can only have grown since.
        let handled = self.handled.load(Ordering::Acquire);
        self.received
            .load(Ordering::Acquire)
            .saturating_sub(handled)
    }
}

fn histogram() -> Histogram<u64> {
    // 1 ms .. 1 hour, 2 significant digits; creation cannot fail with these bounds, but
    // fall back to an auto-resizing one rather than panic.
    Histogram::new_with_bounds(1, 3_600_000, 2).unwrap_or_else(|_| {
        let mut h = Histogram::new(2).unwrap_or_else(|_| unreachable_histogram());
        h.auto(true);
        h
    })
}

fn unreachable_histogram() -> Histogram<u64> {
    // `Histogram::new(2)` only fails for sigfig > 5; keep clippy's no-panic rule.
    match Histogram::new(3) {
        Ok(h) => h,
        Err(_) => std::process::abort(),
    }
}

fn quantile_secs(h: &Histogram<u64>, q: f64) -> f64 {
    if h.is_empty() {
        0.0
    } else {
        h.value_at_quantile(q) as f64 / 1000.0
    }
}

/// The broker's own counters (per lane figures are in [`LaneCounters`]).
#[derive(Debug, Default)]
pub(crate) struct Totals {
    pub(crate) requests: u64,
    pub(crate) completed: u64,
    pub(crate) failed: u64,
    pub(crate) refused: u64,
    /// Moves down a ladder by `from->to`, at admission and after failures.
    pub(crate) fallbacks: BTreeMap<String, u64>,
    /// The part of `fallbacks` decided at admission.
    pub(crate) fallbacks_at_admission: BTreeMap<String, u64>,
    /// Completions from a lower rung than the request's first.
    pub(crate) fallback_answers: u64,
    /// Completions of the broker's own summary requests (not in `completed`).
    pub(crate) summaries: u64,
    pub(crate) trimmed_tokens: u64,
}

impl Totals {
    /// A request arrived, with `trimmed` tokens trimmed from its history.
    pub(crate) fn on_request(&mut self, trimmed: u64) {
        self.requests += 1;
        self.trimmed_tokens += trimmed;
    }

    /// No rung could take a request.
    pub(crate) fn on_refused(&mut self) {
        self.refused += 1;
    }

    /// A request moved down its ladder along `path` (`from->to`).
    pub(crate) fn on_fallback(&mut self, path: String, at_admission: bool) {
        if at_admission {
            *self.fallbacks_at_admission.entry(path.clone()).or_default() += 1;
        }
        *self.fallbacks.entry(path).or_default() += 1;
    }

    /// A request was answered; `summary` for the broker's own summaries, `fallback`
    /// when from a lower rung than its first.
    pub(crate) fn on_answer(&mut self, summary: bool, fallback: bool) {
        if summary {
            self.summaries += 1;
        } else {
            self.completed += 1;
            if fallback {
                self.fallback_answers += 1;
            }
        }
    }

    /// A request failed on every rung it tried.
    pub(crate) fn on_failed(&mut self) {
        self.failed += 1;
    }
}

/// Counters of one lane.
#[derive(Debug)]
pub(crate) struct LaneCounters {
    pub(crate) requests: u64,
    pub(crate) completions: u64,
    pub(crate) failures: u64,
    pub(crate) retries: u64,
    /// Attempts that never reported within their timeout and grace (see `overdue.rs`).
    pub(crate) attempts_abandoned: u64,
    pub(crate) status: BTreeMap<u16, u64>,
    pub(crate) transport_errors: u64,
    pub(crate) cancelled_streams: u64,
    pub(crate) input_tokens: u64,
    pub(crate) output_tokens: u64,
    pub(crate) cache_read_tokens: u64,
    pub(crate) cache_write_tokens: u64,
    /// Of the writes, those with the 1-hour TTL (priced higher).
    pub(crate) cache_write_1h_tokens: u64,
    pub(crate) cost_usd: f64,
    pub(crate) wasted_usd: f64,
    pub(crate) estimated_input: u64,
    pub(crate) charged_input: u64,
    /// Waits from arrival to first attempt, over the last few minutes (a windowed
    /// histogram, so the percentiles recover after a bad burst).
    pub(crate) queue_wait: WindowedHistogram,
    /// Backoffs before retries, over the last few minutes.
    pub(crate) backoff_wait: WindowedHistogram,
    /// 429s, sent attempts and cost over the last minute and hour, in fixed memory
    /// (per-second and per-minute ring counters), whatever the uptime or load.
    pub(crate) recent_429: Windowed<u64>,
    pub(crate) recent_requests: Windowed<u64>,
    pub(crate) recent_cost: Windowed<f64>,
}

impl LaneCounters {
    pub(crate) fn new() -> Self {
        LaneCounters {
            requests: 0,
            completions: 0,
            failures: 0,
            retries: 0,
            attempts_abandoned: 0,
            status: BTreeMap::new(),
            transport_errors: 0,
            cancelled_streams: 0,
            input_tokens: 0,
            output_tokens: 0,
            cache_read_tokens: 0,
            cache_write_tokens: 0,
            cache_write_1h_tokens: 0,
            cost_usd: 0.0,
            wasted_usd: 0.0,
            estimated_input: 0,
            charged_input: 0,
            queue_wait: WindowedHistogram::new(histogram),
            backoff_wait: WindowedHistogram::new(histogram),
            recent_429: Windowed::new(),
            recent_requests: Windowed::new(),
            recent_cost: Windowed::new(),
        }
    }

    /// Tokens the provider billed for one attempt, and what they cost.
    fn on_usage(&mut self, usage: &crate::types::Usage, usd: f64, now: Instant) {
        self.input_tokens += usage.input_tokens;
        self.output_tokens += usage.output_tokens;
        self.cache_read_tokens += usage.cache_read_input_tokens;
        self.cache_write_tokens += usage.cache_creation_input_tokens;
        self.cache_write_1h_tokens += usage.cache_creation_1h_input_tokens;
        if usd <= 0.0 {
            return;
        }
        self.cost_usd += usd;
        self.recent_cost.add(now, usd);
    }

    /// USD per minute over the last minute.
    pub(crate) fn cost_burn_per_min(&self, now: Instant) -> f64 {
        self.recent_cost.last_minute(now)
    }

    /// An attempt that completed, with the usage billed and its cost, and the input the
    /// broker estimated for it (to compare with what was charged).
    pub(crate) fn on_completion(
        &mut self,
        usage: &crate::types::Usage,
        usd: f64,
        estimated_input: Option<u64>,
        now: Instant,
    ) {
        self.on_status(Some(200), now);
        self.completions += 1;
        self.on_usage(usage, usd, now);
        if let Some(est) = estimated_input {
            self.estimated_input += est;
            self.charged_input += usage.total_input();
        }
    }

    /// An attempt that failed with `status` (`None`: no HTTP response), having spent
    /// `partial` (a stream cut short) worth `wasted` dollars.
    pub(crate) fn on_failure(
        &mut self,
        status: Option<u16>,
        partial: &crate::types::Usage,
        wasted: f64,
        cancelled_stream: bool,
        now: Instant,
    ) {
        self.on_usage(partial, wasted, now);
        self.wasted_usd += wasted;
        if cancelled_stream {
            self.cancelled_streams += 1;
        }
        self.on_status(status, now);
        self.failures += 1;
    }

    /// A retry queued after a backoff of `delay`.
    pub(crate) fn on_retry(&mut self, delay: Duration, now: Instant) {
        self.retries += 1;
        self.on_backoff(delay, now);
    }

    /// An attempt abandoned by its watchdog (its failure is counted as it settles).
    pub(crate) fn on_abandoned(&mut self) {
        self.attempts_abandoned += 1;
    }

    pub(crate) fn on_sent(&mut self, now: Instant) {
        self.requests += 1;
        self.recent_requests.add(now, 1);
    }

    /// A request's wait from arrival to its first attempt.
    pub(crate) fn on_queue_wait(&mut self, waited: Duration, now: Instant) {
        self.queue_wait.record(now, waited);
    }

    /// A retry's backoff.
    fn on_backoff(&mut self, delay: Duration, now: Instant) {
        self.backoff_wait.record(now, delay);
    }

    /// Wait percentiles (seconds) of `h` over its window.
    pub(crate) fn wait_quantiles(h: &WindowedHistogram, now: Instant) -> [f64; 2] {
        merged_quantiles(std::iter::once(h), now, [0.5, 0.95])
    }

    fn on_status(&mut self, status: Option<u16>, now: Instant) {
        match status {
            Some(s) => *self.status.entry(s).or_default() += 1,
            None => self.transport_errors += 1,
        }
        if status == Some(429) {
            self.recent_429.add(now, 1);
        }
    }

    pub(crate) fn count_status(&self, s: u16) -> u64 {
        self.status.get(&s).copied().unwrap_or(0)
    }
}

/// One bucket of a lane, as monitoring sees it. Units are the bucket's own: requests for
/// `requests`, tokens for the token buckets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BucketStats {
    /// Which bucket: `requests`, `input_tokens`, `output_tokens` (split limits) or
    /// `tokens` (combined limits).
    pub bucket: String,
    /// The limit in effect, per minute: the configured one, or the server's (see
    /// [`LaneStats::limit_source`]).
    pub limit_per_min: f64,
    /// The most the bucket holds: the limit × the model's `burst_secs` / 60.
    pub capacity: f64,
    /// What is left now; negative while a request larger than the capacity (but within
    /// a minute's limit) is being paid off.
    pub level: f64,
    /// `level / capacity` × 100, floored at 0.
    pub headroom_pct: f64,
    /// Net consumption per second, averaged over the last minute.
    pub burn_per_sec: f64,
    /// Refill per second (lowered while the lane is slowed after a 429).
    pub refill_per_sec: f64,
    /// Seconds until the bucket runs dry at the current burn; none when not draining.
    pub time_to_exhaustion_secs: Option<f64>,
}

/// One lane (one configured model) as monitoring sees it. Plain counters run from the
/// broker's start. Windowed figures say their window: `_last_minute` counts per second
/// over the last 60 s, `_last_hour` per minute over the last 60 minutes (the current
/// minute included), `rate_limited_share` and `cost_burn_usd_per_min` likewise, and the
/// wait percentiles cover the last 5 minutes, so every windowed figure describes the
/// recent past and its memory is fixed whatever the uptime.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct LaneStats {
    /// The config model name (`sonnet`).
    pub model: String,
    /// The wire model name sent to the provider (`claude-sonnet-4-5`).
    pub provider_model: String,
    /// Where the limits in effect (each bucket's `limit_per_min`) come from: `config`
    /// (as configured: no server figure has differed, or `limits = "config"` pins them),
    /// `server` (the provider's `-limit` headers, seen here or by another process through
    /// the shared store) or `unknown` (no limits configured and not all reported yet:
    /// one request in flight).
    #[serde(default)]
    pub limit_source: String,
    /// Times the limits in effect changed to the server's figures.
    #[serde(default)]
    pub limit_changes: u64,
    /// Requests waiting on this lane (for admission, or for a retry's backoff).
    pub queue_depth: usize,
    /// Attempts sent and not yet answered.
    pub in_flight: usize,
    /// Seconds left of the pause after a 429 (0 when not paused).
    pub paused_for_secs: f64,
    /// The circuit breaker's state.
    pub circuit: CircuitState,
    /// Times the circuit has opened.
    pub circuit_opened: u64,
    /// The lane's buckets: requests, then the token buckets.
    pub buckets: Vec<BucketStats>,
    /// Attempts sent to the provider (retries included).
    pub requests: u64,
    /// Attempts answered with a completion.
    pub completions: u64,
    /// Attempts that failed (any status, transport errors and cancelled streams).
    pub failures: u64,
    /// Attempts re-queued for a retry on this lane after a failure.
    pub retries: u64,
    /// Attempts the broker gave up on because they never reported within their
    /// provider's timeout plus a grace period (their slot and reservation freed, the
    /// attempt failed as a timeout). Each is also one of `failures`.
    pub attempts_abandoned: u64,
    /// Responses by HTTP status (as strings, for JSON maps).
    pub status: BTreeMap<String, u64>,
    /// 429 responses.
    pub rate_limited: u64,
    /// 429 responses over the last minute.
    pub rate_limited_last_minute: u64,
    /// 429 responses over the last hour.
    pub rate_limited_last_hour: u64,
    /// 429s as a share of requests over the last hour (0..1).
    pub rate_limited_share: f64,
    /// 529 and 503 responses (the provider is overloaded).
    pub overloaded: u64,
    /// Responses with a 5xx status (529 and 503 included).
    pub server_errors: u64,
    /// Timeouts and connection failures (no HTTP status).
    pub transport_errors: u64,
    /// Streams the caller stopped listening to.
    pub cancelled_streams: u64,
    /// Attempts sent over the last minute.
    pub requests_last_minute: u64,
    /// Median seconds from a request's arrival to its first attempt, over the last 5
    /// minutes (whole minutes: the current one and the four before it).
    pub queue_wait_p50_secs: f64,
    /// 95th percentile of the seconds from a request's arrival to its first attempt,
    /// over the last 5 minutes.
    pub queue_wait_p95_secs: f64,
    /// Median backoff before a retry, in seconds, over the last 5 minutes.
    pub backoff_wait_p50_secs: f64,
    /// 95th percentile of the backoff before a retry, in seconds, over the last 5
    /// minutes.
    pub backoff_wait_p95_secs: f64,
    /// Uncached input tokens charged, as the provider reported them (completions, and
    /// streams that failed or were cancelled after they had started).
    pub input_tokens: u64,
    /// Output tokens charged, as the provider reported them (or as counted locally for a
    /// stream cut short).
    pub output_tokens: u64,
    /// Input tokens read from the provider's prompt cache.
    pub cache_read_tokens: u64,
    /// Input tokens written to the provider's prompt cache.
    pub cache_write_tokens: u64,
    /// Cache reads as a share of all input tokens (uncached, written and read), 0..1:
    /// how much of what the lane sent came from the provider's prompt cache (Anthropic
    /// breakpoints, OpenAI's automatic caching).
    #[serde(default)]
    pub cache_hit_share: f64,
    /// Input tokens that did not count against the input rate limit thanks to cache
    /// reads: the reads on Anthropic models (unless `cache_reads_count`); 0 on OpenAI
    /// models, whose cached tokens still count toward tokens per minute.
    #[serde(default)]
    pub cache_saved_tokens: u64,
    /// US dollars prompt caching saved at the model's prices: reads × (input price −
    /// read price) − writes × (write price − input price); negative while caches are
    /// written and not yet read.
    #[serde(default)]
    pub cache_saved_usd: f64,
    /// Input tokens the broker estimated (and reserved) for completed requests.
    pub estimated_input_tokens: u64,
    /// Input tokens the provider charged for the same requests (cache included).
    pub charged_input_tokens: u64,
    /// (estimated − charged) / charged × 100 over all completions: positive means the
    /// broker over-reserves (safe, slower), negative risks 429s.
    pub estimation_error_pct: f64,
    /// Whether the model has prices in the config. When not, its cost is unknown and the
    /// dollar figures of this lane read 0.
    pub priced: bool,
    /// US dollars spent, at the model's configured prices (failed and cancelled streams'
    /// partial usage included).
    pub cost_usd: f64,
    /// US dollars spent over the last minute.
    pub cost_burn_usd_per_min: f64,
    /// US dollars spent on attempts that failed (part of `cost_usd`): what a stream had
    /// produced before it failed mid-stream or was cancelled, at the model's prices
    /// (output, and input where the provider reported it billed, as Anthropic does at the
    /// stream's start). A failure answered before generation (429, 529, 5xx, timeout) is
    /// billed nothing and adds 0.
    pub wasted_usd: f64,
}

/// A snapshot of the whole broker, from [`BrokerHandle::stats`](super::BrokerHandle::stats).
///
/// Serialises to the JSON that the stats server serves at `GET /stats` and that
/// `quotaswarm top` reads. Counters run from the broker's start; windowed figures cover
/// the windows described at [`LaneStats`] (the backoff percentiles and the advice: the
/// last 5 minutes; 429 share: the last hour); the broker-wide token, cost and 429
/// figures are sums over [`Stats::lanes`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Stats {
    /// Seconds since the broker started.
    pub uptime_secs: f64,
    /// Messages sent to the broker and not yet handled.
    pub mailbox_depth: u64,
    /// Messages sent to the broker.
    pub messages_received: u64,
    /// Messages the broker has handled.
    pub messages_handled: u64,
    /// Median time the broker spent handling one message, in microseconds.
    pub handling_p50_us: f64,
    /// 99th percentile of the time spent handling one message, in microseconds.
    pub handling_p99_us: f64,
    /// `complete` and `stream` calls received (merged and refused ones included, and the
    /// broker's own summary requests).
    pub requests: u64,
    /// Callers' requests answered with a completion (each merged request counted once;
    /// summaries are counted in [`Stats::summaries`] instead).
    pub completed: u64,
    /// Summaries the broker asked for to replace a history's trimmed turns (trim policies
    /// with `summarize`): provider completions that no caller asked for directly.
    pub summaries: u64,
    /// Requests that finally failed, after retries and fallbacks.
    pub failed: u64,
    /// Requests refused at once because no rung could ever take them (too large for
    /// the limits or the context window).
    pub refused: u64,
    /// Requests merged into an identical one already queued or in flight (coalescing).
    pub merged: u64,
    /// Estimated tokens (input + `max_tokens`) that merged requests did not spend.
    pub merged_tokens_saved: u64,
    /// Estimated US dollars that merged requests did not spend.
    pub merged_usd_saved: f64,
    /// Retries, over all lanes.
    pub retries: u64,
    /// Attempts abandoned because they never reported, over all lanes (see
    /// [`LaneStats::attempts_abandoned`]).
    pub attempts_abandoned: u64,
    /// Attempts in flight, over all lanes.
    pub in_flight: u64,
    /// Requests queued, over all lanes.
    pub queue_depth: u64,
    /// 429 responses.
    pub rate_limited: u64,
    /// 429 responses over the last minute.
    pub rate_limited_last_minute: u64,
    /// 429 responses over the last hour.
    pub rate_limited_last_hour: u64,
    /// 429s as a share of requests over the last hour (0..1).
    pub rate_limited_share: f64,
    /// 529 and 503 responses.
    pub overloaded: u64,
    /// Responses with a 5xx status.
    pub server_errors: u64,
    /// Median backoff before a retry, over all lanes, in seconds, over the last 5
    /// minutes.
    pub backoff_wait_p50_secs: f64,
    /// 95th percentile of the backoff before a retry, over all lanes, in seconds, over
    /// the last 5 minutes (the advice reads this figure).
    pub backoff_wait_p95_secs: f64,
    /// Moves down a ladder, by `from->to` (config model names): at admission (the higher
    /// rung paused after a 429, its circuit open, or its wait over the request's max wait;
    /// also in [`Stats::fallbacks_at_admission`]) and after a failed attempt or a queue
    /// wait that ran out. A request can move twice, and a moved request can still fail,
    /// so these may add up to more than [`Stats::fallback_answers`].
    pub fallbacks: BTreeMap<String, u64>,
    /// The moves of [`Stats::fallbacks`] made at admission, before any attempt on the
    /// skipped rung, by `from->to`.
    pub fallbacks_at_admission: BTreeMap<String, u64>,
    /// Completions (as in [`Stats::completed`]) that came from a lower rung than the
    /// request's first.
    pub fallback_answers: u64,
    /// Input tokens removed from histories by trimming.
    pub trimmed_tokens: u64,
    /// Uncached input tokens charged.
    pub input_tokens: u64,
    /// Output tokens charged.
    pub output_tokens: u64,
    /// Input tokens read from the providers' prompt caches.
    #[serde(default)]
    pub cache_read_tokens: u64,
    /// Input tokens written to the providers' prompt caches.
    #[serde(default)]
    pub cache_write_tokens: u64,
    /// Cache reads as a share of all input tokens (uncached, written and read), 0..1.
    #[serde(default)]
    pub cache_hit_share: f64,
    /// Input tokens that did not count against input rate limits thanks to cache reads
    /// (see [`LaneStats::cache_saved_tokens`]).
    #[serde(default)]
    pub cache_saved_tokens: u64,
    /// US dollars prompt caching saved (see [`LaneStats::cache_saved_usd`]).
    #[serde(default)]
    pub cache_saved_usd: f64,
    /// US dollars spent, at the configured prices; lanes whose model has no prices add
    /// nothing (see [`LaneStats::priced`]).
    pub cost_usd: f64,
    /// US dollars spent over the last minute.
    pub cost_burn_usd_per_min: f64,
    /// US dollars spent on failed attempts, part of `cost_usd` (see
    /// [`LaneStats::wasted_usd`]).
    pub wasted_usd: f64,
    /// Plain-language hints for the person on call (a higher tier would pay for itself,
    /// the key seems shared, ...); empty when all is well. They read the recent past:
    /// the backoff p95 of the last 5 minutes and the 429 share of the last hour, so they
    /// clear once a bad burst has aged out.
    pub advice: Vec<String>,
    /// One entry per configured model, in config-name order.
    pub lanes: Vec<LaneStats>,
    /// Where the quota lives: `"memory"` (this process) or `"redis"` (shared).
    #[serde(default)]
    pub quota_store: String,
    /// Alert: the shared quota store is unreachable, and this process admits with its
    /// local share of each limit until it answers again.
    #[serde(default)]
    pub quota_store_degraded: bool,
    /// Processes last seen sharing the store's namespace (1 with the memory store).
    #[serde(default)]
    pub quota_processes: u64,
    /// Times the shared store became unreachable.
    #[serde(default)]
    pub quota_store_outages: u64,
    /// Requests answered from the reuse window (no provider call).
    #[serde(default)]
    pub reused: u64,
    /// Tokens those answers would have cost (input and output, as billed originally).
    #[serde(default)]
    pub reused_tokens_saved: u64,
    /// Dollars those answers would have cost, at the configured prices.
    #[serde(default)]
    pub reused_usd_saved: f64,
    /// The active alerts (`[alerts]`), in kind then lane order; each clears by itself
    /// when its condition no longer holds.
    #[serde(default)]
    pub alerts: Vec<super::alert::Alert>,
}

impl Stats {
    /// The lane of config model `model` (`sonnet`), if the broker has one.
    pub fn lane(&self, model: &str) -> Option<&LaneStats> {
        self.lanes.iter().find(|l| l.model == model)
    }
}

/// Cache reads as a share of all input (uncached `input`, `reads` and `writes`).
pub(crate) fn cache_hit_share(input: u64, reads: u64, writes: u64) -> f64 {
    share(reads, input.saturating_add(reads).saturating_add(writes))
}

pub(crate) fn share(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// Backoff p95 above which a higher tier would pay for itself.
pub(crate) const ADVICE_BACKOFF_P95_SECS: f64 = 2.0;
/// 429 share above which a higher tier would pay for itself.
pub(crate) const ADVICE_429_SHARE: f64 = 0.005;

/// Hints for the person on call, from the figures.
pub(crate) fn advice(
    backoff_p95_secs: f64,
    share_429: f64,
    merged: u64,
    requests: u64,
) -> Vec<String> {
    let mut out = Vec::new();
    if backoff_p95_secs > ADVICE_BACKOFF_P95_SECS {
        out.push(format!(
            "p95 backoff wait is {backoff_p95_secs:.1}s (over {ADVICE_BACKOFF_P95_SECS:.0}s): agents spend time waiting on retries; a higher rate-limit tier would likely pay for itself"
        ));
    }
    if share_429 > ADVICE_429_SHARE {
        out.push(format!(
            "{:.2}% of requests got 429 over the last hour (over {:.1}%): the key is shared or the limits are set above the tier's; raise the tier, lower the configured limits, or coalesce and cache more",
            share_429 * 100.0,
            ADVICE_429_SHARE * 100.0
        ));
        if requests > 0 && merged * 10 < requests {
            out.push("few requests are merged: identical requests from different agents can share one call (coalescing is on by default; check `coalesce = false` settings)".into());
        }
    }
    out
}

/// Merges the recent minutes of windowed histograms (one lane's, or every lane's for
/// broker-wide figures) and reads percentiles, in seconds.
pub(crate) fn merged_quantiles<'a>(
    hs: impl Iterator<Item = &'a WindowedHistogram>,
    now: Instant,
    qs: [f64; 2],
) -> [f64; 2] {
    let mut all = histogram();
    for h in hs {
        h.merge_into(now, &mut all);
    }
    qs.map(|q| quantile_secs(&all, q))
}
