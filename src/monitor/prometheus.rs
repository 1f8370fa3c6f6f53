//! `Stats` → Prometheus text exposition format 0.0.4, as a pure function.
//!
//! Every figure of [`Stats`], [`LaneStats`] and [`BucketStats`] becomes one metric family
//! (a few figures that belong together share one family through a label: `quantile`,
//! `kind`, `status`, `from`/`to`). Every family is a row of a table: plain scalar
//! figures of [`BROKER_FIGURES`], [`LANE_FIGURES`] and [`BUCKET_FIGURES`], figures with
//! labels of their own of `BROKER_LABELLED` and `LANE_LABELLED` (a row says how to fill
//! the [`Family`]), so a new field of `Stats` is one new row. A unit test fails when `Stats` gains a field this file does not
//! export.
//!
//! Conventions:
//! - Units are base units in the name: `_seconds`, `_usd`, `_ratio` (0..1); counters end
//!   in `_total`. Percentages in `Stats` (`headroom_pct`, `estimation_error_pct`) are
//!   exported as ratios. The one exception, `…_usd_per_minute`, follows the figure.
//! - Percentiles come from the broker's histograms without their sum and count, so they
//!   are gauges with a `quantile` label, not summaries.
//! - `quotaswarm_lane_time_to_exhaustion_seconds` is emitted only for buckets that are
//!   draining (the figure is `None` otherwise); absence means "not running dry".
//! - `quotaswarm_lane_circuit_open` is 1 while the circuit is open or half-open (requests
//!   are held back), 0 when closed; the `state` label says which.
//! - The advice lines are text: `/metrics` exports only their number
//!   (`quotaswarm_advice_lines`); `/stats` has the text.
//! - `quotaswarm_alert_active{kind,lane}` has a sample (1) per active alert only; an
//!   alert that clears disappears (alert on `quotaswarm_alert_active == 1`).
//! - A family is always announced (`# HELP`, `# TYPE`), even with no samples yet (for
//!   example `quotaswarm_fallbacks_total` before any fallback).

use crate::broker::BucketStats;
use crate::broker::CircuitState;
use crate::{broker::LaneStats, Stats};
use std::fmt::Write as _;

/// The `content-type` of the text exposition format 0.0.4.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A metric family's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
        }
    }
}

/// One metric family: name, type, help and its samples, rendered together (the format
/// requires a family's samples to be contiguous under its `# TYPE` line).
#[derive(Debug, Clone)]
pub struct Family {
    name: &'static str,
    kind: Kind,
    help: &'static str,
    samples: Vec<(Vec<(&'static str, String)>, f64)>,
}

impl Family {
    pub fn new(name: &'static str, kind: Kind, help: &'static str) -> Self {
        Family {
            name,
            kind,
            help,
            samples: Vec::new(),
        }
    }

    /// Adds one sample; `labels` are `(name, unescaped value)` pairs.
    pub fn sample(&mut self, labels: &[(&'static str, &str)], value: f64) -> &mut Self {
        self.samples.push((
            labels.iter().map(|(k, v)| (*k, v.to_string())).collect(),
            value,
        ));
        self
    }

    /// The family with the samples `fill` adds.
    pub fn with(mut self, fill: impl FnOnce(&mut Family)) -> Self {
        fill(&mut self);
        self
    }

    /// Appends the family's `# HELP`, `# TYPE` and sample lines to `out`.
    pub fn render(&self, out: &mut String) {
        let _ = writeln!(out, "# HELP {} {}", self.name, escape_help(self.help));
        let _ = writeln!(out, "# TYPE {} {}", self.name, self.kind.as_str());
        for (labels, value) in &self.samples {
            out.push_str(self.name);
            if !labels.is_empty() {
                out.push('{');
                for (i, (k, v)) in labels.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    let _ = write!(out, "{k}=\"{}\"", escape_label(v));
                }
                out.push('}');
            }
            let _ = writeln!(out, " {}", format_value(*value));
        }
    }
}

/// A scalar figure: family name, type, help, and how to read it.
type Figure<T> = (&'static str, Kind, &'static str, fn(&T) -> f64);

use Kind::{Counter, Gauge};

/// Broker-wide scalar figures, one family each, no labels.
#[rustfmt::skip]
pub const BROKER_FIGURES: &[Figure<Stats>] = &[
    ("quotaswarm_uptime_seconds", Gauge, "Seconds since the broker started.", |s| s.uptime_secs),
    ("quotaswarm_mailbox_depth", Gauge, "Messages sent to the broker and not yet handled.", |s| s.mailbox_depth as f64),
    ("quotaswarm_messages_received_total", Counter, "Messages sent to the broker.", |s| s.messages_received as f64),
    ("quotaswarm_messages_handled_total", Counter, "Messages the broker has handled.", |s| s.messages_handled as f64),
    ("quotaswarm_requests_total", Counter, "Completion calls received.", |s| s.requests as f64),
    ("quotaswarm_completed_total", Counter, "Completion calls answered with a completion (summaries not included).", |s| s.completed as f64),
    ("quotaswarm_summaries_total", Counter, "Summaries of trimmed histories the broker asked for.", |s| s.summaries as f64),
    ("quotaswarm_fallback_answers_total", Counter, "Completions from a lower rung than the request's first.", |s| s.fallback_answers as f64),
    ("quotaswarm_failed_total", Counter, "Completion calls that finally failed.", |s| s.failed as f64),
    ("quotaswarm_refused_total", Counter, "Completion calls refused at once (cannot fit, invalid).", |s| s.refused as f64),
    ("quotaswarm_merged_total", Counter, "Completion calls merged into an identical in-flight request.", |s| s.merged as f64),
    ("quotaswarm_merged_saved_tokens_total", Counter, "Tokens not sent thanks to merging.", |s| s.merged_tokens_saved as f64),
    ("quotaswarm_merged_saved_usd_total", Counter, "US dollars not spent thanks to merging.", |s| s.merged_usd_saved),
    ("quotaswarm_retries_total", Counter, "Attempts re-queued after a retryable failure.", |s| s.retries as f64),
    ("quotaswarm_attempts_abandoned_total", Counter, "Attempts abandoned after no report within their timeout plus grace.", |s| s.attempts_abandoned as f64),
    ("quotaswarm_in_flight", Gauge, "Requests sent to providers and not yet answered.", |s| s.in_flight as f64),
    ("quotaswarm_queue_depth", Gauge, "Requests waiting in all lanes' queues.", |s| s.queue_depth as f64),
    ("quotaswarm_rate_limited_total", Counter, "Responses with HTTP 429.", |s| s.rate_limited as f64),
    ("quotaswarm_rate_limited_last_minute", Gauge, "Responses with HTTP 429 over the last minute.", |s| s.rate_limited_last_minute as f64),
    ("quotaswarm_rate_limited_last_hour", Gauge, "Responses with HTTP 429 over the last hour.", |s| s.rate_limited_last_hour as f64),
    ("quotaswarm_rate_limited_share", Gauge, "HTTP 429s as a share of requests over the last hour (0..1).", |s| s.rate_limited_share),
    ("quotaswarm_overloaded_total", Counter, "Responses with HTTP 529 or 503.", |s| s.overloaded as f64),
    ("quotaswarm_server_errors_total", Counter, "Responses with HTTP 5xx.", |s| s.server_errors as f64),
    ("quotaswarm_trimmed_tokens_total", Counter, "Input tokens trimmed from histories.", |s| s.trimmed_tokens as f64),
    ("quotaswarm_cost_usd_total", Counter, "US dollars spent.", |s| s.cost_usd),
    ("quotaswarm_cost_burn_usd_per_minute", Gauge, "US dollars spent over the last minute.", |s| s.cost_burn_usd_per_min),
    ("quotaswarm_wasted_usd_total", Counter, "US dollars spent on attempts that failed.", |s| s.wasted_usd),
    ("quotaswarm_cache_hit_ratio", Gauge, "Prompt-cache reads as a share of all input tokens (0..1).", |s| s.cache_hit_share),
    ("quotaswarm_cache_saved_tokens_total", Counter, "Input tokens that did not count against input rate limits thanks to cache reads.", |s| s.cache_saved_tokens as f64),
    ("quotaswarm_cache_saved_usd", Gauge, "US dollars prompt caching saved (reads at the read price less the write surcharge; may be negative).", |s| s.cache_saved_usd),
    ("quotaswarm_advice_lines", Gauge, "Advice lines for the person on call (text in /stats).", |s| s.advice.len() as f64),
    ("quotaswarm_quota_store_redis", Gauge, "1 when the quota is shared through Redis, 0 when it lives in this process.", |s| f64::from(u8::from(s.quota_store == "redis"))),
    ("quotaswarm_quota_store_degraded", Gauge, "Alert: 1 while the shared quota store is unreachable and this process admits with its local share.", |s| f64::from(u8::from(s.quota_store_degraded))),
    ("quotaswarm_quota_processes", Gauge, "Processes last seen sharing the quota store's namespace.", |s| s.quota_processes as f64),
    ("quotaswarm_quota_store_outages_total", Counter, "Times the shared quota store became unreachable.", |s| s.quota_store_outages as f64),
    ("quotaswarm_reused_total", Counter, "Completion calls answered from the reuse window (no provider call).", |s| s.reused as f64),
    ("quotaswarm_reused_saved_tokens_total", Counter, "Tokens not spent thanks to the reuse window.", |s| s.reused_tokens_saved as f64),
    ("quotaswarm_reused_saved_usd_total", Counter, "US dollars not spent thanks to the reuse window.", |s| s.reused_usd_saved),
];

/// Per-lane scalar figures, one family each, labelled `model`.
#[rustfmt::skip]
pub const LANE_FIGURES: &[Figure<LaneStats>] = &[
    ("quotaswarm_lane_queue_depth", Gauge, "Requests waiting in the lane's queue.", |l| l.queue_depth as f64),
    ("quotaswarm_lane_in_flight", Gauge, "Requests of the lane sent and not yet answered.", |l| l.in_flight as f64),
    ("quotaswarm_lane_limit_changes_total", Counter, "Times the lane's limits changed to the figures of the provider's rate-limit headers.", |l| l.limit_changes as f64),
    ("quotaswarm_lane_paused_seconds", Gauge, "Seconds the lane stays paused after a 429 (0 when not paused).", |l| l.paused_for_secs),
    ("quotaswarm_lane_circuit_opened_total", Counter, "Times the lane's circuit has opened.", |l| l.circuit_opened as f64),
    ("quotaswarm_lane_requests_total", Counter, "Attempts sent on the lane.", |l| l.requests as f64),
    ("quotaswarm_lane_requests_last_minute", Gauge, "Attempts sent on the lane over the last minute.", |l| l.requests_last_minute as f64),
    ("quotaswarm_lane_completions_total", Counter, "Attempts on the lane answered with a completion.", |l| l.completions as f64),
    ("quotaswarm_lane_failures_total", Counter, "Attempts on the lane that failed.", |l| l.failures as f64),
    ("quotaswarm_lane_retries_total", Counter, "Attempts on the lane re-queued for retry.", |l| l.retries as f64),
    ("quotaswarm_lane_attempts_abandoned_total", Counter, "Attempts on the lane abandoned after no report within their timeout plus grace.", |l| l.attempts_abandoned as f64),
    ("quotaswarm_lane_rate_limited_total", Counter, "Responses on the lane with HTTP 429.", |l| l.rate_limited as f64),
    ("quotaswarm_lane_rate_limited_last_minute", Gauge, "Responses on the lane with HTTP 429 over the last minute.", |l| l.rate_limited_last_minute as f64),
    ("quotaswarm_lane_rate_limited_last_hour", Gauge, "Responses on the lane with HTTP 429 over the last hour.", |l| l.rate_limited_last_hour as f64),
    ("quotaswarm_lane_rate_limited_share", Gauge, "HTTP 429s as a share of the lane's requests over the last hour (0..1).", |l| l.rate_limited_share),
    ("quotaswarm_lane_overloaded_total", Counter, "Responses on the lane with HTTP 529 or 503.", |l| l.overloaded as f64),
    ("quotaswarm_lane_server_errors_total", Counter, "Responses on the lane with HTTP 5xx.", |l| l.server_errors as f64),
    ("quotaswarm_lane_transport_errors_total", Counter, "Attempts on the lane that got no HTTP response (timeouts, connection failures).", |l| l.transport_errors as f64),
    ("quotaswarm_lane_cancelled_streams_total", Counter, "Streams on the lane that the caller stopped listening to.", |l| l.cancelled_streams as f64),
    ("quotaswarm_lane_estimated_input_tokens_total", Counter, "Input tokens estimated before sending (completions only).", |l| l.estimated_input_tokens as f64),
    ("quotaswarm_lane_charged_input_tokens_total", Counter, "Input tokens the provider charged (completions only).", |l| l.charged_input_tokens as f64),
    ("quotaswarm_lane_estimation_error_ratio", Gauge, "(estimated - charged) / charged input tokens.", |l| l.estimation_error_pct / 100.0),
    ("quotaswarm_lane_cost_usd_total", Counter, "US dollars spent on the lane.", |l| l.cost_usd),
    ("quotaswarm_lane_cost_burn_usd_per_minute", Gauge, "US dollars spent on the lane over the last minute.", |l| l.cost_burn_usd_per_min),
    ("quotaswarm_lane_wasted_usd_total", Counter, "US dollars spent on the lane's failed attempts.", |l| l.wasted_usd),
    ("quotaswarm_lane_cache_hit_ratio", Gauge, "Prompt-cache reads as a share of the lane's input tokens (0..1).", |l| l.cache_hit_share),
    ("quotaswarm_lane_cache_saved_tokens_total", Counter, "Input tokens of the lane that did not count against its input limit thanks to cache reads.", |l| l.cache_saved_tokens as f64),
    ("quotaswarm_lane_cache_saved_usd", Gauge, "US dollars prompt caching saved on the lane (may be negative).", |l| l.cache_saved_usd),
    ("quotaswarm_lane_priced", Gauge, "1 when the lane's model has prices configured; 0 when its cost is unknown (its dollar figures read 0).", |l| f64::from(u8::from(l.priced))),
];

/// Per-bucket scalar figures, labelled `model` and `bucket`.
#[rustfmt::skip]
pub const BUCKET_FIGURES: &[Figure<BucketStats>] = &[
    ("quotaswarm_lane_bucket_limit_per_minute", Gauge, "The bucket's limit per minute (requests or tokens).", |b| b.limit_per_min),
    ("quotaswarm_lane_bucket_capacity", Gauge, "The bucket's capacity.", |b| b.capacity),
    ("quotaswarm_lane_bucket_level", Gauge, "What the bucket holds now (negative while in debt).", |b| b.level),
    ("quotaswarm_lane_bucket_headroom_ratio", Gauge, "level / capacity, floored at 0.", |b| b.headroom_pct / 100.0),
    ("quotaswarm_lane_bucket_burn_per_second", Gauge, "Consumption per second (moving average, 10 s time constant).", |b| b.burn_per_sec),
    ("quotaswarm_lane_bucket_refill_per_second", Gauge, "Refill per second (lowered while slowed after a 429).", |b| b.refill_per_sec),
];

/// A family whose samples carry labels of their own: name, type, help, and how to fill
/// it from one `T` (the broker's stats, or one lane's).
type Labelled<T> = (&'static str, Kind, &'static str, fn(&T, &mut Family));

/// Broker-wide families with labels (`quantile`, `kind`, `from`/`to`, `lane`).
#[rustfmt::skip]
const BROKER_LABELLED: &[Labelled<Stats>] = &[
    ("quotaswarm_message_handling_seconds", Gauge, "Time the broker spends handling one message, by quantile.", |s, f| labelled(f, &[], "quantile", &[("0.5", s.handling_p50_us / 1e6), ("0.99", s.handling_p99_us / 1e6)])),
    ("quotaswarm_backoff_wait_seconds", Gauge, "Backoff before retries over all lanes, by quantile.", |s, f| labelled(f, &[], "quantile", &[("0.5", s.backoff_wait_p50_secs), ("0.95", s.backoff_wait_p95_secs)])),
    ("quotaswarm_tokens_total", Counter, "Tokens charged over all lanes, by kind.", |s, f| labelled(f, &[], "kind", &token_kinds(s.input_tokens, s.output_tokens, s.cache_read_tokens, s.cache_write_tokens))),
    ("quotaswarm_fallbacks_total", Counter, "Moves down a ladder (at admission and after failures), by model left and model taken.", |s, f| ladder_moves(f, &s.fallbacks)),
    ("quotaswarm_fallbacks_at_admission_total", Counter, "The moves down a ladder made at admission (the higher rung paused, open or too slow), by model left and model taken.", |s, f| ladder_moves(f, &s.fallbacks_at_admission)),
    ("quotaswarm_alert_active", Gauge, "1 for each active alert, by kind and lane (empty lane: the whole broker); absent when it has cleared. /stats has the message and advice.", |s, f| { for a in &s.alerts { f.sample(&[("kind", a.kind.as_str()), ("lane", a.lane_label())], 1.0); } }),
];

/// The lane's model name and the provider's model id; rendered before the lane figures.
#[rustfmt::skip]
const LANE_INFO: Labelled<LaneStats> =
    ("quotaswarm_lane_info", Gauge, "Always 1; maps a lane's model name to the provider's model id.", |l, f| { f.sample(&[("model", &l.model), ("provider_model", &l.provider_model)], 1.0); });

/// Per-lane families with labels beside `model`, filled once per lane.
#[rustfmt::skip]
const LANE_LABELLED: &[Labelled<LaneStats>] = &[
    ("quotaswarm_lane_limit_source", Gauge, "Always 1; the source label says where the lane's limits in effect come from: config, server (the provider's rate-limit headers) or unknown (none configured, none reported yet).", |l, f| { f.sample(&[("model", &l.model), ("source", &l.limit_source)], 1.0); }),
    ("quotaswarm_lane_circuit_open", Gauge, "1 while the lane's circuit is open or half-open, 0 when closed; see the state label.", |l, f| { let (state, open) = circuit(l.circuit); f.sample(&[("model", &l.model), ("state", state)], open); }),
    ("quotaswarm_lane_queue_wait_seconds", Gauge, "Time requests waited in the lane's queue, by quantile.", |l, f| labelled(f, &[("model", &l.model)], "quantile", &[("0.5", l.queue_wait_p50_secs), ("0.95", l.queue_wait_p95_secs)])),
    ("quotaswarm_lane_backoff_wait_seconds", Gauge, "Backoff before the lane's retries, by quantile.", |l, f| labelled(f, &[("model", &l.model)], "quantile", &[("0.5", l.backoff_wait_p50_secs), ("0.95", l.backoff_wait_p95_secs)])),
    ("quotaswarm_lane_responses_total", Counter, "Responses on the lane by HTTP status (transport errors are not counted here).", |l, f| { for (status, n) in &l.status { f.sample(&[("model", &l.model), ("status", status)], *n as f64); } }),
    ("quotaswarm_lane_tokens_total", Counter, "Tokens the provider charged on the lane, by kind.", |l, f| labelled(f, &[("model", &l.model)], "kind", &token_kinds(l.input_tokens, l.output_tokens, l.cache_read_tokens, l.cache_write_tokens))),
];

/// Only draining buckets have a time to exhaustion; rendered after the bucket figures.
#[rustfmt::skip]
const LANE_EXHAUSTION: Labelled<LaneStats> =
    ("quotaswarm_lane_time_to_exhaustion_seconds", Gauge, "Seconds until the bucket runs dry at the current burn; only for draining buckets.", |l, f| { for b in &l.buckets { if let Some(secs) = b.time_to_exhaustion_secs { f.sample(&[("model", &l.model), ("bucket", &b.bucket)], secs); } } });

/// Renders `stats` in the Prometheus text exposition format 0.0.4 (serve it with
/// [`CONTENT_TYPE`]). Metric names start with `quotaswarm_`; lane figures carry a
/// `model` label, bucket figures a `bucket` label too; units are base units (seconds,
/// USD, ratios 0..1).
pub fn render_prometheus(stats: &Stats) -> String {
    let lanes = &stats.lanes;
    let per_lane =
        |row: &Labelled<LaneStats>| head(row).with(|f| lanes.iter().for_each(|l| (row.3)(l, f)));
    let mut families: Vec<Family> = Vec::new();
    for row in BROKER_FIGURES {
        families.push(head(row).with(|f| {
            f.sample(&[], (row.3)(stats));
        }));
    }
    for row in BROKER_LABELLED {
        families.push(head(row).with(|f| (row.3)(stats, f)));
    }
    families.push(per_lane(&LANE_INFO));
    for row in LANE_FIGURES {
        families.push(head(row).with(|f| {
            for l in lanes {
                f.sample(&[("model", &l.model)], (row.3)(l));
            }
        }));
    }
    families.extend(LANE_LABELLED.iter().map(per_lane));
    for row in BUCKET_FIGURES {
        families.push(head(row).with(|f| {
            for l in lanes {
                for b in &l.buckets {
                    f.sample(&[("model", &l.model), ("bucket", &b.bucket)], (row.3)(b));
                }
            }
        }));
    }
    families.push(per_lane(&LANE_EXHAUSTION));

    let mut out = String::with_capacity(16 * 1024);
    for f in &families {
        f.render(&mut out);
    }
    out
}

/// An empty family named, typed and described by a table row.
fn head<F>(row: &(&'static str, Kind, &'static str, F)) -> Family {
    Family::new(row.0, row.1, row.2)
}

/// The `state` label and the sample of a lane's circuit: 1 while requests are held back.
fn circuit(state: CircuitState) -> (&'static str, f64) {
    match state {
        CircuitState::Closed => ("closed", 0.0),
        CircuitState::Open => ("open", 1.0),
        CircuitState::HalfOpen => ("half_open", 1.0),
    }
}

/// One sample per `(value of label, figure)`, each with `labels` and `label`.
fn labelled(
    f: &mut Family,
    labels: &[(&'static str, &str)],
    label: &'static str,
    figures: &[(&str, f64)],
) {
    for (value, figure) in figures {
        let mut all = labels.to_vec();
        all.push((label, value));
        f.sample(&all, *figure);
    }
}

/// The four token counts, labelled `kind`.
fn token_kinds(
    input: u64,
    output: u64,
    cache_read: u64,
    cache_write: u64,
) -> [(&'static str, f64); 4] {
    [
        ("input", input as f64),
        ("output", output as f64),
        ("cache_read", cache_read as f64),
        ("cache_write", cache_write as f64),
    ]
}

/// Ladder moves keyed `"from->to"` as samples labelled `from` and `to`.
fn ladder_moves(f: &mut Family, moves: &std::collections::BTreeMap<String, u64>) {
    for (key, n) in moves {
        let (from, to) = key.split_once("->").unwrap_or((key.as_str(), ""));
        f.sample(&[("from", from), ("to", to)], *n as f64);
    }
}

/// A label value: backslash, double quote and line feed escaped.
pub fn escape_label(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// A `# HELP` text: backslash and line feed escaped.
fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

/// A sample value as Go's `ParseFloat` reads it (`NaN`, `+Inf`, `-Inf`).
fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests;
