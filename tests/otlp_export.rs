//! The OpenTelemetry export end to end, over real sockets: a swarm in-process against the
//! simulator served on loopback HTTP, asked along a two-rung ladder whose rungs answer
//! half the attempts 529 overloaded (so the top rung's 529s move requests down the
//! ladder, and the last rung's are retried), its spans exported by `monitor::otlp` over OTLP/HTTP to a receiver in
//! this test, which decodes each `ExportTraceServiceRequest` protobuf. One span per
//! completion, with the GenAI attributes, the usage, the retry and fallback events; the header of
//! `[otlp] headers` arrives. Real time (the exporter needs real sockets), made
//! deterministic by waiting on the broker and flushing the export, never by sleeping.
//! In its own test binary: a thread-local tracing subscriber must not race other tests'
//! call sites.

use axum::http::HeaderMap;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{any_value::Value, KeyValue};
use opentelemetry_proto::tonic::trace::v1::{span::SpanKind, Span};
use prost::Message;
use quotaswarm::monitor::otlp::Otlp;
use quotaswarm::swarm::Swarm;
use quotaswarm::{CompletionRequest, Config};
use std::sync::{Arc, Mutex};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::Layer;

/// What the receiver got: each request's spans, its `service.name`, its auth header.
#[derive(Default)]
struct Received {
    spans: Vec<Span>,
    services: Vec<String>,
    auth: Vec<String>,
}

/// An OTLP/HTTP receiver on a loopback port: `POST /v1/traces`, protobuf in and out.
async fn receiver() -> (std::net::SocketAddr, Arc<Mutex<Received>>) {
    let got = Arc::new(Mutex::new(Received::default()));
    let sink = got.clone();
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let sink = sink.clone();
            async move {
                let req = ExportTraceServiceRequest::decode(body).expect("an OTLP protobuf body");
                let mut got = sink.lock().unwrap();
                if let Some(a) = headers.get("authorization") {
                    got.auth.push(a.to_str().unwrap_or_default().to_string());
                }
                for rs in req.resource_spans {
                    if let Some(r) = &rs.resource {
                        got.services.extend(string(&r.attributes, "service.name"));
                    }
                    for ss in rs.scope_spans {
                        got.spans.extend(ss.spans);
                    }
                }
                (
                    [("content-type", "application/x-protobuf")],
                    ExportTraceServiceResponse::default().encode_to_vec(),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, got)
}

fn attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a Value> {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref()?.value.as_ref())
}

fn string(attrs: &[KeyValue], key: &str) -> Option<String> {
    match attr(attrs, key)? {
        Value::StringValue(s) => Some(s.clone()),
        _ => None,
    }
}

fn int(attrs: &[KeyValue], key: &str) -> Option<i64> {
    match attr(attrs, key)? {
        Value::IntValue(i) => Some(*i),
        _ => None,
    }
}

const COMPLETIONS: usize = 6;

#[tokio::test]
async fn each_completion_is_one_exported_span_with_genai_attributes_retry_and_fallback_events() {
    let (addr, got) = receiver().await;
    let config = Config::from_toml_str_over_previous_defaults(
        &format!(
            "[models.opus]\nrpm = 6000\n[models.sonnet]\nrpm = 6000\n\
             [ladders]\nl = [\"opus\", \"sonnet\"]\n\
             [sim]\nlatency_ms = 1\nseed = 3\n\
             [[sim.faults]]\nmodel = \"opus\"\nstatus = 529\nrate = 0.5\n\
             [[sim.faults]]\nmodel = \"sonnet\"\nstatus = 529\nrate = 0.5\n\
             [broker]\nbackoff_base_secs = 0.01\nbackoff_cap_secs = 0.05\ncircuit_threshold = 1000\n\
             [otlp]\nendpoint = \"http://{addr}\"\nservice_name = \"otlp-test\"\n\
             headers = {{ Authorization = \"Bearer otlp-test-token\" }}\n"
        ),
        "test",
    )
    .unwrap();
    let otlp = Otlp::start(config.otlp.as_ref().unwrap()).unwrap();
    let subscriber = tracing_subscriber::registry().with(otlp.layer().with_filter(Otlp::filter()));
    let _guard = tracing::subscriber::set_default(subscriber);

    let swarm = Swarm::start(config, quotaswarm_sim::loopback())
        .await
        .unwrap();
    let h = swarm.handle();
    for i in 0..COMPLETIONS {
        let req = CompletionRequest::prompt("l", format!("question {i}: say hi")).max_tokens(16);
        h.complete(req).await.unwrap();
    }
    // The broker closes a completion's span right after replying: one more round trip
    // through its mailbox, and every span is closed.
    let stats = h.stats().await.unwrap();
    otlp.flush().await.unwrap();
    swarm.shutdown().await;

    let got = got.lock().unwrap();
    let spans: Vec<&Span> = got
        .spans
        .iter()
        .filter(|s| s.name == "gen_ai.completion")
        .collect();
    let retry_events: usize = spans
        .iter()
        .flat_map(|s| &s.events)
        .filter(|e| e.name == "attempt failed; retrying")
        .count();
    println!(
        "exported {} spans ({} completion spans) for {COMPLETIONS} completions; {retry_events} \
         retry events, broker retries {}; services {:?}",
        got.spans.len(),
        spans.len(),
        stats.retries,
        got.services
    );
    assert_eq!(spans.len(), COMPLETIONS, "one span per completion");
    for s in &spans {
        let a = &s.attributes;
        assert_eq!(string(a, "gen_ai.operation.name").as_deref(), Some("chat"));
        assert_eq!(string(a, "gen_ai.request.model").as_deref(), Some("l"));
        assert_eq!(
            string(a, "gen_ai.provider.name").as_deref(),
            Some("anthropic")
        );
        // The rung that answered, and the move down to it when it is not the first.
        let lane = string(a, "lane").unwrap_or_default();
        let wire = if lane == "opus" {
            "claude-opus-4-6"
        } else {
            "claude-sonnet-4-6"
        };
        assert_eq!(string(a, "gen_ai.response.model").as_deref(), Some(wire));
        let fell_back = lane == "sonnet";
        assert_eq!(
            attr(a, "fallback"),
            Some(&Value::BoolValue(fell_back)),
            "{a:?}"
        );
        let fallback_events: Vec<_> = s
            .events
            .iter()
            .filter(|e| e.name == "falling back down the ladder")
            .collect();
        assert_eq!(fallback_events.len(), usize::from(fell_back), "{s:?}");
        if let Some(e) = fallback_events.first() {
            assert_eq!(string(&e.attributes, "from").as_deref(), Some("opus"));
            assert_eq!(string(&e.attributes, "to").as_deref(), Some("sonnet"));
        }
        assert!(
            int(a, "gen_ai.usage.input_tokens").unwrap_or(0) > 0,
            "{a:?}"
        );
        assert!(
            int(a, "gen_ai.usage.output_tokens").unwrap_or(0) > 0,
            "{a:?}"
        );
        assert_eq!(string(a, "outcome").as_deref(), Some("ok"));
        assert_eq!(s.kind, SpanKind::Client as i32);
        // Retries are counted on the span too: its attempts and 529s match its events.
        let retries = s
            .events
            .iter()
            .filter(|e| e.name == "attempt failed; retrying")
            .count() as i64;
        assert_eq!(int(a, "attempt"), Some(retries + 1), "{s:?}");
        assert_eq!(int(a, "rate_limited"), Some(retries), "{s:?}");
    }
    let fallbacks = spans
        .iter()
        .filter(|s| attr(&s.attributes, "fallback") == Some(&Value::BoolValue(true)))
        .count();
    println!("{fallbacks} completions fell back from opus to sonnet");
    assert!(fallbacks > 0, "the top rung's 529s moved requests down");
    assert!(retry_events > 0, "the last rung's 529s were retried");
    assert_eq!(retry_events as u64, stats.retries, "one event per retry");
    let event = spans
        .iter()
        .flat_map(|s| &s.events)
        .find(|e| e.name == "attempt failed; retrying")
        .unwrap();
    assert_eq!(int(&event.attributes, "status"), Some(529));
    assert!(int(&event.attributes, "retry_in_ms").is_some(), "{event:?}");
    assert!(
        got.services.iter().all(|s| s == "otlp-test"),
        "{:?}",
        got.services
    );
    assert!(
        got.auth.iter().all(|a| a == "Bearer otlp-test-token") && !got.auth.is_empty(),
        "the [otlp] header is sent"
    );
}
