//! Streaming over real loopback HTTP: `Endpoint::stream` with `HttpTransport` against
//! `sim::serve`, for both wires. Real time, so latencies are kept tiny.

use crate::common;

use futures_util::StreamExt;
use quotaswarm::config::{Fault, FaultKind, Wire};
use quotaswarm::provider::{self, Endpoint, HttpTransport, ProviderError, StreamEvent};
use quotaswarm::{ApiKey, CompletionRequest, Config};
use quotaswarm_sim::{serve, SimServer, SimStats, Simulator};
use std::sync::Arc;
use std::time::Duration;

const CASES: [(Wire, &str); 2] = [
    (Wire::Anthropic, "claude-sonnet-4-6"),
    (Wire::OpenAi, "gpt-4o"),
];

async fn server(per_token_ms: u64, faults: Vec<Fault>) -> SimServer {
    let mut config = Config::previous_defaults();
    config.sim.latency = Duration::from_millis(1);
    config.sim.per_token = Duration::from_millis(per_token_ms);
    config.sim.faults = faults;
    serve(Simulator::new(&config), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

fn endpoint(server: &SimServer, wire: Wire) -> Endpoint {
    let base = format!("http://{}", server.addr);
    Endpoint {
        name: "sim".into(),
        provider: provider::for_wire(wire),
        transport: Arc::new(HttpTransport::new(&base, Duration::from_secs(10)).unwrap()),
        key: Some(ApiKey::new("sk-stream-http")),
    }
}

async fn stats(server: &SimServer) -> SimStats {
    reqwest::get(format!("http://{}/_stats", server.addr))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn request() -> CompletionRequest {
    CompletionRequest::prompt("x", "Stream me something").max_tokens(150)
}

#[tokio::test]
async fn streams_both_wires_over_http_matching_the_non_streamed_reply_and_the_charge() {
    let server = server(0, Vec::new()).await;
    for (wire, model) in CASES {
        let ep = endpoint(&server, wire);
        let full = ep.complete(model, &request()).await.unwrap().completion;
        let before = stats(&server).await.models[model].output_tokens;
        let mut s = ep.stream(model, &request()).await.unwrap();
        assert!(s.rate_limits.requests.is_some());
        let mut kinds = Vec::new();
        let mut text = String::new();
        let mut done = None;
        while let Some(ev) = s.next().await {
            let ev = ev.unwrap();
            match &ev {
                StreamEvent::Started { .. } => kinds.push("start"),
                StreamEvent::TextDelta { index, text: t } => {
                    assert_eq!(*index, 0);
                    text.push_str(t);
                    kinds.push("delta");
                }
                StreamEvent::Finished {
                    completion,
                    usage_estimated,
                } => {
                    assert!(!usage_estimated);
                    done = Some(completion.clone());
                    kinds.push("finished");
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(kinds.first(), Some(&"start"));
        assert_eq!(kinds.last(), Some(&"finished"));
        assert!(kinds[1..kinds.len() - 1].iter().all(|k| *k == "delta"));
        let done = done.unwrap();
        assert_eq!(text, full.text(), "{wire:?}");
        assert_eq!(done.usage, full.usage, "{wire:?}");
        let after = stats(&server).await;
        assert_eq!(
            after.models[model].output_tokens - before,
            done.usage.output_tokens,
            "{wire:?}: the simulator charged what the stream reported"
        );
        assert_eq!(after.models[model].streams, 1);
    }
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn dropping_the_stream_closes_the_connection_and_the_simulator_charges_less() {
    // 25 ms a token: the rest of a reply of 20+ tokens takes half a second or more,
    // time for the drop to reach the simulator even on a loaded machine.
    let server = server(25, Vec::new()).await;
    for (wire, model) in CASES {
        let ep = endpoint(&server, wire);
        // A request whose (deterministic) reply is long enough to cut: the reply's length
        // follows a hash of the request, model name included.
        let mut req = request();
        let mut full = ep.complete(model, &req).await.unwrap().completion;
        for i in 0..10 {
            if full.usage.output_tokens > 20 {
                break;
            }
            req = CompletionRequest::prompt("x", format!("Stream me something, take {i}"))
                .max_tokens(150);
            full = ep.complete(model, &req).await.unwrap().completion;
        }
        assert!(full.usage.output_tokens > 20, "{wire:?}");
        let before = stats(&server).await.models[model].output_tokens;
        let mut s = ep.stream(model, &req).await.unwrap();
        common::read_until(&mut s, 3, |e| e.is_delta()).await;
        drop(s);
        let mut cancelled = 0;
        for _ in 0..500 {
            cancelled = stats(&server).await.models[model].cancelled_streams;
            if cancelled == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(cancelled, 1, "{wire:?}");
        let charged = stats(&server).await.models[model].output_tokens - before;
        assert!(charged >= 3, "{wire:?}: {charged}");
        assert!(charged < full.usage.output_tokens, "{wire:?}: {charged}");
    }
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_injected_mid_stream_error_surfaces_as_the_typed_error() {
    let fault = Fault::new(FaultKind::MidStream { after_tokens: 2 }, 1.0);
    let server = server(0, vec![fault]).await;
    for (wire, model) in CASES {
        let mut s = endpoint(&server, wire)
            .stream(model, &request())
            .await
            .unwrap();
        let mut error = None;
        while let Some(ev) = s.next().await {
            if let Err(f) = ev {
                error = Some(f.error);
            }
        }
        let e = error.unwrap();
        assert!(e.is_mid_stream() && !e.is_retryable(), "{e}");
        assert_eq!(e.deltas_delivered(), 2);
        let underlying_ok = match wire {
            Wire::Anthropic => matches!(e.underlying(), ProviderError::Overloaded { .. }),
            Wire::OpenAi => matches!(e.underlying(), ProviderError::Server { .. }),
            // `Wire` is non-exhaustive: a wire this test does not know fails it.
            _ => false,
        };
        assert!(underlying_ok, "{wire:?}: {e}");
    }
    assert_eq!(stats(&server).await.total.stream_errors, 2);
    server.shutdown().await.unwrap();
}
