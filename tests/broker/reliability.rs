//! Paused-time tests that nothing a caller, a provider or a deadline does can stop the
//! broker, hang a caller or leave work behind: hostile request options, a panicking
//! transport, callers that give up, and errors that say what happened.

use crate::common;

use common::*;
use futures_util::future::BoxFuture;
use quotaswarm::broker::{self, BrokerError, InvalidRequest, MAX_WAIT};
use quotaswarm::config::{Config, Transport as TransportKind};
use quotaswarm::provider::{HttpRequest, HttpResponse, ProviderError, Transport, TransportError};
use quotaswarm::{CompletionRequest, ContentBlock};
use quotaswarm_sim::{EmbeddedTransport, Simulator};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

fn ask(target: &str, text: &str) -> CompletionRequest {
    CompletionRequest::prompt(target, text)
}

/// Models `m1` and `m2` under one Anthropic provider, a ladder `l = [m1, m2]`, and
/// `extra` (more sections).
fn two_models(m1: &str, m2: &str, extra: &str) -> Config {
    let text = format!(
        "[providers.anthropic]\nkind = \"sim\"\nwire = \"anthropic\"\n\
         [models.m1]\nprovider = \"anthropic\"\nmodel = \"claude-opus-4-5\"\n{m1}\n\
         [models.m2]\nprovider = \"anthropic\"\nmodel = \"claude-haiku-4-5\"\n{m2}\n\
         [ladders]\nl = [\"m1\", \"m2\"]\n{extra}"
    );
    let mut c = Config::from_toml_str(&text, "test").expect("test config");
    for p in c.providers.values_mut() {
        p.transport = TransportKind::Embedded;
    }
    c
}

const ROOMY: &str = "rpm = 1000\nitpm = 100000\notpm = 100000";
/// One request a minute: the first uses it, the next waits about a minute.
const ONE_RPM: &str = "rpm = 1\nitpm = 100000\notpm = 100000";
/// Nothing of more than 10 input tokens ever fits.
const TINY_INPUT: &str = "rpm = 1000\nitpm = 10\notpm = 100000";

/// Fails the test instead of hanging it (virtual time: costs nothing).
async fn within<T>(secs: u64, f: impl std::future::Future<Output = T>) -> T {
    match tokio::time::timeout(Duration::from_secs(secs), f).await {
        Ok(v) => v,
        Err(_) => panic!("no answer within {secs} s: a caller would hang"),
    }
}

/// Polls the broker's stats until `done` holds (at most 200 × 1 ms of virtual time).
async fn until(h: &quotaswarm::BrokerHandle, done: impl Fn(&quotaswarm::Stats) -> bool) {
    for _ in 0..200 {
        let s = h.stats().await.expect("stats");
        if done(&s) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    panic!("the broker never reached the expected state");
}

// ---- 1. Input cannot stop the broker ---------------------------------------------

#[tokio::test(start_paused = true)]
async fn a_ladder_request_with_a_max_wait_of_duration_max_waits_and_the_broker_keeps_going() {
    let script = Scripted::new(vec![anthropic_ok("ok", 10, 5)]);
    let b = start_over(two_models(ONE_RPM, ROOMY, ""), Arc::new(script.clone())).await;
    let h = &b.handle;
    h.complete(ask("m1", "use up the minute")).await.unwrap();
    let mut req = ask("l", "wait as long as you like");
    req.options.max_wait = Some(Duration::MAX);
    assert_eq!(
        h.prepare(req.clone()).unwrap().request.options.max_wait,
        Some(MAX_WAIT),
        "clamped in the caller's task"
    );
    let start = Instant::now();
    // Queued on m1 behind a minute's wait: the deadline `enqueued + max_wait` used to
    // overflow and kill the broker here.
    let c = within(600, h.complete(req)).await.unwrap();
    assert_eq!(c.model, "m1", "it waited for its first rung");
    assert!(
        start.elapsed() >= Duration::from_secs(50),
        "{:?}",
        start.elapsed()
    );
    let next = within(600, h.complete(ask("m2", "still there?"))).await;
    assert!(next.is_ok(), "{next:?}");
}

#[tokio::test(start_paused = true)]
async fn options_that_cannot_work_are_refused_with_typed_errors_before_anything_is_sent() {
    let script = Scripted::new(vec![anthropic_ok("fine", 10, 5)]);
    let b = start_over(two_models(ROOMY, ROOMY, ""), Arc::new(script.clone())).await;
    let h = &b.handle;
    let invalid = |r: Result<_, BrokerError>| match r {
        Err(BrokerError::InvalidRequest(why)) => why,
        other => panic!("expected InvalidRequest, got {other:?}"),
    };

    let mut past = ask("l", "x");
    past.options.floor = Some(2);
    assert_eq!(
        invalid(h.complete(past).await),
        InvalidRequest::FloorPastLadder { floor: 2, last: 1 }
    );
    let mut past = ask("m1", "x");
    past.options.floor = Some(usize::MAX);
    assert!(matches!(
        invalid(h.complete(past).await),
        InvalidRequest::FloorPastLadder { last: 0, .. }
    ));

    let huge = ask("l", "x").max_tokens(u32::MAX);
    assert_eq!(
        invalid(h.complete(huge).await),
        InvalidRequest::MaxTokensTooLarge {
            max_tokens: u32::MAX,
            limit: 200_000
        }
    );
    assert_eq!(
        invalid(h.complete(ask("m1", "x").max_tokens(0)).await),
        InvalidRequest::MaxTokensZero
    );

    for t in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, -0.5, 2.5] {
        let why = invalid(h.complete(ask("m1", "x").temperature(t)).await);
        assert!(
            matches!(why, InvalidRequest::Temperature(v) if v.to_bits() == t.to_bits()),
            "{t}: {why:?}"
        );
    }
    let mut top = ask("m1", "x");
    top.top_p = Some(f32::NAN);
    assert!(matches!(
        invalid(h.complete(top).await),
        InvalidRequest::TopP(v) if v.is_nan()
    ));

    let mut none = ask("m1", "x");
    none.messages.clear();
    assert_eq!(invalid(h.complete(none).await), InvalidRequest::NoMessages);
    let mut empty = ask("m1", "x");
    empty.messages[0].content.clear();
    assert_eq!(
        invalid(h.complete(empty).await),
        InvalidRequest::EmptyMessage { index: 0 }
    );
    let blank = ask("m1", "   \n");
    assert_eq!(
        invalid(h.complete(blank).await),
        InvalidRequest::BlankMessage { index: 0 }
    );
    let mut oversized = ask("m1", "x");
    oversized.messages[0].content = vec![ContentBlock::text("x".repeat(33 * 1024 * 1024))];
    assert!(matches!(
        invalid(h.complete(oversized).await),
        InvalidRequest::TooLarge { max, .. } if max == broker::MAX_REQUEST_BYTES
    ));

    assert_eq!(script.arrivals().len(), 0, "nothing was sent");
    let ok = h.complete(ask("m1", "and now a good one")).await.unwrap();
    assert_eq!(ok.text(), "fine");
}

// ---- 2. Provider attempts always report back --------------------------------------

/// Panics on every request whose body contains `PANIC`; answers the rest. With `once`,
/// only the first such request panics.
#[derive(Clone)]
struct Panicking {
    once: bool,
    panicked: Arc<AtomicBool>,
    calls: Arc<std::sync::Mutex<u32>>,
}

impl Panicking {
    fn new(once: bool) -> Self {
        Panicking {
            once,
            panicked: Arc::new(AtomicBool::new(false)),
            calls: Arc::default(),
        }
    }

    fn calls(&self) -> u32 {
        *self.calls.lock().unwrap()
    }
}

impl Transport for Panicking {
    fn send(&self, request: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        *self.calls.lock().unwrap() += 1;
        let wants_panic = String::from_utf8_lossy(&request.body).contains("PANIC");
        let again = !(self.once && self.panicked.load(Ordering::SeqCst));
        Box::pin(async move {
            if wants_panic && again {
                self.panicked.store(true, Ordering::SeqCst);
                panic!("a transport bug (test)");
            }
            Ok(anthropic_ok("answered", 10, 5))
        })
    }
}

#[tokio::test(start_paused = true)]
async fn a_panicking_transport_fails_the_request_with_a_typed_error_and_frees_the_lane() {
    let transport = Panicking::new(false);
    let config = two_models(
        ROOMY,
        ROOMY,
        "[broker]\nmax_attempts = 2\nbackoff_base_secs = 0.1\nmax_in_flight = 1\n",
    );
    let b = start_over(config, Arc::new(transport.clone())).await;
    let h = &b.handle;
    let err = within(60, h.complete(ask("m1", "PANIC please")))
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            BrokerError::Provider { model, error: ProviderError::Aborted { message } }
                if model == "m1" && message.contains("a transport bug")
        ),
        "{err:?}"
    );
    assert_eq!(transport.calls(), 2, "retried once, like any lost attempt");
    let lane = h.stats().await.unwrap().lane("m1").unwrap().clone();
    assert_eq!(lane.in_flight, 0, "the slot was released");
    assert_eq!(lane.queue_depth, 0);
    // With max_in_flight = 1, a leaked slot would block this one forever.
    let ok = within(60, h.complete(ask("m1", "a normal question"))).await;
    assert_eq!(ok.unwrap().text(), "answered");
}

#[tokio::test(start_paused = true)]
async fn an_attempt_that_panics_once_is_retried_and_the_caller_gets_its_answer() {
    let transport = Panicking::new(true);
    let config = two_models(ROOMY, ROOMY, "[broker]\nbackoff_base_secs = 0.1\n");
    let b = start_over(config, Arc::new(transport.clone())).await;
    let c = within(60, b.handle.complete(ask("m1", "PANIC once")))
        .await
        .unwrap();
    assert_eq!(c.text(), "answered");
    assert_eq!(transport.calls(), 2);
    let stats = b.handle.stats().await.unwrap();
    assert_eq!(stats.retries, 1);
    assert_eq!(stats.in_flight, 0);
}

// ---- 3. Abandoned work is dropped --------------------------------------------------

/// A broker (and its handle) whose m1 has just used its one request of the minute (m2
/// is roomy).
async fn m1_minute_used_up() -> (broker::Broker, Simulator, quotaswarm::BrokerHandle) {
    let config = two_models(ONE_RPM, ROOMY, "[sim]\nlatency_ms = 20\n");
    let sim = Simulator::new(&config);
    let b = start_over(config, Arc::new(EmbeddedTransport { sim: sim.clone() })).await;
    let h = b.handle.clone();
    h.complete(ask("m1", "use up the minute")).await.unwrap();
    (b, sim, h)
}

#[tokio::test(start_paused = true)]
async fn a_hundred_queued_requests_whose_callers_gave_up_cost_no_provider_call() {
    let (_b, sim, h) = m1_minute_used_up().await;
    assert_eq!(sim.stats().total.requests, 1);

    let callers: Vec<_> = (0..100)
        .map(|i| {
            let h = h.clone();
            tokio::spawn(async move { h.complete(ask("m1", &format!("question {i}"))).await })
        })
        .collect();
    until(&h, |s| s.queue_depth == 100).await;
    for c in &callers {
        c.abort();
    }
    for c in callers {
        assert!(c.await.unwrap_err().is_cancelled());
    }
    until(&h, |s| s.queue_depth == 0).await;

    // Ten minutes of quota later, none of them was ever sent.
    tokio::time::sleep(Duration::from_secs(600)).await;
    let sim_stats = sim.stats();
    assert_eq!(sim_stats.total.requests, 1, "{sim_stats:?}");
    let stats = h.stats().await.unwrap();
    assert_eq!(stats.queue_depth, 0);
    assert_eq!(stats.in_flight, 0);
    assert_eq!(stats.lane("m1").unwrap().requests, 1);
    // The lane is free for the next caller.
    let next = within(600, h.complete(ask("m1", "anyone there?"))).await;
    assert!(next.is_ok(), "{next:?}");
    assert_eq!(sim.stats().total.requests, 2);
}

#[tokio::test(start_paused = true)]
async fn a_caller_that_gives_up_during_a_backoff_stops_the_retries() {
    let script = Scripted::new(vec![
        anthropic_error(503, "overloaded_error", &[("retry-after", "30")]),
        anthropic_ok("too late", 10, 5),
    ]);
    let b = start_over(two_models(ROOMY, ROOMY, ""), Arc::new(script.clone())).await;
    let h = b.handle.clone();
    let caller = tokio::spawn({
        let h = h.clone();
        async move { h.complete(ask("m1", "hello")).await }
    });
    until(&h, |s| s.retries == 1 && s.queue_depth == 1).await;
    caller.abort();
    assert!(caller.await.unwrap_err().is_cancelled());
    until(&h, |s| s.queue_depth == 0).await;
    tokio::time::sleep(Duration::from_secs(120)).await;
    assert_eq!(script.arrivals().len(), 1, "the retry was never sent");
    let s = h.stats().await.unwrap();
    assert_eq!((s.queue_depth, s.in_flight), (0, 0));
}

#[tokio::test(start_paused = true)]
async fn a_stream_dropped_while_queued_leaves_the_queue_and_costs_nothing() {
    let (_b, sim, h) = m1_minute_used_up().await;
    let stream = h.stream(ask("m1", "stream me later")).await.unwrap();
    until(&h, |s| s.queue_depth == 1).await;
    drop(stream);
    until(&h, |s| s.queue_depth == 0).await;
    tokio::time::sleep(Duration::from_secs(600)).await;
    assert_eq!(sim.stats().total.requests, 1);
}

// ---- 5. Errors that say what happened ----------------------------------------------

#[tokio::test(start_paused = true)]
async fn a_request_that_waits_past_its_max_wait_with_nowhere_to_go_says_so() {
    let script = Scripted::new(vec![anthropic_ok("ok", 10, 5)]);
    // m2 can never take the request: after its wait on m1 it has nowhere to go.
    let b = start_over(
        two_models(ONE_RPM, TINY_INPUT, ""),
        Arc::new(script.clone()),
    )
    .await;
    let h = &b.handle;
    h.complete(ask("m1", "use up the minute")).await.unwrap();
    let mut req = ask(
        "l",
        "a question long enough to need more than ten input tokens on any model",
    );
    req.options.max_wait = Some(Duration::from_secs(2));
    let err = within(60, h.complete(req)).await.unwrap_err();
    match &err {
        BrokerError::WaitedTooLong {
            model,
            waited,
            max_wait,
        } => {
            assert_eq!(model, "m1");
            assert_eq!(*max_wait, Duration::from_secs(2));
            assert!(
                *waited >= *max_wait && *waited < Duration::from_secs(3),
                "{waited:?}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("max_wait"), "{err}");
    assert_eq!(
        script.arrivals().len(),
        1,
        "only the first request was sent"
    );
}

#[tokio::test(start_paused = true)]
async fn a_rung_skipped_for_its_open_circuit_is_reported_as_circuit_open() {
    let script = Scripted::new(vec![anthropic_error(500, "api_error", &[])]);
    let b = start_over(
        two_models(
            ROOMY,
            TINY_INPUT,
            "[broker]\nmax_attempts = 1\ncircuit_threshold = 1\ncircuit_cooldown_secs = 30\n",
        ),
        Arc::new(script.clone()),
    )
    .await;
    let h = &b.handle;
    // One failure opens m1's circuit.
    let first = h.complete(ask("m1", "fail")).await.unwrap_err();
    assert!(matches!(first, BrokerError::Provider { .. }), "{first:?}");
    let err = h
        .complete(ask(
            "l",
            "a question long enough to need more than ten input tokens on any model",
        ))
        .await
        .unwrap_err();
    let BrokerError::AllRungsFailed(rungs) = &err else {
        panic!("{err:?}")
    };
    assert!(
        matches!(
            &rungs[0].error,
            BrokerError::CircuitOpen { model, retry_in }
                if model == "m1" && *retry_in > Duration::from_secs(25)
        ),
        "{err:?}"
    );
    assert!(
        matches!(&rungs[1].error, BrokerError::NeverFits { model, .. } if model == "m2"),
        "{err:?}"
    );
    assert_eq!(script.arrivals().len(), 1, "nothing more was sent to m1");
}

#[tokio::test(start_paused = true)]
async fn a_provider_error_is_the_source_of_the_brokers_error() {
    use std::error::Error;
    let script = Scripted::new(vec![anthropic_error(400, "invalid_request_error", &[])]);
    let b = start_over(two_models(ROOMY, ROOMY, ""), Arc::new(script)).await;
    let err = b.handle.complete(ask("m1", "hello")).await.unwrap_err();
    let source = err.source().expect("a source");
    let provider = source
        .downcast_ref::<ProviderError>()
        .expect("a ProviderError");
    assert!(matches!(provider, ProviderError::BadRequest { .. }));
}
