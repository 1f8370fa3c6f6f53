//! Fixture tests of the Anthropic wire: encoding, decoding, streaming; no HTTP.

use super::*;
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::json;
use std::time::Duration;

/// System, multi-turn, tool_use + tool_result, stop, temperature, tools, metadata.
fn rich_request() -> CompletionRequest {
    let mut req = CompletionRequest::prompt("smart", "What is the weather in Paris?")
        .system("You are terse.")
        .max_tokens(512)
        .temperature(0.2);
    req.messages.push(Message {
        role: Role::Assistant,
        content: vec![
            ContentBlock::text("Let me look."),
            ContentBlock::tool_use("toolu_01A", "weather", json!({"city": "Paris"})),
        ],
    });
    req.messages.push(Message {
        role: Role::User,
        content: vec![
            ContentBlock::tool_result("toolu_01A", "18C, sunny"),
            ContentBlock::text("Thanks."),
        ],
    });
    req.stop = vec!["\n\nEND".into()];
    req.top_p = Some(0.5);
    req.tools = vec![Tool::new(
        "weather",
        json!({"type": "object", "properties": {"city": {"type": "string"}}}),
    )
    .description("Current weather")];
    req.metadata = Some(json!({"user_id": "u-42", "team": "ignored"}));
    req
}

/// [`rich_request`] encoded for wire model `model` with API key `key`.
fn encode_rich(model: &str, key: &str) -> Result<HttpRequest, ProviderError> {
    Anthropic.encode(model, &rich_request(), Some(&ApiKey::new(key)))
}

#[test]
fn encodes_messages_request_exactly() {
    let r = encode_rich("claude-sonnet-4-5", "sk-ant-secret-123").unwrap();
    assert_eq!(r.path, "/v1/messages");
    assert_eq!(r.headers["x-api-key"], "sk-ant-secret-123");
    assert!(r.headers["x-api-key"].is_sensitive());
    assert_eq!(r.headers["anthropic-version"], "2023-06-01");
    assert_eq!(r.headers["content-type"], "application/json");
    assert_eq!(
        body_json(&r),
        json!({
            "model": "claude-sonnet-4-5",
            "max_tokens": 512,
            "system": [{"type": "text", "text": "You are terse."}],
            "temperature": 0.2,
            "top_p": 0.5,
            "stop_sequences": ["\n\nEND"],
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "What is the weather in Paris?"}]},
                {"role": "assistant", "content": [
                    {"type": "text", "text": "Let me look."},
                    {"type": "tool_use", "id": "toolu_01A", "name": "weather", "input": {"city": "Paris"}}
                ]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_01A",
                     "content": [{"type": "text", "text": "18C, sunny"}], "is_error": false},
                    {"type": "text", "text": "Thanks."}
                ]}
            ],
            "tools": [{"name": "weather", "description": "Current weather",
                       "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}],
            "metadata": {"user_id": "u-42"}
        })
    );
}

#[test]
fn omits_absent_optional_fields_and_key() {
    let mut req = CompletionRequest::prompt("smart", "hi");
    req.messages.push(Message {
        role: Role::User,
        content: vec![png_image()],
    });
    req.metadata = Some(json!({"team": "x"}));
    let r = Anthropic.encode("claude-haiku-4-5", &req, None).unwrap();
    assert!(r.headers.get("x-api-key").is_none());
    assert_eq!(
        body_json(&r),
        json!({
            "model": "claude-haiku-4-5",
            "max_tokens": 256,
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "hi"}]},
                {"role": "user", "content": [{"type": "image", "source":
                    {"type": "base64", "media_type": "image/png", "data": "AAAA"}}]}
            ]
        })
    );
}

#[test]
fn debug_of_request_never_shows_the_key() {
    let key = ApiKey::new("sk-ant-secret-123");
    let r = Anthropic.encode("m", &rich_request(), Some(&key)).unwrap();
    let debug = format!("{r:?}");
    assert!(!debug.contains("sk-ant-secret-123"), "{debug}");
    let r = encode_count_tokens("m", &rich_request(), Some(&key)).unwrap();
    assert!(!format!("{r:?}").contains("sk-ant-secret-123"));
}

#[test]
fn key_with_invalid_header_characters_is_refused_without_echoing_it() {
    let e = encode_rich("m", "sk-bad\nkey").unwrap_err();
    assert!(!e.is_retryable());
    assert!(!e.to_string().contains("sk-bad"));
}

/// The vendor's documented example request body.
const SPEC_REQUEST: &str = r#"{
  "model": "claude-sonnet-4-5", "max_tokens": 512, "temperature": 0.2,
  "stop_sequences": ["\n\nEND"], "stream": false,
  "system": [{"type": "text", "text": "<long stable instructions>",
          "cache_control": {"type": "ephemeral"}}],
  "messages": [
{"role": "user", "content": "Summarise the attached notes."},
{"role": "assistant", "content": [{"type": "text", "text": "Which notes?"}]},
{"role": "user", "content": [{"type": "text", "text": "The ones above."}]}
  ]
}"#;

#[test]
fn encodes_spec_request_example_modulo_documented_differences() {
    let req = CompletionRequest::new("smart")
        .system_cached("<long stable instructions>", CacheControl::ephemeral())
        .max_tokens(512)
        .temperature(0.2)
        .messages(vec![
            Message::user("Summarise the attached notes."),
            Message::assistant("Which notes?"),
            Message::user("The ones above."),
        ]);
    let req = CompletionRequest {
        stop: vec!["\n\nEND".into()],
        ..req
    };
    let mut want: serde_json::Value = serde_json::from_str(SPEC_REQUEST).unwrap();
    // Differences by design: no `stream` (non-streaming wire), every content as a block
    // array.
    let obj = want.as_object_mut().unwrap();
    obj.remove("stream");
    want["messages"][0]["content"] =
        json!([{"type": "text", "text": "Summarise the attached notes."}]);
    let r = Anthropic.encode("claude-sonnet-4-5", &req, None).unwrap();
    assert_eq!(body_json(&r), want);
}

/// The vendor's documented example response body.
const SPEC_RESPONSE: &str = r#"{
  "id": "msg_01XyZ",
  "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
  "content": [
{"type": "text", "text": "Here is the summary..."},
{"type": "tool_use", "id": "toolu_01A", "name": "lookup", "input": {"q": "x"}}
  ],
  "stop_reason": "tool_use", "stop_sequence": null,
  "usage": {"input_tokens": 42, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 2100,
        "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
        "output_tokens": 87, "service_tier": "standard"}
}"#;

#[test]
fn decodes_spec_response() {
    let reply = Anthropic.decode(ok(SPEC_RESPONSE), now()).unwrap();
    assert_eq!(
        reply.completion,
        Completion {
            id: "msg_01XyZ".into(),
            model: "claude-sonnet-4-5".into(),
            provider_model: "claude-sonnet-4-5".into(),
            content: vec![
                ContentBlock::text("Here is the summary..."),
                ContentBlock::ToolUse {
                    id: "toolu_01A".into(),
                    name: "lookup".into(),
                    input: json!({"q": "x"}),
                },
            ],
            stop_reason: StopReason::ToolUse,
            stop_sequence: None,
            reused: false,
            usage: Usage {
                input_tokens: 42,
                output_tokens: 87,
                cache_creation_input_tokens: 0,
                cache_read_input_tokens: 2100,
                cache_creation_1h_input_tokens: 0,
                ..Default::default()
            },
        }
    );
}

#[test]
fn tolerates_null_cache_fields_and_unknown_fields_keeps_thinking_and_unknown_blocks_whole() {
    let body = r#"{
      "id": "msg_02", "type": "message", "role": "assistant", "model": "claude-haiku-4-5",
      "brand_new_field": {"x": 1},
      "content": [
        {"type": "thinking", "thinking": "hmm", "signature": "sig"},
        {"type": "text", "text": "Done.", "citations": null},
        {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {}},
        {"type": "hologram", "payload": [1, 2, 3]}
      ],
      "stop_reason": "stop_sequence", "stop_sequence": "\n\nEND",
      "usage": {"input_tokens": 5, "output_tokens": 1,
                "cache_creation_input_tokens": null, "inference_geo": "us"}
    }"#;
    let c = Anthropic.decode(ok(body), now()).unwrap().completion;
    assert_eq!(
        c.content,
        vec![
            ContentBlock::Thinking {
                thinking: "hmm".into(),
                signature: "sig".into()
            },
            ContentBlock::text("Done."),
            // Server-tool and unknown blocks are kept whole, for replay.
            serde_json::from_value(
                json!({"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {}})
            )
            .unwrap(),
            serde_json::from_value(json!({"type": "hologram", "payload": [1, 2, 3]})).unwrap(),
        ]
    );
    assert_eq!(c.stop_reason, StopReason::StopSequence);
    assert_eq!(c.stop_sequence.as_deref(), Some("\n\nEND"));
    assert_eq!(
        c.usage,
        Usage {
            input_tokens: 5,
            output_tokens: 1,
            cache_creation_input_tokens: 0,
            cache_read_input_tokens: 0,
            cache_creation_1h_input_tokens: 0,
            ..Default::default()
        }
    );
}

#[test]
fn unknown_stop_reason_is_kept() {
    let body = r#"{"id":"m","model":"x","content":[],"stop_reason":"new_reason","usage":{"input_tokens":1,"output_tokens":1}}"#;
    let c = Anthropic.decode(ok(body), now()).unwrap().completion;
    assert_eq!(c.stop_reason, StopReason::Other("new_reason".into()));
}

#[test]
fn malformed_success_body_is_invalid_response() {
    let f = Anthropic.decode(ok("not json"), now()).unwrap_err();
    assert!(matches!(f.error, ProviderError::InvalidResponse { .. }));
}

#[test]
fn error_response_is_classified_with_rate_limits() {
    let mut headers = HeaderMap::new();
    headers.insert("retry-after", HeaderValue::from_static("7"));
    headers.insert("request-id", HeaderValue::from_static("req_011CAbCdEf"));
    headers.insert(
        "anthropic-ratelimit-requests-remaining",
        HeaderValue::from_static("0"),
    );
    let response = HttpResponse {
        status: 429,
        headers,
        body: r#"{"type": "error",
 "error": {"type": "rate_limit_error", "message": "Number of input tokens has exceeded your per-minute rate limit"},
 "request_id": "req_011CAbCdEf"}"#
            .into(),
    };
    let f = Anthropic.decode(response, now()).unwrap_err();
    assert_eq!(f.error.retry_after(), Some(Duration::from_secs(7)));
    assert!(matches!(f.error, ProviderError::RateLimited { .. }));
    assert_eq!(f.rate_limits.request_id.as_deref(), Some("req_011CAbCdEf"));
    assert_eq!(f.rate_limits.requests.unwrap().remaining, Some(0));
}

#[test]
fn encodes_count_tokens_request() {
    let r = encode_count_tokens("claude-sonnet-4-5", &rich_request(), None).unwrap();
    assert_eq!(r.path, "/v1/messages/count_tokens");
    let body = body_json(&r);
    assert_eq!(body["model"], "claude-sonnet-4-5");
    assert_eq!(
        body["system"],
        json!([{"type": "text", "text": "You are terse."}])
    );
    assert_eq!(body["messages"].as_array().unwrap().len(), 3);
    assert_eq!(body["tools"][0]["name"], "weather");
    for absent in [
        "max_tokens",
        "temperature",
        "top_p",
        "stop_sequences",
        "metadata",
    ] {
        assert!(body.get(absent).is_none(), "{absent}");
    }
}

#[test]
fn decodes_count_tokens_response() {
    assert_eq!(
        decode_count_tokens(ok(r#"{"input_tokens": 1873}"#)).unwrap(),
        1873
    );
    let f = decode_count_tokens_at(
        HttpResponse {
            status: 529,
            headers: HeaderMap::new(),
            body: r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#
                .into(),
        },
        now(),
    )
    .unwrap_err();
    assert!(matches!(
        f.error,
        ProviderError::Overloaded { status: 529, .. }
    ));
    let f = decode_count_tokens(ok("{}")).unwrap_err();
    assert!(matches!(f.error, ProviderError::InvalidResponse { .. }));
}

// ---- streaming ----

use crate::provider::stream::test_support::{
    body_json, events, finished, finished_reported, now, ok, png_image, run, run_ok,
};

/// The vendor's documented example event stream.
const SPEC_STREAM: &str = include_str!("streams/documented.sse");

/// The vendor's documented mid-stream error event.
const SPEC_STREAM_ERROR: &str = include_str!("streams/documented_error.sse");

#[tokio::test]
async fn decodes_spec_stream_with_usage_overlaid_whatever_the_chunking() {
    for chunk in [1, 7, 64, 10_000] {
        let items = run_ok(
            Box::new(AnthropicStream::new("claude-sonnet-4-5")),
            SPEC_STREAM,
            chunk,
        )
        .await;
        let evs = events(&items);
        let start_usage = Usage {
            input_tokens: 12,
            output_tokens: 1,
            cache_creation_input_tokens: 0,
            cache_read_input_tokens: 2100,
            cache_creation_1h_input_tokens: 0,
            ..Default::default()
        };
        assert_eq!(
            evs[0],
            StreamEvent::Started {
                id: "msg_01".into(),
                provider_model: "claude-sonnet-4-5".into(),
                usage: start_usage,
            }
        );
        assert_eq!(
            evs[1],
            StreamEvent::TextDelta {
                index: 0,
                text: "Hello".into()
            }
        );
        let c = finished_reported(&items);
        assert_eq!(c.text(), "Hello");
        assert_eq!(c.stop_reason, StopReason::EndTurn);
        // message_delta replaced output_tokens; the rest kept message_start's values.
        assert_eq!(
            c.usage,
            Usage {
                output_tokens: 7,
                ..start_usage
            }
        );
        assert_eq!(evs.len(), 3, "ping yields nothing: {evs:?}");
    }
}

#[tokio::test]
async fn message_delta_usage_replaces_fields_and_never_adds() {
    let text = SPEC_STREAM.replace(
        r#""usage":{"output_tokens":7}}"#,
        r#""usage":{"output_tokens":3}}

event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"input_tokens":15,"output_tokens":9}}"#,
    );
    let items = run_ok(Box::new(AnthropicStream::new("m")), &text, 5).await;
    let (c, _) = finished(&items);
    assert_eq!(c.usage.output_tokens, 9);
    assert_eq!(c.usage.input_tokens, 15);
    assert_eq!(c.usage.cache_read_input_tokens, 2100);
}

#[tokio::test]
async fn mid_stream_error_event_is_a_typed_overload_after_the_delivered_deltas() {
    let text = SPEC_STREAM
        .split("event: content_block_stop")
        .next()
        .unwrap()
        .to_string()
        + SPEC_STREAM_ERROR;
    let items = run(
        Box::new(AnthropicStream::new("claude-sonnet-4-5")),
        &text,
        3,
    )
    .await;
    let last = items.last().unwrap().as_ref().unwrap_err();
    assert!(last.error.is_mid_stream());
    assert!(!last.error.is_retryable());
    assert_eq!(last.error.deltas_delivered(), 1);
    assert!(matches!(
        last.error.underlying(),
        ProviderError::Overloaded { status: 529, .. }
    ));
    let ProviderError::MidStream { partial_usage, .. } = &last.error else {
        panic!()
    };
    assert_eq!(partial_usage.input_tokens, 12);
    assert!(partial_usage.output_tokens >= 1);
    assert_eq!(items.iter().filter(|i| i.is_err()).count(), 1);
}

#[tokio::test]
async fn error_as_the_first_event_has_delivered_nothing() {
    let items = run(Box::new(AnthropicStream::new("m")), SPEC_STREAM_ERROR, 4).await;
    assert_eq!(items.len(), 1);
    let e = &items[0].as_ref().unwrap_err().error;
    assert_eq!(e.deltas_delivered(), 0);
    assert!(e.underlying().is_retryable());
}

#[tokio::test]
async fn assembles_thinking_and_tool_use_from_deltas_and_skips_unknown_events_and_blocks() {
    let text = include_str!("streams/thinking_tool_use_and_unknowns.sse");
    let items = run(Box::new(AnthropicStream::new("m")), text, 11).await;
    let evs = events(&items);
    assert!(evs.contains(&StreamEvent::ToolUseStart {
        index: 2,
        id: "toolu_01A".into(),
        name: "lookup".into()
    }));
    assert!(evs.contains(&StreamEvent::ToolInputDelta {
        index: 2,
        partial_json: "{\"q\": \"x".into()
    }));
    let (c, _) = finished(&items);
    assert_eq!(
        c.content,
        vec![
            // A thinking block with no signature_delta keeps an empty signature.
            ContentBlock::Thinking {
                thinking: "hmm".into(),
                signature: String::new()
            },
            ContentBlock::text("Let me look."),
            ContentBlock::ToolUse {
                id: "toolu_01A".into(),
                name: "lookup".into(),
                input: json!({"q": "xy"})
            },
            ContentBlock::ToolUse {
                id: "toolu_01B".into(),
                name: "noargs".into(),
                input: json!({})
            },
        ]
    );
    assert_eq!(c.stop_reason, StopReason::ToolUse);
    assert_eq!(c.usage.output_tokens, 40);
}

#[tokio::test]
async fn a_stream_cut_before_message_stop_is_a_mid_stream_connection_error() {
    let text = SPEC_STREAM.split("event: message_delta").next().unwrap();
    let items = run(Box::new(AnthropicStream::new("m")), text, 9).await;
    let e = &items.last().unwrap().as_ref().unwrap_err().error;
    assert_eq!(e.deltas_delivered(), 1);
    assert!(matches!(e.underlying(), ProviderError::Connection { .. }));
}

#[test]
fn encode_stream_sets_stream_true_and_encode_leaves_it_out() {
    let r = Anthropic
        .encode_stream("claude-sonnet-4-5", &rich_request(), None)
        .unwrap();
    assert_eq!(body_json(&r)["stream"], json!(true));
    let r = Anthropic
        .encode("claude-sonnet-4-5", &rich_request(), None)
        .unwrap();
    assert!(body_json(&r).get("stream").is_none());
}

#[test]
fn one_hour_cache_writes_are_decoded_from_the_ttl_split() {
    let body = r#"{"id": "m", "type": "message", "role": "assistant", "model": "claude-sonnet-4-6",
      "content": [{"type": "text", "text": "ok"}], "stop_reason": "end_turn",
      "usage": {"input_tokens": 5, "output_tokens": 2, "cache_creation_input_tokens": 150,
                "cache_read_input_tokens": 0,
                "cache_creation": {"ephemeral_5m_input_tokens": 100, "ephemeral_1h_input_tokens": 50}}}"#;
    let u = Anthropic.decode(ok(body), now()).unwrap().completion.usage;
    assert_eq!(u.cache_creation_input_tokens, 150);
    assert_eq!(u.cache_creation_1h_input_tokens, 50);
    // A split larger than the writes (a broken server) never exceeds them.
    let broken = body.replace(
        "\"ephemeral_1h_input_tokens\": 50",
        "\"ephemeral_1h_input_tokens\": 900",
    );
    let u = Anthropic
        .decode(ok(&broken), now())
        .unwrap()
        .completion
        .usage;
    assert_eq!(u.cache_creation_1h_input_tokens, 150);
}

/// The one-pass block reader gives what the general one gives, and leaves every body it
/// does not take (type not first, kept-whole or unknown blocks, malformed fields) to it.
#[test]
fn fast_blocks_read_what_the_general_blocks_read() {
    use response::{FastBlock, WireResponse};
    let bodies = [
        (
            json!({"id": "m", "model": "c", "content": [{"type": "text", "text": "hi"}],
            "stop_reason": "end_turn", "usage": {"input_tokens": 3, "output_tokens": 1}}),
            true,
        ),
        (
            json!({"id": "m", "content": [
            {"type": "thinking", "thinking": "hmm", "signature": "s", "extra": 1},
            {"type": "redacted_thinking", "data": "d"},
            {"type": "text", "text": "a", "citations": [{"url": "u"}]},
            {"type": "tool_use", "id": "t", "name": "f", "input": {"q": [1, 2]}},
            {"type": "text"}]}),
            true,
        ),
        (
            json!({"id": "m", "content": [{"text": "type later", "type": "text"}]}),
            true,
        ),
        (
            json!({"id": "m", "content": [{"type": "server_tool_use", "id": "s", "name": "web"}]}),
            false,
        ),
        (
            json!({"id": "m", "content": [{"type": "text", "text": 5}]}),
            false,
        ),
        (
            json!({"id": "m", "content": [{"type": "tool_use", "name": "no id"}]}),
            false,
        ),
        (
            json!({"id": "m", "content": [{"type": "text", "citations": null, "text": null}]}),
            false,
        ),
        (json!({"id": "m", "content": [{}]}), false),
        (
            json!({"id": "m", "content": [{"type": "text", "text": "a", "id": 5}]}),
            false,
        ),
        (json!({"content": []}), false),
    ];
    for (body, fast) in bodies {
        let bytes = serde_json::to_vec(&body).unwrap();
        let general =
            serde_json::from_slice::<WireResponse>(&bytes).map(|r| r.into_completion(None));
        let read = response::parse(&bytes, None);
        assert_eq!(
            read.as_ref().map_err(|e| e.to_string()),
            general.as_ref().map_err(|e| e.to_string()),
            "{body}"
        );
        let took = serde_json::from_slice::<WireResponse<FastBlock>>(&bytes).is_ok();
        assert_eq!(took, fast, "{body}");
    }
}
