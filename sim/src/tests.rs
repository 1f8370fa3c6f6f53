//! The simulator driven in-process through `Simulator::handle`, in paused time.

use super::*;
use quotaswarm::config::{Fault, FaultKind, Limits, OtpmMode};
use serde_json::{json, Value};

pub(super) const SONNET: &str = "claude-sonnet-4-6";
pub(super) const GPT: &str = "gpt-4o";

/// These tests are about per-minute limits, so their buckets hold a whole minute
/// (`burst_secs = 60`, the default before it became 10 s); the default burst has its own
/// test (`tests_parity::quota::the_default_burst_is_a_sixth_of_a_minute`).
pub(super) fn config() -> Config {
    let mut c = Config::default();
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

#[tokio::test(start_paused = true)]
async fn answers_an_anthropic_message_with_usage_and_every_rate_limit_header() {
    let sim = sim_with(|_| {});
    let r = sim.handle(anthropic(&hello(100))).await;
    assert_eq!(r.status, 200);
    let b = body(&r);
    assert!(b["id"].as_str().unwrap().starts_with("msg_"));
    assert_eq!(b["type"], "message");
    assert_eq!(b["role"], "assistant");
    assert_eq!(b["content"][0]["type"], "text");
    assert!(b["usage"]["input_tokens"].as_u64().unwrap() > 0);
    assert!(b["usage"]["output_tokens"].as_u64().unwrap() > 0);
    assert_eq!(b["usage"]["cache_read_input_tokens"], 0);
    assert!(header(&r, "request-id").starts_with("req_"));
    for dim in ["requests", "input-tokens", "output-tokens", "tokens"] {
        for part in ["limit", "remaining", "reset"] {
            let name = format!("anthropic-ratelimit-{dim}-{part}");
            assert!(!header(&r, &name).is_empty(), "missing {name}");
        }
    }
    assert_eq!(header(&r, "anthropic-ratelimit-requests-limit"), "50");
    assert_eq!(header(&r, "anthropic-ratelimit-requests-remaining"), "49");
    assert_eq!(header(&r, "anthropic-ratelimit-tokens-limit"), "38000");
    assert_eq!(
        header(&r, "anthropic-ratelimit-input-tokens-remaining"),
        "30000"
    );
    let reset = header(&r, "anthropic-ratelimit-requests-reset");
    assert!(
        reset.len() == 20 && reset.ends_with('Z') && reset.contains('T'),
        "{reset}"
    );
}

#[tokio::test(start_paused = true)]
async fn answers_an_openai_chat_completion_with_usage_and_every_rate_limit_header() {
    let sim = sim_with(|_| {});
    let r = sim.handle(openai(&chat(50))).await;
    assert_eq!(r.status, 200);
    let b = body(&r);
    assert!(b["id"].as_str().unwrap().starts_with("chatcmpl-"));
    assert_eq!(b["object"], "chat.completion");
    assert_eq!(b["choices"][0]["message"]["role"], "assistant");
    let u = &b["usage"];
    assert_eq!(
        u["total_tokens"].as_u64(),
        Some(u["prompt_tokens"].as_u64().unwrap() + u["completion_tokens"].as_u64().unwrap())
    );
    assert!(header(&r, "x-request-id").starts_with("req_"));
    assert_eq!(header(&r, "x-ratelimit-limit-requests"), "500");
    assert_eq!(header(&r, "x-ratelimit-remaining-requests"), "499");
    assert_eq!(header(&r, "x-ratelimit-reset-requests"), "120ms");
    assert_eq!(header(&r, "x-ratelimit-limit-tokens"), "30000");
    let used = u["total_tokens"].as_u64().unwrap();
    assert_eq!(
        header(&r, "x-ratelimit-remaining-tokens"),
        (30000 - used).to_string()
    );
    assert!(header(&r, "x-ratelimit-reset-tokens").ends_with("ms"));
}

#[tokio::test(start_paused = true)]
async fn answers_over_limit_anthropic_requests_with_429_and_retry_after() {
    let sim = sim_with(|c| {
        c.sim.limits.insert(
            SONNET.into(),
            Limits::Split {
                rpm: 2.0,
                itpm: 3000.0,
                otpm: 1000.0,
            },
        );
    });
    for _ in 0..2 {
        assert_eq!(sim.handle(anthropic(&hello(10))).await.status, 200);
    }
    let r = sim.handle(anthropic(&hello(10))).await;
    assert_eq!(r.status, 429);
    let (kind, message) = anthropic_error(&r);
    assert_eq!(kind, "rate_limit_error");
    assert!(message.contains("2 requests per minute"), "{message}");
    // One request refills in 60 s / 2.
    assert_eq!(header(&r, "retry-after"), "30");
    assert_eq!(header(&r, "anthropic-ratelimit-requests-remaining"), "0");
    assert_eq!(header(&r, "anthropic-ratelimit-input-tokens-limit"), "3000");
    assert!(!header(&r, "anthropic-ratelimit-output-tokens-reset").is_empty());
}

#[tokio::test(start_paused = true)]
async fn rejects_anthropic_input_beyond_itpm_and_names_the_limit() {
    let sim = sim_with(|c| {
        c.sim.limits.insert(
            SONNET.into(),
            Limits::Split {
                rpm: 100.0,
                itpm: 600.0,
                otpm: 1000.0,
            },
        );
    });
    let long = "word ".repeat(400);
    let big =
        json!({"model": SONNET, "max_tokens": 5, "messages": [{"role": "user", "content": long}]});
    let first = sim.handle(anthropic(&big)).await;
    assert_eq!(first.status, 200);
    let input = body(&first)["usage"]["input_tokens"].as_u64().unwrap();
    let r = sim.handle(anthropic(&big)).await;
    assert_eq!(r.status, 429);
    let (_, message) = anthropic_error(&r);
    assert!(message.contains("600 input tokens per minute"), "{message}");
    // Level is 600 − input, the request needs `input`: wait (2·input − 600) / 10 s.
    let wait = ((2 * input) as f64 - 600.0) / 10.0;
    assert_eq!(header(&r, "retry-after"), (wait.ceil() as u64).to_string());
    // A request larger than the whole bucket can never fit: no retry-after.
    let huge = json!({"model": SONNET, "max_tokens": 5,
                      "messages": [{"role": "user", "content": "word ".repeat(700)}]});
    let r = sim.handle(anthropic(&huge)).await;
    assert_eq!(r.status, 429);
    assert_eq!(header(&r, "retry-after"), "");
}

#[tokio::test(start_paused = true)]
async fn answers_over_limit_openai_requests_with_429_and_retry_after() {
    let sim = sim_with(|c| {
        c.sim.limits.insert(
            GPT.into(),
            Limits::Combined {
                rpm: 100.0,
                tpm: 600.0,
            },
        );
    });
    let first = sim.handle(openai(&chat(50))).await;
    assert_eq!(first.status, 200);
    let u = body(&first)["usage"].clone();
    let (p, o) = (
        u["prompt_tokens"].as_u64().unwrap(),
        u["completion_tokens"].as_u64().unwrap(),
    );
    // Now 600 − p − o are left; ask for exactly the capacity: p + (600 − p).
    let r = sim.handle(openai(&chat(600 - p))).await;
    assert_eq!(r.status, 429);
    let e = openai_error(&r);
    assert_eq!(e["type"], "tokens");
    assert_eq!(e["code"], "rate_limit_exceeded");
    assert_eq!(e["param"], Value::Null);
    let message = e["message"].as_str().unwrap();
    assert!(
        message.starts_with(&format!(
            "Rate limit reached for gpt-4o in organization org-sim on tokens per min (TPM): Limit 600, Used {}, Requested 600. Please try again in",
            p + o
        )),
        "{message}"
    );
    // p + o tokens missing at 10 per second.
    let wait = (p + o) as f64 / 10.0;
    assert_eq!(header(&r, "retry-after"), (wait.ceil() as u64).to_string());
    assert_eq!(
        header(&r, "x-ratelimit-remaining-tokens"),
        (600 - p - o).to_string()
    );
}

#[tokio::test(start_paused = true)]
async fn answers_over_rpm_openai_requests_with_type_requests() {
    let sim = sim_with(|c| {
        c.sim.limits.insert(
            GPT.into(),
            Limits::Combined {
                rpm: 2.0,
                tpm: 100000.0,
            },
        );
    });
    for _ in 0..2 {
        assert_eq!(sim.handle(openai(&chat(10))).await.status, 200);
    }
    let r = sim.handle(openai(&chat(10))).await;
    assert_eq!(r.status, 429);
    let e = openai_error(&r);
    assert_eq!(e["type"], "requests");
    assert!(e["message"].as_str().unwrap().contains(
        "requests per min (RPM): Limit 2, Used 2, Requested 1. Please try again in 30s."
    ));
    assert_eq!(header(&r, "retry-after"), "30");
    assert_eq!(header(&r, "x-ratelimit-reset-requests"), "1m0s");
}

#[tokio::test(start_paused = true)]
async fn rejects_an_openai_request_larger_than_tpm_as_request_too_large() {
    let sim = sim_with(|c| {
        c.sim.limits.insert(
            GPT.into(),
            Limits::Combined {
                rpm: 10.0,
                tpm: 1000.0,
            },
        );
    });
    let r = sim.handle(openai(&chat(2000))).await;
    assert_eq!(r.status, 429);
    let e = openai_error(&r);
    let m = e["message"].as_str().unwrap();
    assert!(m.starts_with("Request too large for gpt-4o in organization org-sim on tokens per min (TPM): Limit 1000, Requested "), "{m}");
    assert_eq!(e["code"], "rate_limit_exceeded");
    assert_eq!(header(&r, "retry-after"), "");
}

#[tokio::test(start_paused = true)]
async fn charges_openai_requests_without_a_cap_the_model_default() {
    let sim = sim_with(|c| {
        c.sim.limits.insert(
            GPT.into(),
            Limits::Combined {
                rpm: 10.0,
                tpm: 4000.0,
            },
        );
    });
    let no_cap = json!({"model": GPT, "messages": [{"role": "user", "content": "Hi"}]});
    let r = sim.handle(openai(&no_cap)).await;
    assert_eq!(r.status, 429, "prompt + 4096 exceeds a 4000 TPM bucket");
}

#[tokio::test(start_paused = true)]
async fn refills_buckets_at_the_configured_rate() {
    let sim = sim_with(|c| {
        c.sim.limits.insert(
            SONNET.into(),
            Limits::Split {
                rpm: 2.0,
                itpm: 30000.0,
                otpm: 8000.0,
            },
        );
    });
    for _ in 0..2 {
        assert_eq!(sim.handle(anthropic(&hello(10))).await.status, 200);
    }
    assert_eq!(sim.handle(anthropic(&hello(10))).await.status, 429);
    tokio::time::advance(Duration::from_secs(29)).await;
    assert_eq!(sim.handle(anthropic(&hello(10))).await.status, 429);
    tokio::time::advance(Duration::from_secs(1)).await;
    assert_eq!(sim.handle(anthropic(&hello(10))).await.status, 200);
    assert_eq!(sim.handle(anthropic(&hello(10))).await.status, 429);
    tokio::time::advance(Duration::from_secs(60)).await;
    let r = sim.handle(anthropic(&hello(10))).await;
    assert_eq!(r.status, 200);
    assert_eq!(header(&r, "anthropic-ratelimit-requests-remaining"), "1");
}

#[tokio::test(start_paused = true)]
async fn charges_actual_output_to_otpm_after_generation() {
    let sim = sim_with(|c| {
        c.sim.otpm_mode = OtpmMode::Actual;
        c.sim.limits.insert(
            SONNET.into(),
            Limits::Split {
                rpm: 100.0,
                itpm: 30000.0,
                otpm: 5.0,
            },
        );
    });
    // Output is charged after the fact, so max_tokens far above OTPM is admitted...
    let r = sim.handle(anthropic(&hello(4000))).await;
    assert_eq!(r.status, 200);
    let out = body(&r)["usage"]["output_tokens"].as_u64().unwrap();
    assert!(out >= 5, "replies are at least five words");
    // ...and the bucket, now empty or negative, refuses the next one until it refills.
    let r = sim.handle(anthropic(&hello(4000))).await;
    assert_eq!(r.status, 429);
    assert!(anthropic_error(&r).1.contains("5 output tokens per minute"));
    // Level 5 − out refills at 5/60 per second; admission needs it above zero.
    let wait = (out - 5) as f64 * 12.0;
    assert_eq!(
        header(&r, "retry-after"),
        ((wait + 0.001).ceil() as u64).to_string()
    );
    assert_eq!(sim.stats().total.output_tokens, out);
}

#[tokio::test(start_paused = true)]
async fn reserves_max_tokens_for_otpm_in_max_tokens_mode_and_refunds_the_rest() {
    let sim = sim_with(|c| {
        c.sim.otpm_mode = OtpmMode::MaxTokens;
        c.sim.limits.insert(
            SONNET.into(),
            Limits::Split {
                rpm: 100.0,
                itpm: 30000.0,
                otpm: 5000.0,
            },
        );
    });
    let too_big = sim.handle(anthropic(&hello(6000))).await;
    assert_eq!(too_big.status, 429);
    let r = sim.handle(anthropic(&hello(4000))).await;
    assert_eq!(r.status, 200);
    let out = body(&r)["usage"]["output_tokens"].as_u64().unwrap();
    assert!(out < 1000);
    // After the refund only `out` is used, so another 4000 fits.
    assert_eq!(sim.handle(anthropic(&hello(4000))).await.status, 200);
}

#[tokio::test(start_paused = true)]
async fn gives_each_key_its_own_quota() {
    let sim = sim_with(|c| {
        c.sim.limits.insert(
            SONNET.into(),
            Limits::Split {
                rpm: 1.0,
                itpm: 30000.0,
                otpm: 8000.0,
            },
        );
    });
    assert_eq!(sim.handle(anthropic_as("a", &hello(10))).await.status, 200);
    assert_eq!(sim.handle(anthropic_as("a", &hello(10))).await.status, 429);
    assert_eq!(sim.handle(anthropic_as("b", &hello(10))).await.status, 200);
    let stats = sim.stats();
    let a = &stats.keys[&Simulator::key_fingerprint("a")];
    assert_eq!((a.status(200), a.status(429)), (1, 1));
    let json = serde_json::to_string(&stats).unwrap();
    assert!(!json.contains("\"a\""), "keys are never echoed: {json}");
}

#[tokio::test(start_paused = true)]
async fn answers_malformed_anthropic_requests_with_400_invalid_request_error() {
    let sim = sim_with(|c| {
        if let Some(m) = c.models.get_mut("sonnet") {
            m.context_window = 60;
        }
    });
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"{not json".to_vec(), "not valid JSON"),
        (json!({"max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}).to_string().into_bytes(), "model: Field required"),
        (json!({"model": SONNET, "messages": [{"role": "user", "content": "x"}]}).to_string().into_bytes(), "max_tokens: Field required"),
        (json!({"model": SONNET, "max_tokens": 0, "messages": [{"role": "user", "content": "x"}]}).to_string().into_bytes(), "max_tokens: Input should be greater than or equal to 1"),
        (json!({"model": SONNET, "max_tokens": 5}).to_string().into_bytes(), "messages: Field required"),
        (json!({"model": SONNET, "max_tokens": 5, "messages": []}).to_string().into_bytes(), "messages: at least one message is required"),
        (json!({"model": SONNET, "max_tokens": 5, "messages": [{"role": "robot", "content": "x"}]}).to_string().into_bytes(), "messages.0.role: Input should be 'user' or 'assistant'"),
        (json!({"model": SONNET, "max_tokens": 5, "messages": [
            {"role": "user", "content": "x"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_2", "content": "r"}]}
        ]}).to_string().into_bytes(), "messages.2.content.0: unexpected `tool_use_id` found in `tool_result` blocks: toolu_2"),
        (json!({"model": SONNET, "max_tokens": 5, "messages": [{"role": "user", "content": "word ".repeat(100)}]}).to_string().into_bytes(), "prompt is too long: "),
    ];
    for (raw, expected) in cases {
        let r = sim
            .handle(request(
                "/v1/messages",
                &[("x-api-key", "k"), ("anthropic-version", "2023-06-01")],
                &raw,
            ))
            .await;
        assert_eq!(r.status, 400, "{expected}");
        let (kind, message) = anthropic_error(&r);
        assert_eq!(kind, "invalid_request_error");
        assert!(message.contains(expected), "{message} lacks {expected}");
    }
    // A matching tool_result and non-alternating roles are accepted.
    let ok = json!({"model": SONNET, "max_tokens": 5, "messages": [
        {"role": "user", "content": "x"},
        {"role": "user", "content": "y"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "r"}]}
    ]});
    assert_eq!(sim.handle(anthropic(&ok)).await.status, 200);
    assert_eq!(sim.stats().total.status(400), 9);
}

#[tokio::test(start_paused = true)]
async fn answers_malformed_openai_requests_with_400_and_real_codes() {
    let sim = sim_with(|c| {
        if let Some(m) = c.models.get_mut("gpt-4o") {
            m.context_window = 60;
        }
    });
    let cases: Vec<(Vec<u8>, &str, Value)> = vec![
        (b"{not json".to_vec(), "We could not parse the JSON body", Value::Null),
        (json!({"messages": [{"role": "user", "content": "x"}]}).to_string().into_bytes(), "you must provide a model parameter", Value::Null),
        (json!({"model": GPT}).to_string().into_bytes(), "Missing required parameter: 'messages'.", json!("missing_required_parameter")),
        (json!({"model": GPT, "messages": []}).to_string().into_bytes(), "Invalid 'messages': empty array.", json!("empty_array")),
        (json!({"model": GPT, "messages": [{"role": "robot", "content": "x"}]}).to_string().into_bytes(), "Invalid value: 'robot'.", json!("invalid_value")),
        (json!({"model": GPT, "messages": [{"role": "tool", "tool_call_id": "c1", "content": "x"}]}).to_string().into_bytes(), "messages with role 'tool' must be a response", Value::Null),
        (json!({"model": GPT, "max_completion_tokens": 0, "messages": [{"role": "user", "content": "x"}]}).to_string().into_bytes(), "integer below minimum value", json!("integer_below_min_value")),
        (json!({"model": GPT, "messages": [{"role": "user", "content": "word ".repeat(100)}]}).to_string().into_bytes(), "This model's maximum context length is 60 tokens.", json!("context_length_exceeded")),
    ];
    for (raw, expected, code) in cases {
        let r = sim
            .handle(request(
                "/v1/chat/completions",
                &[("authorization", "Bearer k")],
                &raw,
            ))
            .await;
        assert_eq!(r.status, 400, "{expected}");
        let e = openai_error(&r);
        assert_eq!(e["type"], "invalid_request_error");
        assert_eq!(e["code"], code, "{expected}");
        assert!(e["message"].as_str().unwrap().contains(expected), "{e}");
    }
}

#[tokio::test(start_paused = true)]
async fn requires_a_listed_key_when_a_key_list_is_configured() {
    let sim = sim_with(|c| c.sim.api_keys = vec!["good".into()]);
    let r = sim.handle(anthropic_as("bad", &hello(5))).await;
    assert_eq!(r.status, 401);
    let (kind, message) = anthropic_error(&r);
    assert_eq!(kind, "authentication_error");
    assert!(!message.contains("bad"));
    let none = request("/v1/messages", &[], hello(5).to_string().as_bytes());
    assert_eq!(sim.handle(none).await.status, 401);
    assert_eq!(
        sim.handle(anthropic_as("good", &hello(5))).await.status,
        200
    );
    let bearer = request(
        "/v1/messages",
        &[
            ("authorization", "Bearer good"),
            ("anthropic-version", "2023-06-01"),
        ],
        hello(5).to_string().as_bytes(),
    );
    assert_eq!(sim.handle(bearer).await.status, 200);

    let r = sim.handle(openai_as("bad", &chat(5))).await;
    assert_eq!(r.status, 401);
    assert_eq!(openai_error(&r)["code"], "invalid_api_key");
    let none = request("/v1/chat/completions", &[], chat(5).to_string().as_bytes());
    assert_eq!(sim.handle(none).await.status, 401);
    assert_eq!(sim.handle(openai_as("good", &chat(5))).await.status, 200);
}

#[tokio::test(start_paused = true)]
async fn accepts_any_key_without_a_key_list_but_requires_one() {
    let sim = sim_with(|_| {});
    assert_eq!(
        sim.handle(anthropic_as("whatever", &hello(5))).await.status,
        200
    );
    let none = request("/v1/messages", &[], hello(5).to_string().as_bytes());
    assert_eq!(sim.handle(none).await.status, 401);
}

#[tokio::test(start_paused = true)]
async fn answers_unknown_models_and_paths_with_404_in_the_vendors_shape() {
    let sim = sim_with(|_| {});
    let r = sim
        .handle(anthropic(&json!({"model": "claude-nope", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]})))
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(
        anthropic_error(&r),
        ("not_found_error".into(), "model: claude-nope".into())
    );
    // An OpenAI model is not served on the Anthropic route.
    let r = sim
        .handle(anthropic(
            &json!({"model": GPT, "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}),
        ))
        .await;
    assert_eq!(r.status, 404);

    let r = sim
        .handle(openai(
            &json!({"model": "gpt-nope", "messages": [{"role": "user", "content": "x"}]}),
        ))
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(openai_error(&r)["code"], "model_not_found");

    let r = sim
        .handle(request("/v1/nothing", &[("x-api-key", "k")], b"{}"))
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(anthropic_error(&r).0, "not_found_error");
    let r = sim
        .handle(request(
            "/v1/embeddings",
            &[("authorization", "Bearer k")],
            b"{}",
        ))
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(
        openai_error(&r)["message"],
        "Invalid URL (POST /v1/embeddings)"
    );
}

async fn statuses(sim: &Simulator, n: usize) -> Vec<u16> {
    let mut out = vec![];
    for i in 0..n {
        let b = json!({"model": SONNET, "max_tokens": 5, "messages": [{"role": "user", "content": format!("q{i}")}]});
        out.push(sim.handle(anthropic(&b)).await.status);
    }
    out
}

#[tokio::test(start_paused = true)]
async fn injects_faults_deterministically_by_seed_and_can_turn_them_off() {
    let faulty = |seed: u64| {
        sim_with(|c| {
            c.sim.seed = seed;
            c.sim.faults = vec![Fault::new(FaultKind::Status(529), 0.5).for_model(SONNET)];
        })
    };
    let (a, b) = (faulty(9), faulty(9));
    let sa = statuses(&a, 30).await;
    assert_eq!(sa, statuses(&b, 30).await);
    assert!(sa.contains(&200) && sa.contains(&529), "{sa:?}");
    assert_ne!(sa, statuses(&faulty(10), 30).await);

    let r = loop {
        let r = a.handle(anthropic(&hello(5))).await;
        if r.status == 529 {
            break r;
        }
    };
    assert_eq!(anthropic_error(&r).0, "overloaded_error");
    let stats = a.stats();
    let ok = stats.total.status(200);
    assert_eq!(
        header(&r, "anthropic-ratelimit-requests-remaining"),
        (50 - ok).to_string(),
        "faulted requests consume nothing"
    );

    a.set_faults(vec![]);
    assert!(statuses(&a, 10).await.iter().all(|s| *s == 200));
}

#[tokio::test(start_paused = true)]
async fn maps_openai_faults_to_the_engine_overloaded_503() {
    let sim = sim_with(|c| {
        c.sim.faults = vec![Fault::new(FaultKind::Status(503), 1.0)];
    });
    let r = sim.handle(openai(&chat(5))).await;
    assert_eq!(r.status, 503);
    assert!(openai_error(&r)["message"]
        .as_str()
        .unwrap()
        .contains("The engine is currently overloaded"));
    assert_eq!(header(&r, "x-ratelimit-remaining-requests"), "500");
}

#[tokio::test(start_paused = true)]
async fn slows_responses_with_latency_per_token_and_slow_faults() {
    let sim = sim_with(|c| {
        c.sim.latency = Duration::from_millis(100);
        c.sim.per_token = Duration::from_millis(10);
        c.sim.faults = vec![Fault::new(FaultKind::Slow(Duration::from_secs(2)), 1.0)];
    });
    let start = Instant::now();
    let r = sim.handle(anthropic(&hello(50))).await;
    let out = body(&r)["usage"]["output_tokens"].as_u64().unwrap();
    assert_eq!(
        start.elapsed(),
        Duration::from_millis(100 + 10 * out + 2000)
    );
}

#[tokio::test(start_paused = true)]
async fn gives_identical_requests_identical_answers() {
    let sim = sim_with(|_| {});
    let text = |r: &HttpResponse| body(r)["content"][0]["text"].clone();
    let a = sim.handle(anthropic(&hello(200))).await;
    let b = sim.handle(anthropic(&hello(200))).await;
    assert_eq!(text(&a), text(&b));
    assert_eq!(body(&a)["usage"], body(&b)["usage"]);
    let other = json!({"model": SONNET, "max_tokens": 200, "messages": [{"role": "user", "content": "Something else"}]});
    assert_ne!(text(&a), text(&sim.handle(anthropic(&other)).await));

    let t = |r: &HttpResponse| body(r)["choices"][0]["message"]["content"].clone();
    let a = sim.handle(openai(&chat(200))).await;
    let b = sim.handle(openai(&chat(200))).await;
    assert_eq!(t(&a), t(&b));
}

#[tokio::test(start_paused = true)]
async fn cuts_replies_at_max_tokens() {
    let sim = sim_with(|_| {});
    let r = sim.handle(anthropic(&hello(1))).await;
    let b = body(&r);
    assert_eq!(b["usage"]["output_tokens"], 1);
    assert_eq!(b["stop_reason"], "max_tokens");
    let r = sim.handle(openai(&chat(1))).await;
    let b = body(&r);
    assert_eq!(b["usage"]["completion_tokens"], 1);
    assert_eq!(b["choices"][0]["finish_reason"], "length");
}

#[tokio::test(start_paused = true)]
async fn counts_tokens_like_the_create_call_with_its_own_bucket() {
    let sim = sim_with(|c| {
        c.sim.limits.insert(
            SONNET.into(),
            Limits::Split {
                rpm: 1.0,
                itpm: 30000.0,
                otpm: 8000.0,
            },
        );
    });
    let msg = json!({"model": SONNET, "max_tokens": 20, "system": "Be brief.",
        "tools": [{"name": "lookup", "description": "find", "input_schema": {"type": "object"}}],
        "messages": [{"role": "user", "content": "What is the capital of France?"}]});
    // count_tokens takes the body without `max_tokens` (spec §1.3).
    let count = |b: &Value| {
        let mut b = b.clone();
        b.as_object_mut().map(|o| o.remove("max_tokens"));
        request(
            "/v1/messages/count_tokens",
            &[("x-api-key", "k"), ("anthropic-version", "2023-06-01")],
            b.to_string().as_bytes(),
        )
    };
    let c = sim.handle(count(&msg)).await;
    assert_eq!(c.status, 200);
    let counted = body(&c)["input_tokens"].clone();
    let m = sim.handle(anthropic_as("k", &msg)).await;
    assert_eq!(body(&m)["usage"]["input_tokens"], counted);
    // Messages RPM (1) is exhausted; count_tokens has its own 100 RPM.
    assert_eq!(sim.handle(anthropic_as("k", &msg)).await.status, 429);
    let mut codes = vec![];
    for _ in 0..100 {
        codes.push(sim.handle(count(&msg)).await.status);
    }
    assert_eq!(codes.iter().filter(|c| **c == 200).count(), 99);
    assert_eq!(codes.last(), Some(&429));
    assert_eq!(sim.stats().total.count_tokens_calls, 101);
}

#[tokio::test(start_paused = true)]
async fn applies_the_token_factor_to_charged_input() {
    let at = |f: f64| sim_with(move |c| c.sim.token_factor = f);
    let (one, more) = (at(1.0), at(1.2));
    let tokens = |r: HttpResponse| body(&r)["usage"]["input_tokens"].as_u64().unwrap();
    let raw = tokens(one.handle(anthropic(&hello(5))).await);
    let scaled = tokens(more.handle(anthropic(&hello(5))).await);
    assert_eq!(scaled, (raw as f64 * 1.2).ceil() as u64);
    let raw = one.handle(openai(&chat(5))).await;
    let scaled = more.handle(openai(&chat(5))).await;
    let p = |r: &HttpResponse| body(r)["usage"]["prompt_tokens"].as_u64().unwrap();
    assert_eq!(p(&scaled), (p(&raw) as f64 * 1.2).ceil() as u64);
}

#[tokio::test(start_paused = true)]
async fn counts_what_was_sent_in_stats() {
    let sim = sim_with(|c| {
        c.sim.limits.insert(
            GPT.into(),
            Limits::Combined {
                rpm: 3.0,
                tpm: 100000.0,
            },
        );
    });
    let mut input = 0;
    let mut output = 0;
    for _ in 0..2 {
        let b = body(&sim.handle(anthropic(&hello(30))).await);
        input += b["usage"]["input_tokens"].as_u64().unwrap();
        output += b["usage"]["output_tokens"].as_u64().unwrap();
    }
    for _ in 0..4 {
        let r = sim.handle(openai(&chat(30))).await;
        if r.status == 200 {
            let b = body(&r);
            input += b["usage"]["prompt_tokens"].as_u64().unwrap();
            output += b["usage"]["completion_tokens"].as_u64().unwrap();
        }
    }
    let bad = request("/v1/messages", &[("x-api-key", "k")], b"nope");
    assert_eq!(sim.handle(bad).await.status, 400);

    let stats = sim.stats();
    assert_eq!(stats.total.requests, 7);
    assert_eq!(stats.total.status(200), 5);
    assert_eq!(stats.total.status(429), 1);
    assert_eq!(stats.total.status(400), 1);
    assert_eq!(stats.total.input_tokens, input);
    assert_eq!(stats.total.output_tokens, output);
    assert_eq!(stats.models[SONNET].requests, 2);
    assert_eq!(stats.models[GPT].status(429), 1);
    assert_eq!(
        stats.keys[&Simulator::key_fingerprint("sk-test")].requests,
        4
    );

    let r = sim.handle(request("/_stats", &[], b"")).await;
    assert_eq!(r.status, 200);
    let back: SimStats = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(back, stats);
}

#[tokio::test(start_paused = true)]
async fn changes_limits_at_run_time_keeping_usage() {
    let sim = sim_with(|c| {
        c.sim.limits.insert(
            GPT.into(),
            Limits::Combined {
                rpm: 1.0,
                tpm: 100000.0,
            },
        );
    });
    assert_eq!(sim.handle(openai(&chat(5))).await.status, 200);
    assert_eq!(sim.handle(openai(&chat(5))).await.status, 429);
    assert!(sim.set_limits(
        GPT,
        Limits::Combined {
            rpm: 3.0,
            tpm: 100000.0
        }
    ));
    let r = sim.handle(openai(&chat(5))).await;
    assert_eq!(r.status, 200);
    assert_eq!(header(&r, "x-ratelimit-limit-requests"), "3");
    assert_eq!(header(&r, "x-ratelimit-remaining-requests"), "1");
    assert!(!sim.set_limits("nope", Limits::Combined { rpm: 3.0, tpm: 1.0 }));
}

#[tokio::test(start_paused = true)]
async fn rounds_anthropic_token_remaining_to_the_nearest_thousand() {
    let sim = sim_with(|c| {
        c.sim.limits.insert(
            SONNET.into(),
            Limits::Split {
                rpm: 100.0,
                itpm: 3000.0,
                otpm: 1000.0,
            },
        );
    });
    let big = json!({"model": SONNET, "max_tokens": 5,
                     "messages": [{"role": "user", "content": "word ".repeat(900)}]});
    let r = sim.handle(anthropic(&big)).await;
    assert_eq!(r.status, 200);
    let input = body(&r)["usage"]["input_tokens"].as_u64().unwrap();
    let exact = 3000 - input;
    let shown: u64 = header(&r, "anthropic-ratelimit-input-tokens-remaining")
        .parse()
        .unwrap();
    assert_eq!(shown % 1000, 0);
    assert!(
        shown <= exact + 500 && shown + 500 >= exact,
        "{shown} vs {exact}"
    );
}

// ---- streaming ----

mod streaming {
    use super::*;
    use futures_util::StreamExt;
    use quotaswarm::provider::{self, Endpoint, ProviderError, StreamEvent};
    use quotaswarm::types::CompletionRequest;

    fn endpoint(sim: &Simulator, wire: Wire) -> Endpoint {
        Endpoint {
            name: "sim".into(),
            provider: provider::for_wire(wire),
            transport: Arc::new(EmbeddedTransport { sim: sim.clone() }),
            key: Some(quotaswarm::ApiKey::new("sk-stream")),
        }
    }

    fn slow_sim(faults: Vec<Fault>) -> Simulator {
        sim_with(|c| {
            c.sim.latency = Duration::from_millis(100);
            c.sim.per_token = Duration::from_millis(10);
            c.sim.faults = faults;
        })
    }

    fn req() -> CompletionRequest {
        CompletionRequest::prompt("x", "Tell me a story").max_tokens(200)
    }

    #[tokio::test(start_paused = true)]
    async fn streams_the_same_text_and_usage_as_the_non_streamed_reply_with_per_token_latency() {
        for (wire, model) in [(Wire::Anthropic, SONNET), (Wire::OpenAi, GPT)] {
            let sim = slow_sim(Vec::new());
            let ep = endpoint(&sim, wire);
            let full = ep.complete(model, &req()).await.unwrap().completion;
            let t0 = Instant::now();
            let mut s = ep.stream(model, &req()).await.unwrap();
            assert!(s.rate_limits.requests.is_some(), "{wire:?}");
            let mut text = String::new();
            let mut deltas = Vec::new();
            let mut done = None;
            while let Some(ev) = s.next().await {
                match ev.unwrap() {
                    StreamEvent::TextDelta { text: t, .. } => {
                        deltas.push(Instant::now());
                        text.push_str(&t)
                    }
                    StreamEvent::Finished {
                        completion,
                        usage_estimated,
                    } => {
                        assert!(!usage_estimated);
                        done = Some(completion);
                    }
                    _ => {}
                }
            }
            let done = done.unwrap();
            assert_eq!(text, full.text(), "{wire:?}");
            assert_eq!(done.text(), full.text());
            assert_eq!(done.usage, full.usage, "{wire:?}");
            assert_eq!(done.stop_reason, full.stop_reason);
            let n = full.usage.output_tokens;
            assert_eq!(deltas.len() as u64, n);
            // 100 ms to the first token + 10 ms per token, one delta per token.
            assert_eq!(deltas[0] - t0, Duration::from_millis(110));
            assert_eq!(
                *deltas.last().unwrap() - t0,
                Duration::from_millis(100 + 10 * n)
            );
            let stats = sim.stats();
            assert_eq!(stats.total.streams, 1);
            assert_eq!(
                stats.total.output_tokens,
                2 * n,
                "both replies charged in full"
            );
            assert_eq!(stats.total.cancelled_streams, 0);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn dropping_the_stream_cancels_and_charges_only_what_was_sent() {
        for (wire, model) in [(Wire::Anthropic, SONNET), (Wire::OpenAi, GPT)] {
            let sim = slow_sim(Vec::new());
            let ep = endpoint(&sim, wire);
            let full = ep.complete(model, &req()).await.unwrap().completion;
            assert!(full.usage.output_tokens > 10);
            let mut s = ep.stream(model, &req()).await.unwrap();
            let mut seen = 0;
            while let Some(ev) = s.next().await {
                if ev.unwrap().is_delta() {
                    seen += 1;
                    if seen == 3 {
                        break;
                    }
                }
            }
            drop(s);
            tokio::time::sleep(Duration::from_secs(5)).await;
            let stats = sim.stats();
            assert_eq!(stats.total.streams, 1, "{wire:?}");
            assert_eq!(stats.total.cancelled_streams, 1);
            let streamed = stats.total.output_tokens - full.usage.output_tokens;
            // Sent: the 3 read plus at most the one in the channel.
            assert!((3..=4).contains(&streamed), "{wire:?}: {streamed}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_cancelled_stream_settles_the_output_reservation() {
        // max_tokens OTPM mode reserves 200 at admission; a cancelled stream gives back
        // everything but what it sent.
        let sim = sim_with(|c| {
            c.sim.per_token = Duration::from_millis(10);
            c.sim.otpm_mode = OtpmMode::MaxTokens;
        });
        let ep = endpoint(&sim, Wire::Anthropic);
        let mut s = ep.stream(SONNET, &req()).await.unwrap();
        while let Some(ev) = s.next().await {
            if ev.unwrap().is_delta() {
                break;
            }
        }
        drop(s);
        tokio::time::sleep(Duration::from_secs(1)).await;
        let key = KeyId::of("sk-stream");
        let otpm = sim
            .windows(&key, SONNET)
            .into_iter()
            .find(|w| w.dim == limiter::Dim::OutputTokens)
            .unwrap();
        let used = otpm.limit - otpm.level;
        // 1–2 tokens charged, minus refill over ~1 s: nowhere near the 200 reserved.
        assert!(used < 5.0, "{used}");
    }

    #[tokio::test(start_paused = true)]
    async fn an_injected_mid_stream_fault_surfaces_as_a_typed_error_after_n_tokens() {
        let fault = Fault::new(FaultKind::MidStream { after_tokens: 4 }, 1.0);
        for (wire, model) in [(Wire::Anthropic, SONNET), (Wire::OpenAi, GPT)] {
            let sim = slow_sim(vec![fault.clone()]);
            let ep = endpoint(&sim, wire);
            let mut s = ep.stream(model, &req()).await.unwrap();
            let mut deltas = 0;
            let mut error = None;
            while let Some(ev) = s.next().await {
                match ev {
                    Ok(e) if e.is_delta() => deltas += 1,
                    Ok(_) => {}
                    Err(f) => error = Some(f.error),
                }
            }
            let e = error.unwrap();
            assert_eq!(deltas, 4, "{wire:?}");
            assert_eq!(e.deltas_delivered(), 4);
            assert!(!e.is_retryable());
            match wire {
                Wire::Anthropic => assert!(matches!(
                    e.underlying(),
                    ProviderError::Overloaded { status: 529, .. }
                )),
                Wire::OpenAi => assert!(matches!(
                    e.underlying(),
                    ProviderError::Server { status: 500, .. }
                )),
                other => panic!("no simulator for {other:?}"),
            }
            let stats = sim.stats();
            assert_eq!(stats.total.stream_errors, 1);
            assert_eq!(stats.total.output_tokens, 4);
            // A non-streamed request ignores the mid-stream fault.
            assert!(ep.complete(model, &req()).await.is_ok());
        }
    }

    #[tokio::test(start_paused = true)]
    async fn errors_before_the_stream_starts_are_plain_classified_responses() {
        let sim = sim_with(|c| c.sim.faults = vec![Fault::new(FaultKind::Status(529), 1.0)]);
        let e = endpoint(&sim, Wire::Anthropic)
            .stream(SONNET, &req())
            .await
            .unwrap_err();
        assert!(matches!(
            e.error,
            ProviderError::Overloaded { status: 529, .. }
        ));
        assert!(!e.error.is_mid_stream());
        assert!(e.error.is_retryable());
    }

    #[tokio::test(start_paused = true)]
    async fn wire_format_matches_the_spec_shapes() {
        let sim = sim_with(|_| {});
        let mut b = hello(50);
        b["stream"] = json!(true);
        let r = sim.handle(anthropic(&b)).await;
        assert_eq!(r.status, 200);
        assert!(header(&r, "content-type").starts_with("text/event-stream"));
        let text = String::from_utf8(r.body.to_vec()).unwrap();
        let names: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("event: "))
            .collect();
        assert_eq!(names[..3], ["message_start", "content_block_start", "ping"]);
        assert_eq!(
            names[names.len() - 3..],
            ["content_block_stop", "message_delta", "message_stop"]
        );
        assert!(text.contains(r#""output_tokens":1}"#));

        let mut c = chat(50);
        c["stream"] = json!(true);
        let r = sim.handle(openai(&c)).await;
        let text = String::from_utf8(r.body.to_vec()).unwrap();
        assert!(text
            .lines()
            .all(|l| l.is_empty() || l.starts_with("data: ")));
        assert!(text.ends_with("data: [DONE]\n\n"));
        assert!(text.contains(r#""delta":{"content":"","refusal":null,"role":"assistant"}"#));
        assert!(
            !text.contains(r#""choices":[]"#),
            "no usage chunk unless asked"
        );
        c["stream_options"] = json!({"include_usage": true});
        let r = sim.handle(openai(&c)).await;
        let text = String::from_utf8(r.body.to_vec()).unwrap();
        assert!(text.contains(r#""choices":[],"#) && text.contains(r#""usage":null"#));
        c["stream"] = json!(false);
        assert_eq!(sim.handle(openai(&c)).await.status, 400);
    }
}
