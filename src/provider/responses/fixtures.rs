//! Request and response fixtures of the Responses wire: input items (messages, function
//! calls and their outputs, reasoning items replayed), instructions, tools, structured
//! output, reasoning models; and answers with reasoning, calls, refusals, truncation and
//! cached / reasoning usage. Each request is built with the public API, encoded, and
//! compared as JSON with the body the API reference describes.

use super::*;
use crate::provider::stream::test_support::{
    body_json, expected, in_cached_out, now, ok, png_image, reasoning,
};
use crate::types::{OutputSchema, ReasoningEffort, ToolChoice};
use serde_json::{json, Value};

fn body(model: &str, req: &CompletionRequest) -> Value {
    body_json(&Responses.encode(model, req, None).unwrap())
}

fn decoded(text: &str) -> Completion {
    Responses.decode(ok(text), now()).unwrap().completion
}

fn weather() -> Tool {
    Tool::new(
        "get_weather",
        json!({"type": "object", "properties": {"city": {"type": "string"}},
               "required": ["city"], "additionalProperties": false}),
    )
    .description("Current weather in a city")
}

/// A reasoning model's tool loop, one turn in: reasoning, a call, its result.
fn tool_loop() -> CompletionRequest {
    CompletionRequest::new("o4")
        .system("You are terse.")
        .user("Weather in Paris?")
        .message(Message {
            role: Role::Assistant,
            content: vec![
                reasoning("rs_1", "Need the weather.", "gAAAA=="),
                ContentBlock::text("Checking."),
                ContentBlock::tool_use("call_1", "get_weather", json!({"city": "Paris"})),
            ],
        })
        .message(Message {
            role: Role::User,
            content: vec![
                ContentBlock::tool_result("call_1", "18C"),
                ContentBlock::tool_error("call_2", "station offline"),
            ],
        })
        .tool(weather())
        .tool_choice(ToolChoice::Tool("get_weather".into()))
        .parallel_tool_calls(false)
        .reasoning_effort(ReasoningEffort::Low)
        .max_tokens(2000)
}

#[test]
fn a_reasoning_tool_loop_replays_its_reasoning_calls_and_outputs_as_items() {
    let want = expected(
        r#"{
          "model": "o4-mini", "instructions": "You are terse.", "max_output_tokens": 2000,
          "input": [
            {"type": "message", "role": "user",
             "content": [{"type": "input_text", "text": "Weather in Paris?"}]},
            {"type": "reasoning", "id": "rs_1",
             "summary": [{"type": "summary_text", "text": "Need the weather."}],
             "encrypted_content": "gAAAA=="},
            {"type": "message", "role": "assistant",
             "content": [{"type": "output_text", "text": "Checking."}]},
            {"type": "function_call", "call_id": "call_1", "name": "get_weather",
             "arguments": "{\"city\":\"Paris\"}"},
            {"type": "function_call_output", "call_id": "call_1", "output": "18C"},
            {"type": "function_call_output", "call_id": "call_2",
             "output": "Error: station offline"}
          ],
          "tools": [{"type": "function", "name": "get_weather",
                     "description": "Current weather in a city",
                     "parameters": {"type": "object",
                                    "properties": {"city": {"type": "string"}},
                                    "required": ["city"], "additionalProperties": false},
                     "strict": false}],
          "tool_choice": {"type": "function", "name": "get_weather"},
          "parallel_tool_calls": false,
          "reasoning": {"effort": "low"},
          "include": ["reasoning.encrypted_content"],
          "store": false
        }"#,
    );
    assert_eq!(body("o4-mini", &tool_loop()), want);
}

#[test]
fn a_chat_model_gets_no_reasoning_fields_and_structured_output_is_text_format() {
    let req = CompletionRequest::prompt("mini", "Two primes?")
        .response_format(OutputSchema::new(
            "primes",
            json!({"type": "object", "properties": {"p": {"type": "array"}}}),
        ))
        .reasoning_effort(ReasoningEffort::High)
        .temperature(0.2)
        .top_k(5)
        .stop("\n")
        .max_tokens(50);
    let want = expected(
        r#"{
          "model": "gpt-4.1-mini", "max_output_tokens": 50, "temperature": 0.2,
          "input": [{"type": "message", "role": "user",
                     "content": [{"type": "input_text", "text": "Two primes?"}]}],
          "text": {"format": {"type": "json_schema", "name": "primes", "strict": true,
                              "schema": {"type": "object",
                                         "properties": {"p": {"type": "array"}}}}},
          "store": false
        }"#,
    );
    assert_eq!(body("gpt-4.1-mini", &req), want);
    let streamed = Responses
        .encode_stream("gpt-4.1-mini", &req, Some(&ApiKey::new("sk-x")))
        .unwrap();
    assert_eq!(streamed.path, "/v1/responses");
    assert_eq!(streamed.headers["authorization"], "Bearer sk-x");
    assert!(streamed.headers["authorization"].is_sensitive());
    assert_eq!(body_json(&streamed)["stream"], true);
}

#[test]
fn images_become_input_images_and_anthropic_thinking_is_not_sent() {
    let req = CompletionRequest::new("mini")
        .message(Message {
            role: Role::User,
            content: vec![ContentBlock::text("What is this?"), png_image()],
        })
        .message(Message {
            role: Role::Assistant,
            content: vec![ContentBlock::Thinking {
                thinking: "hm".into(),
                signature: "sig".into(),
            }],
        });
    let input = &body("gpt-4o", &req)["input"];
    assert_eq!(
        input[0]["content"][1],
        json!({"type": "input_image", "image_url": "data:image/png;base64,AAAA"})
    );
    assert_eq!(
        input[1],
        json!({"type": "message", "role": "assistant", "content": []})
    );
}

#[test]
fn decodes_reasoning_a_call_and_usage_with_cached_and_reasoning_tokens() {
    let c = decoded(
        r#"{"id": "resp_1", "object": "response", "status": "completed",
            "model": "o4-mini-2025-04-16",
            "output": [
              {"id": "rs_1", "type": "reasoning",
               "summary": [{"type": "summary_text", "text": "Think."}],
               "encrypted_content": "enc=="},
              {"id": "fc_1", "type": "function_call", "status": "completed",
               "call_id": "call_9", "name": "get_weather", "arguments": "{\"city\":\"Rome\"}"}
            ],
            "usage": {"input_tokens": 100, "input_tokens_details": {"cached_tokens": 40},
                      "output_tokens": 70, "output_tokens_details": {"reasoning_tokens": 64},
                      "total_tokens": 170}}"#,
    );
    assert_eq!(c.id, "resp_1");
    assert_eq!(c.provider_model, "o4-mini-2025-04-16");
    assert_eq!(
        c.content,
        vec![
            reasoning("rs_1", "Think.", "enc=="),
            ContentBlock::tool_use("call_9", "get_weather", json!({"city": "Rome"})),
        ]
    );
    assert_eq!(c.stop_reason, StopReason::ToolUse);
    assert_eq!(in_cached_out(&c.usage), (60, 40, 70));
    // The history replays the reasoning item unchanged.
    let next = CompletionRequest::prompt("o4", "go").message(c.to_message());
    assert_eq!(
        body("o4-mini", &next)["input"][1]["encrypted_content"],
        "enc=="
    );
}

#[test]
fn decodes_text_truncation_and_refusal() {
    let c = decoded(
        r#"{"id": "resp_2", "status": "incomplete", "model": "gpt-4.1",
            "incomplete_details": {"reason": "max_output_tokens"},
            "output": [{"id": "msg_1", "type": "message", "role": "assistant",
                        "content": [{"type": "output_text", "text": "Once upon",
                                     "annotations": []},
                                    {"type": "output_text", "text": " a time",
                                     "annotations": []}]}],
            "usage": {"input_tokens": 5, "output_tokens": 4}}"#,
    );
    assert_eq!(c.text(), "Once upon a time");
    assert_eq!(c.stop_reason, StopReason::MaxTokens);
    let c = decoded(
        r#"{"id": "resp_3", "status": "completed", "model": "gpt-4.1",
            "output": [{"id": "msg_2", "type": "message", "role": "assistant",
                        "content": [{"type": "refusal", "refusal": "I can't help."}]}]}"#,
    );
    assert_eq!(c.text(), "I can't help.");
    assert_eq!(c.stop_reason, StopReason::Refusal);
    let c = decoded(
        r#"{"id": "resp_4", "status": "completed", "model": "gpt-4.1",
            "output": [{"type": "web_search_call", "id": "ws_1", "status": "completed"},
                       {"id": "msg_3", "type": "message", "role": "assistant",
                        "content": [{"type": "output_text", "text": "Done."}]}]}"#,
    );
    assert_eq!(c.content, vec![ContentBlock::text("Done.")]);
    assert_eq!(c.stop_reason, StopReason::EndTurn);
}

#[test]
fn error_statuses_and_bodies_are_classified_like_chat_completions() {
    let body = r#"{"error": {"message": "Rate limit reached for gpt-4.1 in organization org-x on tokens per min (TPM): Limit 30000, Used 30000, Requested 500. Please try again in 1.2s.", "type": "tokens", "param": null, "code": "rate_limit_exceeded"}}"#;
    let response = HttpResponse {
        status: 429,
        headers: crate::provider::stream::test_support::headers(&[
            ("x-ratelimit-remaining-tokens", "0"),
            ("x-ratelimit-reset-tokens", "1.2s"),
        ]),
        body: body.to_string().into(),
    };
    let failure = Responses.decode(response, now()).unwrap_err();
    assert!(
        matches!(
            failure.error,
            ProviderError::RateLimited {
                retry_after: Some(_),
                ..
            }
        ),
        "{:?}",
        failure.error
    );
    let failed = Responses.decode(
        ok(r#"{"id": "resp_5", "status": "failed", "output": [],
               "error": {"code": "server_error", "message": "boom"}}"#),
        now(),
    );
    assert!(failed.is_err());
    assert!(Responses.decode(ok("not json"), now()).is_err());
}

/// A whole `response` object as the API returns it, with `status`, `error`,
/// `incomplete_details` and `output` given.
fn response_body(status: &str, error: Value, incomplete: Value, output: Value) -> String {
    json!({
        "id": "resp_6", "object": "response", "created_at": 1_755_780_000u64,
        "status": status, "error": error, "incomplete_details": incomplete,
        "model": "gpt-5-2025-08-07", "output": output,
        "parallel_tool_calls": true, "store": false, "text": {"format": {"type": "text"}},
        "tools": [], "usage": {"input_tokens": 12, "output_tokens": 200,
                              "output_tokens_details": {"reasoning_tokens": 180}}
    })
    .to_string()
}

#[test]
fn an_incomplete_response_is_a_completion_stopped_for_length_or_by_the_filter() {
    let cut_message = json!([
        {"id": "rs_1", "type": "reasoning", "summary": []},
        {"id": "msg_1", "type": "message", "status": "incomplete", "role": "assistant",
         "content": [{"type": "output_text", "text": "A cell is", "annotations": []}]}
    ]);
    for (reason, want) in [
        ("max_output_tokens", StopReason::MaxTokens),
        ("content_filter", StopReason::ContentFilter),
    ] {
        let body = response_body(
            "incomplete",
            Value::Null,
            json!({"reason": reason}),
            cut_message.clone(),
        );
        let c = decoded(&body);
        assert_eq!(c.stop_reason, want, "{reason}");
        assert_eq!(c.text(), "A cell is");
        assert_eq!(c.usage.output_tokens, 200);
    }
    // A reasoning model that spent the whole cap reasoning: no message at all.
    let body = response_body(
        "incomplete",
        Value::Null,
        json!({"reason": "max_output_tokens"}),
        json!([{"id": "rs_2", "type": "reasoning", "summary": []}]),
    );
    let c = decoded(&body);
    assert_eq!(c.stop_reason, StopReason::MaxTokens);
    assert_eq!(c.text(), "");
}

/// The error a `failed` response with `error.code = code` decodes to.
fn failed_with(code: Value) -> ProviderError {
    let body = response_body(
        "failed",
        json!({"code": code, "message": "The response failed."}),
        Value::Null,
        json!([]),
    );
    Responses.decode(ok(&body), now()).unwrap_err().error
}

#[test]
fn a_failed_response_is_a_provider_error_classified_by_its_code() {
    let e = failed_with(json!("server_error"));
    assert!(
        matches!(&e, ProviderError::Server { message, .. }
            if message.contains("server_error") && message.contains("The response failed.")),
        "{e:?}"
    );
    assert!(e.is_retryable());
    let e = failed_with(json!("rate_limit_exceeded"));
    assert!(matches!(e, ProviderError::RateLimited { .. }), "{e:?}");
    assert!(e.is_retryable());
    // The prompt or an image is at fault: sending it again cannot help.
    for code in [
        "invalid_prompt",
        "invalid_image_url",
        "image_too_large",
        "a_future_code",
    ] {
        let e = failed_with(json!(code));
        assert!(
            matches!(&e, ProviderError::BadRequest { message } if message.contains(code)),
            "{code}: {e:?}"
        );
        assert!(!e.is_retryable(), "{code}");
    }
    // No error object at all: nothing says the request was at fault.
    let body = response_body("failed", Value::Null, Value::Null, json!([]));
    let e = Responses.decode(ok(&body), now()).unwrap_err().error;
    assert!(matches!(e, ProviderError::Server { .. }), "{e:?}");
}
