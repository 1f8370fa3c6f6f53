//! Failure classification: HTTP status + error body + headers → a typed [`ProviderError`].
//!
//! Status first, then the body's `error.type` / `error.code` (`docs/providers.md`,
//! "Failure classification"):
//! retryable are 408/409/429/500/502/503/504/529, timeouts and connection errors — except
//! terminal 429s (Anthropic spend cap, OpenAI `insufficient_quota` family, "Request too
//! large"), which can never succeed by waiting.
//!
//! [`classify`] is vendor-neutral: it reads both error body shapes, Anthropic
//! `{"type":"error","error":{"type","message","details"?}}` and OpenAI
//! `{"error":{"message","type","param","code"}}`; a body that is neither becomes the
//! message, truncated.
//!
//! Server override: `x-should-retry` wins over the status, as in the SDKs.
//! `false` on a retryable outcome gives [`ProviderError::Rejected`] (same status);
//! `true` on a non-retryable 4xx gives [`ProviderError::Server`] (same status), except for
//! the terminal 429s ([`ProviderError::QuotaExhausted`], [`ProviderError::TooLarge`]):
//! the body says more precisely than one header that waiting cannot help.
//!
//! Messages come from the response body only, never from request headers, and anything
//! shaped like an OpenAI key (`sk-…`) in them is masked.

use super::ratelimit;
use crate::types::Usage;
use reqwest::header::HeaderMap;
use std::time::{Duration, SystemTime};

/// What went wrong with one attempt. `Clone`, because coalesced waiters share it.
///
/// Retryable (see [`ProviderError::is_retryable`]): `RateLimited`, `Overloaded`,
/// `Server`, `Timeout`, `Connection`, `Aborted`, `Unreachable` (the broker gives up on
/// the last at once while the endpoint has never answered: see `broker/retry.rs`). The
/// rest are final for this request on this model.
/// `message`s come from the response body (truncated, keys masked), never from the
/// request.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ProviderError {
    /// 429: over a rate limit; waiting helps.
    #[error("rate limited (429){}: {message}", fmt_after(.retry_after))]
    RateLimited {
        /// The server's `retry-after(-ms)` (or a "try again in" hint in the message).
        retry_after: Option<Duration>,
        /// The error message from the body.
        message: String,
    },
    /// A 429 that waiting cannot fix (a spend cap, an exhausted quota or credit balance),
    /// or a 402 (billing).
    #[error(
        "quota or spend cap exhausted (429, not retryable until the provider resets it): {message}"
    )]
    QuotaExhausted {
        /// The error message from the body.
        message: String,
    },
    /// 429 for a request larger than the rate limit can ever admit.
    #[error("request larger than the rate limit can ever admit: {message}")]
    TooLarge {
        /// The error message from the body.
        message: String,
    },
    /// 529 or 503: the provider is overloaded.
    #[error("provider overloaded ({status}){}: {message}", fmt_after(.retry_after))]
    Overloaded {
        /// The HTTP status.
        status: u16,
        /// The server's `retry-after`, if any.
        retry_after: Option<Duration>,
        /// The error message from the body.
        message: String,
    },
    /// A retryable status other than 429/503/529 (408, 409, 500, 502, 504 and any other
    /// 5xx), or a 4xx the server marked retryable with `x-should-retry: true`.
    #[error("server error ({status}){}: {message}", fmt_after(.retry_after))]
    Server {
        /// The HTTP status.
        status: u16,
        /// The server's `retry-after`, if any.
        retry_after: Option<Duration>,
        /// The error message from the body.
        message: String,
    },
    /// No response within the provider's `timeout_secs`.
    #[error("request timed out")]
    Timeout,
    /// No response: the connection could not be made or broke.
    #[error("connection failed: {message}")]
    Connection {
        /// What the HTTP client reported (never headers, so never a key).
        message: String,
    },
    /// No connection could be made: refused, unknown host, no route, connect timeout.
    /// On an endpoint that has never answered this is a wrong `base_url` (or a server
    /// not started), and the broker fails the request at once instead of retrying.
    #[error("nothing answers at {base_url} ({reason}): check providers.{provider}.base_url")]
    Unreachable {
        /// The provider's config name (`[providers.NAME]`).
        provider: String,
        /// The base URL that was tried.
        base_url: String,
        /// Why, e.g. `connection refused`.
        reason: String,
    },
    /// 400: the provider refused the request as malformed.
    #[error("bad request (400): {message}")]
    BadRequest {
        /// The error message from the body.
        message: String,
    },
    /// 401 or 403: a missing, invalid or unauthorised API key.
    #[error("authentication failed ({status}): check the API key: {message}")]
    Auth {
        /// The HTTP status.
        status: u16,
        /// The error message from the body.
        message: String,
    },
    /// 404: usually an unknown model name or a wrong base URL.
    #[error("not found (404): {message}")]
    NotFound {
        /// The error message from the body.
        message: String,
    },
    /// Any other 4xx (413, 422, ...), or a retryable status the server marked
    /// `x-should-retry: false`.
    #[error("request rejected ({status}): {message}")]
    Rejected {
        /// The HTTP status.
        status: u16,
        /// The error message from the body.
        message: String,
    },
    /// A 2xx whose body could not be read as a completion.
    #[error("unreadable response from provider: {message}")]
    InvalidResponse {
        /// What did not parse.
        message: String,
    },
    /// The caller stopped listening to a stream; the request was cancelled.
    #[error("cancelled: the caller stopped listening to the stream")]
    Cancelled {
        /// What the provider had produced (and charged) by then, as well as known.
        partial_usage: Usage,
    },
    /// The attempt never reported an outcome: the task sending it panicked (a bug in a
    /// transport or a wire decoder) or was aborted (the runtime shutting down).
    /// Retryable; not counted as a failure of the model.
    #[error("the attempt was lost: {message}")]
    Aborted {
        /// What happened (the panic's message, when there was one).
        message: String,
    },
    /// A streamed response failed after its `200` had been sent: an in-stream `error`
    /// event (Anthropic `event: error`, OpenAI `{"error":…}` chunk), a transport failure
    /// or a body that ended early. `error` is the underlying failure, classified as if it
    /// had come as a status (e.g. `overloaded_error` → [`ProviderError::Overloaded`]).
    ///
    /// Never [`is_retryable`](ProviderError::is_retryable) by itself (the SDKs never retry
    /// these): whoever re-issues the request decides from [`underlying`](Self::underlying)
    /// and `deltas_delivered` (e.g. "retry only if nothing was delivered yet").
    #[error("failed mid-stream after {deltas_delivered} deltas: {error}")]
    MidStream {
        /// The failure inside the stream (also this error's
        /// [`source`](std::error::Error::source)).
        #[source]
        error: Box<ProviderError>,
        /// Content events (text, tool start, tool input) already handed to the consumer.
        deltas_delivered: u64,
        /// Best knowledge of what the provider charged: input from the stream's start
        /// (Anthropic; 0 for OpenAI), output as reported or counted locally.
        partial_usage: Usage,
    },
}

fn fmt_after(d: &Option<Duration>) -> String {
    match d {
        Some(d) => format!(", retry after {:.3}s", d.as_secs_f64()),
        None => String::new(),
    }
}

impl ProviderError {
    /// Whether waiting and sending the same request again can succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            ProviderError::RateLimited { .. }
                | ProviderError::Overloaded { .. }
                | ProviderError::Server { .. }
                | ProviderError::Timeout
                | ProviderError::Connection { .. }
                | ProviderError::Unreachable { .. }
                | ProviderError::Aborted { .. }
        )
    }

    /// For [`ProviderError::MidStream`], the failure inside the stream; otherwise `self`.
    pub fn underlying(&self) -> &ProviderError {
        match self {
            ProviderError::MidStream { error, .. } => error.underlying(),
            other => other,
        }
    }

    /// What the provider charged for a failed attempt, as well as known: something only
    /// for streams that had started (mid-stream failures and cancellations).
    pub fn partial_usage(&self) -> Usage {
        match self {
            ProviderError::MidStream { partial_usage, .. }
            | ProviderError::Cancelled { partial_usage } => *partial_usage,
            _ => Usage::default(),
        }
    }

    /// Whether this failure happened after a streamed response had started.
    pub fn is_mid_stream(&self) -> bool {
        matches!(self, ProviderError::MidStream { .. })
    }

    /// Content deltas delivered before a mid-stream failure (0 for any other failure).
    pub fn deltas_delivered(&self) -> u64 {
        match self {
            ProviderError::MidStream {
                deltas_delivered, ..
            } => *deltas_delivered,
            _ => 0,
        }
    }

    /// The server's hint, when it gave one.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ProviderError::MidStream { error, .. } => error.retry_after(),
            ProviderError::RateLimited { retry_after, .. }
            | ProviderError::Overloaded { retry_after, .. }
            | ProviderError::Server { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The HTTP status, when there was a response.
    pub fn status(&self) -> Option<u16> {
        match self {
            ProviderError::RateLimited { .. }
            | ProviderError::QuotaExhausted { .. }
            | ProviderError::TooLarge { .. } => Some(429),
            ProviderError::Overloaded { status, .. }
            | ProviderError::Server { status, .. }
            | ProviderError::Auth { status, .. }
            | ProviderError::Rejected { status, .. } => Some(*status),
            ProviderError::BadRequest { .. } => Some(400),
            ProviderError::NotFound { .. } => Some(404),
            // The status was 200; the underlying error says what the stream reported.
            ProviderError::Timeout
            | ProviderError::Connection { .. }
            | ProviderError::Unreachable { .. }
            | ProviderError::InvalidResponse { .. }
            | ProviderError::Cancelled { .. }
            | ProviderError::Aborted { .. }
            | ProviderError::MidStream { .. } => None,
        }
    }

    /// Whether the server answered this attempt (any status, or a body that broke off):
    /// its endpoint is reachable. Not for timeouts, failed connections and cancellations.
    pub(crate) fn endpoint_answered(&self) -> bool {
        !matches!(
            self,
            ProviderError::Timeout
                | ProviderError::Connection { .. }
                | ProviderError::Unreachable { .. }
                | ProviderError::Cancelled { .. }
        )
    }

    /// Whether the model, not the caller's request, is failing (overload, server
    /// errors, timeouts, connection failures, also inside a stream): these count toward
    /// opening a lane's circuit breaker.
    pub fn is_failure_of_model(&self) -> bool {
        if let ProviderError::MidStream { error, .. } = self {
            return error.is_failure_of_model();
        }
        matches!(
            self,
            ProviderError::Overloaded { .. }
                | ProviderError::Server { .. }
                | ProviderError::Timeout
                | ProviderError::Connection { .. }
                | ProviderError::Unreachable { .. }
        )
    }
}

/// Longest message kept from an error body.
const MAX_MESSAGE_CHARS: usize = 500;

/// OpenAI `error.type` / `error.code` values meaning "out of money or quota": waiting cannot help.
const OPENAI_QUOTA_CODES: [&str; 5] = [
    "insufficient_quota",
    "credit_balance_exhausted",
    "organization_spend_limit_exceeded",
    "project_spend_limit_exceeded",
    "organization_usage_limit_exceeded",
];

/// Anthropic `error.details.error_code` of the tier spend cap: access returns only next month.
const ANTHROPIC_SPEND_CAP: &str = "enforced_spend_limit_reached";

/// The interesting parts of either vendor's error body.
#[derive(Debug, Default)]
struct ErrorBody {
    /// `error.type` (both vendors).
    kind: Option<String>,
    /// OpenAI `error.code`.
    code: Option<String>,
    /// Anthropic `error.details.error_code`.
    detail_code: Option<String>,
    /// `error.message`, or the raw body text when there is none.
    message: String,
}

impl ErrorBody {
    fn parse(body: &[u8]) -> Self {
        let raw = || truncate(&String::from_utf8_lossy(body));
        let Ok(json) = serde_json::from_slice::<serde_json::Value>(body) else {
            return ErrorBody {
                message: raw(),
                ..ErrorBody::default()
            };
        };
        let error = &json["error"];
        let text = |v: &serde_json::Value| match v {
            serde_json::Value::String(s) if !s.is_empty() => Some(s.clone()),
            serde_json::Value::Number(n) => Some(n.to_string()),
            _ => None,
        };
        ErrorBody {
            kind: text(&error["type"]),
            code: text(&error["code"]),
            detail_code: text(&error["details"]["error_code"]),
            message: error["message"].as_str().map(truncate).unwrap_or_else(raw),
        }
    }

    fn is_quota(&self) -> bool {
        self.detail_code.as_deref() == Some(ANTHROPIC_SPEND_CAP)
            || [&self.kind, &self.code]
                .into_iter()
                .flatten()
                .any(|c| OPENAI_QUOTA_CODES.contains(&c.as_str()))
    }

    /// "Request too large … Limit N, Requested M" with M > N: can never fit.
    fn is_too_large(&self) -> bool {
        if !self
            .message
            .to_ascii_lowercase()
            .contains("request too large")
        {
            return false;
        }
        match (
            number_after(&self.message, "Limit "),
            number_after(&self.message, "Requested "),
        ) {
            (Some(limit), Some(requested)) => requested > limit,
            _ => false,
        }
    }

    /// `type/code: message`, the form every variant carries.
    fn describe(&self) -> String {
        let mut tags: Vec<&str> = Vec::new();
        for t in [&self.kind, &self.code, &self.detail_code]
            .into_iter()
            .flatten()
        {
            if !tags.contains(&t.as_str()) {
                tags.push(t);
            }
        }
        let message = redact_keys(&self.message);
        if tags.is_empty() {
            message
        } else {
            format!("{}: {message}", tags.join("/"))
        }
    }
}

/// Classifies a non-2xx response of either vendor. Used by both decoders.
///
/// | status | outcome |
/// |---|---|
/// | 429 | spend cap / quota codes → `QuotaExhausted`; "Request too large" with Requested > Limit → `TooLarge`; else `RateLimited` |
/// | 529, 503 | `Overloaded` |
/// | 408, 409, 500, 502, 504, other 5xx | `Server` |
/// | 400 | `BadRequest` |
/// | 401, 403 | `Auth` |
/// | 402 | `QuotaExhausted` (billing) |
/// | 404 | `NotFound` |
/// | 413, 422, other 4xx | `Rejected` |
/// | anything below 400 | `InvalidResponse` (not an error status) |
///
/// A `RateLimited` wait is `retry-after` (or `retry-after-ms`), else the message's
/// "try again in X", else the reset of the exhausted window in the rate-limit headers.
/// A 429 without `retry-after` whose message names "usage limits" is the Anthropic spend
/// cap worded without `details`: `QuotaExhausted`, since retrying it cannot succeed.
/// Then `x-should-retry` may override (see the module doc).
pub fn classify(status: u16, headers: &HeaderMap, body: &[u8], now: SystemTime) -> ProviderError {
    let body = ErrorBody::parse(body);
    let retry_after = ratelimit::parse_retry_after(headers, now);
    let message = body.describe();
    let error = match status {
        429 => {
            let usage_limits =
                retry_after.is_none() && body.message.to_ascii_lowercase().contains("usage limits");
            if body.is_quota() || usage_limits {
                ProviderError::QuotaExhausted { message }
            } else if body.is_too_large() {
                ProviderError::TooLarge { message }
            } else {
                let retry_after = retry_after
                    .or_else(|| ratelimit::parse_try_again_hint(&body.message))
                    .or_else(|| exhausted_window_reset(&body, headers, now));
                ProviderError::RateLimited {
                    retry_after,
                    message,
                }
            }
        }
        503 | 529 => ProviderError::Overloaded {
            status,
            retry_after,
            message,
        },
        400 => ProviderError::BadRequest { message },
        401 | 403 => ProviderError::Auth { status, message },
        402 => ProviderError::QuotaExhausted { message },
        404 => ProviderError::NotFound { message },
        408 | 409 | 500.. => ProviderError::Server {
            status,
            retry_after,
            message,
        },
        _ if (400..500).contains(&status) => ProviderError::Rejected { status, message },
        _ => ProviderError::InvalidResponse {
            message: format!("unexpected status {status}: {message}"),
        },
    };
    apply_should_retry(error, status, headers, retry_after)
}

/// Classifies an error delivered inside an already-started stream:
/// the body (`{"type":"error","error":{…}}` or `{"error":{…}}`) is classified as if it
/// had come with the status its `error.type` / `error.code` stands for. The caller wraps
/// the result in [`ProviderError::MidStream`].
pub fn classify_stream_error(body: &[u8], now: SystemTime) -> ProviderError {
    // api_error, server_error, and whatever comes next.
    classify_error_tags(body, now, 500)
}

/// Classifies an error body that came without a status of its own, as the status its
/// `error.type` / `error.code` stands for; a tag this does not know is `unknown_status`.
pub(crate) fn classify_error_tags(
    body: &[u8],
    now: SystemTime,
    unknown_status: u16,
) -> ProviderError {
    let parsed = ErrorBody::parse(body);
    let tag = |t: &str| parsed.kind.as_deref() == Some(t) || parsed.code.as_deref() == Some(t);
    let status = if tag("overloaded_error") {
        529
    } else if tag("rate_limit_error")
        || tag("rate_limit_exceeded")
        || parsed.is_quota()
        || tag("tokens")
        || tag("requests")
    {
        429
    } else if tag("invalid_request_error") {
        400
    } else if tag("authentication_error") || tag("invalid_api_key") {
        401
    } else if tag("permission_error") {
        403
    } else if tag("not_found_error") {
        404
    } else if tag("timeout_error") {
        504
    } else {
        unknown_status
    };
    classify(status, &HeaderMap::new(), body, now)
}

/// The server's `x-should-retry` override.
fn apply_should_retry(
    error: ProviderError,
    status: u16,
    headers: &HeaderMap,
    retry_after: Option<Duration>,
) -> ProviderError {
    let flag = headers
        .get("x-should-retry")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_ascii_lowercase());
    match flag.as_deref() {
        Some("false") if error.is_retryable() => ProviderError::Rejected {
            status,
            message: message_of(&error),
        },
        Some("true")
            if !error.is_retryable()
                && (400..500).contains(&status)
                && !matches!(
                    error,
                    ProviderError::QuotaExhausted { .. } | ProviderError::TooLarge { .. }
                ) =>
        {
            ProviderError::Server {
                status,
                retry_after,
                message: message_of(&error),
            }
        }
        _ => error,
    }
}

fn message_of(error: &ProviderError) -> String {
    match error {
        ProviderError::RateLimited { message, .. }
        | ProviderError::QuotaExhausted { message }
        | ProviderError::TooLarge { message }
        | ProviderError::Overloaded { message, .. }
        | ProviderError::Server { message, .. }
        | ProviderError::Connection { message }
        | ProviderError::BadRequest { message }
        | ProviderError::Auth { message, .. }
        | ProviderError::NotFound { message }
        | ProviderError::Rejected { message, .. }
        | ProviderError::Aborted { message }
        | ProviderError::InvalidResponse { message } => message.clone(),
        ProviderError::Timeout
        | ProviderError::Unreachable { .. }
        | ProviderError::Cancelled { .. }
        | ProviderError::MidStream { .. } => error.to_string(),
    }
}

/// The reset of the window this 429 is about: OpenAI names it in `error.type`
/// (`tokens` / `requests`); otherwise any window reported with `remaining == 0`.
fn exhausted_window_reset(
    body: &ErrorBody,
    headers: &HeaderMap,
    now: SystemTime,
) -> Option<Duration> {
    let snapshot = ratelimit::parse(headers, now);
    let named = match body.kind.as_deref() {
        Some("tokens") => snapshot.tokens.and_then(|w| w.reset_in),
        Some("requests") => snapshot.requests.and_then(|w| w.reset_in),
        _ => None,
    };
    named
        .or_else(|| snapshot.exhausted_reset())
        .filter(|d| !d.is_zero())
}

/// The integer after `label` in `text`, ignoring thousands separators (`30,000`).
fn number_after(text: &str, label: &str) -> Option<u64> {
    let start = text.find(label)? + label.len();
    let digits: String = text[start..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == ',')
        .filter(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

fn truncate(s: &str) -> String {
    let s = s.trim();
    match s.char_indices().nth(MAX_MESSAGE_CHARS) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s.to_string(),
    }
}

/// Masks anything shaped like an OpenAI key (`sk-…`); servers echo partial keys in 401s.
fn redact_keys(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("sk-") {
        let at_word_start = rest[..i]
            .chars()
            .next_back()
            .is_none_or(|c| !c.is_ascii_alphanumeric());
        out.push_str(&rest[..i]);
        let tail = &rest[i + 3..];
        let key_len = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '*'))
            .unwrap_or(tail.len());
        if at_word_start && key_len > 0 {
            out.push_str("sk-***");
            rest = &tail[key_len..];
        } else {
            out.push_str("sk-");
            rest = tail;
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::stream::test_support::{headers, now};

    fn classify_body(status: u16, pairs: &[(&str, &str)], body: &str) -> ProviderError {
        classify(status, &headers(pairs), body.as_bytes(), now())
    }

    /// Anthropic's documented 429 body.
    const ANTHROPIC_RATE_LIMIT: &str = r#"{"type": "error",
 "error": {"type": "rate_limit_error", "message": "Number of input tokens has exceeded your per-minute rate limit"},
 "request_id": "req_011CAbCdEf"}"#;

    /// The spend-cap 429 body as reported for Anthropic's tier cap.
    const ANTHROPIC_SPEND_CAP_BODY: &str = r#"{"type":"error","error":{"type":"rate_limit_error","message":"You have reached your API usage limits ...",
 "details":{"error_code":"enforced_spend_limit_reached"}},"request_id":"req_011CXyZ"}"#;

    /// OpenAI's documented 429 body.
    const OPENAI_RATE_LIMIT: &str = r#"{"error": {"message": "Rate limit reached for gpt-4o in organization org-XXXX on tokens per min (TPM): Limit 30000, Used 29100, Requested 1500. Please try again in 1.2s. Visit https://platform.openai.com/account/rate-limits to learn more.",
           "type": "tokens", "param": null, "code": "rate_limit_exceeded"}}"#;

    fn anthropic_error(kind: &str, message: &str) -> String {
        serde_json::json!({"type": "error", "error": {"type": kind, "message": message}})
            .to_string()
    }

    #[test]
    fn rate_limited_429_uses_retry_after_header() {
        let e = classify_body(429, &[("retry-after", "7")], ANTHROPIC_RATE_LIMIT);
        assert_eq!(
            e,
            ProviderError::RateLimited {
                retry_after: Some(Duration::from_secs(7)),
                message: "rate_limit_error: Number of input tokens has exceeded your per-minute rate limit".into(),
            }
        );
        assert!(e.is_retryable());
    }

    #[test]
    fn rate_limited_429_falls_back_to_message_hint() {
        let e = classify_body(429, &[], OPENAI_RATE_LIMIT);
        assert!(matches!(e, ProviderError::RateLimited { .. }), "{e:?}");
        assert_eq!(e.retry_after(), Some(Duration::from_millis(1200)));
        assert!(e.to_string().contains("tokens/rate_limit_exceeded"));
    }

    #[test]
    fn rate_limited_429_falls_back_to_exhausted_window_reset() {
        let e = classify_body(
            429,
            &[
                ("anthropic-ratelimit-requests-remaining", "10"),
                ("anthropic-ratelimit-requests-reset", "2025-08-21T12:40:02Z"),
                ("anthropic-ratelimit-input-tokens-remaining", "0"),
                (
                    "anthropic-ratelimit-input-tokens-reset",
                    "2025-08-21T12:40:12Z",
                ),
            ],
            &anthropic_error("rate_limit_error", "slow down"),
        );
        assert_eq!(e.retry_after(), Some(Duration::from_secs(12)));

        let e = classify_body(
            429,
            &[
                ("x-ratelimit-reset-requests", "3s"),
                ("x-ratelimit-reset-tokens", "6m0s"),
            ],
            r#"{"error":{"message":"Rate limit reached on requests per min (RPM)","type":"requests","param":null,"code":"rate_limit_exceeded"}}"#,
        );
        assert_eq!(e.retry_after(), Some(Duration::from_secs(3)));
    }

    #[test]
    fn rate_limited_429_without_any_hint_has_none() {
        let e = classify_body(429, &[], &anthropic_error("rate_limit_error", "slow down"));
        assert_eq!(
            e,
            ProviderError::RateLimited {
                retry_after: None,
                message: "rate_limit_error: slow down".into()
            }
        );
    }

    #[test]
    fn anthropic_spend_cap_is_quota_exhausted() {
        let e = classify_body(429, &[], ANTHROPIC_SPEND_CAP_BODY);
        assert!(matches!(e, ProviderError::QuotaExhausted { .. }), "{e:?}");
        assert!(!e.is_retryable());
    }

    #[test]
    fn openai_quota_codes_are_quota_exhausted() {
        for (kind, code) in [
            ("insufficient_quota", "insufficient_quota"),
            ("insufficient_quota", "credit_balance_exhausted"),
            ("invalid_request_error", "organization_spend_limit_exceeded"),
            ("invalid_request_error", "project_spend_limit_exceeded"),
            ("invalid_request_error", "organization_usage_limit_exceeded"),
        ] {
            let body = serde_json::json!({"error": {"message": "You exceeded your current quota, please check your plan and billing details.", "type": kind, "param": null, "code": code}}).to_string();
            let e = classify_body(429, &[("retry-after", "20")], &body);
            assert!(
                matches!(e, ProviderError::QuotaExhausted { .. }),
                "{code}: {e:?}"
            );
            assert!(!e.is_retryable());
        }
    }

    #[test]
    fn request_too_large_is_terminal() {
        let body = r#"{"error":{"message":"Request too large for gpt-4o in organization org-XXXX on tokens per min (TPM): Limit 30000, Requested 45,120. The input or output tokens must be reduced in order to run successfully.","type":"tokens","param":null,"code":"rate_limit_exceeded"}}"#;
        let e = classify_body(429, &[], body);
        assert!(matches!(e, ProviderError::TooLarge { .. }), "{e:?}");
        assert!(!e.is_retryable());
        // Requested within the limit: an ordinary rate limit.
        let body = body.replace("45,120", "1,500");
        let e = classify_body(429, &[], &body);
        assert!(matches!(e, ProviderError::RateLimited { .. }), "{e:?}");
    }

    #[test]
    fn overloaded_529_and_503_are_retryable() {
        let e = classify_body(529, &[], &anthropic_error("overloaded_error", "Overloaded"));
        assert_eq!(
            e,
            ProviderError::Overloaded {
                status: 529,
                retry_after: None,
                message: "overloaded_error: Overloaded".into()
            }
        );
        assert!(e.is_retryable());
        let e = classify_body(503, &[("retry-after", "2")], "Slow Down");
        assert_eq!(
            e,
            ProviderError::Overloaded {
                status: 503,
                retry_after: Some(Duration::from_secs(2)),
                message: "Slow Down".into()
            }
        );
        assert!(e.is_retryable());
    }

    #[test]
    fn server_errors_are_retryable() {
        for status in [500, 502, 504, 408, 409, 599] {
            let e = classify_body(status, &[], &anthropic_error("api_error", "Internal"));
            assert!(
                matches!(e, ProviderError::Server { status: s, .. } if s == status),
                "{e:?}"
            );
            assert!(e.is_retryable());
        }
    }

    #[test]
    fn non_json_502_keeps_truncated_body_text() {
        let html = format!("<html>502 Bad Gateway{}</html>", "x".repeat(2000));
        let e = classify_body(502, &[], &html);
        let ProviderError::Server {
            status: 502,
            message,
            ..
        } = &e
        else {
            panic!("{e:?}")
        };
        assert!(message.starts_with("<html>502 Bad Gateway"));
        assert!(message.chars().count() <= MAX_MESSAGE_CHARS + 1);
        assert!(e.is_retryable());
    }

    #[test]
    fn client_errors_are_final() {
        let e = classify_body(400, &[], &anthropic_error("invalid_request_error", "bad"));
        assert_eq!(
            e,
            ProviderError::BadRequest {
                message: "invalid_request_error: bad".into()
            }
        );
        for status in [401, 403] {
            let e = classify_body(status, &[], &anthropic_error("authentication_error", "no"));
            assert!(matches!(e, ProviderError::Auth { status: s, .. } if s == status));
        }
        let e = classify_body(404, &[], &anthropic_error("not_found_error", "model"));
        assert!(matches!(e, ProviderError::NotFound { .. }));
        let e = classify_body(402, &[], &anthropic_error("billing_error", "pay"));
        assert!(matches!(e, ProviderError::QuotaExhausted { .. }));
        for status in [413, 422, 418] {
            let e = classify_body(status, &[], "{}");
            assert!(matches!(e, ProviderError::Rejected { status: s, .. } if s == status));
        }
        for status in [400, 401, 402, 403, 404, 413, 422] {
            let e = classify_body(status, &[], "{}");
            assert!(!e.is_retryable(), "{status}");
        }
    }

    #[test]
    fn x_should_retry_overrides_status() {
        let e = classify_body(500, &[("x-should-retry", "false")], "oops");
        assert_eq!(
            e,
            ProviderError::Rejected {
                status: 500,
                message: "oops".into()
            }
        );
        let e = classify_body(
            400,
            &[("x-should-retry", "true"), ("retry-after", "1")],
            "busy",
        );
        assert_eq!(
            e,
            ProviderError::Server {
                status: 400,
                retry_after: Some(Duration::from_secs(1)),
                message: "busy".into()
            }
        );
        // Terminal 429s stay terminal.
        let e = classify_body(429, &[("x-should-retry", "true")], ANTHROPIC_SPEND_CAP_BODY);
        assert!(matches!(e, ProviderError::QuotaExhausted { .. }));
    }

    #[test]
    fn messages_mask_echoed_keys() {
        let body = r#"{"error":{"message":"Incorrect API key provided: sk-proj-abc123****wxyz. You can find your API key at https://platform.openai.com/account/api-keys.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}"#;
        let e = classify_body(401, &[], body);
        let text = e.to_string();
        assert!(!text.contains("abc123"), "{text}");
        assert!(text.contains("sk-***"), "{text}");
        assert!(
            text.contains("invalid_request_error/invalid_api_key"),
            "{text}"
        );
    }

    #[test]
    fn non_error_status_is_invalid_response() {
        let e = classify_body(302, &[], "moved");
        assert!(matches!(e, ProviderError::InvalidResponse { .. }));
    }

    proptest::proptest! {
        #![proptest_config(crate::types::test_seed::config())]
        #[test]
        fn classify_never_panics_on_arbitrary_bodies(
            status in 100u16..700,
            body in proptest::collection::vec(proptest::num::u8::ANY, 0..600),
        ) {
            let e = classify(status, &HeaderMap::new(), &body, now());
            // Bounded: the body is truncated, whatever it holds.
            proptest::prop_assert!(e.to_string().chars().count() <= MAX_MESSAGE_CHARS + 200);
        }
    }
}
