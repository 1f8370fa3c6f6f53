//! Paused-time broker tests of retries, over a scripted transport (exact failure
//! sequences) — the broker, wire code and classification are the real ones.

use crate::common;

use common::*;
use quotaswarm::broker::BrokerError;
use quotaswarm::provider::ProviderError;
use quotaswarm::CompletionRequest;
use std::sync::Arc;
use std::time::Duration;

#[tokio::test(start_paused = true)]
async fn a_429_with_retry_after_7_is_not_retried_before_7s() {
    let script = Scripted::new(vec![
        anthropic_error(429, "rate_limit_error", &[("retry-after", "7")]),
        anthropic_ok("fine", 10, 5),
    ]);
    let b = broker_over(Arc::new(script.clone()), "").await;
    let reply = ask_m(&b, "hello").await.unwrap();
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
    let b = broker_over(Arc::new(script.clone()), "").await;
    let err = ask_m(&b, "hello").await.unwrap_err();
    assert!(
        matches!(provider_error(&err), Some(ProviderError::BadRequest { .. })),
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
    let b = broker_over(
        Arc::new(script.clone()),
        "[broker]\nbackoff_base_secs = 1.0\n",
    )
    .await;
    let reply = ask_m(&b, "hello").await.unwrap();
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
        Arc::new(script.clone()),
        "[broker]\nmax_attempts = 3\nbackoff_base_secs = 0.1\n",
    )
    .await;
    let err = ask_m(&b, "hello").await.unwrap_err();
    assert!(
        matches!(
            provider_error(&err),
            Some(ProviderError::Server { status: 500, .. })
        ),
        "{err:?}"
    );
    assert_eq!(script.arrivals().len(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_spend_cap_429_is_final() {
    let body = serde_json::json!({"type":"error","error":{"type":"rate_limit_error","message":"You have reached your API usage limits","details":{"error_code":"enforced_spend_limit_reached"}},"request_id":"req_x"});
    let script = Scripted::new(vec![response(429, &[], body)]);
    let b = broker_over(Arc::new(script.clone()), "").await;
    let err = ask_m(&b, "hello").await.unwrap_err();
    assert!(
        matches!(
            provider_error(&err),
            Some(ProviderError::QuotaExhausted { .. })
        ),
        "{err:?}"
    );
    assert_eq!(script.arrivals().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn bad_input_is_refused_at_once_and_the_broker_keeps_going() {
    let script = Scripted::new(vec![anthropic_ok("still here", 10, 5)]);
    let b = broker_over(Arc::new(script.clone()), "").await;
    let h = &b.handle;
    let empty = CompletionRequest::new("m");
    assert!(matches!(
        h.complete(empty).await,
        Err(BrokerError::InvalidRequest(m)) if m.to_string().contains("messages is empty")
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

/// Answers `answers` requests, then refuses every connection (a server that went away),
/// counting attempts.
#[derive(Clone, Default)]
struct RefusesAfter {
    answers: usize,
    attempts: Arc<std::sync::atomic::AtomicUsize>,
}

impl quotaswarm::provider::Transport for RefusesAfter {
    fn send(
        &self,
        _request: quotaswarm::provider::HttpRequest,
    ) -> futures_util::future::BoxFuture<
        '_,
        Result<quotaswarm::provider::HttpResponse, quotaswarm::provider::TransportError>,
    > {
        let n = self
            .attempts
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let outcome = if n < self.answers {
            Ok(anthropic_ok("here", 10, 5))
        } else {
            Err(quotaswarm::provider::TransportError::Unreachable {
                base_url: "http://127.0.0.1:9".into(),
                reason: "connection refused".into(),
            })
        };
        Box::pin(async move { outcome })
    }
}

#[tokio::test(start_paused = true)]
async fn a_refused_connection_fails_at_once_naming_the_base_url_when_the_endpoint_never_answered() {
    let t = RefusesAfter::default();
    let b = broker_over(Arc::new(t.clone()), "").await;
    let t0 = tokio::time::Instant::now();
    // More requests than the circuit's threshold: none waits for a cool-down either.
    for i in 0..8 {
        let err = b
            .handle
            .complete(CompletionRequest::prompt("m", format!("hello {i}")))
            .await
            .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("nothing answers at http://127.0.0.1:9 (connection refused)")
                && text.contains("check providers.anthropic.base_url"),
            "{text}"
        );
    }
    assert_eq!(t0.elapsed(), Duration::ZERO, "no backoff, no cool-down");
    assert_eq!(t.attempts.load(std::sync::atomic::Ordering::SeqCst), 8);
    let stats = b.handle.stats().await.unwrap();
    assert_eq!(stats.retries, 0);
    assert_eq!(stats.failed, 8);
    assert_eq!(stats.lane("m").unwrap().circuit_opened, 0);
}

#[tokio::test(start_paused = true)]
async fn a_refused_connection_is_retried_with_backoff_once_the_endpoint_has_answered() {
    let t = RefusesAfter {
        answers: 1,
        ..RefusesAfter::default()
    };
    let b = broker_over(Arc::new(t.clone()), "").await;
    let ok = ask_m(&b, "first").await.unwrap();
    assert_eq!(ok.text(), "here");
    let t0 = tokio::time::Instant::now();
    let err = ask_m(&b, "second").await.unwrap_err();
    assert!(err.to_string().contains("nothing answers"), "{err}");
    // The first answer, then max_attempts (5) attempts of the second request.
    assert_eq!(t.attempts.load(std::sync::atomic::Ordering::SeqCst), 6);
    assert!(t0.elapsed() > Duration::ZERO, "backed off between attempts");
    assert_eq!(b.handle.stats().await.unwrap().retries, 4);
}
