//! Paused-time tests that an attempt whose transport never returns cannot hold its lane
//! slot: after the provider's timeout plus the broker's grace the attempt is abandoned —
//! slot and reservation freed, retried as a timeout (or answered with one), counted in
//! `attempts_abandoned` — and a report that comes later is ignored.

use crate::common;

use common::*;
use futures_util::future::BoxFuture;
use quotaswarm::broker;
use quotaswarm::provider::{HttpRequest, HttpResponse, ProviderError, Transport, TransportError};
use quotaswarm::CompletionRequest;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// The first `stuck` attempts never return (or, with `late`, return a completion
/// after that long); the others answer at once.
#[derive(Clone)]
struct Stuck {
    stuck: usize,
    late: Option<Duration>,
    calls: Arc<AtomicUsize>,
}

impl Stuck {
    fn new(stuck: usize, late: Option<Duration>) -> Self {
        Stuck {
            stuck,
            late,
            calls: Arc::new(AtomicUsize::new(0)),
        }
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

impl Transport for Stuck {
    fn send(&self, _request: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        let (stuck, late) = (n < self.stuck, self.late);
        Box::pin(async move {
            if stuck {
                match late {
                    Some(after) => tokio::time::sleep(after).await,
                    None => std::future::pending::<()>().await,
                }
                return Ok(anthropic_ok("late", 10, 5));
            }
            Ok(anthropic_ok("fine", 10, 5))
        })
    }
}

/// A broker over `transport` whose provider times out after 10 s (the broker adds its
/// 30 s grace).
async fn stuck_broker(transport: &Stuck, extra: &str) -> broker::Broker {
    let mut config = one_model_config(extra);
    for p in config.providers.values_mut() {
        p.timeout = Duration::from_secs(10);
    }
    start_over(config, Arc::new(transport.clone())).await
}

#[tokio::test(start_paused = true)]
async fn an_attempt_that_never_returns_is_abandoned_and_retried_as_a_timeout() {
    let transport = Stuck::new(1, None);
    // One slot: the retry, and the next request, need the stuck attempt's slot back.
    let extra = "[broker]\nmax_in_flight = 1\nbackoff_base_secs = 0.1\n";
    let b = stuck_broker(&transport, extra).await;
    let start = Instant::now();
    assert_eq!(ask_m(&b, "hello").await.unwrap().text(), "fine");
    let took = start.elapsed();
    assert!(took >= Duration::from_secs(40), "abandoned after {took:?}");
    assert!(
        took <= Duration::from_millis(40_100),
        "abandoned after {took:?}"
    );
    assert_eq!(ask_m(&b, "and again").await.unwrap().text(), "fine");
    assert_eq!(transport.calls(), 3);
    let stats = b.handle.stats().await.unwrap();
    assert_eq!(stats.attempts_abandoned, 1);
    assert_eq!(stats.in_flight, 0);
    let lane = stats.lane("m").unwrap();
    assert_eq!(lane.attempts_abandoned, 1);
    assert_eq!(lane.failures, 1);
    assert_eq!(lane.completions, 2);
}

#[tokio::test(start_paused = true)]
async fn when_every_attempt_hangs_the_caller_gets_a_timeout_after_max_attempts() {
    let transport = Stuck::new(usize::MAX, None);
    let extra = "[broker]\nmax_attempts = 2\nbackoff_base_secs = 0.1\n";
    let b = stuck_broker(&transport, extra).await;
    let err = ask_m(&b, "hello").await.unwrap_err();
    let timed_out = matches!(provider_error(&err), Some(ProviderError::Timeout));
    assert!(timed_out, "{err:?}");
    assert_eq!(transport.calls(), 2);
    let stats = b.handle.stats().await.unwrap();
    assert_eq!(stats.attempts_abandoned, 2);
    assert_eq!(stats.in_flight, 0);
    assert_eq!(stats.failed, 1);
    let text = quotaswarm::monitor::render_prometheus(&stats);
    assert!(
        text.contains("quotaswarm_attempts_abandoned_total 2"),
        "{text}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_report_after_the_abandonment_is_ignored() {
    // The first attempt answers only after 100 s, long after it was abandoned (at 40 s)
    // and retried.
    let transport = Stuck::new(1, Some(Duration::from_secs(100)));
    let b = stuck_broker(&transport, "[broker]\nbackoff_base_secs = 0.1\n").await;
    let reply = ask_m(&b, "hello").await.unwrap();
    assert_eq!(reply.text(), "fine", "the retry's answer, not the late one");
    tokio::time::sleep(Duration::from_secs(120)).await;
    let stats = b.handle.stats().await.unwrap();
    assert_eq!(stats.attempts_abandoned, 1);
    assert_eq!(stats.completed, 1);
    assert_eq!(stats.failed, 0);
    assert_eq!(stats.in_flight, 0);
    let lane = stats.lane("m").unwrap();
    assert_eq!(lane.completions, 1, "the late answer was not counted");
    assert_eq!(lane.failures, 1);
}

/// A broker over `transport` whose streams time out after 5 s without an event.
async fn stream_broker(transport: &LongStream) -> broker::Broker {
    let mut config = one_model_config("");
    for p in config.providers.values_mut() {
        p.stream_idle_timeout = Duration::from_secs(5);
    }
    start_over(config, Arc::new(transport.clone())).await
}

#[tokio::test(start_paused = true)]
async fn a_stream_that_goes_silent_after_a_delta_is_abandoned_and_not_retried() {
    let transport = LongStream::new(3, Some(3));
    let b = stream_broker(&transport).await;
    let start = Instant::now();
    let mut stream = b
        .handle
        .stream(CompletionRequest::prompt("m", "hello"))
        .await
        .unwrap();
    let read = drain(&mut stream, true).await;
    assert_eq!(read.texts, ["w0 "], "one delta, never repeated");
    let err = read
        .errors
        .first()
        .expect("the stream ended without an error");
    assert!(is_mid_stream(err, 1), "{err:?}");
    // The stream idle timeout (5 s) plus the grace (30 s) after the last event.
    let took = start.elapsed();
    assert!(took >= Duration::from_secs(35), "{took:?}");
    assert!(took <= Duration::from_millis(35_100), "{took:?}");
    assert_eq!(transport.calls(), 1);
    let stats = b.handle.stats().await.unwrap();
    assert_eq!(stats.attempts_abandoned, 1);
    assert_eq!(stats.in_flight, 0);
}

#[tokio::test(start_paused = true)]
async fn a_stream_held_up_by_a_slow_reader_is_not_abandoned() {
    let transport = LongStream::new(1_000, None);
    let b = stream_broker(&transport).await;
    let mut stream = b
        .handle
        .stream(CompletionRequest::prompt("m", "a long answer").max_tokens(4_000))
        .await
        .unwrap();
    // The buffer fills and the provider waits on the reader for far longer than the
    // idle timeout and the grace.
    tokio::time::sleep(Duration::from_secs(300)).await;
    let read = drain(&mut stream, false).await;
    assert!(read.errors.is_empty(), "{:?}", read.errors);
    assert!(read.done.is_some());
    assert_eq!(read.texts.len(), 1_000);
    let stats = b.handle.stats().await.unwrap();
    assert_eq!(stats.attempts_abandoned, 0);
    assert_eq!(stats.completed, 1);
}
