//! Failure classification: HTTP status + error body + headers → a typed [`ProviderError`].
//!
//! Status first, then the body's `error.type` / `error.code` (spec §1.6, §2.5):
//! retryable are 408/409/429/500/502/503/504/529, timeouts and connection errors — except
//! terminal 429s (Anthropic spend cap, OpenAI `insufficient_quota` family, "Request too
//! large"), which can never succeed by waiting.

use std::time::Duration;

/// What went wrong with one attempt. `Clone`, because coalesced waiters share it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProviderError {
    #[error("rate limited (429){}: {message}", fmt_after(.retry_after))]
    RateLimited {
        retry_after: Option<Duration>,
        message: String,
    },
    #[error(
        "quota or spend cap exhausted (429, not retryable until the provider resets it): {message}"
    )]
    QuotaExhausted { message: String },
    #[error("request larger than the rate limit can ever admit: {message}")]
    TooLarge { message: String },
    #[error("provider overloaded ({status}){}: {message}", fmt_after(.retry_after))]
    Overloaded {
        status: u16,
        retry_after: Option<Duration>,
        message: String,
    },
    #[error("server error ({status}){}: {message}", fmt_after(.retry_after))]
    Server {
        status: u16,
        retry_after: Option<Duration>,
        message: String,
    },
    #[error("request timed out")]
    Timeout,
    #[error("connection failed: {message}")]
    Connection { message: String },
    #[error("bad request (400): {message}")]
    BadRequest { message: String },
    #[error("authentication failed ({status}): check the API key: {message}")]
    Auth { status: u16, message: String },
    #[error("not found (404): {message}")]
    NotFound { message: String },
    #[error("request rejected ({status}): {message}")]
    Rejected { status: u16, message: String },
    #[error("unreadable response from provider: {message}")]
    InvalidResponse { message: String },
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
        )
    }

    /// The server's hint, when it gave one.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
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
            ProviderError::Timeout
            | ProviderError::Connection { .. }
            | ProviderError::InvalidResponse { .. } => None,
        }
    }

    /// Counts toward opening a lane's circuit (the model is failing, not the caller).
    pub fn is_failure_of_model(&self) -> bool {
        matches!(
            self,
            ProviderError::Overloaded { .. }
                | ProviderError::Server { .. }
                | ProviderError::Timeout
                | ProviderError::Connection { .. }
        )
    }
}
