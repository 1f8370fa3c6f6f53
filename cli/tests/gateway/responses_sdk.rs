//! The official OpenAI Python SDK's `client.responses.create` against `quotaswarm sim`
//! (a process, over HTTP): plain, streamed, a function tool and its output, a
//! `text.format` JSON schema, a reasoning model's items replayed, and a 429 the SDK
//! raises as `RateLimitError` with the `x-ratelimit-*` headers.

use crate::common;
use crate::gateway;

const SIM: &str = "\
replace_defaults = false\n\
[sim]\nlatency_ms = 5\nper_token_ms = 0\ntool_calls = true\n\
[models.o4]\nprovider = \"openai\"\nmodel = \"o4-mini\"\nrpm = 500\ntpm = 200000\n\
[models.gpt-4o-mini]\nprovider = \"openai\"\nrpm = 500\ntpm = 200000\n\
[models.tiny]\nprovider = \"openai\"\nmodel = \"gpt-4.1-nano\"\nrpm = 500\ntpm = 600\n";

#[test]
fn the_official_openai_sdk_calls_the_responses_api_of_the_simulator() {
    let Some(python) = gateway::python() else {
        return;
    };
    let dir = gateway::dir("responses-sdk");
    let config = dir.join("sim.toml");
    std::fs::write(&config, SIM).expect("write");
    let (_sim, url) = common::start_sim(&config);
    let args = [url.as_str(), "gpt-4o-mini", "o4-mini", "gpt-4.1-nano"];
    let out = gateway::run_script(&python, "sdk_responses.py", &args);
    let seen: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("the script prints one JSON object");
    println!("{seen:#}");

    let plain = &seen["plain"];
    assert_eq!(plain["model"], "gpt-4o-mini", "{seen}");
    assert!(!plain["text"].as_str().unwrap_or("").is_empty(), "{seen}");
    assert!(plain["usage"]["input"].as_u64() > Some(0), "{seen}");

    let stream = &seen["stream"];
    assert_eq!(stream["first"], "response.created", "{seen}");
    assert!(
        ["response.completed", "response.incomplete"]
            .contains(&stream["last"].as_str().unwrap_or("")),
        "{seen}"
    );
    assert_eq!(stream["text"], stream["final_text"], "{seen}");
    assert!(stream["usage"]["output"].as_u64() > Some(0), "{seen}");

    let tool = &seen["tool"];
    assert_eq!(tool["name"], "get_weather", "{seen}");
    assert!(tool["arguments"]["city"].is_string(), "{seen}");
    assert!(
        !tool["after_text"].as_str().unwrap_or("").is_empty(),
        "{seen}"
    );

    assert!(seen["structured"]["name"].is_string(), "{seen}");
    assert!(seen["structured"]["age"].is_i64(), "{seen}");

    let reasoning = &seen["reasoning"];
    assert_eq!(reasoning["items"], 1, "{seen}");
    assert_eq!(reasoning["encrypted"], true, "{seen}");
    assert!(reasoning["usage"]["reasoning"].as_u64() > Some(0), "{seen}");
    assert_eq!(reasoning["replayed_status"], "completed", "{seen}");

    let limited = &seen["rate_limited"];
    assert_eq!(limited["status"], 429, "{seen}");
    assert_eq!(limited["code"], "rate_limit_exceeded", "{seen}");
    assert_eq!(limited["limit_tokens"], "600", "{seen}");
}
