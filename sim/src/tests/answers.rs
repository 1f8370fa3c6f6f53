//! Answers in each vendor's shape: bodies, usage, headers, deterministic text, and the
//! refusals of malformed, unauthenticated and unknown requests.

use super::*;

#[tokio::test(start_paused = true)]
async fn answers_an_anthropic_message_with_usage_and_every_rate_limit_header() {
    let (r, b) = answered(anthropic(&hello(100))).await;
    assert!(b["id"].as_str().unwrap().starts_with("msg_"));
    assert_eq!(b["type"], "message");
    assert_eq!(b["role"], "assistant");
    assert_eq!(b["content"][0]["type"], "text");
    assert!(b["usage"]["input_tokens"].as_u64().unwrap() > 0);
    assert!(b["usage"]["output_tokens"].as_u64().unwrap() > 0);
    assert_eq!(b["usage"]["cache_read_input_tokens"], 0);
    assert!(header(&r, "request-id").starts_with("req_"));
    for dim in ["requests", "input-tokens", "output-tokens", "tokens"] {
        for part in ["limit", "remaining", "reset"] {
            let name = format!("anthropic-ratelimit-{dim}-{part}");
            assert!(!header(&r, &name).is_empty(), "missing {name}");
        }
    }
    assert_eq!(header(&r, "anthropic-ratelimit-requests-limit"), "50");
    assert_eq!(header(&r, "anthropic-ratelimit-requests-remaining"), "49");
    assert_eq!(header(&r, "anthropic-ratelimit-tokens-limit"), "38000");
    assert_eq!(
        header(&r, "anthropic-ratelimit-input-tokens-remaining"),
        "30000"
    );
    let reset = header(&r, "anthropic-ratelimit-requests-reset");
    assert!(
        reset.len() == 20 && reset.ends_with('Z') && reset.contains('T'),
        "{reset}"
    );
}

#[tokio::test(start_paused = true)]
async fn answers_an_openai_chat_completion_with_usage_and_every_rate_limit_header() {
    let (r, b) = answered(openai(&chat(50))).await;
    assert!(b["id"].as_str().unwrap().starts_with("chatcmpl-"));
    assert_eq!(b["object"], "chat.completion");
    assert_eq!(b["choices"][0]["message"]["role"], "assistant");
    let u = &b["usage"];
    assert_eq!(
        u["total_tokens"].as_u64(),
        Some(u["prompt_tokens"].as_u64().unwrap() + u["completion_tokens"].as_u64().unwrap())
    );
    assert!(header(&r, "x-request-id").starts_with("req_"));
    assert_eq!(header(&r, "x-ratelimit-limit-requests"), "500");
    assert_eq!(header(&r, "x-ratelimit-remaining-requests"), "499");
    assert_eq!(header(&r, "x-ratelimit-reset-requests"), "120ms");
    assert_eq!(header(&r, "x-ratelimit-limit-tokens"), "30000");
    let used = u["total_tokens"].as_u64().unwrap();
    assert_eq!(
        header(&r, "x-ratelimit-remaining-tokens"),
        (30000 - used).to_string()
    );
    assert!(header(&r, "x-ratelimit-reset-tokens").ends_with("ms"));
}

#[tokio::test(start_paused = true)]
async fn answers_malformed_anthropic_requests_with_400_invalid_request_error() {
    let sim = sim_with(|c| {
        if let Some(m) = c.models.get_mut("sonnet") {
            m.context_window = 60;
        }
    });
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"{not json".to_vec(), "not valid JSON"),
        (json!({"max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}).to_string().into_bytes(), "model: Field required"),
        (json!({"model": SONNET, "messages": [{"role": "user", "content": "x"}]}).to_string().into_bytes(), "max_tokens: Field required"),
        (json!({"model": SONNET, "max_tokens": 0, "messages": [{"role": "user", "content": "x"}]}).to_string().into_bytes(), "max_tokens: Input should be greater than or equal to 1"),
        (json!({"model": SONNET, "max_tokens": 5}).to_string().into_bytes(), "messages: Field required"),
        (json!({"model": SONNET, "max_tokens": 5, "messages": []}).to_string().into_bytes(), "messages: at least one message is required"),
        (json!({"model": SONNET, "max_tokens": 5, "messages": [{"role": "robot", "content": "x"}]}).to_string().into_bytes(), "messages.0.role: Input should be 'user' or 'assistant'"),
        (json!({"model": SONNET, "max_tokens": 5, "messages": [
            {"role": "user", "content": "x"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_2", "content": "r"}]}
        ]}).to_string().into_bytes(), "messages.2.content.0: unexpected `tool_use_id` found in `tool_result` blocks: toolu_2"),
        (json!({"model": SONNET, "max_tokens": 5, "messages": [{"role": "user", "content": "word ".repeat(100)}]}).to_string().into_bytes(), "prompt is too long: "),
    ];
    for (raw, expected) in cases {
        let r = sim
            .handle(request(
                "/v1/messages",
                &[("x-api-key", "k"), ("anthropic-version", "2023-06-01")],
                &raw,
            ))
            .await;
        assert_eq!(r.status, 400, "{expected}");
        let (kind, message) = anthropic_error(&r);
        assert_eq!(kind, "invalid_request_error");
        assert!(message.contains(expected), "{message} lacks {expected}");
    }
    // A matching tool_result and non-alternating roles are accepted.
    let ok = json!({"model": SONNET, "max_tokens": 5, "messages": [
        {"role": "user", "content": "x"},
        {"role": "user", "content": "y"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "r"}]}
    ]});
    assert_eq!(sim.handle(anthropic(&ok)).await.status, 200);
    assert_eq!(sim.stats().total.status(400), 9);
}

#[tokio::test(start_paused = true)]
async fn answers_malformed_openai_requests_with_400_and_real_codes() {
    let sim = sim_with(|c| {
        if let Some(m) = c.models.get_mut("gpt-4o") {
            m.context_window = 60;
        }
    });
    let cases: Vec<(Vec<u8>, &str, Value)> = vec![
        (b"{not json".to_vec(), "We could not parse the JSON body", Value::Null),
        (json!({"messages": [{"role": "user", "content": "x"}]}).to_string().into_bytes(), "you must provide a model parameter", Value::Null),
        (json!({"model": GPT}).to_string().into_bytes(), "Missing required parameter: 'messages'.", json!("missing_required_parameter")),
        (json!({"model": GPT, "messages": []}).to_string().into_bytes(), "Invalid 'messages': empty array.", json!("empty_array")),
        (json!({"model": GPT, "messages": [{"role": "robot", "content": "x"}]}).to_string().into_bytes(), "Invalid value: 'robot'.", json!("invalid_value")),
        (json!({"model": GPT, "messages": [{"role": "tool", "tool_call_id": "c1", "content": "x"}]}).to_string().into_bytes(), "messages with role 'tool' must be a response", Value::Null),
        (json!({"model": GPT, "max_completion_tokens": 0, "messages": [{"role": "user", "content": "x"}]}).to_string().into_bytes(), "integer below minimum value", json!("integer_below_min_value")),
        (json!({"model": GPT, "messages": [{"role": "user", "content": "word ".repeat(100)}]}).to_string().into_bytes(), "This model's maximum context length is 60 tokens.", json!("context_length_exceeded")),
    ];
    for (raw, expected, code) in cases {
        let r = sim
            .handle(request(
                "/v1/chat/completions",
                &[("authorization", "Bearer k")],
                &raw,
            ))
            .await;
        assert_eq!(r.status, 400, "{expected}");
        let e = openai_error(&r);
        assert_eq!(e["type"], "invalid_request_error");
        assert_eq!(e["code"], code, "{expected}");
        assert!(e["message"].as_str().unwrap().contains(expected), "{e}");
    }
}

#[tokio::test(start_paused = true)]
async fn requires_a_listed_key_when_a_key_list_is_configured() {
    let sim = sim_with(|c| c.sim.api_keys = vec!["good".into()]);
    let r = answer(&sim, anthropic_as("bad", &hello(5)), 401).await;
    let (kind, message) = anthropic_error(&r);
    assert_eq!(kind, "authentication_error");
    assert!(!message.contains("bad"));
    let none = request("/v1/messages", &[], hello(5).to_string().as_bytes());
    assert_eq!(sim.handle(none).await.status, 401);
    assert_eq!(
        sim.handle(anthropic_as("good", &hello(5))).await.status,
        200
    );
    let bearer = request(
        "/v1/messages",
        &[
            ("authorization", "Bearer good"),
            ("anthropic-version", "2023-06-01"),
        ],
        hello(5).to_string().as_bytes(),
    );
    assert_eq!(sim.handle(bearer).await.status, 200);

    let r = answer(&sim, openai_as("bad", &chat(5)), 401).await;
    assert_eq!(openai_error(&r)["code"], "invalid_api_key");
    let none = request("/v1/chat/completions", &[], chat(5).to_string().as_bytes());
    assert_eq!(sim.handle(none).await.status, 401);
    assert_eq!(sim.handle(openai_as("good", &chat(5))).await.status, 200);
}

#[tokio::test(start_paused = true)]
async fn accepts_any_key_without_a_key_list_but_requires_one() {
    let sim = sim_with(|_| {});
    assert_eq!(
        sim.handle(anthropic_as("whatever", &hello(5))).await.status,
        200
    );
    let none = request("/v1/messages", &[], hello(5).to_string().as_bytes());
    assert_eq!(sim.handle(none).await.status, 401);
}

#[tokio::test(start_paused = true)]
async fn answers_unknown_models_and_paths_with_404_in_the_vendors_shape() {
    let sim = sim_with(|_| {});
    let r = sim
        .handle(anthropic(&json!({"model": "claude-nope", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]})))
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(
        anthropic_error(&r),
        ("not_found_error".into(), "model: claude-nope".into())
    );
    // An OpenAI model is not served on the Anthropic route.
    let r = sim
        .handle(anthropic(
            &json!({"model": GPT, "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}),
        ))
        .await;
    assert_eq!(r.status, 404);

    let r = sim
        .handle(openai(
            &json!({"model": "gpt-nope", "messages": [{"role": "user", "content": "x"}]}),
        ))
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(openai_error(&r)["code"], "model_not_found");

    let r = sim
        .handle(request("/v1/nothing", &[("x-api-key", "k")], b"{}"))
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(anthropic_error(&r).0, "not_found_error");
    let r = sim
        .handle(request(
            "/v1/embeddings",
            &[("authorization", "Bearer k")],
            b"{}",
        ))
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(
        openai_error(&r)["message"],
        "Invalid URL (POST /v1/embeddings)"
    );
}

#[tokio::test(start_paused = true)]
async fn gives_identical_requests_identical_answers() {
    let sim = sim_with(|_| {});
    let text = |r: &HttpResponse| body(r)["content"][0]["text"].clone();
    let a = sim.handle(anthropic(&hello(200))).await;
    let b = sim.handle(anthropic(&hello(200))).await;
    assert_eq!(text(&a), text(&b));
    assert_eq!(body(&a)["usage"], body(&b)["usage"]);
    let other = json!({"model": SONNET, "max_tokens": 200, "messages": [{"role": "user", "content": "Something else"}]});
    assert_ne!(text(&a), text(&sim.handle(anthropic(&other)).await));

    let t = |r: &HttpResponse| body(r)["choices"][0]["message"]["content"].clone();
    let a = sim.handle(openai(&chat(200))).await;
    let b = sim.handle(openai(&chat(200))).await;
    assert_eq!(t(&a), t(&b));
}

#[tokio::test(start_paused = true)]
async fn cuts_replies_at_max_tokens() {
    let sim = sim_with(|_| {});
    let r = sim.handle(anthropic(&hello(1))).await;
    let b = body(&r);
    assert_eq!(b["usage"]["output_tokens"], 1);
    assert_eq!(b["stop_reason"], "max_tokens");
    let r = sim.handle(openai(&chat(1))).await;
    let b = body(&r);
    assert_eq!(b["usage"]["completion_tokens"], 1);
    assert_eq!(b["choices"][0]["finish_reason"], "length");
}
