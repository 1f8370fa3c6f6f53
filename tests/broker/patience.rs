//! Paused-time tests that a rate limit is a wait, not a failure: 429s and 529s are
//! retried for as long as the request's patience (`rate_limit_patience_secs`, or a
//! longer `max_wait`) allows, however many there are, while 5xx still count against
//! `max_attempts`; when the patience runs out, the error says how long it waited and
//! how many rate limits it saw.

use crate::common;

use common::*;
use futures_util::future::BoxFuture;
use quotaswarm::broker::{self, BrokerError};
use quotaswarm::provider::{HttpRequest, HttpResponse, ProviderError, Transport, TransportError};
use quotaswarm::CompletionRequest;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

async fn scripted_broker(script: &Scripted, extra: &str) -> broker::Broker {
    broker_over(Arc::new(script.clone()), extra).await
}

fn limited(retry_after: &str) -> quotaswarm::provider::HttpResponse {
    anthropic_error(429, "rate_limit_error", &[("retry-after", retry_after)])
}

#[tokio::test(start_paused = true)]
async fn more_429s_than_max_attempts_still_end_in_an_answer_within_the_patience() {
    let mut script = vec![limited("2"); 12];
    script.push(anthropic_ok("through", 10, 5));
    let script = Scripted::new(script);
    let b = scripted_broker(&script, "[broker]\nmax_attempts = 2\n").await;
    let start = Instant::now();
    assert_eq!(ask_m(&b, "hello").await.unwrap().text(), "through");
    assert_eq!(script.arrivals().len(), 13);
    // Twelve waits of the server's retry-after.
    let took = start.elapsed();
    assert!(took >= Duration::from_secs(24), "{took:?}");
    assert!(took < Duration::from_secs(25), "{took:?}");
    let stats = b.handle.stats().await.unwrap();
    assert_eq!(stats.rate_limited, 12);
    assert_eq!(stats.retries, 12);
    assert_eq!(stats.completed, 1);
    assert_eq!(stats.failed, 0);
}

#[tokio::test(start_paused = true)]
async fn overload_answers_529_and_503_are_waits_too() {
    let mut script = Vec::new();
    for _ in 0..4 {
        script.push(anthropic_error(529, "overloaded_error", &[]));
        script.push(anthropic_error(503, "api_error", &[("retry-after", "1")]));
    }
    script.push(anthropic_ok("back", 10, 5));
    let script = Scripted::new(script);
    let extra = "[broker]\nmax_attempts = 2\nbackoff_base_secs = 0.5\n";
    let b = scripted_broker(&script, extra).await;
    assert_eq!(ask_m(&b, "hello").await.unwrap().text(), "back");
    assert_eq!(script.arrivals().len(), 9);
    let lane = b.handle.stats().await.unwrap();
    let lane = lane.lane("m").unwrap();
    assert_eq!(lane.status.get("529"), Some(&4));
    assert_eq!(lane.status.get("503"), Some(&4));
}

#[tokio::test(start_paused = true)]
async fn past_the_patience_the_error_says_how_long_it_waited_and_how_many_429s_it_saw() {
    let script = Scripted::new(vec![limited("10")]);
    let b = scripted_broker(&script, "[broker]\nrate_limit_patience_secs = 60\n").await;
    let start = Instant::now();
    let err = ask_m(&b, "hello").await.unwrap_err();
    // 429s at 0, 10, …, 60 s: after the one at 60 s another 10 s would pass the patience.
    match &err {
        BrokerError::RateLimitedTooLong {
            model,
            waited,
            rate_limited,
            patience,
            error,
            ..
        } => {
            assert!(
                matches!(**error, ProviderError::RateLimited { .. }),
                "{error:?}"
            );
            assert_eq!(model, "m");
            assert_eq!(*rate_limited, 7);
            assert_eq!(*waited, Duration::from_secs(60));
            assert_eq!(*patience, Duration::from_secs(60));
        }
        other => panic!("expected RateLimitedTooLong, got {other:?}"),
    }
    assert_eq!(start.elapsed(), Duration::from_secs(60));
    assert_eq!(script.arrivals().len(), 7);
    let text = err.to_string();
    for part in [
        "after 60.0s",
        "7 rate-limit answers",
        "rate_limit_patience_secs",
        "max_wait",
    ] {
        assert!(text.contains(part), "{part:?} missing from: {text}");
    }
    let stats = b.handle.stats().await.unwrap();
    assert_eq!(stats.failed, 1);
    assert_eq!(stats.in_flight, 0);
}

#[tokio::test(start_paused = true)]
async fn a_longer_max_wait_extends_the_patience() {
    let script = Scripted::new(vec![limited("10")]);
    let b = scripted_broker(&script, "[broker]\nrate_limit_patience_secs = 20\n").await;
    let err = b
        .handle
        .complete(CompletionRequest::prompt("m", "hello").max_wait(Duration::from_secs(40)))
        .await
        .unwrap_err();
    match err {
        BrokerError::RateLimitedTooLong {
            waited,
            patience,
            rate_limited,
            ..
        } => {
            assert_eq!(patience, Duration::from_secs(40));
            assert_eq!(waited, Duration::from_secs(40));
            assert_eq!(rate_limited, 5);
        }
        other => panic!("expected RateLimitedTooLong, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn server_errors_still_count_against_max_attempts_between_429s() {
    // 429s in between do not use up the attempts: the third 500 is the last.
    let script = Scripted::new(vec![
        limited("1"),
        anthropic_error(500, "api_error", &[]),
        limited("1"),
        limited("1"),
        anthropic_error(500, "api_error", &[]),
        limited("1"),
        anthropic_error(500, "api_error", &[]),
        anthropic_ok("never reached", 10, 5),
    ]);
    let extra = "[broker]\nmax_attempts = 3\nbackoff_base_secs = 0.1\n";
    let b = scripted_broker(&script, extra).await;
    let err = ask_m(&b, "hello").await.unwrap_err();
    let server_error = matches!(
        provider_error(&err),
        Some(ProviderError::Server { status: 500, .. })
    );
    assert!(server_error, "{err:?}");
    assert_eq!(script.arrivals().len(), 7);
}

/// A scripted transport that also records which request (by its `ask-X` marker) each
/// attempt carried.
#[derive(Clone)]
struct Recording {
    script: Scripted,
    seen: Arc<Mutex<Vec<String>>>,
}

impl Transport for Recording {
    fn send(&self, request: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        let body = String::from_utf8_lossy(&request.body).into_owned();
        let marker = ["ask-A", "ask-B", "ask-C"]
            .into_iter()
            .find(|m| body.contains(m))
            .unwrap_or("?");
        self.seen.lock().unwrap().push(marker.to_string());
        self.script.send(request)
    }
}

#[tokio::test(start_paused = true)]
async fn a_rate_limited_request_keeps_its_place_in_the_queue() {
    let transport = Recording {
        script: Scripted::new(vec![
            limited("1"),
            limited("1"),
            anthropic_ok("fine", 10, 5),
        ]),
        seen: Arc::default(),
    };
    let b = broker_over(Arc::new(transport.clone()), "[broker]\nmax_in_flight = 2\n").await;
    let h = &b.handle;
    // A and B go at once and are both answered 429; C arrives behind them and queues.
    let (a, bb, c) = tokio::join!(
        h.complete(CompletionRequest::prompt("m", "ask-A")),
        h.complete(CompletionRequest::prompt("m", "ask-B")),
        h.complete(CompletionRequest::prompt("m", "ask-C")),
    );
    for r in [a, bb, c] {
        assert_eq!(r.unwrap().text(), "fine");
    }
    let seen = transport.seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        ["ask-A", "ask-B", "ask-A", "ask-B", "ask-C"],
        "after the pause, A and B go again in their arrival order, ahead of C"
    );
}
