//! What an Anthropic request must be before it is admitted: size, key, headers, JSON,
//! model and messages, refused with the real API's messages.

use super::anthropic_reject::Reject;
use super::{bearer, validate, Auth, Seen, Simulator};
use quotaswarm::config::Wire;
use quotaswarm::provider::HttpRequest;
use serde_json::Value;
use std::collections::HashSet;

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
