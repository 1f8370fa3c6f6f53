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
