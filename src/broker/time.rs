//! Time arithmetic that cannot panic, whatever a request, a config or a server asks for.
//!
//! `Instant + Duration` panics on overflow and `Duration::from_secs_f64` panics on NaN,
//! infinite, negative or huge values; one such panic inside the broker's `handle` would
//! stop the broker for every caller. Everything the broker computes with time goes through
//! these two functions instead.

use std::time::Duration;
use tokio::time::Instant;

/// "Never", in practice: about 30 years (what tokio itself uses for a timer that never
/// fires). Waits longer than this are clamped to it.
pub(crate) const FAR: Duration = Duration::from_secs(86_400 * 365 * 30);

/// `t + d`, saturating: `d` is clamped to [`FAR`], and if even that overflows the clock
/// `t` itself is returned (cannot happen with a monotonic clock that started this
/// century, but must not panic either).
pub(crate) fn after(t: Instant, d: Duration) -> Instant {
    t.checked_add(d.min(FAR)).unwrap_or(t)
}

/// `secs` seconds as a [`Duration`]: negative and zero give zero; NaN, infinite and
/// anything beyond [`FAR`] give [`FAR`] (a broken figure must wait, not go at once).
pub(crate) fn secs_f64(secs: f64) -> Duration {
    if secs.is_nan() {
        return FAR;
    }
    if secs <= 0.0 {
        return Duration::ZERO;
    }
    Duration::try_from_secs_f64(secs).map_or(FAR, |d| d.min(FAR))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adding_duration_max_saturates_instead_of_panicking() {
        let t = Instant::now();
        assert_eq!(after(t, Duration::MAX), t + FAR);
        assert_eq!(after(t, Duration::from_secs(3)), t + Duration::from_secs(3));
    }

    #[test]
    fn nan_infinite_and_huge_seconds_become_far_negative_becomes_zero() {
        assert_eq!(secs_f64(f64::NAN), FAR);
        assert_eq!(secs_f64(f64::INFINITY), FAR);
        assert_eq!(secs_f64(1e300), FAR);
        assert_eq!(secs_f64(-1.0), Duration::ZERO);
        assert_eq!(secs_f64(f64::NEG_INFINITY), Duration::ZERO);
        assert_eq!(secs_f64(1.5), Duration::from_millis(1500));
    }
}
