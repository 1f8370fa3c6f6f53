//! The counters behind `GET /_stats`.

use super::*;

#[tokio::test(start_paused = true)]
async fn counts_what_was_sent_in_stats() {
    let sim = limited(GPT, combined(3.0, 100000.0));
    let mut input = 0;
    let mut output = 0;
    for _ in 0..2 {
        let b = body(&sim.handle(anthropic(&hello(30))).await);
        input += b["usage"]["input_tokens"].as_u64().unwrap();
        output += b["usage"]["output_tokens"].as_u64().unwrap();
    }
    for _ in 0..4 {
        let r = sim.handle(openai(&chat(30))).await;
        if r.status == 200 {
            let b = body(&r);
            input += b["usage"]["prompt_tokens"].as_u64().unwrap();
            output += b["usage"]["completion_tokens"].as_u64().unwrap();
        }
    }
    let bad = request("/v1/messages", &[("x-api-key", "k")], b"nope");
    assert_eq!(sim.handle(bad).await.status, 400);

    let stats = sim.stats();
    assert_eq!(stats.total.requests, 7);
    assert_eq!(stats.total.status(200), 5);
    assert_eq!(stats.total.status(429), 1);
    assert_eq!(stats.total.status(400), 1);
    assert_eq!(stats.total.input_tokens, input);
    assert_eq!(stats.total.output_tokens, output);
    assert_eq!(stats.models[SONNET].requests, 2);
    assert_eq!(stats.models[GPT].status(429), 1);
    assert_eq!(
        stats.keys[&Simulator::key_fingerprint("sk-test")].requests,
        4
    );

    let r = answer(&sim, request("/_stats", &[], b""), 200).await;
    let back: SimStats = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(back, stats);
}
