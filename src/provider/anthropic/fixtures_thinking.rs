//! Request fixtures for thinking as the current models take it: adaptive thinking with
//! an effort (`output_config.effort`), and native structured output
//! (`output_config.format`) on the models that have it (`docs/providers.md`, "Anthropic
//! thinking and effort").

use super::fixtures::{body_on, person, weather};
use super::*;
use crate::provider::stream::test_support::expected;
use crate::types::{ReasoningEffort, ToolChoice};
use serde_json::json;

#[test]
fn adaptive_thinking_with_an_effort_is_sent_as_the_docs_show() {
    let req = CompletionRequest::prompt("claude", "Plan the migration.")
        .tool(weather())
        .tool_choice(ToolChoice::Auto)
        .adaptive_thinking()
        .reasoning_effort(ReasoningEffort::XHigh)
        .max_tokens(16000);
    let want = expected(
        r#"{
          "model": "claude-opus-4-7", "max_tokens": 16000,
          "messages": [{"role": "user", "content": [
            {"type": "text", "text": "Plan the migration."}]}],
          "tools": [{"name": "get_weather", "description": "Current weather in a city",
                     "input_schema": {"type": "object",
                                      "properties": {"city": {"type": "string"}},
                                      "required": ["city"]}}],
          "tool_choice": {"type": "auto"},
          "thinking": {"type": "adaptive"},
          "output_config": {"effort": "xhigh"}
        }"#,
    );
    assert_eq!(body_on("claude-opus-4-7", &req), want);
    // Budget thinking keeps its shape; no output_config without effort or format.
    let budget = CompletionRequest::prompt("claude", "hi")
        .thinking(2048)
        .max_tokens(4096);
    let b = body_on("claude-sonnet-4-5", &budget);
    assert_eq!(
        b["thinking"],
        json!({"type": "enabled", "budget_tokens": 2048})
    );
    assert!(b.get("output_config").is_none(), "{b}");
}

#[test]
fn structured_output_is_native_where_the_model_has_it() {
    let req = CompletionRequest::prompt("claude", "Extract the person: Ada, 36.")
        .tool(weather())
        .response_format(person())
        .reasoning_effort(ReasoningEffort::Low)
        .max_tokens(200);
    let want = expected(
        r#"{
          "model": "claude-opus-5-5", "max_tokens": 200,
          "messages": [{"role": "user", "content": [
            {"type": "text", "text": "Extract the person: Ada, 36."}]}],
          "tools": [{"name": "get_weather", "description": "Current weather in a city",
                     "input_schema": {"type": "object",
                                      "properties": {"city": {"type": "string"}},
                                      "required": ["city"]}}],
          "output_config": {
            "effort": "low",
            "format": {"type": "json_schema",
                       "schema": {"type": "object",
                                  "properties": {"name": {"type": "string"},
                                                 "age": {"type": "integer"}},
                                  "required": ["name", "age"]}}}
        }"#,
    );
    assert_eq!(body_on("claude-opus-5-5", &req), want);
    // With thinking on it stays native: nothing is forced.
    let thinking = body_on("claude-sonnet-4-6", &req.clone().adaptive_thinking());
    assert!(thinking.get("tool_choice").is_none(), "{thinking}");
    assert_eq!(thinking["output_config"]["format"]["type"], "json_schema");
    // Before 4.5 it is the forced tool, and no output_config.
    let legacy = body_on("claude-3-7-sonnet-20250219", &req.clone().max_tokens(200));
    assert_eq!(
        legacy["tool_choice"],
        json!({"type": "tool", "name": "person"})
    );
    assert_eq!(legacy["output_config"], json!({"effort": "low"}));
}

#[test]
fn count_tokens_carries_adaptive_thinking_and_the_output_config() {
    let req = CompletionRequest::prompt("claude", "hi")
        .adaptive_thinking()
        .reasoning_effort(ReasoningEffort::Max)
        .response_format(person());
    let r = encode_count_tokens("claude-sonnet-4-6", &req, None).unwrap();
    let got: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(got["thinking"], json!({"type": "adaptive"}));
    assert_eq!(got["output_config"]["effort"], "max");
    assert_eq!(got["output_config"]["format"]["type"], "json_schema");
    assert!(
        got.get("tools").is_none() && got.get("max_tokens").is_none(),
        "{got}"
    );
}
