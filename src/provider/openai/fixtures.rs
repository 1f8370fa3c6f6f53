//! Request and response fixtures for what agents need on the OpenAI wire: tool control,
//! tool results (error and several blocks), structured output, reasoning models and
//! cached / reasoning usage. Each request is built with the public API, encoded, and
//! compared as JSON values (key order normalised) with the body the official API
//! reference shows.

use super::*;
use crate::provider::stream::test_support::{expected, now, ok, png_image};
use crate::types::{CacheControl, OutputSchema, ReasoningEffort};
use serde_json::json;

fn body(model: &str, req: &CompletionRequest) -> Value {
    serde_json::from_slice(&OpenAi.encode(model, req, None).unwrap().body).unwrap()
}

fn weather() -> Tool {
    Tool::new(
        "get_weather",
        json!({"type": "object",
               "properties": {"city": {"type": "string"}},
               "required": ["city"], "additionalProperties": false}),
    )
    .description("Current weather in a city")
    .strict(true)
}

#[test]
fn tools_named_choice_no_parallel_calls_strict_and_tool_results() {
    let req = CompletionRequest::new("gpt")
        .system("You are terse.")
        .user("Weather in Paris and Rome?")
        .message(Message {
            role: Role::Assistant,
            content: vec![
                ContentBlock::tool_use("call_1", "get_weather", json!({"city": "Paris"})),
                ContentBlock::tool_use("call_2", "get_weather", json!({"city": "Rome"})),
            ],
        })
        .message(Message {
            role: Role::User,
            content: vec![
                ContentBlock::ToolResult {
                    tool_use_id: "call_1".into(),
                    content: vec![
                        ContentBlock::text("18C"),
                        png_image(),
                        ContentBlock::text("sunny"),
                    ],
                    is_error: false,
                    cache_control: Some(CacheControl::ephemeral()),
                },
                ContentBlock::tool_error("call_2", "station offline"),
            ],
        })
        .tool(weather())
        .tool_choice(ToolChoice::Tool("get_weather".into()))
        .parallel_tool_calls(false)
        .top_k(40)
        .max_tokens(300);
    let want = expected(
        r#"{
          "model": "gpt-4o", "max_completion_tokens": 300,
          "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Weather in Paris and Rome?"},
            {"role": "assistant", "content": null, "tool_calls": [
              {"id": "call_1", "type": "function",
               "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
              {"id": "call_2", "type": "function",
               "function": {"name": "get_weather", "arguments": "{\"city\":\"Rome\"}"}}
            ]},
            {"role": "tool", "tool_call_id": "call_1",
             "content": [{"type": "text", "text": "18C"}, {"type": "text", "text": "sunny"}]},
            {"role": "tool", "tool_call_id": "call_2", "content": "Error: station offline"}
          ],
          "tools": [{"type": "function", "function": {
            "name": "get_weather", "description": "Current weather in a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                           "required": ["city"], "additionalProperties": false},
            "strict": true}}],
          "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
          "parallel_tool_calls": false,
          "prompt_cache_key": "qs-ae738a30d95b561843926fdbc74c4811"
        }"#,
    );
    assert_eq!(body("gpt-4o", &req), want);
}

#[test]
fn tool_choice_modes() {
    let base = CompletionRequest::prompt("gpt", "hi").tool(weather());
    for (choice, wire) in [
        (ToolChoice::Auto, json!("auto")),
        (ToolChoice::Any, json!("required")),
        (ToolChoice::None, json!("none")),
    ] {
        let b = body("gpt-4o", &base.clone().tool_choice(choice));
        assert_eq!(b["tool_choice"], wire);
        assert!(b.get("parallel_tool_calls").is_none());
    }
    // Without tools the API refuses `parallel_tool_calls`: it is not sent.
    let b = body(
        "gpt-4o",
        &CompletionRequest::prompt("gpt", "hi").parallel_tool_calls(true),
    );
    assert!(b.get("parallel_tool_calls").is_none());
}

#[test]
fn an_error_result_without_text_still_says_error() {
    let req = CompletionRequest::prompt("gpt", "go").message(Message {
        role: Role::User,
        content: vec![ContentBlock::ToolResult {
            tool_use_id: "call_9".into(),
            content: vec![],
            is_error: true,
            cache_control: None,
        }],
    });
    assert_eq!(
        body("gpt-4o", &req)["messages"][1],
        json!({"role": "tool", "tool_call_id": "call_9", "content": "Error:"})
    );
}

#[test]
fn structured_output_is_a_json_schema_response_format() {
    let schema = json!({
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
        "required": ["name", "age"], "additionalProperties": false
    });
    let req = CompletionRequest::prompt("gpt", "Extract the person: Ada, 36.")
        .response_format(OutputSchema::new("person", schema))
        .max_tokens(100);
    let want = expected(
        r#"{
          "model": "gpt-4o-mini", "max_completion_tokens": 100,
          "messages": [{"role": "user", "content": "Extract the person: Ada, 36."}],
          "response_format": {"type": "json_schema", "json_schema": {
            "name": "person", "strict": true,
            "schema": {"type": "object",
                       "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
                       "required": ["name", "age"], "additionalProperties": false}}}
        }"#,
    );
    assert_eq!(body("gpt-4o-mini", &req), want);
}

#[test]
fn reasoning_models_get_developer_role_completion_cap_and_effort_without_thinking() {
    let req = CompletionRequest::new("o")
        .system("Answer in French.")
        .user("Why is the sky blue?")
        .message(Message {
            role: Role::Assistant,
            content: vec![
                ContentBlock::Thinking {
                    thinking: "Rayleigh".into(),
                    signature: "sig".into(),
                },
                ContentBlock::RedactedThinking { data: "xx".into() },
                ContentBlock::text("La diffusion Rayleigh."),
            ],
        })
        .user("Plus court.")
        .reasoning_effort(ReasoningEffort::Low)
        .thinking(2048)
        .max_tokens(4000);
    let want = expected(
        r#"{
          "model": "o3-mini", "max_completion_tokens": 4000, "reasoning_effort": "low",
          "prompt_cache_key": "qs-bdd24e9bce515874317359d9e4515f1c",
          "messages": [
            {"role": "developer", "content": "Answer in French."},
            {"role": "user", "content": "Why is the sky blue?"},
            {"role": "assistant", "content": "La diffusion Rayleigh."},
            {"role": "user", "content": "Plus court."}
          ]
        }"#,
    );
    assert_eq!(body("o3-mini", &req), want);
    // gpt-5 is a reasoning model too; gpt-4o takes no effort and keeps `system`.
    assert_eq!(body("gpt-5-mini", &req)["messages"][0]["role"], "developer");
    let b = body("gpt-4o", &req);
    assert_eq!(b["messages"][0]["role"], "system");
    assert!(b.get("reasoning_effort").is_none());
}

#[test]
fn legacy_models_get_max_tokens() {
    let req = CompletionRequest::prompt("old", "hi").max_tokens(32);
    for model in ["gpt-4", "gpt-4-turbo", "gpt-3.5-turbo"] {
        let b = body(model, &req);
        assert_eq!(b["max_tokens"], 32, "{model}");
        assert!(b.get("max_completion_tokens").is_none(), "{model}");
    }
    for model in ["gpt-4o", "gpt-4.1-mini", "o4-mini"] {
        let b = body(model, &req);
        assert_eq!(b["max_completion_tokens"], 32, "{model}");
        assert!(b.get("max_tokens").is_none(), "{model}");
    }
}

#[test]
fn decodes_cached_and_reasoning_usage() {
    // A reasoning model's reply (API reference shape): reasoning tokens are part of
    // completion_tokens; cached tokens are the cached subset of prompt_tokens.
    let body = r#"{
      "id": "chatcmpl-r1", "object": "chat.completion", "created": 1767225600,
      "model": "o3-mini-2025-01-31",
      "choices": [{"index": 0, "finish_reason": "stop",
                   "message": {"role": "assistant", "content": "{\"name\":\"Ada\",\"age\":36}",
                               "refusal": null, "annotations": []}}],
      "usage": {"prompt_tokens": 2006, "completion_tokens": 300, "total_tokens": 2306,
                "prompt_tokens_details": {"cached_tokens": 1920, "audio_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": 256, "audio_tokens": 0,
                  "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}}
    }"#;
    let c = OpenAi.decode(ok(body), now()).unwrap().completion;
    assert_eq!(c.text(), r#"{"name":"Ada","age":36}"#);
    assert_eq!(c.stop_reason, StopReason::EndTurn);
    assert_eq!(
        c.usage,
        Usage {
            input_tokens: 86,
            output_tokens: 300,
            cache_creation_input_tokens: 0,
            cache_read_input_tokens: 1920,
            cache_creation_1h_input_tokens: 0,
            reasoning_tokens: 256,
            ..Default::default()
        }
    );
}

#[test]
fn absurd_usage_counts_are_clamped_in_whole_responses_too() {
    let body = format!(
        r#"{{"id": "c", "model": "gpt-4o", "choices": [{{"finish_reason": "stop",
             "message": {{"role": "assistant", "content": "x"}}}}],
             "usage": {{"prompt_tokens": {max}, "completion_tokens": {max},
                        "prompt_tokens_details": {{"cached_tokens": 5}}}}}}"#,
        max = u64::MAX
    );
    let u = OpenAi.decode(ok(&body), now()).unwrap().completion.usage;
    assert_eq!(u.output_tokens, Usage::MAX_REPORTED);
    assert_eq!(u.input_tokens, Usage::MAX_REPORTED - 5);
    assert_eq!(u.cache_read_input_tokens, 5);
}

// ---- documents, server tools, kept blocks, prompt_cache_key ----

#[test]
fn documents_become_file_or_text_parts_and_images_by_url_image_url_parts() {
    let req = CompletionRequest::new("gpt").message(Message {
        role: Role::User,
        content: vec![
            ContentBlock::pdf_base64("JVBERi0x").titled("report.pdf"),
            ContentBlock::text_document("Grass is green."),
            ContentBlock::image_url("https://example.com/cat.png"),
            ContentBlock::text("Summarise."),
        ],
    });
    assert_eq!(
        body("gpt-4o", &req)["messages"][0]["content"],
        json!([
            {"type": "file",
             "file": {"filename": "report.pdf", "file_data": "data:application/pdf;base64,JVBERi0x"}},
            {"type": "text", "text": "Grass is green."},
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
            {"type": "text", "text": "Summarise."}
        ])
    );
}

#[test]
fn what_chat_cannot_carry_is_refused_before_sending() {
    let by_url = CompletionRequest::new("gpt").message(Message {
        role: Role::User,
        content: vec![ContentBlock::pdf_url("https://example.com/a.pdf")],
    });
    let search = CompletionRequest::prompt("gpt", "news?")
        .tool(Tool::server("web_search_20250305", "web_search"));
    for req in [by_url, search] {
        let e = OpenAi.encode("gpt-4o", &req, None).unwrap_err();
        assert!(matches!(e, ProviderError::BadRequest { .. }), "{e:?}");
        assert!(e.to_string().contains("not sent"), "{e}");
    }
}

#[test]
fn anthropic_blocks_kept_whole_are_left_out_and_citations_not_sent() {
    let kept: ContentBlock = serde_json::from_value(
        json!({"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {}}),
    )
    .unwrap();
    let cited = ContentBlock::Text {
        text: "Grass is green.".into(),
        cache_control: None,
        citations: Some(vec![
            json!({"type": "char_location", "cited_text": "Grass"}),
        ]),
    };
    let req = CompletionRequest::prompt("gpt", "Colour?")
        .message(Message {
            role: Role::Assistant,
            content: vec![kept, cited],
        })
        .user("Thanks.");
    assert_eq!(
        body("gpt-4o", &req)["messages"][1],
        json!({"role": "assistant", "content": "Grass is green."})
    );
}

#[test]
fn requests_sharing_a_prefix_share_a_prompt_cache_key() {
    let key = |req: &CompletionRequest| body("gpt-4o", req)["prompt_cache_key"].clone();
    let a = CompletionRequest::prompt("gpt", "one")
        .system("You are terse.")
        .tool(weather());
    let b = CompletionRequest::prompt("gpt", "two, a different question")
        .system("You are terse.")
        .tool(weather());
    let other_system = CompletionRequest::prompt("gpt", "one")
        .system("You are verbose.")
        .tool(weather());
    let other_tools = CompletionRequest::prompt("gpt", "one").system("You are terse.");
    let k = key(&a);
    assert!(
        k.as_str().unwrap().starts_with("qs-") && k.as_str().unwrap().len() == 35,
        "{k}"
    );
    assert_eq!(key(&b), k);
    assert_ne!(key(&other_system), k);
    assert_ne!(key(&other_tools), k);
    assert_ne!(key(&other_system), key(&other_tools));
    // No shared prefix to speak of: no key.
    assert!(body("gpt-4o", &CompletionRequest::prompt("gpt", "hi"))
        .get("prompt_cache_key")
        .is_none());
}

#[test]
fn cache_writes_are_decoded_apart_from_input() {
    // A model that bills cache writes reports them beside the reads.
    let body = r#"{
      "id": "chatcmpl-w1", "model": "gpt-5.6",
      "choices": [{"index": 0, "finish_reason": "stop",
                   "message": {"role": "assistant", "content": "ok"}}],
      "usage": {"prompt_tokens": 5000, "completion_tokens": 40,
                "prompt_tokens_details": {"cached_tokens": 1000, "cache_write_tokens": 3500},
                "completion_tokens_details": {"reasoning_tokens": 32}}
    }"#;
    let u = OpenAi.decode(ok(body), now()).unwrap().completion.usage;
    assert_eq!(
        (
            u.input_tokens,
            u.cache_read_input_tokens,
            u.cache_creation_input_tokens
        ),
        (500, 1000, 3500)
    );
    assert_eq!((u.output_tokens, u.reasoning_tokens), (40, 32));
    assert_eq!(u.total_input(), 5000);
}

#[test]
fn a_providers_max_tokens_field_names_the_cap_field_whatever_the_family() {
    let config = crate::config::Config::from_toml_str_over_defaults(
        "[providers.local]\nkind = \"openai\"\nbase_url = \"http://localhost:11434\"\n\
         auth = \"none\"\nmax_tokens_field = \"max_tokens\"\n\
         [providers.strict]\nkind = \"openai\"\nmax_tokens_field = \"max_completion_tokens\"\n",
        "test",
    )
    .expect("valid");
    let encoded = |provider: &str, model: &str| {
        let p = &config.providers[provider];
        let routed = route::Routed::wrap(for_wire(p.wire), route::Route::of(p));
        let req = CompletionRequest::prompt("m", "hi").max_tokens(32);
        let body = routed.encode(model, &req, None).expect("encodes").body;
        serde_json::from_slice::<Value>(&body).expect("JSON")
    };
    for (provider, model, field, other) in [
        (
            "local",
            "llama3.1:8b",
            "max_tokens",
            "max_completion_tokens",
        ),
        ("local", "o4-mini", "max_tokens", "max_completion_tokens"),
        ("strict", "gpt-4", "max_completion_tokens", "max_tokens"),
    ] {
        let b = encoded(provider, model);
        assert_eq!(b[field], 32, "{provider} {model}: {b}");
        assert!(b.get(other).is_none(), "{provider} {model}: {b}");
    }
}
