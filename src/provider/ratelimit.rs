//! Rate-limit headers of both vendors → one [`RateLimitSnapshot`]; `retry-after` parsing.
//!
//! TODO(provider helper): implement per spec §1.7, §2.6 and §3.

use reqwest::header::HeaderMap;
use serde::{Deserialize, Serialize};
use std::time::{Duration, SystemTime};

/// One limit as the server reports it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitWindow {
    pub limit: Option<u64>,
    pub remaining: Option<u64>,
    /// Time until the bucket is full again (absolute resets are resolved against `now`).
    pub reset_in: Option<Duration>,
}

/// Everything the rate-limit headers of one response say.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimitSnapshot {
    pub requests: Option<LimitWindow>,
    pub input_tokens: Option<LimitWindow>,
    pub output_tokens: Option<LimitWindow>,
    /// Anthropic `tokens-*` (most restrictive) or OpenAI `x-ratelimit-*-tokens` (combined).
    pub tokens: Option<LimitWindow>,
    pub retry_after: Option<Duration>,
    pub request_id: Option<String>,
}

/// Parses both header families; unknown headers are ignored.
pub fn parse(headers: &HeaderMap, now: SystemTime) -> RateLimitSnapshot {
    let _ = (headers, now);
    RateLimitSnapshot::default()
}
