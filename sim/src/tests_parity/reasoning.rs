use super::*;

fn o3() -> Simulator {
    sim_with(|c| {
        let mut m = c.models["gpt-4o"].clone();
        m.model = "o3-mini".into();
        c.models.insert("o3".into(), m);
    })
}

fn ask(effort: &str, max: u64) -> Value {
    json!({"model": "o3-mini", "max_completion_tokens": max, "reasoning_effort": effort,
           "messages": [{"role": "developer", "content": "Be exact."},
                        {"role": "user", "content": "Why?"}]})
}

#[tokio::test(start_paused = true)]
async fn reasoning_models_spend_hidden_reasoning_tokens_by_effort() {
    let sim = o3();
    let b = body(&sim.handle(openai(&ask("low", 5000))).await);
    let u = &b["usage"];
    let r = u["completion_tokens_details"]["reasoning_tokens"]
        .as_u64()
        .unwrap();
    assert!((64..128).contains(&r), "{r}");
    let said = b["choices"][0]["message"]["content"].as_str().unwrap();
    assert_eq!(
        u["completion_tokens"].as_u64(),
        Some(r + said.split_whitespace().count() as u64)
    );
    let high = body(&sim.handle(openai(&ask("high", 5000))).await);
    assert!(high["usage"]["completion_tokens_details"]["reasoning_tokens"].as_u64() >= Some(1024));
    // A cap the reasoning uses up leaves nothing said.
    let cut = body(&sim.handle(openai(&ask("high", 100))).await);
    assert_eq!(cut["choices"][0]["message"]["content"], "");
    assert_eq!(cut["choices"][0]["finish_reason"], "length");
    assert_eq!(cut["usage"]["completion_tokens"], 100);
    assert_eq!(
        cut["usage"]["completion_tokens_details"]["reasoning_tokens"],
        100
    );
    // gpt-4o does not reason.
    let plain = body(&sim.handle(openai(&chat(50))).await);
    assert_eq!(
        plain["usage"]["completion_tokens_details"]["reasoning_tokens"],
        0
    );
}
