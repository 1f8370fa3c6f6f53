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
