//! The official Python SDKs (`anthropic`, `openai`) pointed at `quotaswarm serve` in
//! front of `quotaswarm sim`: plain, streamed, tool-calling and count-tokens calls on
//! both wires parse and name the answering model; the OpenAI SDK reaches an Anthropic
//! model through `/v1/chat/completions`, the Anthropic SDK an OpenAI model through
//! `/v1/messages`, streamed (translation both ways).

use crate::gateway;

const MODELS: &str = "\
[models.sonnet]\nprovider = \"anthropic\"\nmodel = \"claude-sonnet-4-6\"\nrpm = 600\nitpm = 600000\notpm = 120000\ninput_price = 3.0\noutput_price = 15.0\n\
[models.mini]\nprovider = \"openai\"\nmodel = \"gpt-4o-mini\"\nrpm = 600\ntpm = 600000\ninput_price = 0.15\noutput_price = 0.6\n\
[ladders]\nclaude = [\"sonnet\"]\n";

const SIM: &str = "[sim]\nlatency_ms = 5\nper_token_ms = 0\ntool_calls = true\n";

#[test]
fn the_official_sdks_call_both_wires_through_the_gateway() {
    let Some(python) = gateway::python() else {
        return;
    };
    let dir = gateway::dir("sdk");
    // The simulator serves the models the gateway's config names.
    let (_sim, sim_url) =
        gateway::start_sim_in(&dir, &format!("replace_defaults = false\n{SIM}{MODELS}"));
    let (_serve, url) =
        gateway::start_gateway_in(&dir, &sim_url, MODELS, std::process::Stdio::inherit());

    // By config model name, and by the provider model name the config maps.
    for (claude, gpt) in [("sonnet", "mini"), ("claude-sonnet-4-6", "gpt-4o-mini")] {
        let out = gateway::run_script(&python, "sdk_calls.py", &[&url, claude, gpt]);
        let seen: serde_json::Value =
            serde_json::from_slice(&out.stdout).expect("the script prints one JSON object");
        println!("{seen}");
        for key in [
            "anthropic_plain",
            "anthropic_stream",
            "anthropic_tool",
            "openai_to_anthropic_plain",
            "openai_to_anthropic_stream",
            "openai_to_anthropic_tool",
        ] {
            assert_eq!(seen[key], "claude-sonnet-4-6", "{key}: {seen}");
        }
        for key in [
            "openai_plain",
            "openai_stream",
            "openai_tool",
            "anthropic_to_openai_stream",
        ] {
            assert_eq!(seen[key], "gpt-4o-mini", "{key}: {seen}");
        }
        assert!(
            seen["anthropic_count_tokens"].as_u64().unwrap_or(0) > 0,
            "{seen}"
        );
        assert_eq!(seen["openai_stream_tool"], "get_weather", "{seen}");
        assert_eq!(
            seen["openai_to_anthropic_stream_tool"], "get_weather",
            "{seen}"
        );
        assert_eq!(
            seen["anthropic_to_openai_stream_tool"], "get_weather",
            "{seen}"
        );
    }
}
