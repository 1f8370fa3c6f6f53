//! The simulator behaving like the real services (issue 12, item 8), in-process and in
//! paused time: tool calls, structured output, prompt caching, thinking, strict
//! validation, and quota realism.

use super::tests::*;
use super::*;
use crate::config::Limits;
use serde_json::{json, Value};

fn weather_tool() -> Value {
    json!({"name": "get_weather", "description": "Weather for a city",
           "input_schema": {"type": "object",
                            "properties": {"city": {"type": "string"},
                                           "days": {"type": "integer", "minimum": 1, "maximum": 7},
                                           "units": {"enum": ["c", "f"]}},
                            "required": ["city", "days"]}})
}

fn fits_weather(input: &Value) -> bool {
    input["city"].is_string()
        && input["days"].as_i64().is_some_and(|d| (1..=7).contains(&d))
        && ["c", "f"].contains(&input["units"].as_str().unwrap_or(""))
}

fn with_tools(choice: Value, question: &str) -> Value {
    json!({"model": SONNET, "max_tokens": 300, "tools": [weather_tool()], "tool_choice": choice,
           "messages": [{"role": "user", "content": question}]})
}

fn tool_use(b: &Value) -> Option<Value> {
    b["content"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == "tool_use")
        .cloned()
}

mod tools {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_forced_anthropic_tool_choice_always_yields_a_tool_use_that_fits_its_schema() {
        let sim = sim_with(|_| {});
        for (i, choice) in [
            json!({"type": "any"}),
            json!({"type": "tool", "name": "get_weather"}),
        ]
        .into_iter()
        .cycle()
        .take(20)
        .enumerate()
        {
            let r = sim
                .handle(anthropic(&with_tools(choice, &format!("q{i}"))))
                .await;
            let b = body(&r);
            assert_eq!(b["stop_reason"], "tool_use", "{b}");
            assert_eq!(
                b["content"].as_array().unwrap().len(),
                1,
                "forced: no preface"
            );
            let call = tool_use(&b).unwrap();
            assert_eq!(call["name"], "get_weather");
            assert!(call["id"].as_str().unwrap().starts_with("toolu_"));
            assert!(fits_weather(&call["input"]), "{call}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn auto_calls_at_the_configured_rate_and_none_never() {
        let count = |rate: f64| async move {
            let sim = sim_with(|c| c.sim.tool_call_rate = rate);
            let mut calls = 0;
            for i in 0..40 {
                let b = body(
                    &sim.handle(anthropic(&with_tools(
                        json!({"type": "auto"}),
                        &format!("q{i}"),
                    )))
                    .await,
                );
                calls += usize::from(tool_use(&b).is_some());
            }
            calls
        };
        assert_eq!(count(0.0).await, 0);
        assert_eq!(count(1.0).await, 40);
        let half = count(0.5).await;
        assert!((10..=30).contains(&half), "{half}");
        let sim = sim_with(|c| c.sim.tool_call_rate = 1.0);
        let b = body(
            &sim.handle(anthropic(&with_tools(json!({"type": "none"}), "q")))
                .await,
        );
        assert!(tool_use(&b).is_none());
        let off = sim_with(|c| c.sim.tool_calls = false);
        let b = body(
            &off.handle(anthropic(&with_tools(json!({"type": "any"}), "q")))
                .await,
        );
        assert!(tool_use(&b).is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn an_auto_tool_loop_runs_tool_steps_calls_then_answers_with_text() {
        let sim = sim_with(|c| {
            c.sim.tool_call_rate = 1.0;
            c.sim.tool_steps = 3;
        });
        let mut req = with_tools(json!({"type": "auto"}), "Plan my week");
        let mut calls = 0;
        loop {
            let r = sim.handle(anthropic(&req)).await;
            assert_eq!(r.status, 200, "{}", body(&r));
            let b = body(&r);
            let Some(call) = tool_use(&b) else {
                assert_eq!(b["stop_reason"], "end_turn");
                break;
            };
            calls += 1;
            assert_eq!(b["content"][0]["type"], "text", "auto: a short preface");
            let msgs = req["messages"].as_array_mut().unwrap();
            msgs.push(json!({"role": "assistant", "content": b["content"]}));
            msgs.push(json!({"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": call["id"], "content": "sunny"}]}));
        }
        assert_eq!(calls, 3);
    }

    #[tokio::test(start_paused = true)]
    async fn openai_required_yields_tool_calls_with_json_string_arguments() {
        let sim = sim_with(|_| {});
        let tool = json!({"type": "function", "function": {
            "name": "get_weather", "parameters": weather_tool()["input_schema"]}});
        let req = json!({"model": GPT, "max_completion_tokens": 300, "tools": [tool],
                         "tool_choice": "required",
                         "messages": [{"role": "user", "content": "weather?"}]});
        let b = body(&sim.handle(openai(&req)).await);
        let choice = &b["choices"][0];
        assert_eq!(choice["finish_reason"], "tool_calls");
        assert_eq!(choice["message"]["content"], Value::Null);
        let call = &choice["message"]["tool_calls"][0];
        assert!(call["id"].as_str().unwrap().starts_with("call_"));
        assert_eq!(call["type"], "function");
        let args: Value =
            serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
        assert!(fits_weather(&args), "{args}");
        assert!(b["usage"]["completion_tokens"].as_u64().unwrap() > 0);
    }

    #[tokio::test(start_paused = true)]
    async fn streams_tool_calls_as_argument_deltas_on_both_wires() {
        let sim = sim_with(|_| {});
        let mut req = with_tools(json!({"type": "any"}), "weather?");
        req["stream"] = json!(true);
        let text = String::from_utf8(sim.handle(anthropic(&req)).await.body.to_vec()).unwrap();
        let mut json_text = String::new();
        for line in text.lines().filter_map(|l| l.strip_prefix("data: ")) {
            let ev: Value = serde_json::from_str(line).unwrap();
            if ev["delta"]["type"] == "input_json_delta" {
                json_text.push_str(ev["delta"]["partial_json"].as_str().unwrap());
            }
        }
        assert!(text.contains(r#""content_block":{"id":"toolu_"#), "{text}");
        assert!(text.contains(r#""stop_reason":"tool_use""#));
        let input: Value = serde_json::from_str(&json_text).unwrap();
        assert!(fits_weather(&input), "{input}");

        let tool = json!({"type": "function", "function": {
            "name": "get_weather", "parameters": weather_tool()["input_schema"]}});
        let req = json!({"model": GPT, "stream": true, "tools": [tool],
                         "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
                         "max_completion_tokens": 300,
                         "messages": [{"role": "user", "content": "weather?"}]});
        let text = String::from_utf8(sim.handle(openai(&req)).await.body.to_vec()).unwrap();
        let mut args = String::new();
        for line in text.lines().filter_map(|l| l.strip_prefix("data: ")) {
            let Ok(ev) = serde_json::from_str::<Value>(line) else {
                continue;
            };
            if let Some(a) =
                ev["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"].as_str()
            {
                args.push_str(a);
            }
        }
        assert!(text.contains(r#""finish_reason":"tool_calls""#));
        assert!(
            fits_weather(&serde_json::from_str(&args).unwrap()),
            "{args}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn openai_json_schema_replies_fit_and_a_violation_rate_breaks_them() {
        let schema = weather_tool()["input_schema"].clone();
        let req = json!({"model": GPT, "max_completion_tokens": 300,
                         "response_format": {"type": "json_schema", "json_schema": {
                             "name": "weather", "schema": schema, "strict": true}},
                         "messages": [{"role": "user", "content": "weather?"}]});
        let content = |b: Value| -> Value {
            serde_json::from_str(b["choices"][0]["message"]["content"].as_str().unwrap()).unwrap()
        };
        let sim = sim_with(|_| {});
        let b = body(&sim.handle(openai(&req)).await);
        assert_eq!(b["choices"][0]["finish_reason"], "stop");
        assert!(fits_weather(&content(b)));
        let bad = sim_with(|c| c.sim.schema_violation_rate = 1.0);
        let v = content(body(&bad.handle(openai(&req)).await));
        assert!(
            v.get("days").is_none(),
            "the last required field is left out: {v}"
        );
        // Anthropic: a forced tool (structured output) breaks the same way.
        let b = body(
            &bad.handle(anthropic(&with_tools(json!({"type": "any"}), "q")))
                .await,
        );
        assert!(tool_use(&b).unwrap()["input"].get("days").is_none());
    }
}

mod caching {
    use super::*;

    fn cached_system(ttl: Option<&str>, question: &str) -> Value {
        let mut cc = json!({"type": "ephemeral"});
        if let Some(t) = ttl {
            cc["ttl"] = json!(t);
        }
        json!({"model": SONNET, "max_tokens": 20,
               "system": [{"type": "text", "text": "Follow the rules. ".repeat(600), "cache_control": cc}],
               "messages": [{"role": "user", "content": question}]})
    }

    fn usage(r: &HttpResponse) -> (u64, u64, u64) {
        let u = &body(r)["usage"];
        (
            u["input_tokens"].as_u64().unwrap(),
            u["cache_creation_input_tokens"].as_u64().unwrap(),
            u["cache_read_input_tokens"].as_u64().unwrap(),
        )
    }

    fn itpm_used(sim: &Simulator, key: &str) -> f64 {
        let w = sim.windows(&KeyId::of(key), SONNET);
        let i = w
            .iter()
            .find(|w| w.dim == limiter::Dim::InputTokens)
            .unwrap();
        i.limit - i.level
    }

    #[tokio::test(start_paused = true)]
    async fn writes_a_breakpoint_prefix_then_reads_it_and_charges_itpm_without_the_read() {
        let sim = sim_with(|_| {});
        let first = sim.handle(anthropic(&cached_system(None, "q1"))).await;
        let (input, write, read) = usage(&first);
        assert!(
            write > 1024 && read == 0 && input < 30,
            "{input} {write} {read}"
        );
        assert_eq!(
            body(&first)["usage"]["cache_creation"]["ephemeral_5m_input_tokens"],
            write
        );
        let used_first = itpm_used(&sim, "sk-ant-test");
        assert_eq!(used_first, (input + write) as f64);
        let second = sim.handle(anthropic(&cached_system(None, "q2"))).await;
        let (input2, write2, read2) = usage(&second);
        assert_eq!((write2, read2), (0, write));
        // The read is free against ITPM: only the uncached input was charged.
        assert_eq!(itpm_used(&sim, "sk-ant-test") - used_first, input2 as f64);
        let stats = sim.stats();
        assert_eq!(stats.total.cache_read_tokens, write);
        assert_eq!(stats.total.cache_write_tokens, write);
        assert_eq!(stats.total.input_tokens, input + write + input2);
        // Another key has its own cache.
        let other = sim
            .handle(anthropic_as("other", &cached_system(None, "q2")))
            .await;
        assert_eq!(usage(&other).2, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn entries_are_readable_only_after_the_response_and_expire_with_their_ttl() {
        let sim = sim_with(|c| c.sim.latency = Duration::from_millis(200));
        let (a, b) = tokio::join!(
            sim.handle(anthropic(&cached_system(None, "a"))),
            sim.handle(anthropic(&cached_system(None, "b")))
        );
        assert!(
            usage(&a).1 > 0 && usage(&b).1 > 0,
            "parallel first requests both write"
        );
        tokio::time::advance(Duration::from_secs(299)).await;
        assert!(usage(&sim.handle(anthropic(&cached_system(None, "c"))).await).2 > 0);
        tokio::time::advance(Duration::from_secs(301)).await;
        let late = sim.handle(anthropic(&cached_system(None, "d"))).await;
        assert_eq!(
            usage(&late).2,
            0,
            "5 minutes after the last read it is gone"
        );
        // A 1-hour entry outlives that.
        let hour = sim_with(|_| {});
        let w = hour
            .handle(anthropic(&cached_system(Some("1h"), "a")))
            .await;
        assert!(
            body(&w)["usage"]["cache_creation"]["ephemeral_1h_input_tokens"]
                .as_u64()
                .unwrap()
                > 0
        );
        tokio::time::advance(Duration::from_secs(1800)).await;
        assert!(
            usage(
                &hour
                    .handle(anthropic(&cached_system(Some("1h"), "b")))
                    .await
            )
            .2 > 0
        );
    }

    #[tokio::test(start_paused = true)]
    async fn prefixes_below_the_model_minimum_are_not_cached_and_caching_can_be_off() {
        let sim = sim_with(|c| {
            c.sim.cache_min_tokens.insert(SONNET.into(), 100_000);
        });
        sim.handle(anthropic(&cached_system(None, "a"))).await;
        let r = sim.handle(anthropic(&cached_system(None, "b"))).await;
        assert_eq!(usage(&r).1 + usage(&r).2, 0);
        let off = sim_with(|c| c.sim.prompt_caching = false);
        off.handle(anthropic(&cached_system(None, "a"))).await;
        assert_eq!(
            usage(&off.handle(anthropic(&cached_system(None, "b"))).await).2,
            0
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_fifth_breakpoint_is_refused() {
        let sim = sim_with(|_| {});
        let block = json!({"type": "text", "text": "x", "cache_control": {"type": "ephemeral"}});
        let req = json!({"model": SONNET, "max_tokens": 5,
                         "system": [block, block, block],
                         "messages": [{"role": "user", "content": [block, block]}]});
        let r = sim.handle(anthropic(&req)).await;
        assert_eq!(r.status, 400);
        assert_eq!(
            anthropic_error(&r).1,
            "A maximum of 4 blocks with cache_control may be provided. Found 5."
        );
    }

    #[tokio::test(start_paused = true)]
    async fn openai_caches_long_prompts_automatically_and_still_charges_tpm() {
        let sim = sim_with(|_| {});
        let req = |q: &str| {
            json!({"model": GPT, "max_completion_tokens": 10, "messages": [
                {"role": "system", "content": "Follow the rules. ".repeat(600)},
                {"role": "user", "content": q}]})
        };
        let first = body(&sim.handle(openai(&req("a"))).await);
        assert_eq!(first["usage"]["prompt_tokens_details"]["cached_tokens"], 0);
        let r = sim.handle(openai(&req("b"))).await;
        let b = body(&r);
        let cached = b["usage"]["prompt_tokens_details"]["cached_tokens"]
            .as_u64()
            .unwrap();
        let prompt = b["usage"]["prompt_tokens"].as_u64().unwrap();
        assert!(
            cached >= 1024 && cached.is_multiple_of(128) && cached < prompt,
            "{cached}"
        );
        let used = |b: &Value| b["usage"]["total_tokens"].as_u64().unwrap();
        assert_eq!(
            header(&r, "x-ratelimit-remaining-tokens"),
            (30000 - used(&first) - used(&b)).to_string(),
            "cached tokens count toward TPM"
        );
    }
}

mod thinking {
    use super::*;

    fn thinking_loop(turns: Vec<Value>) -> Value {
        let mut messages = vec![json!({"role": "user", "content": "Plan my trip"})];
        messages.extend(turns);
        json!({"model": SONNET, "max_tokens": 3000,
               "thinking": {"type": "enabled", "budget_tokens": 2000},
               "tools": [weather_tool()], "tool_choice": {"type": "auto"},
               "messages": messages})
    }

    #[tokio::test(start_paused = true)]
    async fn three_tool_turns_replay_their_signed_thinking_and_an_edit_is_refused() {
        let sim = sim_with(|c| {
            c.sim.tool_call_rate = 1.0;
            c.sim.tool_steps = 3;
        });
        let mut turns = vec![];
        for step in 0..3 {
            let r = sim.handle(anthropic(&thinking_loop(turns.clone()))).await;
            assert_eq!(r.status, 200, "step {step}: {}", body(&r));
            let b = body(&r);
            assert_eq!(b["content"][0]["type"], "thinking");
            assert!(!b["content"][0]["signature"].as_str().unwrap().is_empty());
            let call = tool_use(&b).unwrap();
            turns.push(json!({"role": "assistant", "content": b["content"]}));
            turns.push(json!({"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": call["id"], "content": "ok"}]}));
        }
        let last = sim.handle(anthropic(&thinking_loop(turns.clone()))).await;
        assert_eq!(body(&last)["stop_reason"], "end_turn");

        let mut edited = turns.clone();
        edited[2]["content"][0]["thinking"] = json!("I changed my mind");
        let r = sim.handle(anthropic(&thinking_loop(edited))).await;
        assert_eq!(r.status, 400);
        assert_eq!(
            anthropic_error(&r).1,
            "messages.3.content.0: Invalid `signature` in `thinking` block"
        );
        let mut dropped = turns;
        let content = dropped[2]["content"].as_array_mut().unwrap();
        content.remove(0);
        let r = sim.handle(anthropic(&thinking_loop(dropped))).await;
        assert_eq!(r.status, 400);
        let message = anthropic_error(&r).1;
        assert!(message.starts_with("messages.3.content.0.type: Expected `thinking` or `redacted_thinking`, but found `text`."), "{message}");
    }

    #[tokio::test(start_paused = true)]
    async fn thinking_counts_in_output_tokens_and_streams_with_a_signature_delta() {
        let sim = sim_with(|_| {});
        let mut req = json!({"model": SONNET, "max_tokens": 2000,
                             "thinking": {"type": "enabled", "budget_tokens": 1024},
                             "messages": [{"role": "user", "content": "Think"}]});
        let b = body(&sim.handle(anthropic(&req)).await);
        let thought = b["content"][0]["thinking"]
            .as_str()
            .unwrap()
            .split_whitespace()
            .count();
        let said = b["content"][1]["text"]
            .as_str()
            .unwrap()
            .split_whitespace()
            .count();
        assert_eq!(
            b["usage"]["output_tokens"].as_u64(),
            Some((thought + said) as u64)
        );
        req["stream"] = json!(true);
        let text = String::from_utf8(sim.handle(anthropic(&req)).await.body.to_vec()).unwrap();
        assert!(text.contains(r#""type":"thinking_delta""#));
        let signature = b["content"][0]["signature"].as_str().unwrap();
        assert!(text.contains(&format!(
            r#""signature":"{signature}","type":"signature_delta""#
        )));
    }

    #[tokio::test(start_paused = true)]
    async fn refuses_bad_budgets_sampling_and_forced_tools_with_thinking() {
        let sim = sim_with(|_| {});
        let base = |extra: Value| {
            let mut b = json!({"model": SONNET, "max_tokens": 3000,
                               "thinking": {"type": "enabled", "budget_tokens": 2000},
                               "tools": [weather_tool()],
                               "messages": [{"role": "user", "content": "x"}]});
            for (k, v) in extra.as_object().unwrap() {
                b[k] = v.clone();
            }
            b
        };
        for (extra, expected) in [
            (
                json!({"thinking": {"type": "enabled", "budget_tokens": 500}}),
                "greater than or equal to 1024",
            ),
            (
                json!({"max_tokens": 2000}),
                "`max_tokens` must be greater than `thinking.budget_tokens`",
            ),
            (
                json!({"temperature": 0.5}),
                "`temperature` may only be set to 1",
            ),
            (json!({"top_k": 5}), "`top_k` must be unset"),
            (
                json!({"tool_choice": {"type": "any"}}),
                "Thinking may not be enabled when tool_choice forces tool use.",
            ),
        ] {
            let r = sim.handle(anthropic(&base(extra))).await;
            assert_eq!(r.status, 400, "{expected}");
            let (kind, message) = anthropic_error(&r);
            assert_eq!(kind, "invalid_request_error");
            assert!(message.contains(expected), "{message}");
        }
        let off = sim_with(|c| c.sim.thinking = false);
        let r = off
            .handle(anthropic(&base(json!({"temperature": 0.5}))))
            .await;
        assert_eq!(r.status, 200);
        assert_ne!(body(&r)["content"][0]["type"], "thinking");
    }
}

mod strict {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn refuses_what_the_real_anthropic_api_refuses() {
        let sim = sim_with(|_| {});
        let mut unknown = hello(5);
        unknown["frobnicate"] = json!(true);
        let mut both = hello(5);
        both["temperature"] = json!(0.5);
        both["top_p"] = json!(0.9);
        let dangling = json!({"model": SONNET, "max_tokens": 5, "messages": [
            {"role": "user", "content": "x"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_9", "name": "f", "input": {}}]},
            {"role": "user", "content": "never mind"}]});
        for (req, expected) in [
            (unknown, "frobnicate: Extra inputs are not permitted".to_string()),
            (both, "`temperature` and `top_p` cannot both be specified for this model. Please use only one.".into()),
            (dangling, "messages.1: `tool_use` ids were found without `tool_result` blocks immediately after: toolu_9.".into()),
        ] {
            let r = sim.handle(anthropic(&req)).await;
            assert_eq!(r.status, 400);
            let (kind, message) = anthropic_error(&r);
            assert_eq!(kind, "invalid_request_error");
            assert!(message.starts_with(&expected), "{message}");
        }
        let no_version = request(
            "/v1/messages",
            &[("x-api-key", "k")],
            hello(5).to_string().as_bytes(),
        );
        let r = sim.handle(no_version).await;
        assert_eq!(r.status, 400);
        assert_eq!(
            anthropic_error(&r).1,
            "anthropic-version: header is required"
        );
        // The system prompt may be a string or blocks; either is fine.
        let mut blocks = hello(5);
        blocks["system"] = json!([{"type": "text", "text": "Be brief."}]);
        assert_eq!(sim.handle(anthropic(&blocks)).await.status, 200);

        let lax = sim_with(|c| c.sim.strict_validation = false);
        let mut unknown = hello(5);
        unknown["frobnicate"] = json!(true);
        assert_eq!(lax.handle(anthropic(&unknown)).await.status, 200);
    }

    #[tokio::test(start_paused = true)]
    async fn refuses_what_the_real_openai_api_refuses_and_counts_it_against_rpm() {
        let sim = sim_with(|c| {
            c.models.insert("o3".into(), {
                let mut m = c.models["gpt-4o"].clone();
                m.model = "o3-mini".into();
                m
            });
        });
        let mut unknown = chat(5);
        unknown["frobnicate"] = json!(1);
        let mut stops = chat(5);
        stops["stop"] = json!(["a", "b", "c", "d", "e"]);
        let reasoning = |extra: Value| {
            let mut b = json!({"model": "o3-mini", "messages": [{"role": "user", "content": "x"}]});
            for (k, v) in extra.as_object().unwrap() {
                b[k] = v.clone();
            }
            b
        };
        let cases = [
            (
                unknown,
                "Unrecognized request argument supplied: frobnicate",
                Value::Null,
            ),
            (
                stops,
                "Invalid 'stop': array too long.",
                json!("array_above_max_length"),
            ),
            (
                reasoning(json!({"temperature": 0.2})),
                "Unsupported value: 'temperature' does not support 0.2",
                json!("unsupported_value"),
            ),
            (
                reasoning(json!({"stop": ["x"]})),
                "Unsupported parameter: 'stop'",
                json!("unsupported_parameter"),
            ),
            (
                reasoning(json!({"max_tokens": 5})),
                "Use 'max_completion_tokens' instead.",
                json!("unsupported_parameter"),
            ),
        ];
        for (i, (req, expected, code)) in cases.into_iter().enumerate() {
            let r = sim.handle(openai(&req)).await;
            assert_eq!(r.status, 400, "{expected}");
            let e = openai_error(&r);
            assert!(e["message"].as_str().unwrap().contains(expected), "{e}");
            assert_eq!(e["code"], code);
            if i < 2 {
                // gpt-4o: each refused request took one of its 500 RPM.
                assert_eq!(
                    header(&r, "x-ratelimit-remaining-requests"),
                    (499 - i).to_string()
                );
            }
        }
        assert_eq!(
            sim.handle(openai(&reasoning(json!({"max_completion_tokens": 50}))))
                .await
                .status,
            200
        );
    }
}

mod quota {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_default_burst_is_a_sixth_of_a_minute() {
        let mut c = Config::default();
        c.sim.latency = Duration::ZERO;
        c.sim.limits.insert(
            SONNET.into(),
            Limits::Split {
                rpm: 60.0,
                itpm: 30000.0,
                otpm: 8000.0,
            },
        );
        assert_eq!(c.sim.burst_secs, 10.0);
        let sim = Simulator::new(&c);
        let mut codes = vec![];
        for _ in 0..11 {
            codes.push(sim.handle(anthropic(&hello(5))).await.status);
        }
        assert_eq!(codes.iter().filter(|c| **c == 200).count(), 10, "{codes:?}");
        let r = sim.handle(anthropic(&hello(5))).await;
        assert_eq!(
            header(&r, "retry-after"),
            "1",
            "60 RPM refills one a second"
        );
        // Headers still report the per-minute limit.
        assert_eq!(header(&r, "anthropic-ratelimit-requests-limit"), "60");
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(sim.handle(anthropic(&hello(5))).await.status, 200);
    }

    #[tokio::test(start_paused = true)]
    async fn answers_oversized_bodies_with_413_in_each_vendors_shape() {
        let sim = sim_with(|c| c.sim.max_body_bytes = 1000);
        let big = json!({"model": SONNET, "max_tokens": 5,
                         "messages": [{"role": "user", "content": "x".repeat(2000)}]});
        let r = sim.handle(anthropic(&big)).await;
        assert_eq!(r.status, 413);
        let (kind, message) = anthropic_error(&r);
        assert_eq!(kind, "request_too_large");
        assert!(message.starts_with("Request exceeds the maximum allowed number of bytes."));
        let mut chat_big = chat(5);
        chat_big["messages"][0]["content"] = json!("x".repeat(2000));
        let r = sim.handle(openai(&chat_big)).await;
        assert_eq!(r.status, 413);
        assert_eq!(openai_error(&r)["code"], "request_too_large");
        assert_eq!(sim.handle(anthropic(&hello(5))).await.status, 200);
    }

    #[tokio::test(start_paused = true)]
    async fn spend_cap_and_insufficient_quota_are_final_for_the_provider_layer() {
        use crate::provider::{self, Endpoint, ProviderError};
        use crate::types::CompletionRequest;
        let sim = sim_with(|c| c.sim.spend_cap_keys = vec!["broke".into()]);
        let r = sim.handle(anthropic_as("broke", &hello(5))).await;
        assert_eq!(r.status, 429);
        assert_eq!(header(&r, "retry-after"), "");
        let b = body(&r);
        assert_eq!(b["error"]["type"], "rate_limit_error");
        assert_eq!(
            b["error"]["details"]["error_code"],
            "enforced_spend_limit_reached"
        );
        assert_eq!(
            sim.handle(anthropic_as("rich", &hello(5))).await.status,
            200
        );
        let r = sim.handle(openai_as("broke", &chat(5))).await;
        assert_eq!(r.status, 429);
        let e = openai_error(&r);
        assert_eq!(
            (e["type"].as_str(), e["code"].as_str()),
            (Some("insufficient_quota"), Some("insufficient_quota"))
        );

        sim.set_spend_cap("rich", true);
        for (wire, model) in [(Wire::Anthropic, SONNET), (Wire::OpenAi, GPT)] {
            let ep = Endpoint {
                name: "sim".into(),
                provider: provider::for_wire(wire),
                transport: Arc::new(EmbeddedTransport { sim: sim.clone() }),
                key: Some(crate::ApiKey::new("rich")),
            };
            let e = ep
                .complete(model, &CompletionRequest::prompt("x", "hi").max_tokens(5))
                .await
                .unwrap_err();
            assert!(
                matches!(e.error, ProviderError::QuotaExhausted { .. }),
                "{wire:?}: {:?}",
                e.error
            );
            assert!(!e.error.is_retryable());
        }
        sim.set_spend_cap("rich", false);
        assert_eq!(
            sim.handle(anthropic_as("rich", &hello(5))).await.status,
            200
        );
    }
}
