//! Streamed (SSE) answers through the real providers' stream parsers: the same text and
//! usage as whole replies, cancellation and settlement, mid-stream faults, the wire shapes.

use super::*;
use futures_util::StreamExt;
use quotaswarm::provider::{self, Endpoint, ProviderError, StreamEvent};
use quotaswarm::types::{Completion, CompletionRequest};

fn endpoint(sim: &Simulator, wire: Wire) -> Endpoint {
    Endpoint {
        name: "sim".into(),
        provider: provider::for_wire(wire),
        transport: sim.transport(),
        key: Some(quotaswarm::ApiKey::new("sk-stream")),
    }
}

fn slow_sim(faults: Vec<Fault>) -> Simulator {
    sim_with(|c| {
        c.sim.latency = Duration::from_millis(100);
        c.sim.per_token = Duration::from_millis(10);
        c.sim.faults = faults;
    })
}

fn req() -> CompletionRequest {
    CompletionRequest::prompt("x", "Tell me a story").max_tokens(200)
}

/// A [`slow_sim`] without faults, an endpoint of `wire` to it, and its whole (not
/// streamed) reply to [`req`] on `model`.
async fn slow_with_reply(wire: Wire, model: &str) -> (Simulator, Endpoint, Completion) {
    let sim = slow_sim(Vec::new());
    let ep = endpoint(&sim, wire);
    let full = ep.complete(model, &req()).await.unwrap().completion;
    (sim, ep, full)
}

#[tokio::test(start_paused = true)]
async fn streams_the_same_text_and_usage_as_the_non_streamed_reply_with_per_token_latency() {
    for (wire, model) in [(Wire::Anthropic, SONNET), (Wire::OpenAi, GPT)] {
        let (sim, ep, full) = slow_with_reply(wire, model).await;
        let t0 = Instant::now();
        let mut s = ep.stream(model, &req()).await.unwrap();
        assert!(s.rate_limits.requests.is_some(), "{wire:?}");
        let mut text = String::new();
        let mut deltas = Vec::new();
        let mut done = None;
        while let Some(ev) = s.next().await {
            match ev.unwrap() {
                StreamEvent::TextDelta { text: t, .. } => {
                    deltas.push(Instant::now());
                    text.push_str(&t)
                }
                StreamEvent::Finished {
                    completion,
                    usage_estimated,
                } => {
                    assert!(!usage_estimated);
                    done = Some(completion);
                }
                _ => {}
            }
        }
        let done = done.unwrap();
        assert_eq!(text, full.text(), "{wire:?}");
        assert_eq!(done.text(), full.text());
        assert_eq!(done.usage, full.usage, "{wire:?}");
        assert_eq!(done.stop_reason, full.stop_reason);
        let n = full.usage.output_tokens;
        assert_eq!(deltas.len() as u64, n);
        // 100 ms to the first token + 10 ms per token, one delta per token.
        assert_eq!(deltas[0] - t0, Duration::from_millis(110));
        assert_eq!(
            *deltas.last().unwrap() - t0,
            Duration::from_millis(100 + 10 * n)
        );
        let stats = sim.stats();
        assert_eq!(stats.total.streams, 1);
        assert_eq!(
            stats.total.output_tokens,
            2 * n,
            "both replies charged in full"
        );
        assert_eq!(stats.total.cancelled_streams, 0);
    }
}

#[tokio::test(start_paused = true)]
async fn dropping_the_stream_cancels_and_charges_only_what_was_sent() {
    for (wire, model) in [(Wire::Anthropic, SONNET), (Wire::OpenAi, GPT)] {
        let (sim, ep, full) = slow_with_reply(wire, model).await;
        assert!(full.usage.output_tokens > 10);
        let mut s = ep.stream(model, &req()).await.unwrap();
        let mut seen = 0;
        while let Some(ev) = s.next().await {
            if ev.unwrap().is_delta() {
                seen += 1;
                if seen == 3 {
                    break;
                }
            }
        }
        drop(s);
        tokio::time::sleep(Duration::from_secs(5)).await;
        let stats = sim.stats();
        assert_eq!(stats.total.streams, 1, "{wire:?}");
        assert_eq!(stats.total.cancelled_streams, 1);
        let streamed = stats.total.output_tokens - full.usage.output_tokens;
        // Sent: the 3 read plus at most the one in the channel.
        assert!((3..=4).contains(&streamed), "{wire:?}: {streamed}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_stream_settles_the_output_reservation() {
    // max_tokens OTPM mode reserves 200 at admission; a cancelled stream gives back
    // everything but what it sent.
    let sim = sim_with(|c| {
        c.sim.per_token = Duration::from_millis(10);
        c.sim.otpm_mode = OtpmMode::MaxTokens;
    });
    let ep = endpoint(&sim, Wire::Anthropic);
    let mut s = ep.stream(SONNET, &req()).await.unwrap();
    while let Some(ev) = s.next().await {
        if ev.unwrap().is_delta() {
            break;
        }
    }
    drop(s);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let key = KeyId::of("sk-stream");
    let otpm = sim
        .windows(&key, SONNET)
        .into_iter()
        .find(|w| w.dim == limiter::Dim::OutputTokens)
        .unwrap();
    let used = otpm.limit - otpm.level;
    // 1–2 tokens charged, minus refill over ~1 s: nowhere near the 200 reserved.
    assert!(used < 5.0, "{used}");
}

#[tokio::test(start_paused = true)]
async fn an_injected_mid_stream_fault_surfaces_as_a_typed_error_after_n_tokens() {
    let fault = Fault::new(FaultKind::MidStream { after_tokens: 4 }, 1.0);
    for (wire, model) in [(Wire::Anthropic, SONNET), (Wire::OpenAi, GPT)] {
        let sim = slow_sim(vec![fault.clone()]);
        let ep = endpoint(&sim, wire);
        let mut s = ep.stream(model, &req()).await.unwrap();
        let mut deltas = 0;
        let mut error = None;
        while let Some(ev) = s.next().await {
            match ev {
                Ok(e) if e.is_delta() => deltas += 1,
                Ok(_) => {}
                Err(f) => error = Some(f.error),
            }
        }
        let e = error.unwrap();
        assert_eq!(deltas, 4, "{wire:?}");
        assert_eq!(e.deltas_delivered(), 4);
        assert!(!e.is_retryable());
        match wire {
            Wire::Anthropic => assert!(matches!(
                e.underlying(),
                ProviderError::Overloaded { status: 529, .. }
            )),
            Wire::OpenAi => assert!(matches!(
                e.underlying(),
                ProviderError::Server { status: 500, .. }
            )),
            other => panic!("no simulator for {other:?}"),
        }
        let stats = sim.stats();
        assert_eq!(stats.total.stream_errors, 1);
        assert_eq!(stats.total.output_tokens, 4);
        // A non-streamed request ignores the mid-stream fault.
        assert!(ep.complete(model, &req()).await.is_ok());
    }
}

#[tokio::test(start_paused = true)]
async fn errors_before_the_stream_starts_are_plain_classified_responses() {
    let sim = sim_with(|c| c.sim.faults = vec![Fault::new(FaultKind::Status(529), 1.0)]);
    let e = endpoint(&sim, Wire::Anthropic)
        .stream(SONNET, &req())
        .await
        .unwrap_err();
    assert!(matches!(
        e.error,
        ProviderError::Overloaded { status: 529, .. }
    ));
    assert!(!e.error.is_mid_stream());
    assert!(e.error.is_retryable());
}

#[tokio::test(start_paused = true)]
async fn wire_format_matches_the_vendor_shapes() {
    let sim = sim_with(|_| {});
    let mut b = hello(50);
    b["stream"] = json!(true);
    let r = answer(&sim, anthropic(&b), 200).await;
    assert!(header(&r, "content-type").starts_with("text/event-stream"));
    let text = String::from_utf8(r.body.to_vec()).unwrap();
    let names: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("event: "))
        .collect();
    assert_eq!(names[..3], ["message_start", "content_block_start", "ping"]);
    assert_eq!(
        names[names.len() - 3..],
        ["content_block_stop", "message_delta", "message_stop"]
    );
    assert!(text.contains(r#""output_tokens":1}"#));

    let mut c = chat(50);
    c["stream"] = json!(true);
    let r = sim.handle(openai(&c)).await;
    let text = String::from_utf8(r.body.to_vec()).unwrap();
    assert!(text
        .lines()
        .all(|l| l.is_empty() || l.starts_with("data: ")));
    assert!(text.ends_with("data: [DONE]\n\n"));
    assert!(text.contains(r#""delta":{"content":"","refusal":null,"role":"assistant"}"#));
    assert!(
        !text.contains(r#""choices":[]"#),
        "no usage chunk unless asked"
    );
    c["stream_options"] = json!({"include_usage": true});
    let r = sim.handle(openai(&c)).await;
    let text = String::from_utf8(r.body.to_vec()).unwrap();
    assert!(text.contains(r#""choices":[],"#) && text.contains(r#""usage":null"#));
    c["stream"] = json!(false);
    assert_eq!(sim.handle(openai(&c)).await.status, 400);
}
