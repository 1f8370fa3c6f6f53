//! The Anthropic wire's refusals: status, `error.type` and message as the real API
//! words them, so a client's error handling meets the same shapes here as in
//! production.

use super::format::retry_after_secs;
use super::limiter::{Denial, Dim};
use serde_json::{json, Value};

pub(super) const RATE_LIMIT_DOCS: &str =
    "For details, refer to: https://docs.claude.com/en/api/rate-limits. \
You can see the response headers for current usage. Please reduce the prompt length or the \
maximum tokens requested, or try again later.";

/// A refusal: status, `error.type`, message, `retry-after` seconds if any, and the
/// error's `details` if any.
pub(super) struct Reject {
    pub status: u16,
    pub kind: &'static str,
    pub message: String,
    pub retry_after: Option<u64>,
    pub details: Option<Value>,
}

impl Reject {
    pub fn new(status: u16, kind: &'static str, message: impl Into<String>) -> Reject {
        Reject {
            status,
            kind,
            message: message.into(),
            retry_after: None,
            details: None,
        }
    }

    pub fn invalid(message: impl Into<String>) -> Reject {
        Reject::new(400, "invalid_request_error", message)
    }

    /// The tier spend cap: the real API answers an organization over its monthly spend
    /// limit with a 429 that has no `retry-after`, since no retry helps before the
    /// month ends; clients must tell it from a rate limit, so the simulator plays it.
    pub fn spend_cap() -> Reject {
        Reject {
            details: Some(json!({"error_code": "enforced_spend_limit_reached"})),
            ..Reject::new(
                429,
                "rate_limit_error",
                "You have reached your specified API usage limits. You will regain access on the first day of next month at 00:00 UTC.",
            )
        }
    }
}

pub(super) fn rate_limited(d: &Denial) -> Reject {
    let what = match d.dim {
        Dim::Requests => "requests",
        Dim::InputTokens => "input tokens",
        Dim::OutputTokens | Dim::Tokens => "output tokens",
    };
    let message = match d.wait {
        Some(_) => format!(
            "This request would exceed your organization's rate limit of {} {what} per minute. {RATE_LIMIT_DOCS}",
            d.limit as u64
        ),
        None => format!(
            "This request asks for {} {what}, more than your organization's rate limit of {} {what} per minute allows for any single request. {RATE_LIMIT_DOCS}",
            d.requested.ceil() as u64,
            d.limit as u64
        ),
    };
    Reject {
        retry_after: d.wait.map(retry_after_secs),
        ..Reject::new(429, "rate_limit_error", message)
    }
}

pub(super) fn fault(status: u16) -> Reject {
    // An injected 429 (a storm from another client on the key, say) reads like the
    // real rate-limit refusal and asks for a one-second wait.
    if status == 429 {
        return Reject {
            retry_after: Some(1),
            ..Reject::new(
                429,
                "rate_limit_error",
                format!(
                    "This request would exceed your organization's rate limit. {RATE_LIMIT_DOCS}"
                ),
            )
        };
    }
    let (kind, message) = match status {
        529 => ("overloaded_error", "Overloaded"),
        504 => ("timeout_error", "Request timed out"),
        _ => ("api_error", "Internal server error"),
    };
    Reject::new(status, kind, message)
}
