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
