//! The simulator behaving like the real services (issue 12, item 8), in-process and in
//! paused time: tool calls, structured output, prompt caching, thinking, strict
//! validation, and quota realism.

use super::tests::*;
use super::*;
use quotaswarm::config::Limits;
use serde_json::{json, Value};

pub(super) fn weather_tool() -> Value {
    json!({"name": "get_weather", "description": "Weather for a city",
           "input_schema": {"type": "object",
                            "properties": {"city": {"type": "string"},
                                           "days": {"type": "integer", "minimum": 1, "maximum": 7},
                                           "units": {"enum": ["c", "f"]}},
                            "required": ["city", "days"]}})
}

pub(super) fn fits_weather(input: &Value) -> bool {
    input["city"].is_string()
        && input["days"].as_i64().is_some_and(|d| (1..=7).contains(&d))
        && ["c", "f"].contains(&input["units"].as_str().unwrap_or(""))
}

pub(super) fn with_tools(choice: Value, question: &str) -> Value {
    json!({"model": SONNET, "max_tokens": 300, "tools": [weather_tool()], "tool_choice": choice,
           "messages": [{"role": "user", "content": question}]})
}

pub(super) fn tool_use(b: &Value) -> Option<Value> {
    b["content"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == "tool_use")
        .cloned()
}

mod caching;
mod quota;
mod reasoning;
mod strict;
mod thinking;
mod tools;
