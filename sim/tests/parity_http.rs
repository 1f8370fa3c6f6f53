//! The simulator behaves like the real services, over loopback HTTP with raw JSON (not
//! through our provider code): tool calls, prompt caching, thinking replay, strict
//! validation, RPM for refused requests, 413 and out-of-money keys.

mod common;

use common::{body_of, chat, messages, sim_stats};
use quotaswarm::config::PREVIOUS_DEFAULTS_TOML;
use quotaswarm::Config;
use quotaswarm_sim::{serve, SimServer, Simulator};
use reqwest::Client;
use serde_json::{json, Value};
use std::time::Duration;

const SONNET: &str = "claude-sonnet-4-6";

async fn start(f: impl FnOnce(&mut Config)) -> (SimServer, String) {
    // The models of the defaults before the 5.5 / GPT-6 generation, which these requests
    // were written for.
    let mut config = Config::from_toml_str_over_defaults(PREVIOUS_DEFAULTS_TOML, "test").unwrap();
    config.sim.latency = Duration::ZERO;
    f(&mut config);
    let server = serve(Simulator::new(&config), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let base = format!("http://{}", server.addr);
    (server, base)
}

fn weather_schema() -> Value {
    json!({"type": "object",
           "properties": {"city": {"type": "string"},
                          "days": {"type": "integer", "minimum": 1, "maximum": 7}},
           "required": ["city", "days"]})
}

/// The body of `r`, a 400 whose error message is `message`.
async fn refused_with(r: reqwest::Response, message: &str) -> Value {
    let b = body_of(r, 400).await;
    assert_eq!(b["error"]["message"], message, "{b}");
    b
}

async fn stop(server: SimServer, client: Client) {
    drop(client);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_forced_tool_call_fits_its_schema() {
    let (server, base) = start(|_| {}).await;
    let client = Client::new();
    let body = json!({"model": SONNET, "max_tokens": 200,
        "tools": [{"name": "get_weather", "input_schema": weather_schema()}],
        "tool_choice": {"type": "tool", "name": "get_weather"},
        "messages": [{"role": "user", "content": "Weather in Paris?"}]});
    let b = body_of(messages(&client, &base, "sk-ant-tools", &body).await, 200).await;
    assert_eq!(b["stop_reason"], "tool_use");
    let call = &b["content"][0];
    assert_eq!(call["type"], "tool_use");
    assert_eq!(call["name"], "get_weather");
    assert!(call["input"]["city"].is_string(), "{call}");
    let days = call["input"]["days"].as_i64().unwrap();
    assert!((1..=7).contains(&days));
    stop(server, client).await;
}

#[tokio::test]
async fn a_cache_write_then_a_read_and_itpm_charged_without_reads() {
    let (server, base) = start(|_| {}).await;
    let client = Client::new();
    let body = json!({"model": SONNET, "max_tokens": 20,
        "system": [{"type": "text", "text": "Follow the house rules. ".repeat(500),
                    "cache_control": {"type": "ephemeral"}}],
        "messages": [{"role": "user", "content": "Hello"}]});
    let usage = |b: &Value| {
        let u = &b["usage"];
        (
            u["input_tokens"].as_u64().unwrap(),
            u["cache_creation_input_tokens"].as_u64().unwrap(),
            u["cache_read_input_tokens"].as_u64().unwrap(),
        )
    };
    let first = body_of(messages(&client, &base, "sk-ant-cache", &body).await, 200).await;
    let (input1, write, read1) = usage(&first);
    assert!(write > 1024 && read1 == 0, "{first}");
    let second = body_of(messages(&client, &base, "sk-ant-cache", &body).await, 200).await;
    let (input2, write2, read2) = usage(&second);
    assert_eq!((write2, read2), (0, write));
    assert_eq!(input2, input1, "identical request, identical uncached part");
    let stats = sim_stats(&client, &base).await;
    assert_eq!(stats.total.cache_read_tokens, write);
    assert_eq!(stats.total.cache_write_tokens, write);
    // ITPM was charged input + write, then input alone: the read is free.
    assert_eq!(stats.total.input_tokens, input1 + write + input2);
    stop(server, client).await;
}

#[tokio::test]
async fn a_replayed_thinking_signature_is_accepted_and_an_edited_one_refused() {
    let (server, base) = start(|c| c.sim.tool_call_rate = 1.0).await;
    let client = Client::new();
    let tools = json!([{"name": "get_weather", "input_schema": weather_schema()}]);
    let ask = json!({"role": "user", "content": "Weather in Paris?"});
    let request = |messages: Vec<Value>| {
        json!({"model": SONNET, "max_tokens": 3000,
               "thinking": {"type": "enabled", "budget_tokens": 1500},
               "tools": tools, "messages": messages})
    };
    let first = body_of(
        messages(&client, &base, "sk-ant-think", &request(vec![ask.clone()])).await,
        200,
    )
    .await;
    let content = first["content"].as_array().unwrap().clone();
    assert_eq!(content[0]["type"], "thinking");
    let call = content.iter().find(|c| c["type"] == "tool_use").unwrap();
    let result = json!({"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": call["id"], "content": "sunny"}]});
    let replay = |content: Vec<Value>| {
        request(vec![
            ask.clone(),
            json!({"role": "assistant", "content": content}),
            result.clone(),
        ])
    };
    let r = messages(&client, &base, "sk-ant-think", &replay(content.clone())).await;
    assert_eq!(r.status(), 200);

    let mut edited = content.clone();
    edited[0]["thinking"] = json!("Something else entirely");
    let r = messages(&client, &base, "sk-ant-think", &replay(edited)).await;
    let b = refused_with(
        r,
        "messages.1.content.0: Invalid `signature` in `thinking` block",
    )
    .await;
    assert_eq!(b["type"], "error");
    assert_eq!(b["error"]["type"], "invalid_request_error");
    stop(server, client).await;
}

#[tokio::test]
async fn unknown_fields_and_temperature_with_top_p_are_refused() {
    let (server, base) = start(|_| {}).await;
    let client = Client::new();
    let unknown = json!({"model": SONNET, "max_tokens": 5, "frobnicate": true,
                         "messages": [{"role": "user", "content": "x"}]});
    let r = messages(&client, &base, "sk-ant-strict", &unknown).await;
    let b = refused_with(r, "frobnicate: Extra inputs are not permitted").await;
    assert_eq!(b["error"]["type"], "invalid_request_error");
    let both = json!({"model": SONNET, "max_tokens": 5, "temperature": 0.2, "top_p": 0.9,
                      "messages": [{"role": "user", "content": "x"}]});
    let r = messages(&client, &base, "sk-ant-strict", &both).await;
    refused_with(
        r,
        "`temperature` and `top_p` cannot both be specified for this model. Please use only one.",
    )
    .await;
    let unknown = json!({"model": "gpt-4o", "frobnicate": 1,
                         "messages": [{"role": "user", "content": "x"}]});
    let r = chat(&client, &base, "sk-strict", &unknown).await;
    refused_with(r, "Unrecognized request argument supplied: frobnicate").await;
    stop(server, client).await;
}

#[tokio::test]
async fn a_refused_openai_request_is_counted_in_the_rpm_headers() {
    let (server, base) = start(|_| {}).await;
    let client = Client::new();
    let bad = json!({"model": "gpt-4o", "stop": ["a", "b", "c", "d", "e"],
                     "messages": [{"role": "user", "content": "x"}]});
    let r = chat(&client, &base, "sk-rpm", &bad).await;
    assert_eq!(r.status(), 400);
    assert_eq!(r.headers()["x-ratelimit-limit-requests"], "500");
    let remaining: u64 = r.headers()["x-ratelimit-remaining-requests"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    // 500 RPM with the default 10 s burst: the bucket holds 83, and this took one.
    assert_eq!(remaining, 82);
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["error"]["code"], "array_above_max_length");
    stop(server, client).await;
}

#[tokio::test]
async fn an_oversized_body_gets_413_request_too_large() {
    let (server, base) = start(|c| c.sim.max_body_bytes = 4096).await;
    let client = Client::new();
    let big = json!({"model": SONNET, "max_tokens": 5,
                     "messages": [{"role": "user", "content": "x".repeat(10_000)}]});
    let b = body_of(messages(&client, &base, "sk-ant-big", &big).await, 413).await;
    assert_eq!(b["type"], "error");
    assert_eq!(b["error"]["type"], "request_too_large");
    stop(server, client).await;
}

#[tokio::test]
async fn an_out_of_money_key_gets_insufficient_quota_and_the_spend_cap() {
    let (server, base) = start(|c| c.sim.spend_cap_keys = vec!["sk-broke".into()]).await;
    let client = Client::new();
    let r = chat(
        &client,
        &base,
        "sk-broke",
        &json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}]}),
    )
    .await;
    assert_eq!(r.status(), 429);
    assert!(r.headers().get("retry-after").is_none());
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["error"]["type"], "insufficient_quota");
    assert_eq!(b["error"]["code"], "insufficient_quota");
    let r = messages(
        &client,
        &base,
        "sk-broke",
        &json!({"model": SONNET, "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}),
    )
    .await;
    assert_eq!(r.status(), 429);
    assert!(r.headers().get("retry-after").is_none());
    let b: Value = r.json().await.unwrap();
    assert_eq!(
        b["error"]["details"]["error_code"],
        "enforced_spend_limit_reached"
    );
    stop(server, client).await;
}
