//! API keys never leak on error paths: a request through 401, 429, 500, 503, 529, a
//! refused connection and a transport that panics (its panic message prints the whole
//! request it was sending, headers included), on both wires, over real loopback HTTP to the simulator. The key
//! shows in no traced line (TRACE level), no error's `Display` or `Debug`, no `Stats`
//! JSON and no `/metrics` text. Each case runs twice: with the wire's own key header, and
//! through a configured route (the key in Azure's `api-key`, or as a bearer token) with a
//! credential in a configured header too.
//!
//! In its own test binary, with one test: it installs the global tracing subscriber so
//! that every runtime thread's events are captured.

mod common;

use common::{serve_sim, Capture};
use quotaswarm::broker::{self, StartOptions};
use quotaswarm::config::Wire;
use quotaswarm::provider::{self, Endpoint, HttpTransport};
use quotaswarm::{ApiKey, CompletionRequest, Config};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// A key no output may contain; its middle is what the checks look for.
const KEY: &str = "sk-ant-LEAKCHECK-0123456789abcdef";
const NEEDLE: &str = "LEAKCHECK";

/// How the attempt fails.
#[derive(Debug, Clone, Copy)]
enum Case {
    /// The simulator accepts only another key.
    Unauthorized,
    /// One request a minute: the second gets 429.
    RateLimited,
    /// Every request gets this status.
    Status(u16),
    /// Nothing listens on the port.
    Refused,
    /// The transport panics, its message showing the request (with its key header).
    Panic,
}

/// A transport with a bug: it panics, printing the request it was given.
struct PanicsWithRequest;

impl provider::Transport for PanicsWithRequest {
    fn send(
        &self,
        request: provider::HttpRequest,
    ) -> futures_util::future::BoxFuture<'_, Result<provider::HttpResponse, provider::TransportError>>
    {
        Box::pin(async move { panic!("transport bug while sending {request:?}") })
    }
}

/// A loopback address with nothing listening.
fn closed_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    addr
}

/// Runs `case` on `wire` through a broker (one attempt, no retry); returns what a
/// person or a scraper could see: the errors' Display and Debug, the stats JSON and
/// the metrics text.
async fn run(wire: Wire, case: Case, routed: bool) -> Vec<(String, String)> {
    // Pinned (`limits = "config"`): the broker must not learn the simulator's lower
    // limits in the 429 case, or it would wait instead of drawing the 429.
    let (kind, model, limits) = match wire {
        Wire::Anthropic => (
            "anthropic",
            "claude-sonnet-4-6",
            "rpm = 600\nitpm = 600000\notpm = 600000\nlimits = \"config\"",
        ),
        _ => (
            "openai",
            "gpt-4o-mini",
            "rpm = 600\ntpm = 600000\nlimits = \"config\"",
        ),
    };
    let (server, addr) = match case {
        Case::Unauthorized => {
            let s = serve_sim("api_keys = [\"sk-ant-the-only-accepted-key\"]\n").await;
            let addr = s.addr;
            (Some(s), addr)
        }
        Case::RateLimited => {
            let s = serve_sim("").await;
            let one_a_minute = match wire {
                Wire::Anthropic => quotaswarm::config::Limits::Split {
                    rpm: 1.0,
                    itpm: 30_000.0,
                    otpm: 8_000.0,
                },
                _ => quotaswarm::config::Limits::Combined {
                    rpm: 1.0,
                    tpm: 200_000.0,
                },
            };
            assert!(s.sim.set_limits(model, one_a_minute));
            let addr = s.addr;
            (Some(s), addr)
        }
        Case::Status(status) => {
            let s = serve_sim(&format!("[[sim.faults]]\nstatus = {status}\nrate = 1.0\n")).await;
            let addr = s.addr;
            (Some(s), addr)
        }
        Case::Refused | Case::Panic => (None, closed_port()),
    };
    let mut seen_config = Vec::new();
    let route = match (routed, wire) {
        (false, _) => String::new(),
        (true, Wire::Anthropic) => format!("auth = \"bearer\"\nheaders = {{ x-gateway-token = \"{KEY}\" }}\n"),
        (true, _) => format!(
            "path = \"/openai/v1/chat/completions\"\nauth = \"api-key\"\nheaders = {{ x-gateway-token = \"{KEY}\" }}\n"
        ),
    };
    let config = Config::from_toml_str(
        &format!(
            "[providers.p]\nkind = \"{kind}\"\n{route}[models.m]\nprovider = \"p\"\nmodel = \"{model}\"\n{limits}\n[broker]\nmax_attempts = 1\nrate_limit_patience_secs = 0\n"
        ),
        "test",
    )
    .unwrap();
    seen_config.push(("config Debug".to_string(), format!("{config:?}")));
    let mut eps = HashMap::new();
    eps.insert(
        "p".to_string(),
        Endpoint {
            name: "p".into(),
            provider: provider::Routed::wrap(
                provider::for_wire(wire),
                provider::Route::of(&config.providers["p"]),
            ),
            transport: match case {
                Case::Panic => Arc::new(PanicsWithRequest),
                _ => Arc::new(
                    HttpTransport::new(&format!("http://{addr}"), Duration::from_secs(10)).unwrap(),
                ),
            },
            key: Some(ApiKey::new(KEY)),
        },
    );
    let b = broker::start(config, eps, StartOptions::default())
        .await
        .unwrap();
    let req = || CompletionRequest::prompt("m", "Hello").max_tokens(20);
    let mut seen = seen_config;
    if let Case::RateLimited = case {
        b.handle.complete(req()).await.unwrap();
    }
    let err = b
        .handle
        .complete(req())
        .await
        .expect_err("the attempt must fail");
    seen.push(("error Display".to_string(), err.to_string()));
    seen.push(("error Debug".to_string(), format!("{err:?}")));
    seen.push(("error Debug (pretty)".to_string(), format!("{err:#?}")));
    let stats = b.handle.stats().await.unwrap();
    seen.push((
        "stats JSON".to_string(),
        serde_json::to_string(&stats).unwrap(),
    ));
    seen.push((
        "metrics".to_string(),
        quotaswarm::monitor::render_prometheus(&stats),
    ));
    drop(server);
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_key_leaks_through_401_429_5xx_a_refused_connection_or_a_panic() {
    let capture = Capture::default();
    let subscriber = capture.subscriber(tracing_subscriber::fmt::format::FmtSpan::FULL);
    tracing::subscriber::set_global_default(subscriber).unwrap();

    let cases = [
        Case::Unauthorized,
        Case::RateLimited,
        Case::Status(500),
        Case::Status(503),
        Case::Status(529),
        Case::Refused,
        Case::Panic,
    ];
    for (wire, routed) in [
        (Wire::Anthropic, false),
        (Wire::OpenAi, false),
        (Wire::Anthropic, true),
        (Wire::OpenAi, true),
    ] {
        for case in cases {
            for (what, text) in run(wire, case, routed).await {
                assert!(
                    !text.contains(NEEDLE),
                    "{wire:?} {case:?}: the key leaked into the {what}:\n{text}"
                );
                if what == "error Display" {
                    // The failure is the one this case provokes.
                    let expected = match case {
                        Case::Unauthorized => "401",
                        Case::RateLimited => "429",
                        Case::Status(500) => "500",
                        Case::Status(503) => "503",
                        Case::Status(_) => "529",
                        Case::Refused => "connect",
                        Case::Panic => "transport bug while sending",
                    };
                    assert!(
                        text.to_lowercase().contains(expected),
                        "{wire:?} {case:?}: {text}"
                    );
                }
            }
        }
    }
    let traced = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(
        traced.lines().count() > 20,
        "the broker and the HTTP stack traced:\n{traced}"
    );
    for line in traced.lines() {
        assert!(
            !line.contains(NEEDLE),
            "the key leaked into a trace: {line}"
        );
    }
}
