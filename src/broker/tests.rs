//! Actor-level tests that need a seam the public API does not have: a message that makes
//! the broker's `handle` panic, as a bug would.

use super::mailbox::BrokerMsg;
use super::*;
use crate::provider::{self, HttpRequest, HttpResponse, Transport, TransportError};
use crate::types::CompletionRequest;
use crate::ApiKey;
use futures_util::future::BoxFuture;

/// Never answers: attempts stay in flight.
struct Silent;

impl Transport for Silent {
    fn send(&self, _r: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        Box::pin(std::future::pending())
    }
}

fn config() -> Config {
    Config::from_toml_str(
        "[providers.anthropic]\nkind = \"sim\"\nwire = \"anthropic\"\n\
         [models.m]\nprovider = \"anthropic\"\nmodel = \"claude-sonnet-4-5\"\nrpm = 1000\nitpm = 100000\notpm = 100000\n\
         [broker]\nmax_in_flight = 1\n",
        "test",
    )
    .expect("test config")
}

fn endpoints() -> HashMap<String, Endpoint> {
    let endpoint = Endpoint {
        name: "anthropic".into(),
        provider: provider::for_wire(crate::config::Wire::Anthropic),
        transport: Arc::new(Silent),
        key: Some(ApiKey::new("test-key")),
    };
    HashMap::from([("anthropic".to_string(), endpoint)])
}

fn ask(text: &str) -> CompletionRequest {
    CompletionRequest::prompt("m", text)
}

/// Fails the test instead of hanging it (virtual time: costs nothing).
async fn within<T>(f: impl std::future::Future<Output = T>) -> T {
    match tokio::time::timeout(Duration::from_secs(60), f).await {
        Ok(v) => v,
        Err(_) => panic!("no answer within a minute: a caller would hang"),
    }
}

#[tokio::test(start_paused = true)]
async fn when_the_broker_dies_every_waiting_and_later_caller_gets_broker_stopped_at_once() {
    let b = start(config(), endpoints(), StartOptions::default())
        .await
        .expect("start");
    let h = b.handle.clone();
    let in_flight = tokio::spawn({
        let h = h.clone();
        async move { h.complete(ask("one")).await }
    });
    let queued = tokio::spawn({
        let h = h.clone();
        async move { h.complete(ask("two")).await }
    });
    let mut reached = false;
    for _ in 0..100 {
        let s = within(h.stats()).await.expect("stats");
        if s.in_flight == 1 && s.queue_depth == 1 {
            reached = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert!(reached, "one request in flight and one queued");
    let stream = within(h.stream(ask("three"))).await.expect("stream");

    assert!(h.mailbox.send(BrokerMsg::Panic), "the broker was alive");

    let stopped = Err(BrokerError::BrokerStopped);
    assert_eq!(within(in_flight).await.expect("task"), stopped);
    assert_eq!(within(queued).await.expect("task"), stopped);
    assert_eq!(within(stream.collect_completion()).await, stopped);
    assert_eq!(within(h.complete(ask("later"))).await, stopped);
    assert_eq!(within(h.stats()).await, Err(BrokerError::BrokerStopped));
}

/// What a completion's usage costs a lane's buckets: Anthropic input limits count
/// uncached input and cache writes, reads only on models that count them; OpenAI counts
/// every prompt token; output (thinking included, as the providers count it) is output.
#[test]
fn settling_counts_cache_writes_not_reads_on_anthropic_and_everything_on_openai() {
    use crate::types::Usage;
    let config = Config::from_toml_str_over_defaults(
        "[models.haiku-3-5]\nprovider = \"anthropic\"\nmodel = \"claude-3-5-haiku-latest\"\n\
         rpm = 50\nitpm = 50000\notpm = 10000\ncache_reads_count = true\n\
         [models.gpt-4o]\nprovider = \"openai\"\nrpm = 500\ntpm = 30000\n",
        "test",
    )
    .expect("config");
    let usage = Usage {
        input_tokens: 100,
        output_tokens: 70,
        cache_creation_input_tokens: 50,
        cache_read_input_tokens: 1000,
        cache_creation_1h_input_tokens: 0,
        ..Default::default()
    };
    let cost = |m: &str| state::BrokerState::actual_cost(config.model(m).expect("model"), &usage);
    let sonnet = cost("sonnet");
    assert_eq!((sonnet.input_tokens, sonnet.output_tokens), (150.0, 70.0));
    assert_eq!(cost("haiku-3-5").input_tokens, 1150.0, "reads count there");
    let gpt = cost("gpt-4o");
    assert_eq!((gpt.input_tokens, gpt.output_tokens), (1150.0, 70.0));
}

/// Extended thinking's budget is part of `max_tokens`, which is what the output bucket
/// reserves.
#[tokio::test(start_paused = true)]
async fn a_thinking_request_reserves_its_whole_max_tokens_as_output() {
    // Budget thinking: a model that still takes it (the 5.5 models think adaptively).
    let config = Config::from_toml_str_over_defaults(
        "[models.sonnet]\nmodel = \"claude-sonnet-4-6\"\n",
        "t",
    )
    .expect("config");
    let broker = start(config.clone(), HashMap::new(), StartOptions::default())
        .await
        .expect("start");
    let req = CompletionRequest::prompt("sonnet", "think first")
        .max_tokens(4096)
        .thinking(2048);
    let p = broker.handle.prepare(req).expect("prepare");
    assert_eq!(p.cost(0, 0).output_tokens, 4096.0);
    broker.stop();
}
