//! Numbers from outside (the scenario file and the command line) turned into the
//! durations and counts a run uses, checked: a value out of range is an error that says
//! what would do, and the caller names where the value came from. Never a panic:
//! `Duration::from_secs_f64` panics on a negative, NaN or huge value, and adding a huge
//! duration to an `Instant` (a deadline, a wait budget) overflows.

use std::time::Duration;

/// The longest duration taken from outside, in seconds: 30 days. Far beyond any run,
/// and small enough that `Instant::now()` plus it cannot overflow.
pub const MAX_SECS: u64 = 30 * 24 * 3600;

/// The most agents a scenario (or `--agents`) may ask for: each is an actor with its own
/// mailbox, and a mistyped count would otherwise exhaust memory before anything runs.
pub const MAX_AGENTS: u32 = 10_000;

/// The most turns `--turns` may ask for (each a request of every agent).
pub const MAX_TURNS: u32 = 10_000;

/// `v` seconds, 0 included, as a duration; an error if `v` is negative, not a number,
/// or above [`MAX_SECS`].
pub fn secs(v: f64) -> Result<Duration, String> {
    let range = || format!("a number of seconds from 0 to {MAX_SECS} (30 days)");
    if !v.is_finite() || v < 0.0 {
        return Err(format!("must be {}, not {v}", range()));
    }
    if v > MAX_SECS as f64 {
        return Err(format!("must be {}, not {v}", range()));
    }
    Duration::try_from_secs_f64(v).map_err(|e| format!("must be {} ({e})", range()))
}

/// `v` seconds, above 0, as a duration (a zero here would silently mean "none").
pub fn positive_secs(v: f64) -> Result<Duration, String> {
    match secs(v) {
        Ok(d) if !d.is_zero() => Ok(d),
        _ => Err(format!(
            "must be a number of seconds above 0 and at most {MAX_SECS} (30 days), not {v}"
        )),
    }
}

/// A command-line value: seconds above 0 (`--deadline-secs`, `--progress-secs`).
pub fn positive_secs_arg(s: &str) -> Result<Duration, String> {
    match s.trim().parse::<f64>() {
        Ok(v) => positive_secs(v),
        Err(e) => Err(format!(
            "{e} (a number of seconds above 0 and at most {MAX_SECS})"
        )),
    }
}

/// A command-line count from 1 to `max`.
pub fn count_arg(s: &str, max: u32) -> Result<u32, String> {
    match s.trim().parse::<u64>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) if n > u64::from(max) => Err(format!("must be at most {max}, not {n}")),
        Ok(n) => u32::try_from(n).map_err(|_| format!("must be at most {max}, not {n}")),
        Err(e) => Err(format!("{e} (a whole number from 1 to {max})")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_in_range_convert_and_the_rest_are_errors() {
        assert_eq!(secs(0.0), Ok(Duration::ZERO));
        assert_eq!(secs(2.5), Ok(Duration::from_millis(2500)));
        assert_eq!(secs(MAX_SECS as f64), Ok(Duration::from_secs(MAX_SECS)));
        for bad in [
            -1.0,
            -0.5,
            1e300,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ] {
            let e = secs(bad).expect_err("out of range");
            assert!(e.contains("from 0 to 2592000"), "{e}");
        }
        assert!(positive_secs(0.0).is_err());
        assert!(positive_secs(-0.0).is_err());
        assert!(positive_secs(5e-324).is_err(), "rounds to zero");
        assert_eq!(positive_secs(1.0), Ok(Duration::from_secs(1)));
    }

    #[test]
    fn command_line_values_are_checked() {
        assert!(positive_secs_arg("0").unwrap_err().contains("above 0"));
        assert!(positive_secs_arg("nan").is_err());
        assert!(positive_secs_arg("inf").is_err());
        assert!(positive_secs_arg("1e300").is_err());
        assert!(positive_secs_arg("five").is_err());
        assert_eq!(positive_secs_arg("0.25"), Ok(Duration::from_millis(250)));
        assert_eq!(count_arg("3", 10), Ok(3));
        assert!(count_arg("0", 10).unwrap_err().contains("at least 1"));
        assert!(count_arg("11", 10).unwrap_err().contains("at most 10"));
        assert!(count_arg("18446744073709551616", 10).is_err());
        assert!(count_arg("-1", 10).is_err());
    }
}
