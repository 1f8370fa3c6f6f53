//! Numbers from the config made safe for the simulator's arithmetic. `Config::load`
//! already refuses NaN, infinities, negatives and durations too large to represent, but
//! a `SimConfig` built in code, or limits handed to `Simulator::set_limits`, skip that
//! validation: the simulator bounds them here, warning with the field's name, rather
//! than panic in a bucket, a sum of counters or a sleep.

use quotaswarm::config::Limits;

/// The largest per-minute limit the simulator works with: far above any real tier, and
/// small enough that a bucket's sums stay exact enough and finite.
pub(crate) const MAX_LIMIT: f64 = 1e15;

/// The largest token factor: a million simulated tokens per counted one keeps every
/// token count of a body the simulator accepts far inside `u64`.
pub(crate) const MAX_TOKEN_FACTOR: f64 = 1e6;

/// A per-minute limit: NaN or negative is 0 (nothing admitted), above [`MAX_LIMIT`]
/// (infinity included) is [`MAX_LIMIT`].
pub(crate) fn limit(field: &str, v: f64) -> f64 {
    if v.is_nan() || v < 0.0 {
        tracing::warn!(field, value = v, "simulator: limit taken as 0");
        0.0
    } else if v > MAX_LIMIT {
        tracing::warn!(field, value = v, max = MAX_LIMIT, "simulator: limit capped");
        MAX_LIMIT
    } else {
        v
    }
}

/// Every limit of a model, bounded by [`limit`].
pub(crate) fn limits(model: &str, l: Limits) -> Limits {
    let f = |dim: &str, v| limit(&format!("{model}.{dim}"), v);
    match l {
        Limits::Split { rpm, itpm, otpm } => Limits::Split {
            rpm: f("rpm", rpm),
            itpm: f("itpm", itpm),
            otpm: f("otpm", otpm),
        },
        Limits::Combined { rpm, tpm } => Limits::Combined {
            rpm: f("rpm", rpm),
            tpm: f("tpm", tpm),
        },
    }
}

/// Seconds of refill a bucket holds: within (0, 60]; NaN is the full minute.
pub(crate) fn burst_secs(v: f64) -> f64 {
    if v > 0.0 && v <= 60.0 {
        return v;
    }
    tracing::warn!(value = v, "simulator: sim.burst_secs outside (0, 60]");
    if v > 60.0 || v.is_nan() {
        60.0
    } else {
        // Zero or negative: the smallest burst, one unit at a time.
        f64::MIN_POSITIVE
    }
}

/// Simulated tokens per counted one: positive and finite, at most
/// [`MAX_TOKEN_FACTOR`]; anything else counts tokens as tiktoken does (1.0).
pub(crate) fn token_factor(v: f64) -> f64 {
    if v > 0.0 && v <= MAX_TOKEN_FACTOR {
        return v;
    }
    tracing::warn!(value = v, "simulator: sim.token_factor taken as 1.0");
    1.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extreme_values_are_bounded() {
        for (v, want) in [
            (f64::NAN, 0.0),
            (-1.0, 0.0),
            (f64::NEG_INFINITY, 0.0),
            (f64::INFINITY, MAX_LIMIT),
            (1e300, MAX_LIMIT),
            (50.0, 50.0),
        ] {
            assert_eq!(limit("m.rpm", v), want, "{v}");
        }
        for (v, want) in [
            (f64::NAN, 60.0),
            (f64::INFINITY, 60.0),
            (1e300, 60.0),
            (-5.0, f64::MIN_POSITIVE),
            (0.0, f64::MIN_POSITIVE),
            (10.0, 10.0),
        ] {
            assert_eq!(burst_secs(v), want, "{v}");
        }
        for v in [f64::NAN, f64::INFINITY, 1e300, -1.0, 0.0] {
            assert_eq!(token_factor(v), 1.0, "{v}");
        }
        assert_eq!(token_factor(1.2), 1.2);
    }
}
