//! Paused-time tests of the broker's monitoring figures: time to exhaustion, 429 rate and
//! backoff percentiles, mailbox depth, cost, and that no key ever shows.

use crate::common;

use common::*;
use futures_util::future::join_all;
use quotaswarm::broker::{self, StartOptions};
use quotaswarm::CompletionRequest;
use std::sync::Arc;
use std::time::Duration;

fn ok_with_usage(
    input: u64,
    output: u64,
    cache_read: u64,
    cache_write: u64,
) -> quotaswarm::provider::HttpResponse {
    let body = serde_json::json!({
        "id": "msg_x", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
        "content": [{"type": "text", "text": "ok"}], "stop_reason": "end_turn",
        "usage": {"input_tokens": input, "output_tokens": output,
                  "cache_read_input_tokens": cache_read, "cache_creation_input_tokens": cache_write}
    });
    response(200, &[], body)
}

/// Without the alert watcher: its snapshots would be messages among those these tests
/// count (mailbox depth, messages handled).
async fn broker_with(script: &Scripted, limits: &str, options: StartOptions) -> broker::Broker {
    let mut config = quotaswarm::Config::from_toml_str(
        &format!(
            "[providers.anthropic]\nkind = \"sim\"\nwire = \"anthropic\"\n\
             [models.m]\nprovider = \"anthropic\"\nmodel = \"claude-sonnet-4-5\"\n{limits}\n\
             input_price = 3.0\noutput_price = 15.0\ncache_read_price = 0.3\ncache_write_price = 3.75\n\
             [models.idle]\nprovider = \"anthropic\"\nrpm = 60\nitpm = 6000\notpm = 6000\n"
        ),
        "test",
    )
    .unwrap();
    config.alerts.enabled = false;
    let eps = endpoints_over(&config, Arc::new(script.clone()));
    broker::start(config, eps, options).await.unwrap()
}

/// A broker with room for every test's few requests.
async fn roomy(script: &Scripted) -> broker::Broker {
    broker_with(
        script,
        "rpm = 600\nitpm = 60000\notpm = 60000",
        StartOptions::default(),
    )
    .await
}

/// Sends `n` distinct questions to `m` one after another; each is answered.
async fn ask_n(h: &quotaswarm::BrokerHandle, n: usize) {
    for i in 0..n {
        h.complete(CompletionRequest::prompt("m", format!("q{i}")))
            .await
            .unwrap();
    }
}

#[tokio::test(start_paused = true)]
async fn burning_input_at_twice_the_refill_predicts_time_to_exhaustion() {
    // 6000 input tokens a minute = 100/s, one minute of burst; burn 200/s.
    let script = Scripted::new(vec![ok_with_usage(200, 10, 0, 0)]);
    let b = broker_with(
        &script,
        "rpm = 6000\nitpm = 6000\notpm = 600000\nburst_secs = 60",
        StartOptions::default(),
    )
    .await;
    let h = b.handle.clone();
    let start = tokio::time::Instant::now();
    for i in 0..45u64 {
        h.complete(CompletionRequest::prompt("m", format!("tick {i}")).max_tokens(10))
            .await
            .unwrap();
        tokio::time::sleep_until(start + Duration::from_secs(i + 1)).await;
    }
    let stats = h.stats().await.unwrap();
    let lane = stats.lane("m").unwrap();
    let input = lane
        .buckets
        .iter()
        .find(|b| b.bucket == "input_tokens")
        .unwrap();
    let predicted = input.level / (200.0 - 100.0);
    let tte = input.time_to_exhaustion_secs.expect("draining");
    println!(
        "level {:.0}, burn {:.1}/s, time to exhaustion {tte:.1}s, predicted {predicted:.1}s",
        input.level, input.burn_per_sec
    );
    assert!(
        (tte - predicted).abs() / predicted <= 0.10,
        "{tte} vs {predicted}"
    );
    let idle = stats.lane("idle").unwrap();
    assert!(
        idle.buckets
            .iter()
            .all(|b| b.time_to_exhaustion_secs.is_none()),
        "an idle lane reports none"
    );
}

#[tokio::test(start_paused = true)]
async fn the_429_rate_and_backoff_percentiles_follow_a_scripted_sequence() {
    let mut responses = vec![
        anthropic_error(429, "rate_limit_error", &[("retry-after", "1")]),
        anthropic_error(429, "rate_limit_error", &[("retry-after", "3")]),
    ];
    responses.extend((0..8).map(|_| ok_with_usage(20, 5, 0, 0)));
    let script = Scripted::new(responses);
    let b = roomy(&script).await;
    let h = b.handle.clone();
    ask_n(&h, 8).await;
    let s = h.stats().await.unwrap();
    let lane = s.lane("m").unwrap();
    assert_eq!(lane.requests, 10);
    assert_eq!(s.rate_limited, 2);
    assert_eq!(s.rate_limited_last_minute, 2);
    assert!(
        (s.rate_limited_share - 0.2).abs() < 1e-9,
        "{}",
        s.rate_limited_share
    );
    assert_eq!(s.retries, 2);
    assert!(
        (s.backoff_wait_p50_secs - 1.0).abs() < 0.02,
        "{}",
        s.backoff_wait_p50_secs
    );
    assert!(
        (s.backoff_wait_p95_secs - 3.0).abs() < 0.05,
        "{}",
        s.backoff_wait_p95_secs
    );
    assert!(s.advice.iter().any(|a| a.contains("429")), "{:?}", s.advice);
}

#[tokio::test(start_paused = true)]
async fn backoff_p95_and_429_rates_fall_back_once_their_window_has_passed() {
    let mut responses: Vec<_> = (0..4)
        .map(|_| anthropic_error(429, "rate_limit_error", &[("retry-after", "5")]))
        .collect();
    responses.extend((0..8).map(|_| ok_with_usage(20, 5, 0, 0)));
    let script = Scripted::new(responses);
    let b = roomy(&script).await;
    let h = b.handle.clone();
    h.complete(CompletionRequest::prompt("m", "burst"))
        .await
        .unwrap();
    let s = h.stats().await.unwrap();
    assert!(
        s.backoff_wait_p95_secs >= 4.9,
        "{}",
        s.backoff_wait_p95_secs
    );
    assert!(
        s.advice.iter().any(|a| a.contains("p95 backoff")),
        "{:?}",
        s.advice
    );
    assert_eq!(s.rate_limited_last_minute, 4);

    // Six minutes of calm: the backoff percentiles and the minute's 429s forget the
    // burst, the hour still holds it.
    tokio::time::sleep(Duration::from_secs(6 * 60)).await;
    h.complete(CompletionRequest::prompt("m", "calm"))
        .await
        .unwrap();
    let s = h.stats().await.unwrap();
    assert_eq!(s.backoff_wait_p95_secs, 0.0);
    assert_eq!(s.lane("m").unwrap().backoff_wait_p95_secs, 0.0);
    assert!(s.lane("m").unwrap().queue_wait_p95_secs < 1.0);
    assert!(
        !s.advice.iter().any(|a| a.contains("p95 backoff")),
        "{:?}",
        s.advice
    );
    assert_eq!(s.rate_limited_last_minute, 0);
    assert_eq!(s.rate_limited_last_hour, 4);
    assert_eq!(s.rate_limited, 4);

    // An hour later the 429 share is back to zero, and so is the advice.
    tokio::time::sleep(Duration::from_secs(3600)).await;
    let s = h.stats().await.unwrap();
    assert_eq!(s.rate_limited_last_hour, 0);
    assert_eq!(s.rate_limited_share, 0.0);
    assert!(s.advice.is_empty(), "{:?}", s.advice);
    assert_eq!(s.rate_limited, 4, "the run's total stays");
}

#[tokio::test(start_paused = true)]
async fn mailbox_depth_rises_with_unhandled_messages_and_returns_to_zero() {
    let script = Scripted::new(vec![ok_with_usage(20, 5, 0, 0)]);
    let options = StartOptions::default().handling_delay(Duration::from_millis(10));
    let b = broker_with(
        &script,
        "rpm = 60000\nitpm = 6000000\notpm = 6000000",
        options,
    )
    .await;
    let h = b.handle.clone();
    let calls: Vec<_> = (0..50)
        .map(|i| {
            let h = h.clone();
            tokio::spawn(async move {
                h.complete(CompletionRequest::prompt("m", format!("q{i}")))
                    .await
            })
        })
        .collect();
    // Let every caller send; the broker takes 10 ms a message.
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
    let depth = h.mailbox_depth();
    assert!((49..=50).contains(&depth), "depth {depth}");
    for c in join_all(calls).await {
        c.unwrap().unwrap();
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(h.mailbox_depth(), 0);
    let s = h.stats().await.unwrap();
    assert!(s.messages_handled >= 100, "{}", s.messages_handled);
}

#[tokio::test(start_paused = true)]
async fn costs_match_the_config_prices_by_hand() {
    let script = Scripted::new(vec![ok_with_usage(1000, 500, 200, 100)]);
    let b = roomy(&script).await;
    let h = b.handle.clone();
    ask_n(&h, 4).await;
    let s = h.stats().await.unwrap();
    // (1000 × $3 + 500 × $15 + 200 × $0.30 + 100 × $3.75) per million, four times.
    let by_hand = 4.0 * (1000.0 * 3.0 + 500.0 * 15.0 + 200.0 * 0.3 + 100.0 * 3.75) / 1e6;
    assert!(
        (s.cost_usd - by_hand).abs() < 1e-12,
        "{} vs {by_hand}",
        s.cost_usd
    );
    assert!((s.lane("m").unwrap().cost_usd - by_hand).abs() < 1e-12);
    assert!((s.cost_burn_usd_per_min - by_hand).abs() < 1e-12);
    assert_eq!(s.input_tokens, 4000);
    assert_eq!(s.output_tokens, 2000);
}
