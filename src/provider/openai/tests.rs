//! Fixture tests of the OpenAI wire: encoding, decoding, streaming; no HTTP.

use super::*;
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::json;
use std::time::Duration;

/// System, multi-turn, tool_use + tool_result, stop, temperature, tools.
fn rich_request() -> CompletionRequest {
    let mut req = CompletionRequest::prompt("fast", "What is the weather in Paris?")
        .system("You are terse.")
        .max_tokens(64)
        .temperature(0.0);
    req.messages.push(Message {
        role: Role::Assistant,
        content: vec![ContentBlock::tool_use(
            "call_1",
            "weather",
            json!({"city": "Paris"}),
        )],
    });
    req.messages.push(Message {
        role: Role::User,
        content: vec![
            ContentBlock::text("Also Rome, please."),
            ContentBlock::tool_result("call_1", "18C, sunny"),
        ],
    });
    req.messages.push(Message {
        role: Role::Assistant,
        content: vec![
            ContentBlock::text("Checking Rome."),
            ContentBlock::tool_use("call_2", "weather", json!({"city": "Rome"})),
        ],
    });
    req.messages.push(Message {
        role: Role::User,
        content: vec![ContentBlock::tool_error("call_2", "25C")],
    });
    req.stop = vec!["\n\n".into()];
    req.tools = vec![Tool::new(
        "weather",
        json!({"type": "object", "properties": {"city": {"type": "string"}}}),
    )
    .description("Current weather")];
    req
}

/// [`rich_request`] encoded for wire model `model` with API key `key`.
fn encode_rich(model: &str, key: &str) -> Result<HttpRequest, ProviderError> {
    OpenAi.encode(model, &rich_request(), Some(&ApiKey::new(key)))
}

#[test]
fn encodes_chat_request_exactly() {
    let r = encode_rich("gpt-4o-mini", "sk-proj-secret-456").unwrap();
    assert_eq!(r.path, "/v1/chat/completions");
    assert_eq!(r.headers["authorization"], "Bearer sk-proj-secret-456");
    assert!(r.headers["authorization"].is_sensitive());
    assert_eq!(r.headers["content-type"], "application/json");
    assert_eq!(
        body_json(&r),
        json!({
            "model": "gpt-4o-mini",
            "max_completion_tokens": 64,
            "temperature": 0.0,
            "stop": ["\n\n"],
            "messages": [
                {"role": "system", "content": "You are terse."},
                {"role": "user", "content": "What is the weather in Paris?"},
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "call_1", "type": "function",
                     "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}}
                ]},
                {"role": "tool", "tool_call_id": "call_1", "content": "18C, sunny"},
                {"role": "user", "content": "Also Rome, please."},
                {"role": "assistant", "content": "Checking Rome.", "tool_calls": [
                    {"id": "call_2", "type": "function",
                     "function": {"name": "weather", "arguments": "{\"city\":\"Rome\"}"}}
                ]},
                // `is_error` has no OpenAI field: the text says it.
                {"role": "tool", "tool_call_id": "call_2", "content": "Error: 25C"}
            ],
            "tools": [{"type": "function", "function": {
                "name": "weather", "description": "Current weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}],
            "prompt_cache_key": "qs-96a719899b0d03eca4c4a8d3057f1050"
        })
    );
}

#[test]
fn encodes_parts_and_images_and_omits_absent_fields() {
    let req = CompletionRequest::new("fast").message(Message {
        role: Role::User,
        content: vec![
            ContentBlock::text("What is this?"),
            png_image(),
            ContentBlock::Image {
                source: json!({"type": "url", "url": "https://example.com/cat.png"}),
                cache_control: None,
            },
            ContentBlock::Image {
                source: json!({"type": "file", "file_id": "file_1"}),
                cache_control: None,
            },
        ],
    });
    let r = OpenAi.encode("gpt-4o", &req, None).unwrap();
    assert!(r.headers.get("authorization").is_none());
    assert_eq!(
        body_json(&r),
        json!({
            "model": "gpt-4o",
            "max_completion_tokens": 256,
            "messages": [{"role": "user", "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}
            ]}]
        })
    );
}

#[test]
fn debug_of_request_never_shows_the_key() {
    let r = encode_rich("gpt-4o", "sk-proj-secret-456").unwrap();
    let debug = format!("{r:?}");
    assert!(!debug.contains("sk-proj-secret-456"), "{debug}");
}

/// The vendor's documented example request body.
const SPEC_REQUEST: &str = r#"{
  "model": "gpt-4o-mini", "max_completion_tokens": 64, "temperature": 0, "stop": ["\n\n"],
  "messages": [
{"role": "system", "content": "You are terse."},
{"role": "user", "content": [{"type": "text", "text": "Name three primes."}]}
  ],
  "stream": true, "stream_options": {"include_usage": true}
}"#;

#[test]
fn encodes_spec_request_example_modulo_documented_differences() {
    let req = CompletionRequest {
        stop: vec!["\n\n".into()],
        ..CompletionRequest::prompt("fast", "Name three primes.")
            .system("You are terse.")
            .max_tokens(64)
            .temperature(0.0)
    };
    let mut want: Value = serde_json::from_str(SPEC_REQUEST).unwrap();
    // Differences by design: non-streaming (no `stream`, `stream_options`); one text
    // block travels as a plain string; temperature is a float on our side.
    let obj = want.as_object_mut().unwrap();
    obj.remove("stream");
    obj.remove("stream_options");
    obj.insert("temperature".into(), json!(0.0));
    // A system prompt: the automatic cache key of that prefix.
    obj.insert(
        "prompt_cache_key".into(),
        json!("qs-bfb6196870d768592cfadf5d33e7a363"),
    );
    want["messages"][1]["content"] = json!("Name three primes.");
    let r = OpenAi.encode("gpt-4o-mini", &req, None).unwrap();
    assert_eq!(body_json(&r), want);
}

/// The vendor's documented example response body.
const SPEC_RESPONSE: &str = r#"{
  "id": "chatcmpl-abc123", "object": "chat.completion", "created": 1767225600,
  "model": "gpt-4o-mini-2024-07-18", "system_fingerprint": "fp_0123abcd", "service_tier": "default",
  "choices": [{"index": 0, "logprobs": null, "finish_reason": "stop",
           "message": {"role": "assistant", "content": "2, 3, 5", "refusal": null}}],
  "usage": {"prompt_tokens": 2006, "completion_tokens": 7, "total_tokens": 2013,
        "prompt_tokens_details": {"cached_tokens": 1920, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0}}
}"#;

#[test]
fn decodes_spec_response() {
    let c = OpenAi.decode(ok(SPEC_RESPONSE), now()).unwrap().completion;
    assert_eq!(
        c,
        Completion {
            id: "chatcmpl-abc123".into(),
            model: "gpt-4o-mini-2024-07-18".into(),
            provider_model: "gpt-4o-mini-2024-07-18".into(),
            content: vec![ContentBlock::text("2, 3, 5")],
            stop_reason: StopReason::EndTurn,
            stop_sequence: None,
            reused: false,
            usage: Usage {
                input_tokens: 86,
                output_tokens: 7,
                cache_creation_input_tokens: 0,
                cache_read_input_tokens: 1920,
                cache_creation_1h_input_tokens: 0,
                ..Default::default()
            },
        }
    );
}

#[test]
fn decodes_tool_calls_and_keeps_unparsable_arguments_as_string() {
    let body = r#"{
      "id": "chatcmpl-2", "object": "chat.completion", "model": "gpt-4o", "new_top_level": true,
      "choices": [{"index": 0, "finish_reason": "tool_calls",
        "message": {"role": "assistant", "content": null, "annotations": [],
          "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}},
            {"id": "call_2", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":"}}
          ]}}],
      "usage": {"prompt_tokens": 50, "completion_tokens": 20, "total_tokens": 70}
    }"#;
    let c = OpenAi.decode(ok(body), now()).unwrap().completion;
    assert_eq!(
        c.content,
        vec![
            ContentBlock::ToolUse {
                id: "call_1".into(),
                name: "weather".into(),
                input: json!({"city": "Paris"}),
            },
            ContentBlock::ToolUse {
                id: "call_2".into(),
                name: "weather".into(),
                input: json!("{\"city\":"),
            },
        ]
    );
    assert_eq!(c.stop_reason, StopReason::ToolUse);
    assert_eq!(
        c.usage,
        Usage {
            input_tokens: 50,
            output_tokens: 20,
            cache_creation_input_tokens: 0,
            cache_read_input_tokens: 0,
            cache_creation_1h_input_tokens: 0,
            ..Default::default()
        }
    );
}

#[test]
fn missing_usage_is_zeros_and_unknown_finish_reason_is_kept() {
    let body = r#"{"id":"c","model":"m","choices":[{"finish_reason":"brand_new",
        "message":{"role":"assistant","content":"hi"}}]}"#;
    let c = OpenAi.decode(ok(body), now()).unwrap().completion;
    assert_eq!(c.usage, Usage::default());
    assert_eq!(c.stop_reason, StopReason::Other("brand_new".into()));
}

#[test]
fn refusal_becomes_text_with_refusal_stop_reason() {
    let body = r#"{"id":"c","model":"m","choices":[{"finish_reason":"stop",
        "message":{"role":"assistant","content":null,"refusal":"I can't help with that."}}]}"#;
    let c = OpenAi.decode(ok(body), now()).unwrap().completion;
    assert_eq!(
        c.content,
        vec![ContentBlock::text("I can't help with that.")]
    );
    assert_eq!(c.stop_reason, StopReason::Refusal);
}

#[test]
fn no_choices_or_bad_json_is_invalid_response() {
    for body in [r#"{"id":"c","model":"m","choices":[]}"#, "<html>"] {
        let f = OpenAi.decode(ok(body), now()).unwrap_err();
        assert!(
            matches!(f.error, ProviderError::InvalidResponse { .. }),
            "{body}"
        );
    }
}

#[test]
fn error_response_is_classified_with_rate_limits() {
    let mut headers = HeaderMap::new();
    headers.insert("x-request-id", HeaderValue::from_static("req_abc"));
    headers.insert(
        "x-ratelimit-remaining-tokens",
        HeaderValue::from_static("0"),
    );
    headers.insert("x-ratelimit-reset-tokens", HeaderValue::from_static("6m0s"));
    let response = HttpResponse {
        status: 429,
        headers,
        body: r#"{"error": {"message": "Rate limit reached for gpt-4o in organization org-XXXX on tokens per min (TPM): Limit 30000, Used 29100, Requested 1500. Please try again in 1.2s. Visit https://platform.openai.com/account/rate-limits to learn more.",
       "type": "tokens", "param": null, "code": "rate_limit_exceeded"}}"#
            .into(),
    };
    let f = OpenAi.decode(response, now()).unwrap_err();
    assert!(matches!(f.error, ProviderError::RateLimited { .. }));
    // The message hint beats the window reset.
    assert_eq!(f.error.retry_after(), Some(Duration::from_millis(1200)));
    assert_eq!(f.rate_limits.request_id.as_deref(), Some("req_abc"));
    assert_eq!(
        f.rate_limits.tokens.unwrap().reset_in,
        Some(Duration::from_secs(360))
    );
}

// ---- streaming ----

use crate::provider::stream::test_support::{
    body_json, events, finished, finished_reported, now, ok, png_image, run, run_ok,
};

/// The vendor's documented example chunk stream.
const SPEC_STREAM: &str = include_str!("streams/documented.sse");

#[tokio::test]
async fn decodes_spec_stream_with_final_usage_chunk() {
    for chunk in [1, 13, 10_000] {
        let items = run_ok(
            Box::new(OpenAiStream::new("gpt-4o-mini")),
            SPEC_STREAM,
            chunk,
        )
        .await;
        let evs = events(&items);
        assert_eq!(
            evs[0],
            StreamEvent::Started {
                id: "chatcmpl-1".into(),
                provider_model: "gpt-4o-mini".into(),
                usage: Usage::default()
            }
        );
        assert_eq!(
            evs[1],
            StreamEvent::TextDelta {
                index: 0,
                text: "2, 3, 5".into()
            }
        );
        assert_eq!(evs.len(), 3, "{evs:?}");
        let c = finished_reported(&items);
        assert_eq!(c.text(), "2, 3, 5");
        assert_eq!(c.stop_reason, StopReason::EndTurn);
        assert_eq!(
            c.usage,
            Usage {
                input_tokens: 24,
                output_tokens: 7,
                cache_creation_input_tokens: 0,
                cache_read_input_tokens: 0,
                cache_creation_1h_input_tokens: 0,
                ..Default::default()
            }
        );
    }
}

/// The documented stream cut after its first `n` events.
fn first_events(n: usize) -> String {
    SPEC_STREAM
        .split("\n\n")
        .take(n)
        .map(|e| format!("{e}\n\n"))
        .collect()
}

#[tokio::test]
async fn a_stream_cut_before_the_usage_chunk_counts_output_locally_and_says_so() {
    let text = first_events(3);
    let items = run_ok(Box::new(OpenAiStream::new("gpt-4o-mini")), &text, 8).await;
    let (c, estimated) = finished(&items);
    assert!(estimated);
    assert_eq!(c.text(), "2, 3, 5");
    assert_eq!(
        c.usage.output_tokens,
        crate::tokens::Encoding::O200k.count("2, 3, 5")
    );
    assert_eq!(c.usage.input_tokens, 0);
    // And `[DONE]` without a usage chunk (include_usage off) is the same.
    let text = text + "data: [DONE]\n\n";
    let (_, estimated) = finished(&run(Box::new(OpenAiStream::new("gpt-4o-mini")), &text, 8).await);
    assert!(estimated);
}

#[tokio::test]
async fn a_stream_cut_before_finish_reason_is_a_mid_stream_connection_error() {
    let text = first_events(2);
    let items = run(Box::new(OpenAiStream::new("gpt-4o-mini")), &text, 8).await;
    let e = &items.last().unwrap().as_ref().unwrap_err().error;
    assert_eq!(e.deltas_delivered(), 1);
    assert!(matches!(e.underlying(), ProviderError::Connection { .. }));
    let ProviderError::MidStream { partial_usage, .. } = e else {
        panic!()
    };
    assert!(partial_usage.output_tokens > 0);
}

#[tokio::test]
async fn error_payload_mid_stream_is_typed() {
    let text: String = SPEC_STREAM.split("\n\n").take(2).map(|e| format!("{e}\n\n")).collect::<String>()
        + "data: {\"error\":{\"message\":\"The server had an error\",\"type\":\"server_error\",\"param\":null,\"code\":null}}\n\n";
    let items = run(Box::new(OpenAiStream::new("gpt-4o-mini")), &text, 16).await;
    let e = &items.last().unwrap().as_ref().unwrap_err().error;
    assert!(e.is_mid_stream() && !e.is_retryable());
    assert_eq!(e.deltas_delivered(), 1);
    assert!(matches!(
        e.underlying(),
        ProviderError::Server { status: 500, .. }
    ));
    let text = "data: {\"error\":{\"message\":\"Rate limit reached. Please try again in 1.5s.\",\"type\":\"tokens\",\"param\":null,\"code\":\"rate_limit_exceeded\"}}\n\n";
    let items = run(Box::new(OpenAiStream::new("gpt-4o")), text, 16).await;
    let e = &items[0].as_ref().unwrap_err().error;
    assert_eq!(e.deltas_delivered(), 0);
    assert_eq!(
        e.underlying(),
        &ProviderError::RateLimited {
            retry_after: Some(Duration::from_millis(1500)),
            message: "tokens/rate_limit_exceeded: Rate limit reached. Please try again in 1.5s."
                .into()
        }
    );
}

#[tokio::test]
async fn assembles_tool_calls_by_index_with_concatenated_arguments() {
    let chunk = |choices: &str| {
        format!("data: {{\"id\":\"c2\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o\",\"choices\":{choices}}}\n\n")
    };
    let text = [
        chunk(r#"[{"index":0,"delta":{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_a","type":"function","function":{"name":"weather","arguments":""}}]},"finish_reason":null}]"#),
        chunk(r#"[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\":"}}]},"finish_reason":null}]"#),
        chunk(r#"[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_b","type":"function","function":{"name":"time","arguments":"{}"}}]},"finish_reason":null}]"#),
        chunk(r#"[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"Paris\"}"}}]},"finish_reason":null}]"#),
        chunk(r#"[{"index":0,"delta":{},"finish_reason":"tool_calls"}]"#),
        "data: [DONE]\n\n".to_string(),
    ]
    .concat();
    let items = run(Box::new(OpenAiStream::new("gpt-4o")), &text, 10).await;
    let evs = events(&items);
    assert_eq!(
        evs[1],
        StreamEvent::ToolUseStart {
            index: 0,
            id: "call_a".into(),
            name: "weather".into()
        }
    );
    assert!(evs.contains(&StreamEvent::ToolInputDelta {
        index: 0,
        partial_json: "{\"city\":".into()
    }));
    let (c, _) = finished(&items);
    assert_eq!(
        c.content,
        vec![
            ContentBlock::ToolUse {
                id: "call_a".into(),
                name: "weather".into(),
                input: json!({"city": "Paris"})
            },
            ContentBlock::ToolUse {
                id: "call_b".into(),
                name: "time".into(),
                input: json!({})
            },
        ]
    );
    assert_eq!(c.stop_reason, StopReason::ToolUse);
}

#[test]
fn encode_stream_asks_for_usage() {
    let r = OpenAi
        .encode_stream("gpt-4o", &rich_request(), None)
        .unwrap();
    let b = body_json(&r);
    assert_eq!(b["stream"], json!(true));
    assert_eq!(b["stream_options"], json!({"include_usage": true}));
    let b = body_json(&OpenAi.encode("gpt-4o", &rich_request(), None).unwrap());
    assert!(b.get("stream").is_none() && b.get("stream_options").is_none());
}
