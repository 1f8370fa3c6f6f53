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

#[tokio::test(start_paused = true)]
async fn a_long_conversation_with_moving_breakpoints_reads_most_of_its_input_from_the_cache() {
    let sim = limited(SONNET, split(1000.0, 1_000_000.0, 100_000.0));
    let system = json!([{"type": "text", "text": "You review contracts carefully. ".repeat(300),
                         "cache_control": {"type": "ephemeral"}}]);
    let mut history: Vec<Value> = vec![];
    let (mut read, mut total) = (0u64, 0u64);
    for turn in 0..12 {
        // Only the newest user turn carries a breakpoint, as a client moving it would.
        for m in history.iter_mut() {
            if let Some(b) = m["content"][0].as_object_mut() {
                b.remove("cache_control");
            }
        }
        history.push(json!({"role": "user", "content": [{"type": "text",
            "text": format!("Document {turn}: {}", "clause text ".repeat(150)),
            "cache_control": {"type": "ephemeral"}}]}));
        let req = json!({"model": SONNET, "max_tokens": 100, "system": system,
                         "messages": history});
        let r = sim.handle(anthropic(&req)).await;
        assert_eq!(r.status, 200);
        let (i, w, rd) = usage(&r);
        read += rd;
        total += i + w + rd;
        let text = body(&r)["content"][0]["text"].clone();
        history.push(json!({"role": "assistant", "content": [{"type": "text", "text": text}]}));
        tokio::time::advance(Duration::from_secs(5)).await;
    }
    let share = read as f64 / total as f64;
    eprintln!(
        "12 turns: {read} of {total} input tokens read from the cache ({:.0} %)",
        share * 100.0
    );
    assert!(share > 0.6, "{share}");
    let stats = sim.stats();
    assert_eq!(stats.total.cache_read_tokens, read);
    assert_eq!(
        stats.total.input_tokens,
        total - read,
        "ITPM charged without the reads"
    );
}
