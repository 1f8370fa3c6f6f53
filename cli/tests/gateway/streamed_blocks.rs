//! Nothing is lost on the gateway's stream: `quotaswarm serve` in front of `quotaswarm
//! sim`, one Messages request with thinking and the web search server tool asked plain
//! and streamed (raw HTTP). The streamed events, accumulated as the Anthropic SDK does
//! (a block per `content_block_start`, at the position its `index` names, then its
//! deltas), give the same content as the plain answer: the signed thinking block, the
//! `server_tool_use` call and its `web_search_tool_result` whole, and the text with its
//! citations — so a streaming client can replay the turn as a non-streaming one can.
//! Then the same through the official Anthropic SDK's `messages.stream` (skipped loudly
//! without the SDK environment, as the other gateway SDK tests).

use crate::gateway;

use serde_json::{json, Value};
use std::collections::HashMap;
use std::process::Stdio;

/// The content a Messages SSE body builds, accumulated as the SDK does.
fn accumulate(sse: &str) -> Vec<Value> {
    let mut content: Vec<Value> = Vec::new();
    let mut input_json: HashMap<usize, String> = HashMap::new();
    for event in sse.split("\n\n") {
        let Some(data) = event.lines().find_map(|l| l.strip_prefix("data: ")) else {
            continue;
        };
        let e: Value = serde_json::from_str(data).expect("event JSON");
        let index = e["index"].as_u64().map(|i| i as usize);
        match e["type"].as_str().unwrap_or("") {
            "content_block_start" => {
                assert_eq!(index, Some(content.len()), "blocks start in order: {e}");
                content.push(e["content_block"].clone());
            }
            "content_block_delta" => {
                let i = index.expect("an index");
                let block = &mut content[i];
                let d = &e["delta"];
                let append = |block: &mut Value, key: &str, piece: &Value| {
                    let now = block[key].as_str().unwrap_or("").to_string();
                    block[key] = json!(now + piece.as_str().unwrap_or(""));
                };
                match d["type"].as_str().unwrap_or("") {
                    "text_delta" => append(block, "text", &d["text"]),
                    "thinking_delta" => append(block, "thinking", &d["thinking"]),
                    "signature_delta" => block["signature"] = d["signature"].clone(),
                    "citations_delta" => {
                        if !block["citations"].is_array() {
                            block["citations"] = json!([]);
                        }
                        if let Some(cs) = block["citations"].as_array_mut() {
                            cs.push(d["citation"].clone());
                        }
                    }
                    "input_json_delta" => input_json
                        .entry(i)
                        .or_default()
                        .push_str(d["partial_json"].as_str().unwrap_or("")),
                    other => panic!("unexpected delta {other}: {e}"),
                }
            }
            "content_block_stop" => {
                let i = index.expect("an index");
                if let Some(json) = input_json.remove(&i).filter(|j| !j.is_empty()) {
                    content[i]["input"] = serde_json::from_str(&json).expect("input JSON");
                }
            }
            _ => {}
        }
    }
    content
}

/// The blocks of the answer, in order.
const KINDS: [&str; 4] = [
    "thinking",
    "server_tool_use",
    "web_search_tool_result",
    "text",
];

/// The `type`s of a content array.
fn kinds(content: &Value) -> Vec<&str> {
    content
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|b| b["type"].as_str())
        .collect()
}

#[test]
fn a_streamed_answer_carries_every_block_a_plain_one_does() {
    let dir = gateway::dir("streamed-blocks");
    let rest = "[models.sonnet]\nprovider = \"anthropic\"\nmodel = \"claude-sonnet-4-6\"\n\
                rpm = 50\nitpm = 30000\notpm = 8000\n";
    // The simulator serves the model the gateway's config names (Sonnet 4.6 takes budget
    // thinking; the current defaults' 5.5 models refuse it).
    let (_sim, sim_url) = gateway::start_sim_in(
        &dir,
        &format!("[sim]\nlatency_ms = 5\nper_token_ms = 0\n{rest}"),
    );
    let (_serve, url) = gateway::start_gateway_in(&dir, &sim_url, rest, Stdio::inherit());
    let body = |stream: bool| {
        json!({
            "model": "sonnet", "max_tokens": 2048, "stream": stream,
            "thinking": {"type": "enabled", "budget_tokens": 1024},
            "tools": [{"type": "web_search_20250305", "name": "web_search", "max_uses": 1}],
            "messages": [{"role": "user", "content": "When was Claude Shannon born?"}],
        })
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (plain, streamed) = rt.block_on(async {
        let client = reqwest::Client::new();
        let send = |stream: bool| {
            client
                .post(format!("{url}/v1/messages"))
                .header("anthropic-version", "2023-06-01")
                .json(&body(stream))
                .send()
        };
        let plain = send(false).await.expect("plain request");
        assert_eq!(plain.status(), 200);
        let plain: Value = plain.json().await.expect("plain JSON");
        let streamed = send(true).await.expect("streamed request");
        assert_eq!(streamed.status(), 200);
        (plain, streamed.text().await.expect("SSE body"))
    });
    let content = plain["content"].as_array().expect("content").clone();
    assert_eq!(kinds(&plain["content"]), KINDS, "{plain}");
    assert!(content[0]["signature"]
        .as_str()
        .is_some_and(|s| !s.is_empty()));
    assert!(content[3]["citations"].is_array(), "{plain}");
    assert_eq!(accumulate(&streamed), content, "{streamed}");

    // The official SDK's own accumulator builds the same blocks.
    let Some(python) = gateway::python() else {
        return;
    };
    let out = gateway::run_script(&python, "sdk_streamed_blocks.py", &[&url, "sonnet"]);
    let seen: Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(kinds(&seen["streamed"]), KINDS, "{seen}");
    assert_eq!(seen["streamed"], seen["plain"], "{seen:#}");
}
