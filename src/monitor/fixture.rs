//! A hand-built `Stats` for the renderers' unit tests: two lanes (Anthropic's three
//! buckets, OpenAI's two), one draining bucket, a fallback, statuses and advice.

use crate::broker::CircuitState;
use crate::broker::LaneStats;
use crate::broker::{Alert, AlertKind, BucketStats, Severity};
use crate::Stats;
use std::collections::BTreeMap;

fn bucket(name: &str, limit: f64, level: f64, tte: Option<f64>) -> BucketStats {
    BucketStats {
        bucket: name.into(),
        limit_per_min: limit,
        capacity: limit,
        level,
        headroom_pct: (level / limit * 100.0).max(0.0),
        burn_per_sec: if tte.is_some() { 10.0 } else { 0.0 },
        refill_per_sec: limit / 60.0,
        time_to_exhaustion_secs: tte,
    }
}

fn lane(model: &str, provider_model: &str, buckets: Vec<BucketStats>) -> LaneStats {
    LaneStats {
        model: model.into(),
        provider_model: provider_model.into(),
        limit_source: "server".into(),
        limit_changes: 1,
        queue_depth: 3,
        in_flight: 2,
        paused_for_secs: 0.0,
        circuit: CircuitState::Closed,
        circuit_opened: 0,
        buckets,
        requests: 40,
        completions: 36,
        failures: 4,
        retries: 3,
        attempts_abandoned: 0,
        status: BTreeMap::from([("200".into(), 36), ("429".into(), 3), ("529".into(), 1)]),
        rate_limited: 3,
        rate_limited_last_minute: 2,
        rate_limited_last_hour: 3,
        rate_limited_share: 0.075,
        overloaded: 1,
        server_errors: 1,
        transport_errors: 1,
        cancelled_streams: 1,
        requests_last_minute: 12,
        queue_wait_p50_secs: 0.12,
        queue_wait_p95_secs: 1.5,
        backoff_wait_p50_secs: 0.5,
        backoff_wait_p95_secs: 2.5,
        input_tokens: 12_000,
        output_tokens: 3_400,
        cache_read_tokens: 500,
        cache_write_tokens: 250,
        cache_hit_share: 0.039,
        cache_saved_tokens: 500,
        cache_saved_usd: 0.0012,
        estimated_input_tokens: 12_600,
        charged_input_tokens: 12_000,
        estimation_error_pct: 5.0,
        priced: true,
        cost_usd: 0.0871,
        cost_burn_usd_per_min: 0.0123,
        wasted_usd: 0.0012,
    }
}

pub fn stats() -> Stats {
    let sonnet = lane(
        "sonnet",
        "claude-sonnet-4-6",
        vec![
            bucket("requests", 50.0, 40.0, None),
            bucket("input_tokens", 30000.0, 7500.0, Some(42.5)),
            bucket("output_tokens", 8000.0, 6000.0, None),
        ],
    );
    let mut gpt = lane(
        "gpt-4o",
        "gpt-4o",
        vec![
            bucket("requests", 500.0, 495.0, None),
            bucket("tokens", 30000.0, 29000.0, None),
        ],
    );
    gpt.circuit = CircuitState::Open;
    gpt.circuit_opened = 1;
    gpt.paused_for_secs = 4.0;
    Stats {
        uptime_secs: 3723.5,
        mailbox_depth: 1,
        messages_received: 200,
        messages_handled: 199,
        handling_p50_us: 12.0,
        handling_p99_us: 80.0,
        requests: 77,
        completed: 72,
        summaries: 1,
        failed: 2,
        refused: 1,
        merged: 5,
        merged_tokens_saved: 4_000,
        merged_usd_saved: 0.012,
        retries: 6,
        attempts_abandoned: 0,
        in_flight: 4,
        queue_depth: 6,
        rate_limited: 6,
        rate_limited_last_minute: 4,
        rate_limited_last_hour: 6,
        rate_limited_share: 0.075,
        overloaded: 2,
        server_errors: 2,
        backoff_wait_p50_secs: 0.5,
        backoff_wait_p95_secs: 2.5,
        fallbacks: BTreeMap::from([("opus->sonnet".into(), 2)]),
        fallbacks_at_admission: BTreeMap::from([("opus->sonnet".into(), 1)]),
        fallback_answers: 2,
        trimmed_tokens: 900,
        input_tokens: 24_000,
        output_tokens: 6_800,
        cache_read_tokens: 1_000,
        cache_write_tokens: 500,
        cache_hit_share: 0.039,
        cache_saved_tokens: 1_000,
        cache_saved_usd: 0.0024,
        cost_usd: 0.1742,
        cost_burn_usd_per_min: 0.0246,
        wasted_usd: 0.0024,
        advice: vec!["p95 backoff wait is 2.5s (over 2s): a higher rate-limit tier would likely pay for itself".into()],
        lanes: vec![sonnet, gpt],
        quota_store: "redis".into(),
        quota_store_degraded: true,
        quota_processes: 3,
        quota_store_outages: 1,
        reused: 4,
        reused_tokens_saved: 2_000,
        reused_usd_saved: 0.006,
        alerts: vec![Alert {
            kind: AlertKind::CircuitOpen,
            severity: Severity::Critical,
            lane: Some("gpt-4o".into()),
            started_at_secs: 3700.0,
            age_secs: 23.5,
            value: 1.0,
            threshold: 1.0,
            message: "circuit open: nothing is sent to this lane".into(),
            advice: None,
        }],
    }
}
