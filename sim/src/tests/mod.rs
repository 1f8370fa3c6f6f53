//! The simulator driven in-process through `Simulator::handle`, in paused time: the
//! shared request builders and readers here, the tests by what they exercise below.

use super::*;
pub(super) use quotaswarm::config::PREVIOUS_DEFAULTS_TOML as PREVIOUS;
use quotaswarm::config::{Fault, FaultKind, Limits, OtpmMode};
use serde_json::{json, Value};

pub(super) const SONNET: &str = "claude-sonnet-4-6";
pub(super) const GPT: &str = "gpt-4o";

/// These tests are about per-minute limits, so their buckets hold a whole minute
/// (`burst_secs = 60`, the default before it became 10 s); the default burst has its own
/// test (`tests_parity::quota::the_default_burst_is_a_sixth_of_a_minute`). Their models
/// are [`SONNET`] and [`GPT`], the defaults' before the 5.5 / GPT-6 generation: they send
/// what those take (sampling parameters, forced tools, `max_tokens`) and newer ones refuse.
pub(super) fn config() -> Config {
    let Ok(mut c) = Config::from_toml_str_over_defaults(PREVIOUS, "test") else {
        panic!("the pinned models validate");
    };
    c.sim.latency = Duration::ZERO;
    c.sim.per_token = Duration::ZERO;
    c.sim.burst_secs = 60.0;
    c
}

pub(super) fn sim_with(f: impl FnOnce(&mut Config)) -> Simulator {
    let mut c = config();
    f(&mut c);
    Simulator::new(&c)
}

/// A simulator whose `model` (a wire name) has `limits`.
pub(super) fn limited(model: &str, limits: Limits) -> Simulator {
    limited_with(model, limits, |_| {})
}

/// Like [`limited`], with more settings.
pub(super) fn limited_with(model: &str, limits: Limits, f: impl FnOnce(&mut Config)) -> Simulator {
    sim_with(|c| {
        c.sim.limits.insert(model.into(), limits);
        f(c);
    })
}

/// Anthropic limits.
pub(super) fn split(rpm: f64, itpm: f64, otpm: f64) -> Limits {
    Limits::Split { rpm, itpm, otpm }
}

/// OpenAI limits.
pub(super) fn combined(rpm: f64, tpm: f64) -> Limits {
    Limits::Combined { rpm, tpm }
}

pub(super) fn request(path: &str, headers: &[(&'static str, &str)], body: &[u8]) -> HttpRequest {
    let mut h = HeaderMap::new();
    for (k, v) in headers {
        if let Ok(v) = HeaderValue::from_str(v) {
            h.insert(*k, v);
        }
    }
    HttpRequest {
        path: path.into(),
        headers: h,
        body: bytes::Bytes::copy_from_slice(body),
    }
}

pub(super) fn anthropic(body: &Value) -> HttpRequest {
    anthropic_as("sk-ant-test", body)
}

pub(super) fn anthropic_as(key: &str, body: &Value) -> HttpRequest {
    request(
        "/v1/messages",
        &[("x-api-key", key), ("anthropic-version", "2023-06-01")],
        body.to_string().as_bytes(),
    )
}

pub(super) fn openai(body: &Value) -> HttpRequest {
    openai_as("sk-test", body)
}

pub(super) fn openai_as(key: &str, body: &Value) -> HttpRequest {
    let auth = format!("Bearer {key}");
    request(
        "/v1/chat/completions",
        &[("authorization", &auth)],
        body.to_string().as_bytes(),
    )
}

pub(super) fn hello(max_tokens: u64) -> Value {
    json!({"model": SONNET, "max_tokens": max_tokens,
           "messages": [{"role": "user", "content": "Hello there"}]})
}

pub(super) fn chat(max: u64) -> Value {
    json!({"model": GPT, "max_completion_tokens": max,
           "messages": [{"role": "user", "content": "Hello there"}]})
}

pub(super) fn body(r: &HttpResponse) -> Value {
    serde_json::from_slice(&r.body).unwrap_or(Value::Null)
}

/// `sim`'s answer to `req`, which must have the status `status`.
pub(super) async fn answer(sim: &Simulator, req: HttpRequest, status: u16) -> HttpResponse {
    let r = sim.handle(req).await;
    assert_eq!(r.status, status, "{}", String::from_utf8_lossy(&r.body));
    r
}

/// `req` sent to a simulator of the default config: it must be answered 200; the answer
/// and its body.
pub(super) async fn answered(req: HttpRequest) -> (HttpResponse, Value) {
    let r = answer(&sim_with(|_| {}), req, 200).await;
    let b = body(&r);
    (r, b)
}

pub(super) fn header<'a>(r: &'a HttpResponse, name: &str) -> &'a str {
    r.headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

pub(super) fn anthropic_error(r: &HttpResponse) -> (String, String) {
    let b = body(r);
    assert_eq!(b["type"], "error", "{b}");
    assert!(b["request_id"].as_str().unwrap().starts_with("req_"));
    (
        b["error"]["type"].as_str().unwrap().to_string(),
        b["error"]["message"].as_str().unwrap().to_string(),
    )
}

pub(super) fn openai_error(r: &HttpResponse) -> Value {
    let b = body(r);
    let e = b["error"].clone();
    for k in ["message", "type", "param", "code"] {
        assert!(e.get(k).is_some(), "error lacks {k}: {b}");
    }
    e
}

mod answers;
mod extremes;
mod faults;
mod limits;
mod responses;
mod stats;
mod streaming;
