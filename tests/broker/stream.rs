//! Streaming through the broker over real loopback HTTP against the simulator: deltas in
//! order, the same text as the plain reply, usage as charged; cancel on drop; mid-stream
//! errors retried only before the first delta. And, in paused time over a scripted
//! transport, a caller that reads slowly holds back the provider's stream instead of
//! letting deltas pile up.

use crate::common;

use common::swarm_over_loopback;
use futures_util::StreamExt;
use quotaswarm::broker::{CompletionStream, StreamItem, STREAM_BUFFER};
use quotaswarm::config::{Fault, FaultKind};
use quotaswarm::provider::StreamEvent;
use quotaswarm::swarm::Swarm;
use quotaswarm::{CompletionRequest, Config};
use quotaswarm_sim::SimServer;
use std::sync::Arc;
use std::time::Duration;

async fn setup(sim_extra: &str) -> (Swarm, SimServer) {
    let mut config = Config::from_toml_str_over_previous_defaults(
        &format!("[broker]\nbackoff_base_secs = 0.05\n[sim]\nlatency_ms = 5\n{sim_extra}"),
        "test",
    )
    .unwrap();
    for m in config.models.values_mut() {
        m.limits = m.limits.scaled(20.0);
    }
    swarm_over_loopback(config, "stream-test").await
}

/// A swarm whose simulator breaks every sonnet stream after `tokens` tokens, and a
/// stream of [`question`] to sonnet started on it.
async fn breaking_sonnet_after(tokens: u32) -> (Swarm, SimServer, CompletionStream) {
    let (swarm, server) = setup(&format!(
        "[[sim.faults]]\nmodel = \"sonnet\"\nmid_stream = true\nafter_tokens = {tokens}\nrate = 1.0\n"
    ))
    .await;
    let stream = swarm.handle().stream(question("sonnet")).await.unwrap();
    (swarm, server, stream)
}

fn question(target: &str) -> CompletionRequest {
    CompletionRequest::prompt(target, "Stream me a long answer about token buckets.")
        .max_tokens(120)
        .temperature(0.0)
        .coalesce(false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_wires_stream_in_order_and_match_the_plain_reply_and_the_charge() {
    let (swarm, server) = setup("").await;
    let h = swarm.handle();
    for target in ["sonnet", "gpt-4o-mini"] {
        let plain = h.complete(question(target)).await.unwrap();
        let before = server.sim.stats();
        let mut stream = h.stream(question(target)).await.unwrap();
        let read = common::drain(&mut stream, false).await;
        assert!(read.errors.is_empty(), "{:?}", read.errors);
        let done = read.done.clone().expect("a final completion");
        let after = server.sim.stats();
        let deltas = read.texts.len();
        assert!(deltas > 3, "{target}: {deltas} deltas");
        assert_eq!(
            read.text(),
            plain.text(),
            "{target}: the streamed text equals the plain reply"
        );
        assert_eq!(done.text(), plain.text());
        assert_eq!(done.model, target);
        let m = &after.models[&done.provider_model];
        let b = before
            .models
            .get(&done.provider_model)
            .cloned()
            .unwrap_or_default();
        assert_eq!(
            done.usage.output_tokens,
            m.output_tokens - b.output_tokens,
            "{target}: output as charged"
        );
        assert_eq!(
            done.usage.total_input(),
            m.input_tokens - b.input_tokens,
            "{target}: input as charged"
        );
    }
    swarm.shutdown().await;
    let _ = server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_stream_cancels_it_and_refunds_the_output_bucket() {
    let (swarm, server) = setup("per_token_ms = 20\n").await;
    let h = swarm.handle();
    let deltas = common::three_deltas_then_drop(&h, question("sonnet")).await;
    // Let the cancellation reach the simulator and the broker.
    let mut cancelled = 0;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let lane = h.stats().await.unwrap();
        cancelled = lane.lane("sonnet").unwrap().cancelled_streams;
        if cancelled == 1 && server.sim.stats().total.cancelled_streams == 1 {
            break;
        }
    }
    assert_eq!(cancelled, 1, "the broker counted the cancelled stream");
    let sim = server.sim.stats();
    assert_eq!(
        sim.total.cancelled_streams, 1,
        "the simulator saw the connection close"
    );
    let charged = sim.models["claude-sonnet-4-6"].output_tokens;
    assert!(
        (3..50).contains(&charged),
        "charged only what was produced: {charged}"
    );
    let stats = h.stats().await.unwrap();
    let out = stats
        .lane("sonnet")
        .unwrap()
        .buckets
        .iter()
        .find(|b| b.bucket == "output_tokens")
        .unwrap()
        .clone();
    // 400 were reserved; after the refund the bucket is short by about what was produced.
    assert!(
        out.capacity - out.level < 60.0,
        "output bucket refunded: {out:?}"
    );
    println!("cancelled after {deltas} deltas; simulator charged {charged} output tokens; output bucket {:.0}/{:.0}", out.level, out.capacity);
    swarm.shutdown().await;
    let _ = server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mid_stream_error_before_any_delta_is_retried() {
    let (swarm, server, mut stream) = breaking_sonnet_after(0).await;
    // Let two attempts fail before any delta, then stop the faults.
    for _ in 0..200 {
        if server.sim.stats().total.stream_errors >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.sim.set_faults(Vec::<Fault>::new());
    let read = common::drain(&mut stream, false).await;
    assert!(read.errors.is_empty(), "{:?}", read.errors);
    assert!(read.done.is_some() && !read.text().is_empty());
    let stats = swarm.handle().stats().await.unwrap();
    assert!(stats.lane("sonnet").unwrap().retries >= 2);
    swarm.shutdown().await;
    let _ = server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mid_stream_error_after_deltas_reaches_the_caller_once() {
    let (swarm, server, mut stream) = breaking_sonnet_after(5).await;
    let read = common::drain(&mut stream, false).await;
    let errors = &read.errors;
    assert_eq!(read.texts.len(), 5);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(common::is_mid_stream(&errors[0], 5), "{:?}", errors[0]);
    assert_eq!(
        server.sim.stats().total.streams,
        1,
        "never retried after deltas"
    );
    let _ = FaultKind::Status(500);
    swarm.shutdown().await;
    let _ = server.shutdown().await;
}

// ---- A slow consumer bounds what is buffered ------------------------------------

#[tokio::test(start_paused = true)]
async fn a_slow_consumer_bounds_the_buffered_events_and_still_gets_every_delta() {
    const DELTAS: usize = 5_000;
    let transport = common::LongStream::new(DELTAS, None);
    let b = common::broker_over(Arc::new(transport.clone()), "").await;
    let req = CompletionRequest::prompt("m", "a very long answer, please").max_tokens(8_000);
    let mut stream = b.handle.stream(req).await.unwrap();
    // The caller reads nothing for a minute.
    tokio::time::sleep(Duration::from_secs(60)).await;
    let buffered = stream.unread();
    let read = transport.read();
    println!(
        "unread for 60 s: {buffered} items buffered, {read} of {} chunks read from the response",
        DELTAS + 5
    );
    assert!(buffered <= STREAM_BUFFER, "{buffered}");
    assert!(
        buffered >= STREAM_BUFFER - 2,
        "the buffer filled up: {buffered}"
    );
    assert!(
        read <= STREAM_BUFFER + 8,
        "the provider task stopped reading the response: {read} chunks read"
    );
    // Then it reads everything: every delta once, in order, then the completion.
    let mut n = 0;
    let mut done = None;
    while let Some(item) = stream.next().await {
        match item.unwrap() {
            StreamItem::Event(StreamEvent::TextDelta { text, .. }) => {
                assert_eq!(text, format!("w{n} "));
                n += 1;
            }
            StreamItem::Event(_) => {}
            StreamItem::Done(c) => done = Some(c),
        }
        assert!(stream.unread() <= STREAM_BUFFER);
    }
    assert_eq!(n, DELTAS);
    let done = done.expect("the completion");
    assert_eq!(done.usage.output_tokens, DELTAS as u64);
    assert_eq!(transport.read(), DELTAS + 5);
    let s = b.handle.stats().await.unwrap();
    assert_eq!((s.queue_depth, s.in_flight), (0, 0));
}
