//! Paused-time broker tests of retries, over a scripted transport (exact failure
//! sequences) — the broker, wire code and classification are the real ones.

mod common;

use common::*;
use quotaswarm::broker::{self, BrokerError, StartOptions};
use quotaswarm::provider::ProviderError;
use quotaswarm::CompletionRequest;
use std::sync::Arc;
use std::time::Duration;

async fn broker_over(script: &Scripted, extra: &str) -> broker::Broker {
    let config = one_model_config(extra);
    let eps = endpoints_over(&config, Arc::new(script.clone()));
    broker::start(config, eps, StartOptions::default())
        .await
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_429_with_retry_after_7_is_not_retried_before_7s() {
    let script = Scripted::new(vec![
        anthropic_error(429, "rate_limit_error", &[("retry-after", "7")]),
        anthropic_ok("fine", 10, 5),
    ]);
    let b = broker_over(&script, "").await;
    let reply = b
        .handle
        .complete(CompletionRequest::prompt("m", "hello"))
        .await
        .unwrap();
    assert_eq!(reply.text(), "fine");
    let at = script.arrivals();
    assert_eq!(at.len(), 2);
    let gap = at[1] - at[0];
    assert!(gap >= Duration::from_secs(7), "retried after {gap:?}");
    assert!(gap < Duration::from_millis(7100), "retried after {gap:?}");
    let stats = b.handle.stats().await.unwrap();
    assert_eq!(stats.retries, 1);
    assert_eq!(stats.rate_limited, 1);
}

#[tokio::test(start_paused = true)]
async fn a_400_is_sent_once_and_reaches_the_caller() {
    let script = Scripted::new(vec![anthropic_error(400, "invalid_request_error", &[])]);
    let b = broker_over(&script, "").await;
    let err = b
        .handle
        .complete(CompletionRequest::prompt("m", "hello"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            BrokerError::Provider {
                error: ProviderError::BadRequest { .. },
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(script.arrivals().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_529_is_retried_with_growing_backoff() {
    let script = Scripted::new(vec![
        anthropic_error(529, "overloaded_error", &[]),
        anthropic_error(529, "overloaded_error", &[]),
        anthropic_error(529, "overloaded_error", &[]),
        anthropic_ok("back", 10, 5),
    ]);
    let b = broker_over(&script, "[broker]\nbackoff_base_secs = 1.0\n").await;
    let reply = b
        .handle
        .complete(CompletionRequest::prompt("m", "hello"))
        .await
        .unwrap();
    assert_eq!(reply.text(), "back");
    let at = script.arrivals();
    assert_eq!(at.len(), 4);
    // Full jitter: each wait is within [0, base × 2^k].
    for (k, w) in at.windows(2).enumerate() {
        let gap = w[1] - w[0];
        assert!(
            gap <= Duration::from_secs(1 << k) + Duration::from_millis(5),
            "retry {k}: {gap:?}"
        );
    }
    let stats = b.handle.stats().await.unwrap();
    assert_eq!(stats.retries, 3);
    assert_eq!(stats.lane("m").unwrap().status.get("529"), Some(&3));
}

#[tokio::test(start_paused = true)]
async fn gives_up_after_max_attempts_with_the_last_error() {
    let script = Scripted::new(vec![anthropic_error(500, "api_error", &[])]);
    let b = broker_over(
        &script,
        "[broker]\nmax_attempts = 3\nbackoff_base_secs = 0.1\n",
    )
    .await;
    let err = b
        .handle
        .complete(CompletionRequest::prompt("m", "hello"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            BrokerError::Provider {
                error: ProviderError::Server { status: 500, .. },
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(script.arrivals().len(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_spend_cap_429_is_final() {
    let body = serde_json::json!({"type":"error","error":{"type":"rate_limit_error","message":"You have reached your API usage limits","details":{"error_code":"enforced_spend_limit_reached"}},"request_id":"req_x"});
    let script = Scripted::new(vec![response(429, &[], body)]);
    let b = broker_over(&script, "").await;
    let err = b
        .handle
        .complete(CompletionRequest::prompt("m", "hello"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            BrokerError::Provider {
                error: ProviderError::QuotaExhausted { .. },
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(script.arrivals().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn bad_input_is_refused_at_once_and_the_broker_keeps_going() {
    let script = Scripted::new(vec![anthropic_ok("still here", 10, 5)]);
    let b = broker_over(&script, "").await;
    let h = &b.handle;
    let empty = CompletionRequest::new("m");
    assert!(matches!(
        h.complete(empty).await,
        Err(BrokerError::InvalidRequest(m)) if m.contains("messages is empty")
    ));
    let zero = CompletionRequest::prompt("m", "x").max_tokens(0);
    assert!(matches!(
        h.complete(zero).await,
        Err(BrokerError::InvalidRequest(_))
    ));
    let unknown = CompletionRequest::prompt("nope", "x");
    assert!(matches!(h.complete(unknown).await, Err(BrokerError::UnknownTarget(t)) if t == "nope"));
    let huge = CompletionRequest::prompt("m", "word ".repeat(150_000));
    let err = h.complete(huge).await.unwrap_err();
    assert!(
        matches!(
            err,
            BrokerError::NeverFits { .. } | BrokerError::ContextTooLarge { .. }
        ),
        "{err:?}"
    );
    assert_eq!(script.arrivals().len(), 0, "nothing was sent");
    let ok = h
        .complete(CompletionRequest::prompt("m", "x"))
        .await
        .unwrap();
    assert_eq!(ok.text(), "still here");
    assert_eq!(ok.model, "m");
}
