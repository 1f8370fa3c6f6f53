use super::*;
use crate::monitor::fixture;
use std::collections::{BTreeSet, HashMap};

/// Where each field of `Stats`, `LaneStats` and `BucketStats` goes. When `Stats` grows,
/// `exports_every_field_of_stats` fails until the new field has a row here (and a
/// family in the renderer).
const TOP_FIELDS: &[(&str, &str)] = &[
    ("uptime_secs", "quotaswarm_uptime_seconds"),
    ("mailbox_depth", "quotaswarm_mailbox_depth"),
    ("messages_received", "quotaswarm_messages_received_total"),
    ("messages_handled", "quotaswarm_messages_handled_total"),
    ("handling_p50_us", "quotaswarm_message_handling_seconds"),
    ("handling_p99_us", "quotaswarm_message_handling_seconds"),
    ("requests", "quotaswarm_requests_total"),
    ("completed", "quotaswarm_completed_total"),
    ("summaries", "quotaswarm_summaries_total"),
    ("failed", "quotaswarm_failed_total"),
    ("refused", "quotaswarm_refused_total"),
    ("merged", "quotaswarm_merged_total"),
    (
        "merged_tokens_saved",
        "quotaswarm_merged_saved_tokens_total",
    ),
    ("merged_usd_saved", "quotaswarm_merged_saved_usd_total"),
    ("retries", "quotaswarm_retries_total"),
    ("attempts_abandoned", "quotaswarm_attempts_abandoned_total"),
    ("in_flight", "quotaswarm_in_flight"),
    ("queue_depth", "quotaswarm_queue_depth"),
    ("rate_limited", "quotaswarm_rate_limited_total"),
    (
        "rate_limited_last_minute",
        "quotaswarm_rate_limited_last_minute",
    ),
    (
        "rate_limited_last_hour",
        "quotaswarm_rate_limited_last_hour",
    ),
    ("rate_limited_share", "quotaswarm_rate_limited_share"),
    ("overloaded", "quotaswarm_overloaded_total"),
    ("server_errors", "quotaswarm_server_errors_total"),
    ("backoff_wait_p50_secs", "quotaswarm_backoff_wait_seconds"),
    ("backoff_wait_p95_secs", "quotaswarm_backoff_wait_seconds"),
    ("fallbacks", "quotaswarm_fallbacks_total"),
    (
        "fallbacks_at_admission",
        "quotaswarm_fallbacks_at_admission_total",
    ),
    ("fallback_answers", "quotaswarm_fallback_answers_total"),
    ("trimmed_tokens", "quotaswarm_trimmed_tokens_total"),
    ("input_tokens", "quotaswarm_tokens_total"),
    ("output_tokens", "quotaswarm_tokens_total"),
    ("cost_usd", "quotaswarm_cost_usd_total"),
    (
        "cost_burn_usd_per_min",
        "quotaswarm_cost_burn_usd_per_minute",
    ),
    ("wasted_usd", "quotaswarm_wasted_usd_total"),
    ("cache_read_tokens", "quotaswarm_tokens_total"),
    ("cache_write_tokens", "quotaswarm_tokens_total"),
    ("cache_hit_share", "quotaswarm_cache_hit_ratio"),
    ("cache_saved_tokens", "quotaswarm_cache_saved_tokens_total"),
    ("cache_saved_usd", "quotaswarm_cache_saved_usd"),
    ("advice", "quotaswarm_advice_lines"),
    ("alerts", "quotaswarm_alert_active"),
    ("lanes", "quotaswarm_lane_info"),
    ("quota_store", "quotaswarm_quota_store_redis"),
    ("quota_store_degraded", "quotaswarm_quota_store_degraded"),
    ("quota_processes", "quotaswarm_quota_processes"),
    (
        "quota_store_outages",
        "quotaswarm_quota_store_outages_total",
    ),
    ("reused", "quotaswarm_reused_total"),
    (
        "reused_tokens_saved",
        "quotaswarm_reused_saved_tokens_total",
    ),
    ("reused_usd_saved", "quotaswarm_reused_saved_usd_total"),
];

const LANE_FIELDS: &[(&str, &str)] = &[
    ("model", "quotaswarm_lane_info"),
    ("provider_model", "quotaswarm_lane_info"),
    ("queue_depth", "quotaswarm_lane_queue_depth"),
    ("in_flight", "quotaswarm_lane_in_flight"),
    ("limit_source", "quotaswarm_lane_limit_source"),
    ("limit_changes", "quotaswarm_lane_limit_changes_total"),
    ("paused_for_secs", "quotaswarm_lane_paused_seconds"),
    ("circuit", "quotaswarm_lane_circuit_open"),
    ("circuit_opened", "quotaswarm_lane_circuit_opened_total"),
    ("buckets", "quotaswarm_lane_bucket_level"),
    ("requests", "quotaswarm_lane_requests_total"),
    ("completions", "quotaswarm_lane_completions_total"),
    ("failures", "quotaswarm_lane_failures_total"),
    ("retries", "quotaswarm_lane_retries_total"),
    (
        "attempts_abandoned",
        "quotaswarm_lane_attempts_abandoned_total",
    ),
    ("status", "quotaswarm_lane_responses_total"),
    ("rate_limited", "quotaswarm_lane_rate_limited_total"),
    (
        "rate_limited_last_minute",
        "quotaswarm_lane_rate_limited_last_minute",
    ),
    (
        "rate_limited_last_hour",
        "quotaswarm_lane_rate_limited_last_hour",
    ),
    ("rate_limited_share", "quotaswarm_lane_rate_limited_share"),
    ("overloaded", "quotaswarm_lane_overloaded_total"),
    ("server_errors", "quotaswarm_lane_server_errors_total"),
    ("transport_errors", "quotaswarm_lane_transport_errors_total"),
    (
        "cancelled_streams",
        "quotaswarm_lane_cancelled_streams_total",
    ),
    (
        "requests_last_minute",
        "quotaswarm_lane_requests_last_minute",
    ),
    ("queue_wait_p50_secs", "quotaswarm_lane_queue_wait_seconds"),
    ("queue_wait_p95_secs", "quotaswarm_lane_queue_wait_seconds"),
    (
        "backoff_wait_p50_secs",
        "quotaswarm_lane_backoff_wait_seconds",
    ),
    (
        "backoff_wait_p95_secs",
        "quotaswarm_lane_backoff_wait_seconds",
    ),
    ("input_tokens", "quotaswarm_lane_tokens_total"),
    ("output_tokens", "quotaswarm_lane_tokens_total"),
    ("cache_read_tokens", "quotaswarm_lane_tokens_total"),
    ("cache_write_tokens", "quotaswarm_lane_tokens_total"),
    (
        "estimated_input_tokens",
        "quotaswarm_lane_estimated_input_tokens_total",
    ),
    (
        "charged_input_tokens",
        "quotaswarm_lane_charged_input_tokens_total",
    ),
    (
        "estimation_error_pct",
        "quotaswarm_lane_estimation_error_ratio",
    ),
    ("cost_usd", "quotaswarm_lane_cost_usd_total"),
    (
        "cost_burn_usd_per_min",
        "quotaswarm_lane_cost_burn_usd_per_minute",
    ),
    ("wasted_usd", "quotaswarm_lane_wasted_usd_total"),
    ("cache_hit_share", "quotaswarm_lane_cache_hit_ratio"),
    (
        "cache_saved_tokens",
        "quotaswarm_lane_cache_saved_tokens_total",
    ),
    ("cache_saved_usd", "quotaswarm_lane_cache_saved_usd"),
    ("priced", "quotaswarm_lane_priced"),
];

const BUCKET_FIELDS: &[(&str, &str)] = &[
    ("bucket", "quotaswarm_lane_bucket_level"),
    ("limit_per_min", "quotaswarm_lane_bucket_limit_per_minute"),
    ("capacity", "quotaswarm_lane_bucket_capacity"),
    ("level", "quotaswarm_lane_bucket_level"),
    ("headroom_pct", "quotaswarm_lane_bucket_headroom_ratio"),
    ("burn_per_sec", "quotaswarm_lane_bucket_burn_per_second"),
    ("refill_per_sec", "quotaswarm_lane_bucket_refill_per_second"),
    (
        "time_to_exhaustion_secs",
        "quotaswarm_lane_time_to_exhaustion_seconds",
    ),
];

fn keys(v: &serde_json::Value) -> BTreeSet<String> {
    v.as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

fn names(table: &[(&str, &str)]) -> BTreeSet<String> {
    table.iter().map(|(f, _)| f.to_string()).collect()
}

/// `(family name, labels, value)` of every sample line.
fn samples(text: &str) -> Vec<(String, HashMap<String, String>, String)> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let (head, value) = l.rsplit_once(' ').expect("value");
            let (name, labels) = match head.split_once('{') {
                Some((n, rest)) => {
                    let body = rest.strip_suffix('}').expect("closing brace");
                    let labels = body
                        .split("\",")
                        .map(|kv| {
                            let (k, v) = kv.split_once("=\"").expect("label");
                            (k.to_string(), v.trim_end_matches('"').to_string())
                        })
                        .collect();
                    (n.to_string(), labels)
                }
                None => (head.to_string(), HashMap::new()),
            };
            (name, labels, value.to_string())
        })
        .collect()
}

fn value_of(text: &str, name: &str, want: &[(&str, &str)]) -> String {
    samples(text)
        .into_iter()
        .find(|(n, labels, _)| {
            n == name
                && want
                    .iter()
                    .all(|(k, v)| labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|(_, _, v)| v)
        .unwrap_or_else(|| panic!("no sample {name} {want:?}"))
}

#[test]
fn exports_every_field_of_stats() {
    let stats = fixture::stats();
    let json = serde_json::to_value(&stats).unwrap();
    let lane = &json["lanes"][0];
    let bucket = &lane["buckets"][0];
    assert_eq!(
        keys(&json),
        names(TOP_FIELDS),
        "Stats changed: export the new figure in render_prometheus and list it in TOP_FIELDS"
    );
    assert_eq!(
        keys(lane),
        names(LANE_FIELDS),
        "LaneStats changed: export the new figure and list it in LANE_FIELDS"
    );
    assert_eq!(
        keys(bucket),
        names(BUCKET_FIELDS),
        "BucketStats changed: export the new figure and list it in BUCKET_FIELDS"
    );
    let text = render_prometheus(&stats);
    let rendered: BTreeSet<String> = samples(&text).into_iter().map(|(n, _, _)| n).collect();
    for (field, family) in TOP_FIELDS.iter().chain(LANE_FIELDS).chain(BUCKET_FIELDS) {
        assert!(
            rendered.contains(*family),
            "{field}: family {family} has no sample"
        );
    }
}

#[test]
fn announces_each_family_once_with_help_and_type_before_its_samples() {
    let text = render_prometheus(&fixture::stats());
    let mut typed: Vec<String> = Vec::new();
    let mut helped: BTreeSet<String> = BTreeSet::new();
    let mut current = String::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().unwrap().to_string();
            assert!(helped.insert(name), "two HELP lines: {line}");
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split(' ');
            let name = parts.next().unwrap().to_string();
            assert!(matches!(parts.next(), Some("counter" | "gauge")), "{line}");
            assert!(helped.contains(&name), "TYPE before HELP: {line}");
            assert!(!typed.contains(&name), "family announced twice: {name}");
            typed.push(name.clone());
            current = name;
        } else {
            let name = line.split(['{', ' ']).next().unwrap();
            assert_eq!(name, current, "sample outside its family: {line}");
        }
    }
    for name in &typed {
        assert!(name.starts_with("quotaswarm_"), "{name}");
        assert!(
            name.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
            "{name}"
        );
        if text.contains(&format!("# TYPE {name} counter")) {
            assert!(name.ends_with("_total"), "counter without _total: {name}");
        }
    }
}

#[test]
fn escapes_backslash_quote_and_newline_in_label_values() {
    assert_eq!(escape_label(r#"a\b"c"#), r#"a\\b\"c"#);
    assert_eq!(escape_label("line\nbreak"), "line\\nbreak");
    let mut stats = fixture::stats();
    stats.lanes[0].model = "we\"ird\\model\n".into();
    let text = render_prometheus(&stats);
    assert!(
        text.contains(r#"quotaswarm_lane_queue_depth{model="we\"ird\\model\n"} 3"#),
        "{text}"
    );
    assert!(!text.contains("model\n\""), "raw newline in a label");
}

#[test]
fn formats_nan_and_infinities_as_the_format_spells_them() {
    assert_eq!(format_value(f64::NAN), "NaN");
    assert_eq!(format_value(f64::INFINITY), "+Inf");
    assert_eq!(format_value(f64::NEG_INFINITY), "-Inf");
    assert_eq!(format_value(3.0), "3");
    assert_eq!(format_value(0.25), "0.25");
}

#[test]
fn emits_time_to_exhaustion_only_for_draining_buckets() {
    let text = render_prometheus(&fixture::stats());
    let tte: Vec<_> = samples(&text)
        .into_iter()
        .filter(|(n, _, _)| n == "quotaswarm_lane_time_to_exhaustion_seconds")
        .collect();
    assert_eq!(tte.len(), 1, "{tte:?}");
    assert_eq!(tte[0].1["model"], "sonnet");
    assert_eq!(tte[0].1["bucket"], "input_tokens");
    assert_eq!(tte[0].2, "42.5");
}

#[test]
fn splits_fallback_keys_into_from_and_to_labels() {
    let text = render_prometheus(&fixture::stats());
    assert_eq!(
        value_of(
            &text,
            "quotaswarm_fallbacks_total",
            &[("from", "opus"), ("to", "sonnet")]
        ),
        "2"
    );
}

#[test]
fn exports_percentages_as_ratios_and_microseconds_as_seconds() {
    let text = render_prometheus(&fixture::stats());
    let headroom = value_of(
        &text,
        "quotaswarm_lane_bucket_headroom_ratio",
        &[("model", "sonnet"), ("bucket", "input_tokens")],
    );
    assert_eq!(headroom, "0.25");
    assert_eq!(
        value_of(
            &text,
            "quotaswarm_lane_estimation_error_ratio",
            &[("model", "sonnet")]
        ),
        "0.05"
    );
    assert_eq!(
        value_of(
            &text,
            "quotaswarm_message_handling_seconds",
            &[("quantile", "0.99")]
        ),
        "0.00008"
    );
}

#[test]
fn marks_open_circuits_with_state_label() {
    let text = render_prometheus(&fixture::stats());
    assert_eq!(
        value_of(
            &text,
            "quotaswarm_lane_circuit_open",
            &[("model", "gpt-4o"), ("state", "open")]
        ),
        "1"
    );
    assert_eq!(
        value_of(
            &text,
            "quotaswarm_lane_circuit_open",
            &[("model", "sonnet"), ("state", "closed")]
        ),
        "0"
    );
}

#[test]
fn counts_responses_by_status_and_tokens_by_kind() {
    let text = render_prometheus(&fixture::stats());
    assert_eq!(
        value_of(
            &text,
            "quotaswarm_lane_responses_total",
            &[("model", "sonnet"), ("status", "429")]
        ),
        "3"
    );
    assert_eq!(
        value_of(
            &text,
            "quotaswarm_lane_tokens_total",
            &[("model", "gpt-4o"), ("kind", "cache_write")]
        ),
        "250"
    );
}
