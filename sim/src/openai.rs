//! The OpenAI wire: `POST /v1/chat/completions`, its error bodies (`error.type`,
//! `code`, `param`, as the real API words them) and the `x-ratelimit-*` headers it sends
//! on every response, so a client can pace itself from any answer.

use super::format::{go_duration, retry_after_secs};
use super::limiter::{Cost, Denial, Dim, Window};
use super::openai_body::{self, say, stream_frames, Choice, ChunkHead};
use super::reply;
use super::stream::{self, data_event, Frame, Plan};
use super::{bearer, cache, json_response, put, request_id, tokens, validate};
use super::{Auth, ModelSpec, Seen, Simulator};
use quotaswarm::config::Wire;
use quotaswarm::provider::{HttpRequest, HttpResponse, StreamingResponse};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::time::{SystemTime, UNIX_EPOCH};

/// Output cap charged when a request names none.
const DEFAULT_MAX_TOKENS: u64 = 4096;
const ORG: &str = "org-sim";
const ROLES: &[&str] = &[
    "system",
    "developer",
    "user",
    "assistant",
    "tool",
    "function",
];
/// The fields whose values shape the answer.
const SHAPING: &[&str] = &[
    "model",
    "messages",
    "max_tokens",
    "max_completion_tokens",
    "temperature",
    "top_p",
    "stop",
    "tools",
    "tool_choice",
    "response_format",
];
/// The message of a server error, injected or mid-stream.
pub(super) const SERVER_ERROR: &str =
    "The server had an error while processing your request. Sorry about that!";
const LIMITS_URL: &str = "Visit https://platform.openai.com/account/rate-limits to learn more.";

/// A refusal in the `{"error": {message, type, param, code}}` shape.
pub(super) struct Reject {
    pub status: u16,
    pub message: String,
    pub kind: &'static str,
    pub param: Option<String>,
    pub code: Option<&'static str>,
    pub retry_after: Option<u64>,
}

impl Reject {
    pub(super) fn invalid(
        message: impl Into<String>,
        param: Option<&str>,
        code: Option<&'static str>,
    ) -> Self {
        Reject {
            status: 400,
            message: message.into(),
            kind: "invalid_request_error",
            param: param.map(String::from),
            code,
            retry_after: None,
        }
    }
}

pub(super) fn not_found(sim: &Simulator, method: &str, request: &HttpRequest) -> HttpResponse {
    let reject = Reject {
        status: 404,
        message: format!("Invalid URL ({method} {})", request.path),
        kind: "invalid_request_error",
        param: None,
        code: None,
        retry_after: None,
    };
    finish(sim, Err(reject), Seen::default())
}

/// What a successful create produced.
pub(super) enum Answer {
    Json(Value),
    Stream(Box<Plan>),
}

pub(super) async fn chat(sim: &Simulator, request: &HttpRequest) -> StreamingResponse {
    let mut seen = Seen::default();
    let result = create(sim, request, &mut seen).await;
    respond(sim, result, seen)
}

/// The response of an OpenAI route (either wire): the JSON answer or refusal with the
/// rate-limit headers, or the started stream.
pub(super) fn respond(
    sim: &Simulator,
    result: Result<Answer, Reject>,
    seen: Seen,
) -> StreamingResponse {
    match result {
        Ok(Answer::Stream(mut plan)) => {
            let mut r = HttpResponse {
                status: 200,
                headers: std::mem::take(&mut plan.headers),
                body: Default::default(),
            };
            put(&mut r.headers, "x-request-id", request_id());
            if let (Some(key), Some(model)) = (&seen.key, &seen.model) {
                rate_limit_headers(&mut r, &sim.windows(key, model));
            }
            plan.headers = r.headers;
            // The producer records the request when the stream ends.
            stream::start(sim, *plan)
        }
        Ok(Answer::Json(body)) => StreamingResponse::complete(finish(sim, Ok(body), seen)),
        Err(r) => StreamingResponse::complete(finish(sim, Err(r), seen)),
    }
}

fn finish(sim: &Simulator, result: Result<Value, Reject>, seen: Seen) -> HttpResponse {
    let mut response = match result {
        Ok(body) => json_response(200, &body),
        Err(r) => {
            let body = json!({"error": {
                "message": r.message, "type": r.kind, "param": r.param, "code": r.code,
            }});
            let mut resp = json_response(r.status, &body);
            if let Some(secs) = r.retry_after {
                put(&mut resp.headers, "retry-after", secs.to_string());
            }
            resp
        }
    };
    put(&mut response.headers, "x-request-id", request_id());
    if let (Some(key), Some(model)) = (&seen.key, &seen.model) {
        // OpenAI counts failed requests against the limits too; a 429 does not, or
        // its own retry-after would be wrong.
        let refused = (400..500).contains(&response.status) && response.status != 429;
        if refused && sim.inner.charge_refused {
            sim.charge_request(key, model);
        }
        rate_limit_headers(&mut response, &sim.windows(key, model));
    }
    sim.record(&seen.into_event(response.status, false));
    response
}

fn rate_limit_headers(response: &mut HttpResponse, windows: &[Window]) {
    let h = &mut response.headers;
    for w in windows {
        let suffix = match w.dim {
            Dim::Requests => "requests",
            _ => "tokens",
        };
        let (limit, remaining, reset) = match suffix {
            "requests" => (
                "x-ratelimit-limit-requests",
                "x-ratelimit-remaining-requests",
                "x-ratelimit-reset-requests",
            ),
            _ => (
                "x-ratelimit-limit-tokens",
                "x-ratelimit-remaining-tokens",
                "x-ratelimit-reset-tokens",
            ),
        };
        put(h, limit, (w.limit as u64).to_string());
        put(h, remaining, (w.level.max(0.0).floor() as u64).to_string());
        put(h, reset, go_duration(w.reset));
    }
}

fn rate_limited(model: &str, d: &Denial) -> Reject {
    let (per, kind) = match d.dim {
        Dim::Requests => ("requests per min (RPM)", "requests"),
        _ => ("tokens per min (TPM)", "tokens"),
    };
    let (limit, requested) = (d.limit as u64, d.requested.ceil() as u64);
    let message = match d.wait {
        Some(wait) => format!(
            "Rate limit reached for {model} in organization {ORG} on {per}: Limit {limit}, Used {}, Requested {requested}. Please try again in {}. {LIMITS_URL}",
            d.used.max(0.0).ceil() as u64,
            go_duration(wait)
        ),
        None => format!(
            "Request too large for {model} in organization {ORG} on {per}: Limit {limit}, Requested {requested}. The input or output tokens must be reduced in order to run successfully. {LIMITS_URL}"
        ),
    };
    Reject {
        status: 429,
        message,
        kind,
        param: None,
        code: Some("rate_limit_exceeded"),
        retry_after: d.wait.map(retry_after_secs),
    }
}

fn fault(status: u16) -> Reject {
    // An injected 429 reads like the real rate-limit refusal.
    if status == 429 {
        return Reject {
            status,
            message: "Rate limit reached. Please try again in 1s.".into(),
            kind: "requests",
            param: None,
            code: Some("rate_limit_exceeded"),
            retry_after: Some(1),
        };
    }
    let message = match status {
        503 => "The engine is currently overloaded, please try again later",
        502 => "Bad gateway.",
        504 => "Gateway timeout.",
        _ => "The server had an error while processing your request. Sorry about that!",
    };
    Reject {
        status,
        message: message.into(),
        kind: "server_error",
        param: None,
        code: None,
        retry_after: None,
    }
}

pub(super) fn positive_int(body: &Value, field: &str) -> Result<Option<u64>, Reject> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match v.as_i64() {
            Some(n) if n >= 1 => Ok(Some(n as u64)),
            Some(n) => Err(Reject::invalid(
                format!("Invalid '{field}': integer below minimum value. Expected a value >= 1, but got {n} instead."),
                Some(field),
                Some("integer_below_min_value"),
            )),
            None => Err(Reject::invalid(
                format!("Invalid type for '{field}': expected an integer, but got {} instead.", type_name(v)),
                Some(field),
                Some("invalid_type"),
            )),
        },
    }
}

/// The body's `stream` flag (false when absent or null).
pub(super) fn stream_flag(body: &Value) -> Result<bool, Reject> {
    match body.get("stream") {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(v) => Err(Reject::invalid(
            format!(
                "Invalid type for 'stream': expected a boolean, but got {} instead.",
                type_name(v)
            ),
            Some("stream"),
            Some("invalid_type"),
        )),
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn validate_messages(body: &Value) -> Result<(), Reject> {
    let messages = match body.get("messages") {
        None => {
            return Err(Reject::invalid(
                "Missing required parameter: 'messages'.",
                Some("messages"),
                Some("missing_required_parameter"),
            ))
        }
        Some(Value::Array(m)) => m,
        Some(v) => {
            return Err(Reject::invalid(
                format!(
                    "Invalid type for 'messages': expected an array, but got {} instead.",
                    type_name(v)
                ),
                Some("messages"),
                Some("invalid_type"),
            ))
        }
    };
    if messages.is_empty() {
        return Err(Reject::invalid(
            "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.",
            Some("messages"),
            Some("empty_array"),
        ));
    }
    let mut open_calls: HashSet<&str> = HashSet::new();
    for (i, m) in messages.iter().enumerate() {
        let param = format!("messages[{i}].role");
        let role = match m.get("role") {
            None => {
                return Err(Reject::invalid(
                    format!("Missing required parameter: '{param}'."),
                    Some(&param),
                    Some("missing_required_parameter"),
                ))
            }
            Some(Value::String(r)) if ROLES.contains(&r.as_str()) => r.as_str(),
            Some(other) => {
                let shown = other
                    .as_str()
                    .map(String::from)
                    .unwrap_or_else(|| other.to_string());
                return Err(Reject::invalid(
                    format!("Invalid value: '{shown}'. Supported values are: 'system', 'assistant', 'user', 'function', 'tool', and 'developer'."),
                    Some(&param),
                    Some("invalid_value"),
                ));
            }
        };
        match role {
            "tool" => {
                let id = m.get("tool_call_id").and_then(Value::as_str).unwrap_or("");
                if !open_calls.contains(id) {
                    return Err(Reject::invalid(
                        "Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'.",
                        Some(&format!("messages.[{i}].role")),
                        None,
                    ));
                }
            }
            "assistant" => {
                open_calls = m
                    .get("tool_calls")
                    .and_then(Value::as_array)
                    .map(|calls| {
                        calls
                            .iter()
                            .filter_map(|c| c.get("id").and_then(Value::as_str))
                            .collect()
                    })
                    .unwrap_or_default();
            }
            _ => open_calls.clear(),
        }
    }
    Ok(())
}

/// The checks every OpenAI route makes first: body size, key, JSON object, a model this
/// simulator serves on an OpenAI wire. Gives the body, the model and its spec.
pub(super) fn prelude(
    sim: &Simulator,
    request: &HttpRequest,
    seen: &mut Seen,
) -> Result<(Value, String, ModelSpec), Reject> {
    if sim.too_large(request.body.len()) {
        return Err(Reject {
            status: 413,
            message: format!(
                "Request too large: the body is {} bytes, the maximum is {} bytes.",
                request.body.len(),
                sim.inner.max_body_bytes
            ),
            kind: "invalid_request_error",
            param: None,
            code: Some("request_too_large"),
            retry_after: None,
        });
    }
    seen.key = Some(sim.authenticate(bearer(request)).map_err(|a| match a {
        Auth::Missing => Reject {
            status: 401,
            message: "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).".into(),
            kind: "invalid_request_error",
            param: None,
            code: None,
            retry_after: None,
        },
        Auth::Invalid => Reject {
            status: 401,
            message: "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.".into(),
            kind: "invalid_request_error",
            param: None,
            code: Some("invalid_api_key"),
            retry_after: None,
        },
    })?);
    let body: Value = serde_json::from_slice(&request.body).map_err(|_| {
        Reject::invalid(
            "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)",
            None,
            None,
        )
    })?;
    if !body.is_object() {
        return Err(Reject::invalid(
            "The request body must be a JSON object.",
            None,
            None,
        ));
    }
    let model = match body.get("model").and_then(Value::as_str) {
        Some(m) => m.to_string(),
        None => {
            return Err(Reject::invalid(
                "you must provide a model parameter",
                None,
                None,
            ))
        }
    };
    let spec = sim
        .model(&model)
        .filter(|s| s.wire() == Wire::OpenAi)
        .ok_or_else(|| Reject {
            status: 404,
            message: format!("The model `{model}` does not exist or you do not have access to it."),
            kind: "invalid_request_error",
            param: None,
            code: Some("model_not_found"),
            retry_after: None,
        })?;
    seen.model = Some(model.clone());
    Ok((body, model, spec))
}

async fn create(sim: &Simulator, request: &HttpRequest, seen: &mut Seen) -> Result<Answer, Reject> {
    let (body, model, spec) = prelude(sim, request, seen)?;
    validate_messages(&body)?;
    if sim.inner.strict {
        // A keyless request stands for a local server, which takes its own extras.
        let local = seen.key.as_ref().is_some_and(super::KeyId::is_anonymous);
        let checked = if local {
            std::borrow::Cow::Owned(validate::without_local_fields(&body))
        } else {
            std::borrow::Cow::Borrowed(&body)
        };
        validate::openai(&model, &checked).map_err(|r| Reject {
            param: r.param,
            code: r.code,
            ..Reject::invalid(r.message, None, None)
        })?;
    }
    let max_out = match positive_int(&body, "max_completion_tokens")? {
        Some(n) => n,
        None => positive_int(&body, "max_tokens")?.unwrap_or(DEFAULT_MAX_TOKENS),
    };
    let n = positive_int(&body, "n")?.unwrap_or(1);
    let streamed = stream_flag(&body)?;
    let stream_options = body.get("stream_options").filter(|v| !v.is_null());
    if stream_options.is_some() && !streamed {
        return Err(Reject::invalid(
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
            Some("stream_options"),
            None,
        ));
    }
    let include_usage = stream_options
        .and_then(|o| o.get("include_usage"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if streamed && n > 1 {
        return Err(Reject::invalid(
            "The quotaswarm simulator streams only n = 1.",
            Some("n"),
            None,
        ));
    }
    let hash = reply::shaping_hash(&body, SHAPING);
    let asked = Asked {
        max_out,
        n,
        hash,
        window_param: "messages",
    };
    let mut admitted = admit_and_say(sim, seen, &model, &spec, &body, asked)?;
    let (prompt, cached_read) = (admitted.prompt, admitted.cached.read);
    let answers = std::mem::take(&mut admitted.answers);
    let completion: u64 = answers.iter().map(Choice::tokens).sum();
    let reasoning: u64 = answers.iter().map(|c| c.reasoning).sum();
    let longest = answers.iter().map(Choice::tokens).max().unwrap_or(0);
    let id = format!("chatcmpl-{}", reply::hex_id(rand::random::<u64>(), 24));
    let created = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    if let (true, Some(first)) = (streamed, answers.first()) {
        let head = ChunkHead {
            id: &id,
            created,
            model: &model,
            include_usage,
        };
        let error = json!({"error": {
            "message": SERVER_ERROR, "type": "server_error", "param": null, "code": null}});
        let usage = openai_body::usage(prompt, cached_read, first.tokens(), first.reasoning);
        let frames = stream_frames(&head, usage, first);
        let plan = admitted.into_plan(
            sim,
            &model,
            first.tokens(),
            frames,
            data_event(&error.to_string()),
        );
        return Ok(Answer::Stream(Box::new(plan)));
    }
    admitted.settle(sim, &model, longest, completion).await;
    seen.output = completion;

    let choices: Vec<Value> = answers
        .iter()
        .enumerate()
        .map(|(i, a)| {
            json!({
                "index": i,
                "message": a.said.message(),
                "logprobs": null,
                "finish_reason": a.said.finish_reason(),
            })
        })
        .collect();
    Ok(Answer::Json(json!({
        "id": id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "system_fingerprint": "fp_quotaswarm_sim",
        "service_tier": "default",
        "choices": choices,
        "usage": openai_body::usage(prompt, cached_read, completion, reasoning),
    })))
}

/// What a request asks of the model once checked: its output cap, its number of
/// choices and the hash of its answer-shaping fields.
pub(super) struct Asked {
    pub max_out: u64,
    pub n: u64,
    pub hash: u64,
    /// The field a too-long prompt is blamed on (`messages`, `input`).
    pub window_param: &'static str,
}

/// A request past admission: its key, drawn faults, reservation, prompt and cache
/// outcome, and its answers.
pub(super) struct Admitted {
    pub key: super::KeyId,
    pub drawn: super::Drawn,
    pub reserve: f64,
    pub prompt: u64,
    pub cached: cache::Outcome,
    pub answers: Vec<Choice>,
}

impl Admitted {
    /// The stream of `frames` (carrying `output` tokens), failing with `error` where a
    /// mid-stream fault was drawn; the prompt's cache writes become readable.
    pub(super) fn into_plan(
        self,
        sim: &Simulator,
        model: &str,
        output: u64,
        frames: Vec<Frame>,
        error: String,
    ) -> Plan {
        sim.cache_commit(&self.key, model, &self.cached);
        Plan {
            key: self.key,
            model: model.to_string(),
            input: self.prompt,
            cache_read: self.cached.read,
            cache_write: 0,
            reserve: self.reserve,
            output,
            head_delay: sim.inner.latency + self.drawn.slow,
            frames,
            fail: self.drawn.mid_stream.map(|after| (after, error.into())),
            headers: Default::default(),
        }
    }

    /// A whole answer: waits the generation time of the `longest` choice, then settles
    /// the reservation at `output` tokens and commits the cache writes.
    pub(super) async fn settle(&self, sim: &Simulator, model: &str, longest: u64, output: u64) {
        sim.generate_delay(longest, self.drawn.slow).await;
        sim.settle(&self.key, model, self.reserve, output as f64);
        sim.cache_commit(&self.key, model, &self.cached);
    }
}

/// The part both OpenAI wires share after their own checks, on a Chat Completions
/// shaped `body`: the context window, spend cap, injected faults, admission against the
/// key's buckets, the prompt cache, and the `n` answers.
pub(super) fn admit_and_say(
    sim: &Simulator,
    seen: &mut Seen,
    model: &str,
    spec: &ModelSpec,
    body: &Value,
    asked: Asked,
) -> Result<Admitted, Reject> {
    let Asked {
        max_out,
        n,
        hash,
        window_param,
    } = asked;
    let prompt = tokens::openai_prompt(model, body, sim.inner.token_factor);
    if prompt > spec.context_window {
        return Err(Reject::invalid(
            format!(
                "This model's maximum context length is {} tokens. However, your messages resulted in {prompt} tokens. Please reduce the length of the messages.",
                spec.context_window
            ),
            Some(window_param),
            Some("context_length_exceeded"),
        ));
    }
    let Some(key) = seen.key.clone() else {
        return Err(Reject::invalid("you must provide an API key", None, None));
    };
    if sim.spend_capped(&key) {
        return Err(insufficient_quota());
    }
    let drawn = sim.draw_fault(model);
    if let Some(status) = drawn.status {
        return Err(fault(status));
    }
    let reserve = (max_out * n) as f64;
    let cost = Cost {
        input: prompt as f64,
        output_reserve: reserve,
    };
    // OpenAI still counts cached tokens toward TPM (caching saves money, not quota):
    // the whole prompt is charged.
    sim.admit(&key, model, cost)
        .map_err(|d| rate_limited(model, &d))?;
    let cached = if sim.inner.prompt_caching {
        sim.cache_openai(
            &key,
            model,
            &cache::openai(model, body, sim.inner.token_factor),
        )
    } else {
        cache::Outcome::default()
    };
    seen.input = prompt;
    seen.cache_read = cached.read;

    let answers: Vec<Choice> = (0..n)
        .map(|i| {
            // Choice 0 is the request's answer; further choices vary from it.
            let h = if i == 0 {
                hash
            } else {
                hash ^ reply::fnv1a(&i.to_le_bytes())
            };
            say(sim, model, body, h, max_out)
        })
        .collect();
    Ok(Admitted {
        key,
        drawn,
        reserve,
        prompt,
        cached,
        answers,
    })
}

/// `insufficient_quota`: OpenAI's 429 for an account out of credits; no retry helps,
/// so a client must tell it from a rate limit.
fn insufficient_quota() -> Reject {
    Reject {
        status: 429,
        message: "You exceeded your current quota, please check your plan and billing details. For more information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.".into(),
        kind: "insufficient_quota",
        param: None,
        code: Some("insufficient_quota"),
        retry_after: None,
    }
}
