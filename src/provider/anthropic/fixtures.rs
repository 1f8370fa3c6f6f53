//! Request and response fixtures for what agents need on the Anthropic wire: prompt
//! caching, tool control and tool results, extended thinking, structured output. Each
//! request is built with the public API, encoded, and compared as JSON values (key order
//! normalised) with the body the vendor's documentation shows (`docs/providers.md`, "Anthropic
//! request body", "Anthropic prompt caching", "Anthropic extended thinking");
//! responses are the docs' shapes, decoded.

use super::request::STRUCTURED_TOOL_DESCRIPTION;
use super::*;
use crate::provider::stream::test_support::{expected, finished, now, ok, run_ok};
use crate::types::{OutputSchema, ToolChoice};
use serde_json::{json, Value};

fn body(req: &CompletionRequest) -> Value {
    body_on("claude-sonnet-4-5", req)
}

/// The body `req` gets on wire model `model`.
pub(super) fn body_on(model: &str, req: &CompletionRequest) -> Value {
    let r = Anthropic.encode(model, req, None).unwrap();
    serde_json::from_slice(&r.body).unwrap()
}

pub(super) fn weather() -> Tool {
    Tool::new(
        "get_weather",
        json!({"type": "object", "properties": {"city": {"type": "string"}},
               "required": ["city"]}),
    )
    .description("Current weather in a city")
}

// ---- caching (docs/providers.md, "Anthropic prompt caching") ----

#[test]
fn caching_breakpoints_on_tools_system_and_history_blocks() {
    let req = CompletionRequest::new("claude")
        .system_cached("<long stable instructions>", CacheControl::one_hour())
        .tool(weather().cache(CacheControl::ephemeral()))
        .message(Message {
            role: Role::User,
            content: vec![
                ContentBlock::text("<a long document>").cached(CacheControl::ephemeral()),
                ContentBlock::text("Summarise it."),
            ],
        })
        .max_tokens(512);
    let want = expected(
        r#"{
          "model": "claude-sonnet-4-5", "max_tokens": 512,
          "tools": [{"name": "get_weather", "description": "Current weather in a city",
                     "input_schema": {"type": "object",
                                      "properties": {"city": {"type": "string"}},
                                      "required": ["city"]},
                     "cache_control": {"type": "ephemeral"}}],
          "system": [{"type": "text", "text": "<long stable instructions>",
                      "cache_control": {"type": "ephemeral", "ttl": "1h"}}],
          "messages": [{"role": "user", "content": [
            {"type": "text", "text": "<a long document>", "cache_control": {"type": "ephemeral"}},
            {"type": "text", "text": "Summarise it."}
          ]}]
        }"#,
    );
    assert_eq!(body(&req), want);
}

#[test]
fn no_system_prompt_sends_no_system_field() {
    let b = body(&CompletionRequest::prompt("claude", "hi"));
    assert!(b.get("system").is_none(), "{b}");
}

/// A documented response usage, cache fields included.
#[test]
fn decodes_cache_reads_and_writes() {
    let body = r#"{"id": "msg_c", "type": "message", "role": "assistant",
      "model": "claude-sonnet-4-5", "content": [{"type": "text", "text": "ok"}],
      "stop_reason": "end_turn", "stop_sequence": null,
      "usage": {"input_tokens": 21, "cache_creation_input_tokens": 188,
                "cache_read_input_tokens": 2100,
                "cache_creation": {"ephemeral_5m_input_tokens": 188, "ephemeral_1h_input_tokens": 0},
                "output_tokens": 393, "service_tier": "standard"}}"#;
    let c = Anthropic.decode(ok(body), now()).unwrap().completion;
    assert_eq!(
        c.usage,
        Usage {
            input_tokens: 21,
            output_tokens: 393,
            cache_creation_input_tokens: 188,
            cache_read_input_tokens: 2100,
            cache_creation_1h_input_tokens: 0,
            ..Default::default()
        }
    );
}

// ---- tools ----

#[test]
fn tools_forced_choice_no_parallel_use_strict_and_rich_tool_results() {
    let req = CompletionRequest::new("claude")
        .user("Weather in Paris?")
        .message(Message {
            role: Role::Assistant,
            content: vec![ContentBlock::tool_use(
                "toolu_01A",
                "get_weather",
                json!({"city": "Paris"}),
            )],
        })
        .message(Message {
            role: Role::User,
            content: vec![ContentBlock::ToolResult {
                tool_use_id: "toolu_01A".into(),
                content: vec![
                    ContentBlock::text("Radar attached."),
                    ContentBlock::Image {
                        source: json!({"type": "base64", "media_type": "image/png",
                                       "data": "iVBORw0KGgo="}),
                        cache_control: None,
                    },
                ],
                is_error: false,
                cache_control: None,
            }],
        })
        .message(Message {
            role: Role::Assistant,
            content: vec![ContentBlock::tool_use(
                "toolu_01B",
                "get_weather",
                json!({"city": "Rome"}),
            )],
        })
        .message(Message {
            role: Role::User,
            content: vec![ContentBlock::tool_error("toolu_01B", "station offline")],
        })
        .tool(weather().strict(true))
        .tool_choice(ToolChoice::Tool("get_weather".into()))
        .parallel_tool_calls(false)
        .top_k(40)
        .max_tokens(1024);
    let want = expected(
        r#"{
          "model": "claude-sonnet-4-5", "max_tokens": 1024, "top_k": 40,
          "tools": [{"name": "get_weather", "description": "Current weather in a city",
                     "input_schema": {"type": "object",
                                      "properties": {"city": {"type": "string"}},
                                      "required": ["city"]},
                     "strict": true}],
          "tool_choice": {"type": "tool", "name": "get_weather",
                          "disable_parallel_tool_use": true},
          "messages": [
            {"role": "user", "content": [{"type": "text", "text": "Weather in Paris?"}]},
            {"role": "assistant", "content": [
              {"type": "tool_use", "id": "toolu_01A", "name": "get_weather",
               "input": {"city": "Paris"}}]},
            {"role": "user", "content": [
              {"type": "tool_result", "tool_use_id": "toolu_01A", "is_error": false,
               "content": [
                 {"type": "text", "text": "Radar attached."},
                 {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                              "data": "iVBORw0KGgo="}}]}]},
            {"role": "assistant", "content": [
              {"type": "tool_use", "id": "toolu_01B", "name": "get_weather",
               "input": {"city": "Rome"}}]},
            {"role": "user", "content": [
              {"type": "tool_result", "tool_use_id": "toolu_01B", "is_error": true,
               "content": [{"type": "text", "text": "station offline"}]}]}
          ]
        }"#,
    );
    assert_eq!(body(&req), want);
}

#[test]
fn tool_choice_modes_and_parallel_use() {
    let base = CompletionRequest::prompt("claude", "hi").tool(weather());
    for (choice, wire) in [
        (ToolChoice::Auto, json!({"type": "auto"})),
        (ToolChoice::Any, json!({"type": "any"})),
        (ToolChoice::None, json!({"type": "none"})),
    ] {
        assert_eq!(body(&base.clone().tool_choice(choice))["tool_choice"], wire);
    }
    // Parallel use off without a choice: auto, with the flag.
    assert_eq!(
        body(&base.clone().parallel_tool_calls(false))["tool_choice"],
        json!({"type": "auto", "disable_parallel_tool_use": true})
    );
    assert_eq!(
        body(
            &base
                .clone()
                .tool_choice(ToolChoice::Any)
                .parallel_tool_calls(false)
        )["tool_choice"],
        json!({"type": "any", "disable_parallel_tool_use": true})
    );
    // `none` has no such flag; parallel use on is the default and sends nothing.
    assert_eq!(
        body(
            &base
                .clone()
                .tool_choice(ToolChoice::None)
                .parallel_tool_calls(false)
        )["tool_choice"],
        json!({"type": "none"})
    );
    assert!(body(&base.clone().parallel_tool_calls(true))
        .get("tool_choice")
        .is_none());
    // Without tools there is no choice to make.
    assert!(
        body(&CompletionRequest::prompt("claude", "hi").parallel_tool_calls(false))
            .get("tool_choice")
            .is_none()
    );
}

// ---- thinking (docs/providers.md, "Anthropic extended thinking") ----

#[test]
fn thinking_enabled_and_replayed_before_the_tool_use_it_led_to() {
    let req = CompletionRequest::new("claude")
        .user("Weather in Paris?")
        .message(Message {
            role: Role::Assistant,
            content: vec![
                ContentBlock::Thinking {
                    thinking: "The user wants the weather; I should call the tool.".into(),
                    signature: "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds".into(),
                },
                ContentBlock::RedactedThinking {
                    data: "EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr".into(),
                },
                ContentBlock::tool_use("toolu_01A", "get_weather", json!({"city": "Paris"})),
            ],
        })
        .message(Message {
            role: Role::User,
            content: vec![ContentBlock::tool_result("toolu_01A", "18C, sunny")],
        })
        .tool(weather())
        .thinking(10000)
        .max_tokens(16000);
    let want = expected(
        r#"{
          "model": "claude-sonnet-4-5", "max_tokens": 16000,
          "thinking": {"type": "enabled", "budget_tokens": 10000},
          "tools": [{"name": "get_weather", "description": "Current weather in a city",
                     "input_schema": {"type": "object",
                                      "properties": {"city": {"type": "string"}},
                                      "required": ["city"]}}],
          "messages": [
            {"role": "user", "content": [{"type": "text", "text": "Weather in Paris?"}]},
            {"role": "assistant", "content": [
              {"type": "thinking",
               "thinking": "The user wants the weather; I should call the tool.",
               "signature": "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds"},
              {"type": "redacted_thinking",
               "data": "EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr"},
              {"type": "tool_use", "id": "toolu_01A", "name": "get_weather",
               "input": {"city": "Paris"}}]},
            {"role": "user", "content": [
              {"type": "tool_result", "tool_use_id": "toolu_01A", "is_error": false,
               "content": [{"type": "text", "text": "18C, sunny"}]}]}
          ]
        }"#,
    );
    assert_eq!(body(&req), want);
}

/// The docs' extended-thinking response shape.
const THINKING_RESPONSE: &str = r#"{
  "id": "msg_01T", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
  "content": [
    {"type": "thinking", "thinking": "Let me analyze this step by step...",
     "signature": "WaUjzkypQ2mUEVM36O2TxuC06KN8xyfbJwyem2dw3URve/op91XWHOEBLLqIOMfFG/UvLEczmEsUjavL"},
    {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr"},
    {"type": "text", "text": "Based on my analysis..."}
  ],
  "stop_reason": "end_turn", "stop_sequence": null,
  "usage": {"input_tokens": 50, "output_tokens": 1200}
}"#;

#[test]
fn decodes_thinking_and_redacted_thinking_in_order() {
    let c = Anthropic
        .decode(ok(THINKING_RESPONSE), now())
        .unwrap()
        .completion;
    assert_eq!(
        c.content,
        vec![
            ContentBlock::Thinking {
                thinking: "Let me analyze this step by step...".into(),
                signature:
                    "WaUjzkypQ2mUEVM36O2TxuC06KN8xyfbJwyem2dw3URve/op91XWHOEBLLqIOMfFG/UvLEczmEsUjavL"
                        .into(),
            },
            ContentBlock::RedactedThinking {
                data: "EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr".into(),
            },
            ContentBlock::text("Based on my analysis..."),
        ]
    );
    assert_eq!(c.text(), "Based on my analysis...");
    // Replayed, the turn is sent back exactly as it came.
    let replay = CompletionRequest::prompt("claude", "q")
        .message(c.to_message())
        .user("more");
    let sent = body(&replay);
    let got: Value = serde_json::from_str(THINKING_RESPONSE).unwrap();
    assert_eq!(sent["messages"][1]["content"], got["content"]);
}

/// The docs' streamed thinking: thinking_delta, then signature_delta, then the text.
const THINKING_STREAM: &str = include_str!("streams/thinking.sse");

#[tokio::test]
async fn streams_thinking_with_its_signature_into_the_completion() {
    for chunk in [3, 64, 100_000] {
        let items = run_ok(
            Box::new(AnthropicStream::new("claude-sonnet-4-5")),
            THINKING_STREAM,
            chunk,
        )
        .await;
        let (c, _) = finished(&items);
        assert_eq!(
            c.content,
            vec![
                ContentBlock::Thinking {
                    thinking: "Let me solve this step by step:\n\n1. First break down 27 * 453\n2. 453 = 400 + 50 + 3".into(),
                    signature: "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds".into(),
                },
                ContentBlock::RedactedThinking {
                    data: "EmwKAhgBEgy3va3pzix".into()
                },
                ContentBlock::text("27 * 453 = 12,231"),
            ]
        );
        // The text delta's index is the text block's place in the completion.
        assert!(items
            .iter()
            .any(|i| matches!(i, Ok(StreamEvent::TextDelta { index: 2, .. }))));
        assert_eq!(c.usage.output_tokens, 120);
    }
}

// ---- structured output ----

pub(super) fn person() -> OutputSchema {
    OutputSchema::new(
        "person",
        json!({"type": "object",
               "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
               "required": ["name", "age"]}),
    )
}

/// Before Claude 4.5 (and for names not known to be newer) structured output is a forced
/// tool; `fixtures_thinking.rs` has the native form.
#[test]
fn structured_output_is_a_forced_tool_after_the_request_tools() {
    let req = CompletionRequest::prompt("claude", "Extract the person: Ada, 36.")
        .tool(weather())
        .response_format(person())
        .max_tokens(200);
    let body = |req: &CompletionRequest| body_on("claude-sonnet-4-20250514", req);
    let want = expected(&format!(
        r#"{{
          "model": "claude-sonnet-4-20250514", "max_tokens": 200,
          "messages": [{{"role": "user", "content": [
            {{"type": "text", "text": "Extract the person: Ada, 36."}}]}}],
          "tools": [
            {{"name": "get_weather", "description": "Current weather in a city",
              "input_schema": {{"type": "object",
                               "properties": {{"city": {{"type": "string"}}}},
                               "required": ["city"]}}}},
            {{"name": "person", "description": "{STRUCTURED_TOOL_DESCRIPTION}",
              "input_schema": {{"type": "object",
                               "properties": {{"name": {{"type": "string"}},
                                              "age": {{"type": "integer"}}}},
                               "required": ["name", "age"]}}}}],
          "tool_choice": {{"type": "tool", "name": "person"}}
        }}"#
    ));
    assert_eq!(body(&req), want);
    // Thinking forbids forcing a tool: the choice is left to the model.
    let b = body(&req.clone().thinking(2048).max_tokens(4096));
    assert_eq!(b["tool_choice"], json!({"type": "auto"}));
}

const STRUCTURED_RESPONSE: &str = r#"{
  "id": "msg_01P", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
  "content": [
    {"type": "text", "text": "Here it is."},
    {"type": "tool_use", "id": "toolu_01P", "name": "person", "input": {"name": "Ada", "age": 36}}
  ],
  "stop_reason": "tool_use", "stop_sequence": null,
  "usage": {"input_tokens": 80, "output_tokens": 30}
}"#;

#[test]
fn the_structured_tool_call_comes_back_as_the_json_text() {
    let req = CompletionRequest::prompt("claude", "Extract").response_format(person());
    let c = Anthropic
        .decode_for(&req, ok(STRUCTURED_RESPONSE), now())
        .unwrap()
        .completion;
    assert_eq!(
        c.content,
        vec![ContentBlock::text(r#"{"age":36,"name":"Ada"}"#)]
    );
    assert_eq!(c.stop_reason, StopReason::EndTurn);
    let parsed: Value = serde_json::from_str(&c.text()).unwrap();
    assert_eq!(parsed, json!({"name": "Ada", "age": 36}));
    // Without the request, or for another tool's call, nothing is converted.
    let c = Anthropic
        .decode(ok(STRUCTURED_RESPONSE), now())
        .unwrap()
        .completion;
    assert_eq!(c.stop_reason, StopReason::ToolUse);
    assert_eq!(c.tool_uses().count(), 1);
}

#[tokio::test]
async fn a_streamed_structured_call_is_text_deltas_and_one_text_block() {
    let text = include_str!("streams/structured_call.sse");
    let req = CompletionRequest::prompt("claude", "Extract")
        .response_format(person())
        .thinking(1024)
        .max_tokens(2048);
    let items = run_ok(
        Anthropic.stream_decoder_for("claude-sonnet-4-5", &req),
        text,
        17,
    )
    .await;
    let deltas: String = items
        .iter()
        .filter_map(|i| match i {
            Ok(StreamEvent::TextDelta { text, .. }) => Some(text.as_str()),
            Ok(StreamEvent::ToolUseStart { .. } | StreamEvent::ToolInputDelta { .. }) => {
                panic!("the structured call is not a tool call: {i:?}")
            }
            _ => None,
        })
        .collect();
    assert_eq!(deltas, r#"{"name": "Ada", "age": 36}"#);
    let (c, _) = finished(&items);
    assert_eq!(
        c.content,
        vec![
            ContentBlock::Thinking {
                thinking: "Ada is 36.".into(),
                signature: "sig-1".into()
            },
            ContentBlock::text(r#"{"age":36,"name":"Ada"}"#),
        ]
    );
    assert_eq!(c.stop_reason, StopReason::EndTurn);
}

// ---- count_tokens (docs/providers.md, "Anthropic count_tokens") ----

#[test]
fn count_tokens_carries_system_tools_choice_and_thinking() {
    let req = CompletionRequest::prompt("claude", "hi")
        .system_cached("sys", CacheControl::ephemeral())
        .tool(weather())
        .tool_choice(ToolChoice::Auto)
        .thinking(2048)
        .temperature(1.0)
        .top_k(5)
        .max_tokens(4096);
    let r = encode_count_tokens("claude-sonnet-4-5", &req, None).unwrap();
    let got: Value = serde_json::from_slice(&r.body).unwrap();
    let want = expected(
        r#"{
          "model": "claude-sonnet-4-5",
          "system": [{"type": "text", "text": "sys", "cache_control": {"type": "ephemeral"}}],
          "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
          "tools": [{"name": "get_weather", "description": "Current weather in a city",
                     "input_schema": {"type": "object",
                                      "properties": {"city": {"type": "string"}},
                                      "required": ["city"]}}],
          "tool_choice": {"type": "auto"},
          "thinking": {"type": "enabled", "budget_tokens": 2048}
        }"#,
    );
    assert_eq!(got, want);
}
