//! Rate limits per key and model: 429s with `retry-after`, refill, OTPM settlement,
//! count_tokens' own bucket, the token factor and limits changed at run time.

use super::*;

#[tokio::test(start_paused = true)]
async fn answers_over_limit_anthropic_requests_with_429_and_retry_after() {
    let sim = limited(SONNET, split(2.0, 3000.0, 1000.0));
    for _ in 0..2 {
        assert_eq!(sim.handle(anthropic(&hello(10))).await.status, 200);
    }
    let r = answer(&sim, anthropic(&hello(10)), 429).await;
    let (kind, message) = anthropic_error(&r);
    assert_eq!(kind, "rate_limit_error");
    assert!(message.contains("2 requests per minute"), "{message}");
    // One request refills in 60 s / 2.
    assert_eq!(header(&r, "retry-after"), "30");
    assert_eq!(header(&r, "anthropic-ratelimit-requests-remaining"), "0");
    assert_eq!(header(&r, "anthropic-ratelimit-input-tokens-limit"), "3000");
    assert!(!header(&r, "anthropic-ratelimit-output-tokens-reset").is_empty());
}

#[tokio::test(start_paused = true)]
async fn rejects_anthropic_input_beyond_itpm_and_names_the_limit() {
    let sim = limited(SONNET, split(100.0, 600.0, 1000.0));
    let long = "word ".repeat(400);
    let big =
        json!({"model": SONNET, "max_tokens": 5, "messages": [{"role": "user", "content": long}]});
    let first = answer(&sim, anthropic(&big), 200).await;
    let input = body(&first)["usage"]["input_tokens"].as_u64().unwrap();
    let r = answer(&sim, anthropic(&big), 429).await;
    let (_, message) = anthropic_error(&r);
    assert!(message.contains("600 input tokens per minute"), "{message}");
    // Level is 600 − input, the request needs `input`: wait (2·input − 600) / 10 s.
    let wait = ((2 * input) as f64 - 600.0) / 10.0;
    assert_eq!(header(&r, "retry-after"), (wait.ceil() as u64).to_string());
    // A request larger than the whole bucket can never fit: no retry-after.
    let huge = json!({"model": SONNET, "max_tokens": 5,
                      "messages": [{"role": "user", "content": "word ".repeat(700)}]});
    let r = answer(&sim, anthropic(&huge), 429).await;
    assert_eq!(header(&r, "retry-after"), "");
}

#[tokio::test(start_paused = true)]
async fn answers_over_limit_openai_requests_with_429_and_retry_after() {
    let sim = limited(GPT, combined(100.0, 600.0));
    let first = answer(&sim, openai(&chat(50)), 200).await;
    let u = body(&first)["usage"].clone();
    let (p, o) = (
        u["prompt_tokens"].as_u64().unwrap(),
        u["completion_tokens"].as_u64().unwrap(),
    );
    // Now 600 − p − o are left; ask for exactly the capacity: p + (600 − p).
    let r = answer(&sim, openai(&chat(600 - p)), 429).await;
    let e = openai_error(&r);
    assert_eq!(e["type"], "tokens");
    assert_eq!(e["code"], "rate_limit_exceeded");
    assert_eq!(e["param"], Value::Null);
    let message = e["message"].as_str().unwrap();
    assert!(
        message.starts_with(&format!(
            "Rate limit reached for gpt-4o in organization org-sim on tokens per min (TPM): Limit 600, Used {}, Requested 600. Please try again in",
            p + o
        )),
        "{message}"
    );
    // p + o tokens missing at 10 per second.
    let wait = (p + o) as f64 / 10.0;
    assert_eq!(header(&r, "retry-after"), (wait.ceil() as u64).to_string());
    assert_eq!(
        header(&r, "x-ratelimit-remaining-tokens"),
        (600 - p - o).to_string()
    );
}

#[tokio::test(start_paused = true)]
async fn answers_over_rpm_openai_requests_with_type_requests() {
    let sim = limited(GPT, combined(2.0, 100000.0));
    for _ in 0..2 {
        assert_eq!(sim.handle(openai(&chat(10))).await.status, 200);
    }
    let r = answer(&sim, openai(&chat(10)), 429).await;
    let e = openai_error(&r);
    assert_eq!(e["type"], "requests");
    assert!(e["message"].as_str().unwrap().contains(
        "requests per min (RPM): Limit 2, Used 2, Requested 1. Please try again in 30s."
    ));
    assert_eq!(header(&r, "retry-after"), "30");
    assert_eq!(header(&r, "x-ratelimit-reset-requests"), "1m0s");
}

#[tokio::test(start_paused = true)]
async fn rejects_an_openai_request_larger_than_tpm_as_request_too_large() {
    let sim = limited(GPT, combined(10.0, 1000.0));
    let r = answer(&sim, openai(&chat(2000)), 429).await;
    let e = openai_error(&r);
    let m = e["message"].as_str().unwrap();
    assert!(m.starts_with("Request too large for gpt-4o in organization org-sim on tokens per min (TPM): Limit 1000, Requested "), "{m}");
    assert_eq!(e["code"], "rate_limit_exceeded");
    assert_eq!(header(&r, "retry-after"), "");
}

#[tokio::test(start_paused = true)]
async fn charges_openai_requests_without_a_cap_the_model_default() {
    let sim = limited(GPT, combined(10.0, 4000.0));
    let no_cap = json!({"model": GPT, "messages": [{"role": "user", "content": "Hi"}]});
    let r = sim.handle(openai(&no_cap)).await;
    assert_eq!(r.status, 429, "prompt + 4096 exceeds a 4000 TPM bucket");
}

#[tokio::test(start_paused = true)]
async fn refills_buckets_at_the_configured_rate() {
    let sim = limited(SONNET, split(2.0, 30000.0, 8000.0));
    for _ in 0..2 {
        assert_eq!(sim.handle(anthropic(&hello(10))).await.status, 200);
    }
    assert_eq!(sim.handle(anthropic(&hello(10))).await.status, 429);
    tokio::time::advance(Duration::from_secs(29)).await;
    assert_eq!(sim.handle(anthropic(&hello(10))).await.status, 429);
    tokio::time::advance(Duration::from_secs(1)).await;
    assert_eq!(sim.handle(anthropic(&hello(10))).await.status, 200);
    assert_eq!(sim.handle(anthropic(&hello(10))).await.status, 429);
    tokio::time::advance(Duration::from_secs(60)).await;
    let r = answer(&sim, anthropic(&hello(10)), 200).await;
    assert_eq!(header(&r, "anthropic-ratelimit-requests-remaining"), "1");
}

#[tokio::test(start_paused = true)]
async fn charges_actual_output_to_otpm_after_generation() {
    let sim = limited_with(SONNET, split(100.0, 30000.0, 5.0), |c| {
        c.sim.otpm_mode = OtpmMode::Actual;
    });
    // Output is charged after the fact, so max_tokens far above OTPM is admitted...
    let r = answer(&sim, anthropic(&hello(4000)), 200).await;
    let out = body(&r)["usage"]["output_tokens"].as_u64().unwrap();
    assert!(out >= 5, "replies are at least five words");
    // ...and the bucket, now empty or negative, refuses the next one until it refills.
    let r = answer(&sim, anthropic(&hello(4000)), 429).await;
    assert!(anthropic_error(&r).1.contains("5 output tokens per minute"));
    // Level 5 − out refills at 5/60 per second; admission needs it above zero.
    let wait = (out - 5) as f64 * 12.0;
    assert_eq!(
        header(&r, "retry-after"),
        ((wait + 0.001).ceil() as u64).to_string()
    );
    assert_eq!(sim.stats().total.output_tokens, out);
}

#[tokio::test(start_paused = true)]
async fn reserves_max_tokens_for_otpm_in_max_tokens_mode_and_refunds_the_rest() {
    let sim = limited_with(SONNET, split(100.0, 30000.0, 5000.0), |c| {
        c.sim.otpm_mode = OtpmMode::MaxTokens;
    });
    // max_tokens 6000 does not fit the 5000 OTPM reservation.
    answer(&sim, anthropic(&hello(6000)), 429).await;
    let r = answer(&sim, anthropic(&hello(4000)), 200).await;
    let out = body(&r)["usage"]["output_tokens"].as_u64().unwrap();
    assert!(out < 1000);
    // After the refund only `out` is used, so another 4000 fits.
    assert_eq!(sim.handle(anthropic(&hello(4000))).await.status, 200);
}

#[tokio::test(start_paused = true)]
async fn gives_each_key_its_own_quota() {
    let sim = limited(SONNET, split(1.0, 30000.0, 8000.0));
    assert_eq!(sim.handle(anthropic_as("a", &hello(10))).await.status, 200);
    assert_eq!(sim.handle(anthropic_as("a", &hello(10))).await.status, 429);
    assert_eq!(sim.handle(anthropic_as("b", &hello(10))).await.status, 200);
    let stats = sim.stats();
    let a = &stats.keys[&Simulator::key_fingerprint("a")];
    assert_eq!((a.status(200), a.status(429)), (1, 1));
    let json = serde_json::to_string(&stats).unwrap();
    assert!(!json.contains("\"a\""), "keys are never echoed: {json}");
}

#[tokio::test(start_paused = true)]
async fn counts_tokens_like_the_create_call_with_its_own_bucket() {
    let sim = limited(SONNET, split(1.0, 30000.0, 8000.0));
    let msg = json!({"model": SONNET, "max_tokens": 20, "system": "Be brief.",
        "tools": [{"name": "lookup", "description": "find", "input_schema": {"type": "object"}}],
        "messages": [{"role": "user", "content": "What is the capital of France?"}]});
    // count_tokens takes the body without `max_tokens`: the real endpoint refuses the
    // field, as it produces no output.
    let count = |b: &Value| {
        let mut b = b.clone();
        b.as_object_mut().map(|o| o.remove("max_tokens"));
        request(
            "/v1/messages/count_tokens",
            &[("x-api-key", "k"), ("anthropic-version", "2023-06-01")],
            b.to_string().as_bytes(),
        )
    };
    let c = answer(&sim, count(&msg), 200).await;
    let counted = body(&c)["input_tokens"].clone();
    let m = sim.handle(anthropic_as("k", &msg)).await;
    assert_eq!(body(&m)["usage"]["input_tokens"], counted);
    // Messages RPM (1) is exhausted; count_tokens has its own 100 RPM.
    assert_eq!(sim.handle(anthropic_as("k", &msg)).await.status, 429);
    let mut codes = vec![];
    for _ in 0..100 {
        codes.push(sim.handle(count(&msg)).await.status);
    }
    assert_eq!(codes.iter().filter(|c| **c == 200).count(), 99);
    assert_eq!(codes.last(), Some(&429));
    assert_eq!(sim.stats().total.count_tokens_calls, 101);
}

#[tokio::test(start_paused = true)]
async fn applies_the_token_factor_to_charged_input() {
    let at = |f: f64| sim_with(move |c| c.sim.token_factor = f);
    let (one, more) = (at(1.0), at(1.2));
    let tokens = |r: HttpResponse| body(&r)["usage"]["input_tokens"].as_u64().unwrap();
    let raw = tokens(one.handle(anthropic(&hello(5))).await);
    let scaled = tokens(more.handle(anthropic(&hello(5))).await);
    assert_eq!(scaled, (raw as f64 * 1.2).ceil() as u64);
    let raw = one.handle(openai(&chat(5))).await;
    let scaled = more.handle(openai(&chat(5))).await;
    let p = |r: &HttpResponse| body(r)["usage"]["prompt_tokens"].as_u64().unwrap();
    assert_eq!(p(&scaled), (p(&raw) as f64 * 1.2).ceil() as u64);
}

#[tokio::test(start_paused = true)]
async fn changes_limits_at_run_time_keeping_usage() {
    let sim = limited(GPT, combined(1.0, 100000.0));
    assert_eq!(sim.handle(openai(&chat(5))).await.status, 200);
    assert_eq!(sim.handle(openai(&chat(5))).await.status, 429);
    assert!(sim.set_limits(
        GPT,
        Limits::Combined {
            rpm: 3.0,
            tpm: 100000.0
        }
    ));
    let r = answer(&sim, openai(&chat(5)), 200).await;
    assert_eq!(header(&r, "x-ratelimit-limit-requests"), "3");
    assert_eq!(header(&r, "x-ratelimit-remaining-requests"), "1");
    assert!(!sim.set_limits("nope", Limits::Combined { rpm: 3.0, tpm: 1.0 }));
}

#[tokio::test(start_paused = true)]
async fn rounds_anthropic_token_remaining_to_the_nearest_thousand() {
    let sim = limited(SONNET, split(100.0, 3000.0, 1000.0));
    let big = json!({"model": SONNET, "max_tokens": 5,
                     "messages": [{"role": "user", "content": "word ".repeat(900)}]});
    let r = answer(&sim, anthropic(&big), 200).await;
    let input = body(&r)["usage"]["input_tokens"].as_u64().unwrap();
    let exact = 3000 - input;
    let shown: u64 = header(&r, "anthropic-ratelimit-input-tokens-remaining")
        .parse()
        .unwrap();
    assert_eq!(shown % 1000, 0);
    assert!(
        shown <= exact + 500 && shown + 500 >= exact,
        "{shown} vs {exact}"
    );
}
