//! `[broker]`: retries, backoff, circuits, in-flight and cache sizes.

use super::super::problem::{non_negative, secs, Problem};
use super::super::raw::*;
use super::super::*;

pub(super) fn broker(b: RawBroker) -> Result<BrokerConfig, Problem> {
    let d = BrokerConfig::default();
    let max_attempts = b.max_attempts.unwrap_or(d.max_attempts);
    if max_attempts == 0 {
        return Err(Problem::new("broker.max_attempts", "must be >= 1"));
    }
    let safety_margin = non_negative(
        "broker.safety_margin",
        b.safety_margin.unwrap_or(d.safety_margin),
    )?;
    let max_in_flight = b.max_in_flight.unwrap_or(d.max_in_flight);
    if max_in_flight == 0 {
        return Err(Problem::new("broker.max_in_flight", "must be >= 1"));
    }
    let estimator_cache_entries = b
        .estimator_cache_entries
        .unwrap_or(d.estimator_cache_entries);
    if estimator_cache_entries == 0 {
        return Err(Problem::new(
            "broker.estimator_cache_entries",
            "must be >= 1",
        ));
    }
    let circuit_threshold = b.circuit_threshold.unwrap_or(d.circuit_threshold);
    if circuit_threshold == 0 {
        return Err(Problem::new("broker.circuit_threshold", "must be >= 1"));
    }
    Ok(BrokerConfig {
        max_attempts,
        retry_after_cap: secs(
            "broker.retry_after_cap_secs",
            b.retry_after_cap_secs,
            d.retry_after_cap,
        )?,
        backoff_base: secs(
            "broker.backoff_base_secs",
            b.backoff_base_secs,
            d.backoff_base,
        )?,
        backoff_cap: secs("broker.backoff_cap_secs", b.backoff_cap_secs, d.backoff_cap)?,
        safety_margin,
        coalesce: b.coalesce.unwrap_or(d.coalesce),
        max_in_flight,
        circuit_threshold,
        circuit_cooldown: secs(
            "broker.circuit_cooldown_secs",
            b.circuit_cooldown_secs,
            d.circuit_cooldown,
        )?,
        ladder_max_wait: secs(
            "broker.ladder_max_wait_secs",
            b.ladder_max_wait_secs,
            d.ladder_max_wait,
        )?,
        rate_limit_patience: secs(
            "broker.rate_limit_patience_secs",
            b.rate_limit_patience_secs,
            d.rate_limit_patience,
        )?,
        estimator_cache_entries,
        reuse: secs("broker.reuse_secs", b.reuse_secs, d.reuse)?,
        jitter_seed: b.jitter_seed,
    })
}
