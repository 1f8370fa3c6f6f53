//! Rate-limit headers of both vendors → one [`RateLimitSnapshot`]; `retry-after` parsing.
//!
//! Pure functions of `(headers, now)` (wire details in `docs/providers.md`,
//! "Anthropic rate limits", "OpenAI rate limits" and "Retries"):
//!
//! - Anthropic: `anthropic-ratelimit-{requests,input-tokens,output-tokens,tokens}-{limit,remaining,reset}`,
//!   resets are RFC 3339 timestamps, resolved against `now` (saturating at zero).
//! - OpenAI: `x-ratelimit-{limit,remaining,reset}-{requests,tokens}`, resets are Go
//!   durations (`1s`, `6m0s`, `2s81ms`), parsed by [`parse_go_duration`].
//! - `retry-after-ms`, `retry-after` (seconds or HTTP date): [`parse_retry_after`].
//! - `request-id` (Anthropic) or `x-request-id` (OpenAI).
//!
//! Unknown variants (`-weekly`, `_usage_based`, priority/fast families) are ignored, and a
//! malformed value only loses that one field.

use reqwest::header::{HeaderMap, HeaderName};
use serde::{Deserialize, Serialize};
use std::time::{Duration, SystemTime};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// One limit as the server reports it in its rate-limit headers. Each field is `None`
/// when its header was absent or malformed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct LimitWindow {
    /// The limit (requests or tokens per minute, as the provider counts them).
    pub limit: Option<u64>,
    /// What is left of it now.
    pub remaining: Option<u64>,
    /// Time until the bucket is full again (absolute resets are resolved against `now`).
    pub reset_in: Option<Duration>,
}

impl LimitWindow {
    fn is_empty(&self) -> bool {
        self.limit.is_none() && self.remaining.is_none() && self.reset_in.is_none()
    }

    /// `Some` only when at least one field was reported.
    fn non_empty(self) -> Option<Self> {
        (!self.is_empty()).then_some(self)
    }
}

/// Everything the rate-limit headers of one response say, from either vendor's header
/// family (`anthropic-ratelimit-*` or `x-ratelimit-*`). A window is `None` when the
/// response reported nothing about it; the default is a response without such headers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RateLimitSnapshot {
    /// Requests per minute.
    pub requests: Option<LimitWindow>,
    /// Input tokens per minute (Anthropic only).
    pub input_tokens: Option<LimitWindow>,
    /// Output tokens per minute (Anthropic only).
    pub output_tokens: Option<LimitWindow>,
    /// Anthropic `tokens-*` (most restrictive) or OpenAI `x-ratelimit-*-tokens` (combined).
    pub tokens: Option<LimitWindow>,
    /// The server's wait hint (`retry-after-ms` or `retry-after`); `None` when absent or
    /// zero.
    pub retry_after: Option<Duration>,
    /// The provider's id for the request (`request-id` or `x-request-id`), for support
    /// tickets.
    pub request_id: Option<String>,
}

impl RateLimitSnapshot {
    /// The longest reset among windows reported as exhausted (`remaining == 0`): the
    /// earliest moment every exhausted window is full again.
    pub fn exhausted_reset(&self) -> Option<Duration> {
        [
            self.requests,
            self.input_tokens,
            self.output_tokens,
            self.tokens,
        ]
        .into_iter()
        .flatten()
        .filter(|w| w.remaining == Some(0))
        .filter_map(|w| w.reset_in)
        .max()
    }
}

/// The three headers of one window, parsed once (a name given as text would be parsed
/// again at every look-up, on every response).
struct Window {
    limit: HeaderName,
    remaining: HeaderName,
    reset: HeaderName,
}

impl Window {
    const fn new(limit: &'static str, remaining: &'static str, reset: &'static str) -> Self {
        Window {
            limit: HeaderName::from_static(limit),
            remaining: HeaderName::from_static(remaining),
            reset: HeaderName::from_static(reset),
        }
    }

    /// What `headers` say of this window; `None` when nothing.
    fn read(
        &self,
        headers: &HeaderMap,
        reset: impl FnOnce(&str) -> Option<Duration>,
    ) -> Option<LimitWindow> {
        LimitWindow {
            limit: header_u64(headers, &self.limit),
            remaining: header_u64(headers, &self.remaining),
            reset_in: header_str(headers, &self.reset).and_then(reset),
        }
        .non_empty()
    }
}

static ANTHROPIC_REQUESTS: Window = Window::new(
    "anthropic-ratelimit-requests-limit",
    "anthropic-ratelimit-requests-remaining",
    "anthropic-ratelimit-requests-reset",
);
static ANTHROPIC_INPUT: Window = Window::new(
    "anthropic-ratelimit-input-tokens-limit",
    "anthropic-ratelimit-input-tokens-remaining",
    "anthropic-ratelimit-input-tokens-reset",
);
static ANTHROPIC_OUTPUT: Window = Window::new(
    "anthropic-ratelimit-output-tokens-limit",
    "anthropic-ratelimit-output-tokens-remaining",
    "anthropic-ratelimit-output-tokens-reset",
);
static ANTHROPIC_TOKENS: Window = Window::new(
    "anthropic-ratelimit-tokens-limit",
    "anthropic-ratelimit-tokens-remaining",
    "anthropic-ratelimit-tokens-reset",
);
static OPENAI_REQUESTS: Window = Window::new(
    "x-ratelimit-limit-requests",
    "x-ratelimit-remaining-requests",
    "x-ratelimit-reset-requests",
);
static OPENAI_TOKENS: Window = Window::new(
    "x-ratelimit-limit-tokens",
    "x-ratelimit-remaining-tokens",
    "x-ratelimit-reset-tokens",
);
static REQUEST_ID: HeaderName = HeaderName::from_static("request-id");
static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
static RETRY_AFTER: HeaderName = HeaderName::from_static("retry-after");
static RETRY_AFTER_MS: HeaderName = HeaderName::from_static("retry-after-ms");

/// Parses both header families; unknown headers are ignored.
pub fn parse(headers: &HeaderMap, now: SystemTime) -> RateLimitSnapshot {
    if headers.is_empty() {
        return RateLimitSnapshot::default();
    }
    let anthropic = |w: &Window| w.read(headers, |s| parse_rfc3339_reset(s, now));
    let openai = |w: &Window| w.read(headers, parse_go_duration);
    RateLimitSnapshot {
        requests: anthropic(&ANTHROPIC_REQUESTS).or_else(|| openai(&OPENAI_REQUESTS)),
        input_tokens: anthropic(&ANTHROPIC_INPUT),
        output_tokens: anthropic(&ANTHROPIC_OUTPUT),
        tokens: anthropic(&ANTHROPIC_TOKENS).or_else(|| openai(&OPENAI_TOKENS)),
        retry_after: parse_retry_after(headers, now),
        request_id: header_str(headers, &REQUEST_ID)
            .or_else(|| header_str(headers, &X_REQUEST_ID))
            .map(str::to_string),
    }
}

/// The server's wait hint, read in the official SDKs' order (`docs/providers.md`, "Retries"):
/// 1. `retry-after-ms` as float milliseconds;
/// 2. `retry-after` as float seconds;
/// 3. `retry-after` as an HTTP date, minus `now`.
///
/// `None` when absent, unparsable, not finite, negative, zero or in the past: a hint of
/// "no wait" says nothing the caller's own backoff does not already know.
pub fn parse_retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    if let Some(ms) = header_str(headers, &RETRY_AFTER_MS).and_then(parse_float) {
        return positive_secs(ms / 1000.0);
    }
    let value = header_str(headers, &RETRY_AFTER)?;
    if let Some(secs) = parse_float(value) {
        return positive_secs(secs);
    }
    let at = httpdate::parse_http_date(value).ok()?;
    at.duration_since(now).ok().filter(|d| !d.is_zero())
}

/// Parses a Go `time.Duration` string as OpenAI sends it in `x-ratelimit-reset-*`.
///
/// Grammar: `1*(number unit)`, `number = 1*DIGIT ["." 1*DIGIT]`,
/// `unit = h | m | s | ms | us | µs | ns`. No sign, no spaces, no bare numbers; anything
/// else is `None`. Arithmetic is exact in nanoseconds (no float rounding).
pub fn parse_go_duration(s: &str) -> Option<Duration> {
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    let mut total_ns: u128 = 0;
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        if int_len == 0 {
            return None;
        }
        let (int_part, after) = rest.split_at(int_len);
        let (frac_part, after) = match after.strip_prefix('.') {
            Some(f) => {
                let n = f.bytes().take_while(u8::is_ascii_digit).count();
                if n == 0 {
                    return None;
                }
                f.split_at(n)
            }
            None => ("", after),
        };
        // `ms` before `m`, `µs`/`us` before `s` is irrelevant (different first char).
        let (unit_ns, after): (u128, &str) = if let Some(a) = after.strip_prefix("ns") {
            (1, a)
        } else if let Some(a) = after
            .strip_prefix("us")
            .or_else(|| after.strip_prefix("µs"))
            .or_else(|| after.strip_prefix("μs"))
        {
            (1_000, a)
        } else if let Some(a) = after.strip_prefix("ms") {
            (1_000_000, a)
        } else if let Some(a) = after.strip_prefix('s') {
            (1_000_000_000, a)
        } else if let Some(a) = after.strip_prefix('m') {
            (60_000_000_000, a)
        } else if let Some(a) = after.strip_prefix('h') {
            (3_600_000_000_000, a)
        } else {
            return None;
        };
        let int: u128 = int_part.parse().ok()?;
        total_ns = total_ns.checked_add(int.checked_mul(unit_ns)?)?;
        if !frac_part.is_empty() {
            // Beyond 18 digits nothing changes at nanosecond precision for these units.
            let digits = &frac_part[..frac_part.len().min(18)];
            let frac: u128 = digits.parse().ok()?;
            let scale = 10u128.checked_pow(u32::try_from(digits.len()).ok()?)?;
            total_ns = total_ns.checked_add(frac.checked_mul(unit_ns)? / scale)?;
        }
        rest = after;
    }
    let secs = u64::try_from(total_ns / 1_000_000_000).ok()?;
    let nanos = u32::try_from(total_ns % 1_000_000_000).ok()?;
    Some(Duration::new(secs, nanos))
}

/// The wait hinted in an OpenAI 429 message: "… Please try again in 1.2s. Visit …"
/// (forms seen: `644ms`, `1.2s`, `18.642s`, `6m0s`). `None` when there is no such hint
/// or it is not a Go duration.
pub fn parse_try_again_hint(message: &str) -> Option<Duration> {
    const NEEDLE: &str = "try again in ";
    let lower = message.to_ascii_lowercase();
    let start = lower.find(NEEDLE)? + NEEDLE.len();
    let tail = message.get(start..)?;
    let token: String = tail
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == 'µ' || *c == 'μ')
        .collect();
    parse_go_duration(token.trim_end_matches('.'))
}

/// Time from `now` until an RFC 3339 instant; zero when it is already past.
fn parse_rfc3339_reset(s: &str, now: SystemTime) -> Option<Duration> {
    let at: SystemTime = OffsetDateTime::parse(s, &Rfc3339).ok()?.into();
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// A header as text. Not `HeaderValue::to_str`, which refuses the UTF-8 `µ` of `µs`.
fn header_str<'h>(headers: &'h HeaderMap, name: &HeaderName) -> Option<&'h str> {
    let value = headers.get(name)?;
    std::str::from_utf8(value.as_bytes()).ok().map(str::trim)
}

fn header_u64(headers: &HeaderMap, name: &HeaderName) -> Option<u64> {
    header_str(headers, name)?.parse().ok()
}

fn parse_float(s: &str) -> Option<f64> {
    s.parse::<f64>().ok().filter(|f| f.is_finite())
}

fn positive_secs(secs: f64) -> Option<Duration> {
    if secs > 0.0 {
        Duration::try_from_secs_f64(secs).ok()
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    // `now` is 2025-08-21T12:40:00Z.
    use crate::provider::stream::test_support::{headers, now as fixed_now};

    #[test]
    fn parses_anthropic_headers_with_resets_relative_to_now() {
        let h = headers(&[
            ("anthropic-ratelimit-requests-limit", "1000"),
            ("anthropic-ratelimit-requests-remaining", "999"),
            ("anthropic-ratelimit-requests-reset", "2025-08-21T12:40:01Z"),
            ("Anthropic-RateLimit-Input-Tokens-Limit", "80000"),
            ("anthropic-ratelimit-input-tokens-remaining", "80000"),
            (
                "anthropic-ratelimit-input-tokens-reset",
                "2025-08-21T14:40:30.5+02:00",
            ),
            ("anthropic-ratelimit-output-tokens-limit", "16000"),
            ("anthropic-ratelimit-output-tokens-remaining", "0"),
            (
                "anthropic-ratelimit-output-tokens-reset",
                "2025-08-21T12:40:59Z",
            ),
            ("anthropic-ratelimit-tokens-limit", "96000"),
            ("anthropic-ratelimit-tokens-remaining", "80000"),
            ("anthropic-ratelimit-tokens-reset", "2025-08-21T12:39:00Z"),
            ("anthropic-ratelimit-tokens-weekly-limit", "5"),
            ("request-id", "req_011CAbCdEf"),
            ("retry-after", "7"),
        ]);
        let s = parse(&h, fixed_now());
        assert_eq!(
            s.requests,
            Some(LimitWindow {
                limit: Some(1000),
                remaining: Some(999),
                reset_in: Some(Duration::from_secs(1)),
            })
        );
        assert_eq!(
            s.input_tokens.unwrap().reset_in,
            Some(Duration::from_millis(30_500))
        );
        assert_eq!(
            s.output_tokens,
            Some(LimitWindow {
                limit: Some(16000),
                remaining: Some(0),
                reset_in: Some(Duration::from_secs(59)),
            })
        );
        // Already past: saturates at zero.
        assert_eq!(s.tokens.unwrap().reset_in, Some(Duration::ZERO));
        assert_eq!(s.tokens.unwrap().limit, Some(96000));
        assert_eq!(s.request_id.as_deref(), Some("req_011CAbCdEf"));
        assert_eq!(s.retry_after, Some(Duration::from_secs(7)));
        assert_eq!(s.exhausted_reset(), Some(Duration::from_secs(59)));
    }

    #[test]
    fn parses_openai_headers() {
        let h = headers(&[
            ("x-ratelimit-limit-requests", "60"),
            ("x-ratelimit-remaining-requests", "59"),
            ("x-ratelimit-reset-requests", "1s"),
            ("x-ratelimit-limit-tokens", "150000"),
            ("x-ratelimit-remaining-tokens", "149984"),
            ("x-ratelimit-reset-tokens", "6m0s"),
            ("x-ratelimit-limit-tokens_usage_based", "1"),
            ("x-request-id", "req_abc"),
        ]);
        let s = parse(&h, fixed_now());
        assert_eq!(
            s.requests,
            Some(LimitWindow {
                limit: Some(60),
                remaining: Some(59),
                reset_in: Some(Duration::from_secs(1)),
            })
        );
        assert_eq!(
            s.tokens,
            Some(LimitWindow {
                limit: Some(150000),
                remaining: Some(149984),
                reset_in: Some(Duration::from_secs(360)),
            })
        );
        assert_eq!(s.input_tokens, None);
        assert_eq!(s.output_tokens, None);
        assert_eq!(s.request_id.as_deref(), Some("req_abc"));
        assert_eq!(s.retry_after, None);
    }

    #[test]
    fn malformed_values_lose_only_their_field() {
        let h = headers(&[
            ("x-ratelimit-limit-requests", "lots"),
            ("x-ratelimit-remaining-requests", "3"),
            ("x-ratelimit-reset-requests", "soon"),
            ("anthropic-ratelimit-tokens-reset", "yesterday"),
        ]);
        let s = parse(&h, fixed_now());
        assert_eq!(
            s.requests,
            Some(LimitWindow {
                limit: None,
                remaining: Some(3),
                reset_in: None,
            })
        );
        assert_eq!(s.tokens, None);
        assert_eq!(
            parse(&HeaderMap::new(), fixed_now()),
            RateLimitSnapshot::default()
        );
    }

    #[test]
    fn go_durations_parse_exactly() {
        let ok = [
            ("6m0s", Duration::from_secs(360)),
            ("12ms", Duration::from_millis(12)),
            ("9ms", Duration::from_millis(9)),
            ("1.5s", Duration::from_millis(1500)),
            ("2s81ms", Duration::from_millis(2081)),
            ("1h0m0s", Duration::from_secs(3600)),
            ("0s", Duration::ZERO),
            ("18.642s", Duration::from_millis(18_642)),
            ("1m30.5s", Duration::from_millis(90_500)),
            ("250us", Duration::from_micros(250)),
            ("250µs", Duration::from_micros(250)),
            ("7ns", Duration::from_nanos(7)),
            ("1.5h", Duration::from_secs(5400)),
        ];
        for (s, want) in ok {
            assert_eq!(parse_go_duration(s), Some(want), "{s}");
        }
    }

    #[test]
    fn go_duration_junk_is_rejected() {
        for s in [
            "",
            "5",
            "s",
            "1.s",
            ".5s",
            "-1s",
            "+1s",
            "1 s",
            "1d",
            "1sec",
            "1S",
            "1.5",
            "abc",
            "1s ",
            "1m2",
            "99999999999999999999999h",
        ] {
            assert_eq!(parse_go_duration(s), None, "{s:?}");
        }
    }

    #[test]
    fn try_again_hint_is_read_from_openai_messages() {
        let m = "Rate limit reached for gpt-4o in organization org-XXXX on tokens per min (TPM): \
                 Limit 30000, Used 29100, Requested 1500. Please try again in 1.2s. Visit \
                 https://platform.openai.com/account/rate-limits to learn more.";
        assert_eq!(parse_try_again_hint(m), Some(Duration::from_millis(1200)));
        assert_eq!(
            parse_try_again_hint("Please try again in 644ms."),
            Some(Duration::from_millis(644))
        );
        assert_eq!(
            parse_try_again_hint("please Try again in 6m0s"),
            Some(Duration::from_secs(360))
        );
        assert_eq!(parse_try_again_hint("Please try again later."), None);
        assert_eq!(parse_try_again_hint("Slow down"), None);
    }

    #[test]
    fn retry_after_seconds() {
        let h = headers(&[("retry-after", "20")]);
        assert_eq!(
            parse_retry_after(&h, fixed_now()),
            Some(Duration::from_secs(20))
        );
        let h = headers(&[("retry-after", "1.5")]);
        assert_eq!(
            parse_retry_after(&h, fixed_now()),
            Some(Duration::from_millis(1500))
        );
    }

    #[test]
    fn retry_after_ms_wins_over_retry_after() {
        let h = headers(&[("retry-after-ms", "1500"), ("retry-after", "20")]);
        assert_eq!(
            parse_retry_after(&h, fixed_now()),
            Some(Duration::from_millis(1500))
        );
    }

    #[test]
    fn retry_after_http_date_is_relative_to_now() {
        let ahead = httpdate::fmt_http_date(fixed_now() + Duration::from_secs(20));
        let h = headers(&[("retry-after", &ahead)]);
        assert_eq!(
            parse_retry_after(&h, fixed_now()),
            Some(Duration::from_secs(20))
        );
        let past = httpdate::fmt_http_date(fixed_now() - Duration::from_secs(20));
        let h = headers(&[("retry-after", &past)]);
        assert_eq!(parse_retry_after(&h, fixed_now()), None);
    }

    #[test]
    fn retry_after_garbage_negative_and_zero_are_none() {
        for v in [
            "soon",
            "-10",
            "0",
            "",
            "NaN",
            "inf",
            "Thu, 99 Foo 2025 00:00:00 GMT",
        ] {
            let h = headers(&[("retry-after", v)]);
            assert_eq!(parse_retry_after(&h, fixed_now()), None, "{v:?}");
        }
        assert_eq!(parse_retry_after(&HeaderMap::new(), fixed_now()), None);
        let h = headers(&[("retry-after", "1e400")]);
        assert_eq!(parse_retry_after(&h, fixed_now()), None);
    }

    proptest::proptest! {
        #![proptest_config(crate::types::test_seed::config())]
        #[test]
        fn go_duration_parser_never_panics(s in ".{0,24}") {
            let _ = parse_go_duration(&s);
            let _ = parse_try_again_hint(&s);
        }

        #[test]
        fn go_duration_roundtrips_h_m_s_ms(
            h in 0u64..100,
            m in 0u64..60,
            sec in 0u64..60,
            ms in 0u64..1000,
        ) {
            let s = format!("{h}h{m}m{sec}s{ms}ms");
            let want = Duration::from_millis(((h * 60 + m) * 60 + sec) * 1000 + ms);
            proptest::prop_assert_eq!(parse_go_duration(&s), Some(want));
        }
    }
}
