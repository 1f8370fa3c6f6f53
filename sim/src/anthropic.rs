//! The Anthropic wire: `POST /v1/messages`, `POST /v1/messages/count_tokens`, error
//! bodies (spec §1.6) and `anthropic-ratelimit-*` headers (§1.7, §4).

use super::format::{retry_after_secs, rfc3339_after};
use super::limiter::{Denial, Dim, Window};
use super::stats::Event;
use super::stream::{self, Plan};
use super::{bearer, json_response, put, request_id, tokens, validate, Auth, Seen, Simulator};
use quotaswarm::config::Wire;
use quotaswarm::provider::{HttpRequest, HttpResponse, StreamingResponse};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::time::SystemTime;

const RATE_LIMIT_DOCS: &str = "For details, refer to: https://docs.claude.com/en/api/rate-limits. \
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

    /// The tier spend cap (spec §1.6): a 429 without `retry-after` that no retry fixes.
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

/// What a successful create produced.
pub(super) enum Answer {
    Json(Value),
    Stream(Box<Plan>),
}

pub(super) async fn messages(sim: &Simulator, request: &HttpRequest) -> StreamingResponse {
    let mut seen = Seen::default();
    match super::anthropic_create::create(sim, request, &mut seen).await {
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
    sim.record(&Event {
        key: seen.key.map(|k| k.label),
        model: seen.model,
        status: response.status,
        input_tokens: seen.input,
        output_tokens: seen.output,
        count_tokens,
        cache_read: seen.cache_read,
        cache_write: seen.cache_write,
        ..Event::default()
    });
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

/// Size, authentication, header, JSON, model and message checks shared by both routes.
pub(super) fn admit_common(
    sim: &Simulator,
    request: &HttpRequest,
    seen: &mut Seen,
    count_tokens: bool,
) -> Result<(Value, u64), Reject> {
    if sim.too_large(request.body.len()) {
        return Err(Reject::new(
            413,
            "request_too_large",
            format!(
                "Request exceeds the maximum allowed number of bytes. The maximum request size is {} bytes.",
                sim.inner.max_body_bytes
            ),
        ));
    }
    let key = request
        .headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .or_else(|| bearer(request));
    seen.key = Some(sim.authenticate(key).map_err(|a| {
        Reject::new(
            401,
            "authentication_error",
            match a {
                Auth::Missing => "x-api-key header is required",
                Auth::Invalid => "invalid x-api-key",
            },
        )
    })?);
    let strict = sim.inner.strict;
    if strict && !request.headers.contains_key("anthropic-version") {
        return Err(Reject::invalid("anthropic-version: header is required"));
    }
    let body: Value = serde_json::from_slice(&request.body)
        .map_err(|e| Reject::invalid(format!("The request body is not valid JSON: {e}")))?;
    if !body.is_object() {
        return Err(Reject::invalid("The request body must be a JSON object"));
    }
    if strict {
        validate::anthropic_fields(&body, count_tokens).map_err(Reject::invalid)?;
    }
    let model = match body.get("model") {
        None => return Err(Reject::invalid("model: Field required")),
        Some(Value::String(m)) => m.clone(),
        Some(_) => return Err(Reject::invalid("model: Input should be a valid string")),
    };
    let spec = sim
        .model(&model)
        .filter(|s| s.wire() == Wire::Anthropic)
        .ok_or_else(|| Reject::new(404, "not_found_error", format!("model: {model}")))?;
    seen.model = Some(model);
    validate_messages(&body)?;
    if strict {
        let messages = body["messages"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        validate::anthropic_tool_results(messages).map_err(Reject::invalid)?;
    }
    Ok((body, spec.context_window))
}

fn validate_messages(body: &Value) -> Result<(), Reject> {
    let messages = match body.get("messages") {
        None => return Err(Reject::invalid("messages: Field required")),
        Some(Value::Array(m)) => m,
        Some(_) => return Err(Reject::invalid("messages: Input should be a valid list")),
    };
    if messages.is_empty() {
        return Err(Reject::invalid(
            "messages: at least one message is required",
        ));
    }
    let mut previous_tool_uses: HashSet<&str> = HashSet::new();
    for (i, m) in messages.iter().enumerate() {
        let role = m.get("role").and_then(Value::as_str);
        if !matches!(role, Some("user" | "assistant")) {
            return Err(Reject::invalid(format!(
                "messages.{i}.role: Input should be 'user' or 'assistant'"
            )));
        }
        let Some(content) = m.get("content") else {
            return Err(Reject::invalid(format!(
                "messages.{i}.content: Field required"
            )));
        };
        let blocks = content.as_array().map(Vec::as_slice).unwrap_or(&[]);
        let block_type = |b: &Value| b.get("type").and_then(Value::as_str).map(String::from);
        for (j, b) in blocks.iter().enumerate() {
            if block_type(b).as_deref() != Some("tool_result") {
                continue;
            }
            let id = b.get("tool_use_id").and_then(Value::as_str).unwrap_or("");
            if role != Some("user") || !previous_tool_uses.contains(id) {
                return Err(Reject::invalid(format!(
                    "messages.{i}.content.{j}: unexpected `tool_use_id` found in `tool_result` blocks: {id}. \
                     Each `tool_result` block must have a corresponding `tool_use` block in the previous message."
                )));
            }
        }
        previous_tool_uses = if role == Some("assistant") {
            blocks
                .iter()
                .filter(|b| block_type(b).as_deref() == Some("tool_use"))
                .filter_map(|b| b.get("id").and_then(Value::as_str))
                .collect()
        } else {
            HashSet::new()
        };
    }
    Ok(())
}

pub(super) fn max_tokens(body: &Value) -> Result<u64, Reject> {
    match body.get("max_tokens") {
        None => Err(Reject::invalid("max_tokens: Field required")),
        Some(v) => match v.as_i64() {
            Some(n) if n >= 1 => Ok(n as u64),
            Some(_) => Err(Reject::invalid(
                "max_tokens: Input should be greater than or equal to 1",
            )),
            None => Err(Reject::invalid(
                "max_tokens: Input should be a valid integer",
            )),
        },
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
    let (kind, message) = match status {
        529 => ("overloaded_error", "Overloaded"),
        504 => ("timeout_error", "Request timed out"),
        _ => ("api_error", "Internal server error"),
    };
    Reject::new(status, kind, message)
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
