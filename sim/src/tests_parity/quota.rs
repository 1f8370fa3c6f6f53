use super::*;

#[tokio::test(start_paused = true)]
async fn the_default_burst_is_a_sixth_of_a_minute() {
    let Ok(mut c) = Config::from_toml_str_over_defaults(PREVIOUS, "test") else {
        panic!("the pinned models validate");
    };
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
    use quotaswarm::provider::{self, Endpoint, ProviderError};
    use quotaswarm::types::CompletionRequest;
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
            key: Some(quotaswarm::ApiKey::new("rich")),
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
