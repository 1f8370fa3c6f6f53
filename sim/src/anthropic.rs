//! The Anthropic wire's routes: `POST /v1/messages` (made by `anthropic_create.rs`),
//! `POST /v1/messages/count_tokens`, and what every answer carries: the error body,
//! `request-id` and the `anthropic-ratelimit-*` headers, which the real API sends on
//! every response (errors included), so a client can pace itself from any of them.

use super::anthropic_create::{create, Answer};
use super::anthropic_reject::{Reject, RATE_LIMIT_DOCS};
use super::anthropic_request::admit_common;
use super::format::{retry_after_secs, rfc3339_after};
use super::limiter::{Dim, Window};
use super::stream;
use super::{json_response, put, request_id, tokens, Seen, Simulator};
use quotaswarm::provider::{HttpRequest, HttpResponse, StreamingResponse};
use serde_json::{json, Value};
use std::time::SystemTime;

/// Whether an unknown path should be answered in Anthropic's shape.
pub(super) fn looks_like(request: &HttpRequest) -> bool {
    request.path.starts_with("/v1/messages")
        || request.headers.contains_key("x-api-key")
        || request.headers.contains_key("anthropic-version")
}

pub(super) fn not_found(sim: &Simulator, _request: &HttpRequest) -> HttpResponse {
    let reject = Reject::new(404, "not_found_error", "Not Found");
    finish(sim, Err(reject), Seen::default(), false)
}

pub(super) async fn messages(sim: &Simulator, request: &HttpRequest) -> StreamingResponse {
    let mut seen = Seen::default();
    match create(sim, request, &mut seen).await {
        Ok(Answer::Stream(mut plan)) => {
            put(&mut plan.headers, "request-id", request_id());
            if let (Some(key), Some(model)) = (&seen.key, &seen.model) {
                let mut r = HttpResponse {
                    status: 200,
                    headers: std::mem::take(&mut plan.headers),
                    body: Default::default(),
                };
                rate_limit_headers(&mut r, &sim.windows(key, model));
                plan.headers = r.headers;
            }
            // The producer records the request when the stream ends.
            stream::start(sim, *plan)
        }
        Ok(Answer::Json(body)) => StreamingResponse::complete(finish(sim, Ok(body), seen, false)),
        Err(r) => StreamingResponse::complete(finish(sim, Err(r), seen, false)),
    }
}

pub(super) fn count_tokens(sim: &Simulator, request: &HttpRequest) -> HttpResponse {
    let mut seen = Seen::default();
    let result = count(sim, request, &mut seen);
    finish(sim, result, seen, true)
}

/// Adds the error body, ids and rate-limit headers, and records the request.
fn finish(
    sim: &Simulator,
    result: Result<Value, Reject>,
    seen: Seen,
    count_tokens: bool,
) -> HttpResponse {
    let rid = request_id();
    let mut response = match result {
        Ok(body) => json_response(200, &body),
        Err(r) => {
            let mut body = json!({
                "type": "error",
                "error": {"type": r.kind, "message": r.message},
                "request_id": rid,
            });
            if let Some(details) = r.details {
                body["error"]["details"] = details;
            }
            let mut resp = json_response(r.status, &body);
            if let Some(secs) = r.retry_after {
                put(&mut resp.headers, "retry-after", secs.to_string());
            }
            resp
        }
    };
    put(&mut response.headers, "request-id", &rid);
    if let (Some(key), Some(model)) = (&seen.key, &seen.model) {
        rate_limit_headers(&mut response, &sim.windows(key, model));
    }
    sim.record(&seen.into_event(response.status, count_tokens));
    response
}

/// Token `remaining` is rounded to the nearest thousand, as the real API does, and never
/// above the limit.
fn round_thousand(level: f64, limit: f64) -> u64 {
    let exact = level.max(0.0).floor();
    ((exact / 1000.0).round() * 1000.0).min(limit.max(0.0)) as u64
}

fn rate_limit_headers(response: &mut HttpResponse, windows: &[Window]) {
    let now = SystemTime::now();
    let h = &mut response.headers;
    let find = |d: Dim| windows.iter().find(|w| w.dim == d).copied();
    if let Some(w) = find(Dim::Requests) {
        put(
            h,
            "anthropic-ratelimit-requests-limit",
            (w.limit as u64).to_string(),
        );
        put(
            h,
            "anthropic-ratelimit-requests-remaining",
            (w.level.max(0.0).floor() as u64).to_string(),
        );
        put(
            h,
            "anthropic-ratelimit-requests-reset",
            rfc3339_after(now, w.reset),
        );
    }
    let (Some(i), Some(o)) = (find(Dim::InputTokens), find(Dim::OutputTokens)) else {
        return;
    };
    for (w, limit, remaining, reset) in [
        (
            i,
            "anthropic-ratelimit-input-tokens-limit",
            "anthropic-ratelimit-input-tokens-remaining",
            "anthropic-ratelimit-input-tokens-reset",
        ),
        (
            o,
            "anthropic-ratelimit-output-tokens-limit",
            "anthropic-ratelimit-output-tokens-remaining",
            "anthropic-ratelimit-output-tokens-reset",
        ),
    ] {
        put(h, limit, (w.limit as u64).to_string());
        put(h, remaining, round_thousand(w.level, w.limit).to_string());
        put(h, reset, rfc3339_after(now, w.reset));
    }
    let total_limit = i.limit + o.limit;
    let total_level = i.level.max(0.0) + o.level.max(0.0);
    put(
        h,
        "anthropic-ratelimit-tokens-limit",
        (total_limit as u64).to_string(),
    );
    put(
        h,
        "anthropic-ratelimit-tokens-remaining",
        round_thousand(total_level, total_limit).to_string(),
    );
    put(
        h,
        "anthropic-ratelimit-tokens-reset",
        rfc3339_after(now, i.reset.max(o.reset)),
    );
}

fn count(sim: &Simulator, request: &HttpRequest, seen: &mut Seen) -> Result<Value, Reject> {
    let (body, _) = admit_common(sim, request, seen, true)?;
    let Some(key) = seen.key.clone() else {
        return Err(Reject::invalid("x-api-key header is required"));
    };
    sim.admit_count_tokens(&key).map_err(|wait| Reject {
        retry_after: Some(retry_after_secs(wait)),
        ..Reject::new(429, "rate_limit_error", format!(
            "This request would exceed your organization's rate limit of {} count_tokens requests per minute. {RATE_LIMIT_DOCS}",
            super::COUNT_TOKENS_RPM as u64
        ))
    })?;
    let input = tokens::anthropic_input(&body, sim.inner.token_factor);
    Ok(json!({"input_tokens": input}))
}
