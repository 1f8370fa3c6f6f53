//! Header value formats: Go durations (OpenAI resets), RFC 3339 instants (Anthropic
//! resets), `retry-after` seconds.

use std::time::{Duration, SystemTime, UNIX_EPOCH};
use time::macros::format_description;
use time::OffsetDateTime;

/// Go `time.Duration` formatting at millisecond precision, rounded up:
/// `0s`, `12ms`, `1.5s`, `6m0s`, `1h0m0s`.
pub fn go_duration(d: Duration) -> String {
    let ms = d.as_nanos().div_ceil(1_000_000);
    if ms == 0 {
        return "0s".into();
    }
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let (h, rest) = (ms / 3_600_000, ms % 3_600_000);
    let (m, rest) = (rest / 60_000, rest % 60_000);
    let (s, frac) = (rest / 1000, rest % 1000);
    let mut secs = s.to_string();
    if frac > 0 {
        let f = format!("{frac:03}");
        secs.push('.');
        secs.push_str(f.trim_end_matches('0'));
    }
    match (h, m) {
        (0, 0) => format!("{secs}s"),
        (0, m) => format!("{m}m{secs}s"),
        (h, m) => format!("{h}h{m}m{secs}s"),
    }
}

/// `retry-after`: whole seconds, rounded up, at least 1.
pub fn retry_after_secs(d: Duration) -> u64 {
    d.as_nanos().div_ceil(1_000_000_000).max(1) as u64
}

/// `now + d` as `YYYY-MM-DDTHH:MM:SSZ`, rounded up to the second.
pub fn rfc3339_after(now: SystemTime, d: Duration) -> String {
    let at = now.checked_add(d).unwrap_or(now);
    let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_nanos().div_ceil(1_000_000_000) as i64;
    let fmt = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| t.format(&fmt).ok())
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_go_durations() {
        assert_eq!(go_duration(Duration::ZERO), "0s");
        assert_eq!(go_duration(Duration::from_millis(12)), "12ms");
        assert_eq!(go_duration(Duration::from_micros(8_200)), "9ms");
        assert_eq!(go_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(go_duration(Duration::from_millis(18_642)), "18.642s");
        assert_eq!(go_duration(Duration::from_secs(360)), "6m0s");
        assert_eq!(go_duration(Duration::from_secs(3600)), "1h0m0s");
    }

    #[test]
    fn rounds_retry_after_up() {
        assert_eq!(retry_after_secs(Duration::from_millis(200)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(2001)), 3);
        assert_eq!(retry_after_secs(Duration::from_secs(4)), 4);
    }

    #[test]
    fn formats_rfc3339_resets() {
        let t = UNIX_EPOCH + Duration::from_secs(1_755_780_000);
        assert_eq!(
            rfc3339_after(t, Duration::from_millis(58_500)),
            "2025-08-21T12:40:59Z"
        );
    }
}
