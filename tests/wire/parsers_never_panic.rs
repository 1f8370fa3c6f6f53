//! Property test: config parsing returns `Ok` or `Err` on any text, never panics.
//!
//! 256 cases by default; `PROPTEST_CASES=100000 cargo test --workspace
//! parsers_never_panic` for a long run.

use proptest::prelude::*;
use proptest::test_runner::{Config as RunnerConfig, TestRunner};
use quotaswarm::Config;

/// Config-shaped TOML: known sections and keys with arbitrary values, as well as
/// arbitrary keys and plain garbage.
fn toml_text() -> impl Strategy<Value = String> {
    let section = proptest::sample::select(
        &[
            "[broker]",
            "[sim]",
            "[models.m]",
            "[models.sonnet]",
            "[providers.p]",
            "[providers.anthropic]",
            "[ladders]",
            "[[sim.faults]]",
            "[sim.limits.claude-sonnet-4-5]",
            "[monitor]",
            "",
        ][..],
    );
    let key = prop_oneof![
        proptest::sample::select(
            &[
                "provider",
                "model",
                "kind",
                "wire",
                "base_url",
                "api_key_env",
                "rpm",
                "tpm",
                "itpm",
                "otpm",
                "burst_secs",
                "context_window",
                "input_price",
                "output_price",
                "max_attempts",
                "retry_after_cap_secs",
                "backoff_base_secs",
                "safety_margin",
                "max_in_flight",
                "circuit_threshold",
                "estimator_cache_entries",
                "api_keys",
                "token_factor",
                "latency_ms",
                "seed",
                "otpm_mode",
                "rate",
                "status",
                "claude",
                "ladder_max_wait_secs",
                "count_tokens_rpm",
                "after_deltas",
            ][..]
        )
        .prop_map(str::to_string),
        "[a-z_]{1,12}",
    ];
    let value = prop_oneof![
        any::<i64>().prop_map(|v| v.to_string()),
        any::<f64>().prop_map(|v| format!("{v:?}")),
        Just("nan".to_string()),
        Just("inf".to_string()),
        Just("-inf".to_string()),
        Just("1e308".to_string()),
        Just("0".to_string()),
        any::<bool>().prop_map(|v| v.to_string()),
        "\\PC{0,16}".prop_map(|s| format!("{s:?}")),
        Just("[\"opus\", \"sonnet\", \"nope\"]".to_string()),
        Just("[]".to_string()),
        Just("{ a = 1 }".to_string()),
        "\\PC{0,16}",
    ];
    let line = prop_oneof![
        4 => (key, value).prop_map(|(k, v)| format!("{k} = {v}")),
        1 => section.prop_map(str::to_string),
        1 => "\\PC{0,30}",
    ];
    prop_oneof![
        4 => proptest::collection::vec(line, 0..30).prop_map(|l| l.join("\n")),
        1 => "\\PC{0,200}",
        1 => proptest::collection::vec(any::<u8>(), 0..200)
            .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
    ]
}

#[test]
fn parsers_never_panic_on_config_text() {
    let mut runner = TestRunner::new(RunnerConfig {
        // A fixed seed: every run checks the same cases (`PROPTEST_CASES` widens them).
        rng_seed: proptest::test_runner::RngSeed::Fixed(20_261_202),
        ..RunnerConfig::default()
    });
    runner
        .run(&toml_text(), |text| {
            match Config::from_toml_str_over_defaults(&text, "fuzz.toml") {
                Ok(c) => drop(c),
                Err(e) => drop(e.to_string()),
            }
            let _ = Config::from_toml_str(&text, "fuzz.toml").map_err(|e| e.to_string());
            Ok(())
        })
        .unwrap();
}
