//! [`Problem`]: what validation found wrong, and where (a path into the config), plus
//! the value checks every section uses. Its own file so that each section's validation
//! (`params.rs`, `quota.rs`, `validate/*`) can use it without importing the others.

use std::time::Duration;

/// A problem found by validation, not yet placed in a file: a path and what is wrong
/// there (`models.sonnet.itpm`, `must be > 0`).
#[derive(Debug)]
pub(super) struct Problem {
    pub(super) path: String,
    pub(super) problem: String,
}

impl Problem {
    pub(super) fn new(path: impl Into<String>, problem: impl Into<String>) -> Self {
        Problem {
            path: path.into(),
            problem: problem.into(),
        }
    }
}

pub(super) fn positive(path: &str, v: f64) -> Result<f64, Problem> {
    if v.is_finite() && v > 0.0 {
        Ok(v)
    } else {
        Err(Problem::new(path, "must be > 0"))
    }
}

pub(super) fn non_negative(path: &str, v: f64) -> Result<f64, Problem> {
    if v.is_finite() && v >= 0.0 {
        Ok(v)
    } else {
        Err(Problem::new(path, "must be >= 0"))
    }
}

/// `secs` seconds as a duration; a finite value too large for one (`1e300`) is an error,
/// not a panic.
pub(super) fn duration(path: &str, secs: f64) -> Result<Duration, Problem> {
    Duration::try_from_secs_f64(secs).map_err(|_| Problem::new(path, "is too large"))
}

pub(super) fn secs(path: &str, v: Option<f64>, default: Duration) -> Result<Duration, Problem> {
    match v {
        None => Ok(default),
        Some(s) => duration(path, non_negative(path, s)?),
    }
}

/// A share in 0..=1 (`sim.tool_call_rate`, ...), or the default.
pub(super) fn share(path: &str, value: Option<f64>, default: f64) -> Result<f64, Problem> {
    match value {
        Some(v) if !(0.0..=1.0).contains(&v) => Err(Problem::new(path, "must be between 0 and 1")),
        Some(v) => Ok(v),
        None => Ok(default),
    }
}
