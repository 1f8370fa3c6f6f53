//! Paused-time tests that an attempt whose transport never returns cannot hold its lane
//! slot: after the provider's timeout plus the broker's grace the attempt is abandoned —
//! slot and reservation freed, retried as a timeout (or answered with one), counted in
//! `attempts_abandoned` — and a report that comes later is ignored.

mod common;

use common::*;
use futures_util::future::BoxFuture;
use futures_util::StreamExt;
use quotaswarm::broker::StreamItem;
use quotaswarm::broker::{self, BrokerError, StartOptions};
use quotaswarm::provider::{
    HttpRequest, HttpResponse, ProviderError, StreamEvent, StreamingResponse, Transport,
    TransportError,
};
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
async fn broker_over(transport: &Stuck, extra: &str) -> broker::Broker {
    let mut config = one_model_config(extra);
    for p in config.providers.values_mut() {
        p.timeout = Duration::from_secs(10);
    }
    let eps = endpoints_over(&config, Arc::new(transport.clone()));
    broker::start(config, eps, StartOptions::default())
        .await
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn an_attempt_that_never_returns_is_abandoned_and_retried_as_a_timeout() {
    let transport = Stuck::new(1, None);
    // One slot: the retry, and the next request, need the stuck attempt's slot back.
    let b = broker_over(
        &transport,
        "[broker]\nmax_in_flight = 1\nbackoff_base_secs = 0.1\n",
    )
    .await;
    let start = Instant::now();
    let reply = b
        .handle
        .complete(CompletionRequest::prompt("m", "hello"))
        .await
        .unwrap();
    assert_eq!(reply.text(), "fine");
    let took = start.elapsed();
    assert!(took >= Duration::from_secs(40), "abandoned after {took:?}");
    assert!(
        took <= Duration::from_millis(40_100),
        "abandoned after {took:?}"
    );
    let next = b
        .handle
        .complete(CompletionRequest::prompt("m", "and again"))
        .await
        .unwrap();
    assert_eq!(next.text(), "fine");
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
    let b = broker_over(
        &transport,
        "[broker]\nmax_attempts = 2\nbackoff_base_secs = 0.1\n",
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
                error: ProviderError::Timeout,
                ..
            }
        ),
        "{err:?}"
    );
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
    let b = broker_over(&transport, "[broker]\nbackoff_base_secs = 0.1\n").await;
    let reply = b
        .handle
        .complete(CompletionRequest::prompt("m", "hello"))
        .await
        .unwrap();
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

/// Streams an Anthropic answer of `deltas` text deltas; with `hang`, the body stops
/// after the first delta and never ends.
#[derive(Clone)]
struct StreamThenHang {
    deltas: usize,
    hang: bool,
    calls: Arc<AtomicUsize>,
}

impl Transport for StreamThenHang {
    fn send(&self, _request: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        Box::pin(async { Err(TransportError::Connection("stream only".into())) })
    }

    fn send_streaming(
        &self,
        _request: HttpRequest,
    ) -> BoxFuture<'_, Result<StreamingResponse, TransportError>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let deltas = self.deltas;
        let shown = if self.hang { 3 } else { deltas + 5 };
        Box::pin(async move {
            let events = futures_util::stream::iter(0..shown)
                .map(move |i| Ok::<_, TransportError>(anthropic_text_chunk(i, deltas)));
            let body = if self.hang {
                events.chain(futures_util::stream::pending()).boxed()
            } else {
                events.boxed()
            };
            let mut headers = reqwest::header::HeaderMap::new();
            headers.insert(
                "content-type",
                reqwest::header::HeaderValue::from_static("text/event-stream"),
            );
            Ok(StreamingResponse {
                status: 200,
                headers,
                body,
            })
        })
    }
}

/// A broker over `transport` whose streams time out after 5 s without an event.
async fn stream_broker(transport: &StreamThenHang) -> broker::Broker {
    let mut config = one_model_config("");
    for p in config.providers.values_mut() {
        p.stream_idle_timeout = Duration::from_secs(5);
    }
    let eps = endpoints_over(&config, Arc::new(transport.clone()));
    broker::start(config, eps, StartOptions::default())
        .await
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_stream_that_goes_silent_after_a_delta_is_abandoned_and_not_retried() {
    let transport = StreamThenHang {
        deltas: 3,
        hang: true,
        calls: Arc::default(),
    };
    let b = stream_broker(&transport).await;
    let start = Instant::now();
    let mut stream = b
        .handle
        .stream(CompletionRequest::prompt("m", "hello"))
        .await
        .unwrap();
    let mut texts = Vec::new();
    let err = loop {
        match stream.next().await {
            Some(Ok(StreamItem::Event(StreamEvent::TextDelta { text, .. }))) => texts.push(text),
            Some(Ok(_)) => {}
            Some(Err(e)) => break e,
            None => panic!("the stream ended without an error"),
        }
    };
    assert_eq!(texts, ["w0 "], "one delta, never repeated");
    assert!(
        matches!(
            &err,
            BrokerError::Provider {
                error: ProviderError::MidStream {
                    deltas_delivered: 1,
                    ..
                },
                ..
            }
        ),
        "{err:?}"
    );
    // The stream idle timeout (5 s) plus the grace (30 s) after the last event.
    let took = start.elapsed();
    assert!(took >= Duration::from_secs(35), "{took:?}");
    assert!(took <= Duration::from_millis(35_100), "{took:?}");
    assert_eq!(transport.calls.load(Ordering::SeqCst), 1);
    let stats = b.handle.stats().await.unwrap();
    assert_eq!(stats.attempts_abandoned, 1);
    assert_eq!(stats.in_flight, 0);
}

#[tokio::test(start_paused = true)]
async fn a_stream_held_up_by_a_slow_reader_is_not_abandoned() {
    let transport = StreamThenHang {
        deltas: 1_000,
        hang: false,
        calls: Arc::default(),
    };
    let b = stream_broker(&transport).await;
    let mut stream = b
        .handle
        .stream(CompletionRequest::prompt("m", "a long answer").max_tokens(4_000))
        .await
        .unwrap();
    // The buffer fills and the provider waits on the reader for far longer than the
    // idle timeout and the grace.
    tokio::time::sleep(Duration::from_secs(300)).await;
    let mut deltas = 0;
    let mut done = false;
    while let Some(item) = stream.next().await {
        match item.unwrap() {
            StreamItem::Event(StreamEvent::TextDelta { .. }) => deltas += 1,
            StreamItem::Done(_) => done = true,
            StreamItem::Event(_) => {}
        }
    }
    assert!(done);
    assert_eq!(deltas, 1_000);
    let stats = b.handle.stats().await.unwrap();
    assert_eq!(stats.attempts_abandoned, 0);
    assert_eq!(stats.completed, 1);
}
