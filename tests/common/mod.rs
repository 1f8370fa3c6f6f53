//! Shared test support: a scripted transport that answers each attempt from a list of
//! canned HTTP responses (written from the spec) and records when each attempt arrived.
//! It stands in for the network only; the wire code, classification and the broker under
//! test are the real ones.
#![allow(dead_code)]

use futures_util::future::BoxFuture;
use quotaswarm::config::{Config, Transport as TransportKind};
use quotaswarm::provider::{self, Endpoint, HttpRequest, HttpResponse, Transport, TransportError};
use quotaswarm::ApiKey;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use tokio::time::Instant;

pub fn anthropic_ok(text: &str, input: u64, output: u64) -> HttpResponse {
    let body = serde_json::json!({
        "id": "msg_test", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn", "stop_sequence": null,
        "usage": {"input_tokens": input, "output_tokens": output}
    });
    response(200, &[], body)
}

pub fn anthropic_error(status: u16, kind: &str, headers: &[(&str, &str)]) -> HttpResponse {
    let body = serde_json::json!({
        "type": "error", "error": {"type": kind, "message": format!("{kind} (scripted)")},
        "request_id": "req_test"
    });
    response(status, headers, body)
}

pub fn response(status: u16, headers: &[(&str, &str)], body: serde_json::Value) -> HttpResponse {
    let mut map = HeaderMap::new();
    for (k, v) in headers {
        if let (Ok(k), Ok(v)) = (HeaderName::try_from(*k), HeaderValue::from_str(v)) {
            map.insert(k, v);
        }
    }
    HttpResponse {
        status,
        headers: map,
        body: body.to_string().into(),
    }
}

/// Answers attempts in order; when the script runs out, repeats the last answer.
#[derive(Clone, Default)]
pub struct Scripted {
    pub script: Arc<Mutex<VecDeque<HttpResponse>>>,
    pub last: Arc<Mutex<Option<HttpResponse>>>,
    /// When each attempt arrived.
    pub arrivals: Arc<Mutex<Vec<Instant>>>,
}

impl Scripted {
    pub fn new(responses: Vec<HttpResponse>) -> Self {
        Scripted {
            script: Arc::new(Mutex::new(responses.into())),
            ..Default::default()
        }
    }

    pub fn arrivals(&self) -> Vec<Instant> {
        self.arrivals.lock().unwrap().clone()
    }
}

impl Transport for Scripted {
    fn send(&self, _request: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        self.arrivals.lock().unwrap().push(Instant::now());
        let next = self.script.lock().unwrap().pop_front();
        let r = match next {
            Some(r) => {
                *self.last.lock().unwrap() = Some(r.clone());
                r
            }
            None => self
                .last
                .lock()
                .unwrap()
                .clone()
                .unwrap_or_else(|| anthropic_ok("ok", 1, 1)),
        };
        Box::pin(async move { Ok(r) })
    }
}

/// Endpoints for every provider of `config`, all over `transport`.
pub fn endpoints_over(config: &Config, transport: Arc<dyn Transport>) -> HashMap<String, Endpoint> {
    config
        .providers
        .values()
        .map(|p| {
            (
                p.name.clone(),
                Endpoint {
                    name: p.name.clone(),
                    provider: provider::for_wire(p.wire),
                    transport: transport.clone(),
                    key: Some(ApiKey::new("test-key")),
                },
            )
        })
        .collect()
}

/// A config with one Anthropic model `m` (wire `claude-sonnet-4-5`) and the given limits.
pub fn one_model_config(extra: &str) -> Config {
    let text = format!(
        "[providers.anthropic]\nkind = \"sim\"\nwire = \"anthropic\"\n\
         [models.m]\nprovider = \"anthropic\"\nmodel = \"claude-sonnet-4-5\"\nrpm = 1000\nitpm = 100000\notpm = 100000\n{extra}"
    );
    let mut c = Config::from_toml_str(&text, "test").expect("test config");
    for p in c.providers.values_mut() {
        p.transport = TransportKind::Embedded;
    }
    c
}

/// A simulator served on loopback HTTP and a swarm pointed at it. `config` describes
/// both; every provider sends the key `key`.
pub async fn swarm_over_loopback(
    mut config: Config,
    key: &str,
) -> (quotaswarm::swarm::Swarm, quotaswarm_sim::SimServer) {
    use quotaswarm::config::Wire;
    let server = quotaswarm_sim::serve(
        quotaswarm_sim::Simulator::new(&config),
        std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
    )
    .await
    .expect("serve the simulator");
    let url = format!("http://{}", server.addr);
    config.point_at(Wire::Anthropic, &url);
    config.point_at(Wire::OpenAi, &url);
    for p in config.providers.values_mut() {
        p.api_key = Some(ApiKey::new(key));
    }
    let swarm = quotaswarm::swarm::Swarm::start(config, quotaswarm::swarm::Backend::AsConfigured)
        .await
        .expect("start the swarm");
    (swarm, server)
}

fn sse(event: &str, data: serde_json::Value) -> bytes::Bytes {
    format!("event: {event}\ndata: {data}\n\n").into()
}

/// Chunk `i` of a streamed Anthropic answer of `deltas` one-word text deltas (`w0 `,
/// `w1 `, ...), one SSE event per chunk, `deltas + 5` chunks in all: the start, the
/// block's start, the deltas, the block's end, the usage and the stop.
pub fn anthropic_text_chunk(i: usize, deltas: usize) -> bytes::Bytes {
    match i {
        0 => sse(
            "message_start",
            serde_json::json!({"type": "message_start", "message": {
                "id": "msg_long", "type": "message", "role": "assistant",
                "model": "claude-sonnet-4-5", "content": [],
                "stop_reason": null, "stop_sequence": null,
                "usage": {"input_tokens": 10, "output_tokens": 1}}}),
        ),
        1 => sse(
            "content_block_start",
            serde_json::json!({"type": "content_block_start", "index": 0,
                "content_block": {"type": "text", "text": ""}}),
        ),
        i if i < deltas + 2 => sse(
            "content_block_delta",
            serde_json::json!({"type": "content_block_delta", "index": 0,
                "delta": {"type": "text_delta", "text": format!("w{} ", i - 2)}}),
        ),
        i if i == deltas + 2 => sse(
            "content_block_stop",
            serde_json::json!({"type": "content_block_stop", "index": 0}),
        ),
        i if i == deltas + 3 => sse(
            "message_delta",
            serde_json::json!({"type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": null},
                "usage": {"output_tokens": deltas}}),
        ),
        _ => sse("message_stop", serde_json::json!({"type": "message_stop"})),
    }
}

/// The Redis the shared-quota tests use: `QUOTASWARM_TEST_REDIS`, or the local one.
pub fn redis_url() -> String {
    std::env::var("QUOTASWARM_TEST_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379/0".into())
}

/// A Redis namespace no other test (or earlier run) uses.
pub fn namespace(test: &str) -> String {
    format!(
        "qs-test-{test}-{}-{:08x}",
        std::process::id(),
        rand::random::<u32>()
    )
}

/// A simulator with 1 ms latency and the `extra` config, served on loopback HTTP. It
/// serves the previous defaults' models too (`claude-sonnet-4-6`, `gpt-4o`, ...), which
/// the tests' requests name.
pub async fn serve_sim(extra: &str) -> quotaswarm_sim::SimServer {
    let config = Config::from_toml_str_over_previous_defaults(
        &format!("[sim]\nlatency_ms = 1\n{extra}"),
        "test",
    )
    .unwrap();
    quotaswarm_sim::serve(
        quotaswarm_sim::Simulator::new(&config),
        std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
    )
    .await
    .unwrap()
}

/// Collects everything written to it (traces, logs), to look for a key.
#[derive(Clone, Default)]
pub struct Capture(pub Arc<Mutex<Vec<u8>>>);

impl Capture {
    /// A TRACE-level subscriber writing here without colours, with these span events.
    pub fn subscriber(
        &self,
        spans: tracing_subscriber::fmt::format::FmtSpan,
    ) -> impl tracing::Subscriber + Send + Sync {
        let writer = self.clone();
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .with_span_events(spans)
            .finish()
    }
}

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The provider's error a broker error carries, if it carries one.
pub fn provider_error(err: &quotaswarm::BrokerError) -> Option<&provider::ProviderError> {
    match err {
        quotaswarm::BrokerError::Provider { error, .. } => Some(error),
        _ => None,
    }
}

/// A broker for `config` whose every provider sends over `transport`.
pub async fn start_over(
    config: Config,
    transport: Arc<dyn Transport>,
) -> quotaswarm::broker::Broker {
    let eps = endpoints_over(&config, transport);
    quotaswarm::broker::start(config, eps, quotaswarm::broker::StartOptions::default())
        .await
        .expect("start the broker")
}

/// A broker over `transport` for the one-model config with `extra`.
pub async fn broker_over(transport: Arc<dyn Transport>, extra: &str) -> quotaswarm::broker::Broker {
    start_over(one_model_config(extra), transport).await
}

/// Sends `prompt` to the one-model config's `m`.
pub async fn ask_m(
    b: &quotaswarm::broker::Broker,
    prompt: &str,
) -> Result<quotaswarm::Completion, quotaswarm::BrokerError> {
    b.handle
        .complete(quotaswarm::CompletionRequest::prompt("m", prompt))
        .await
}

/// A 200 `text/event-stream` answer whose body is `body`.
pub fn event_stream(
    body: quotaswarm::provider::ByteStream,
) -> quotaswarm::provider::StreamingResponse {
    let mut headers = HeaderMap::new();
    headers.insert(
        "content-type",
        HeaderValue::from_static("text/event-stream"),
    );
    quotaswarm::provider::StreamingResponse {
        status: 200,
        headers,
        body,
    }
}

/// Whether `err` is a provider's mid-stream failure after `deltas` delivered deltas.
pub fn is_mid_stream(err: &quotaswarm::BrokerError, deltas: u64) -> bool {
    matches!(
        provider_error(err),
        Some(provider::ProviderError::MidStream { deltas_delivered, .. }) if *deltas_delivered == deltas
    )
}

/// Streams one long Anthropic answer of `deltas` one-word text deltas
/// ([`anthropic_text_chunk`]), one SSE event per body chunk, produced only as the client
/// reads. With `hang_after`, the body stops after that many chunks and never ends.
/// Counts the calls and the chunks read so far; plain sends fail.
#[derive(Clone, Default)]
pub struct LongStream {
    pub deltas: usize,
    pub hang_after: Option<usize>,
    pub calls: Arc<std::sync::atomic::AtomicUsize>,
    pub read: Arc<std::sync::atomic::AtomicUsize>,
}

impl LongStream {
    pub fn new(deltas: usize, hang_after: Option<usize>) -> Self {
        LongStream {
            deltas,
            hang_after,
            ..Default::default()
        }
    }

    pub fn calls(&self) -> usize {
        self.calls.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub fn read(&self) -> usize {
        self.read.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl Transport for LongStream {
    fn send(&self, _request: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        Box::pin(async { Err(TransportError::Connection("stream only".into())) })
    }

    fn send_streaming(
        &self,
        _request: HttpRequest,
    ) -> BoxFuture<'_, Result<quotaswarm::provider::StreamingResponse, TransportError>> {
        use futures_util::StreamExt;
        self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let (deltas, read, hang) = (self.deltas, self.read.clone(), self.hang_after);
        Box::pin(async move {
            let events = futures_util::stream::iter(0..hang.unwrap_or(deltas + 5)).map(move |i| {
                read.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                Ok::<_, TransportError>(anthropic_text_chunk(i, deltas))
            });
            Ok(event_stream(match hang {
                Some(_) => events.chain(futures_util::stream::pending()).boxed(),
                None => events.boxed(),
            }))
        })
    }
}

/// What a caller read from a broker stream to its end.
#[derive(Debug, Default)]
pub struct Drained {
    /// The text deltas, in order.
    pub texts: Vec<String>,
    /// The completion the stream ended with, if it did.
    pub done: Option<quotaswarm::Completion>,
    /// The errors it yielded.
    pub errors: Vec<quotaswarm::BrokerError>,
}

impl Drained {
    /// The text deltas joined.
    pub fn text(&self) -> String {
        self.texts.concat()
    }
}

/// Reads `stream` to its end, or to its first error when `stop_at_error`.
pub async fn drain<S>(stream: &mut S, stop_at_error: bool) -> Drained
where
    S: futures_util::Stream<Item = Result<quotaswarm::broker::StreamItem, quotaswarm::BrokerError>>
        + Unpin,
{
    use futures_util::StreamExt;
    use quotaswarm::broker::StreamItem;
    use quotaswarm::provider::StreamEvent;
    let mut out = Drained::default();
    while let Some(item) = stream.next().await {
        match item {
            Ok(StreamItem::Event(StreamEvent::TextDelta { text, .. })) => out.texts.push(text),
            Ok(StreamItem::Done(c)) => out.done = Some(c),
            Ok(_) => {}
            Err(e) => {
                out.errors.push(e);
                if stop_at_error {
                    break;
                }
            }
        }
    }
    out
}

/// Reads `stream` until `n` of its items are `wanted` (or it ends) and returns how many
/// were: what a caller that lets go early has seen.
pub async fn read_until<S, T, E>(stream: &mut S, n: u64, wanted: impl Fn(&T) -> bool) -> u64
where
    S: futures_util::Stream<Item = Result<T, E>> + Unpin,
    E: std::fmt::Debug,
{
    use futures_util::StreamExt;
    let mut seen = 0;
    while let Some(item) = stream.next().await {
        if wanted(&item.unwrap()) {
            seen += 1;
            if seen == n {
                break;
            }
        }
    }
    seen
}

/// Runs `agent`, named `name`, alone in a swarm over `backend` until it finishes or
/// `deadline_secs` pass.
pub async fn run_alone<A, O>(
    config: Config,
    backend: quotaswarm::swarm::Backend,
    name: &str,
    agent: A,
    deadline_secs: u64,
) -> quotaswarm::swarm::SwarmReport
where
    A: quotaswarm::agent::Agent<O>,
    O: quotaswarm::agent::AgentOutput,
{
    quotaswarm::swarm::SwarmBuilder::new(config)
        .backend(backend)
        .agent(name, agent)
        .deadline(std::time::Duration::from_secs(deadline_secs))
        .run()
        .await
        .expect("run the swarm")
}

/// Streams `req` (allowed 400 tokens) and lets go after its third text delta; returns
/// how many deltas were read.
pub async fn three_deltas_then_drop(
    h: &quotaswarm::BrokerHandle,
    mut req: quotaswarm::CompletionRequest,
) -> u64 {
    use quotaswarm::broker::StreamItem;
    use quotaswarm::provider::StreamEvent;
    req.max_tokens = 400;
    let mut stream = h.stream(req).await.unwrap();
    read_until(&mut stream, 3, |i| {
        matches!(i, StreamItem::Event(StreamEvent::TextDelta { .. }))
    })
    .await
}

/// Asserts that `messages` hold `turns` assistant turns, each starting with a signed
/// thinking block (what a tool loop on a thinking model must replay).
pub fn assistant_turns_start_with_signed_thinking(
    messages: &[quotaswarm::types::Message],
    turns: usize,
) {
    use quotaswarm::types::{ContentBlock, Role};
    let assistant: Vec<_> = messages
        .iter()
        .filter(|m| m.role == Role::Assistant)
        .collect();
    assert_eq!(assistant.len(), turns);
    for (i, turn) in assistant.iter().enumerate() {
        assert!(
            matches!(
                turn.content.first(),
                Some(ContentBlock::Thinking { signature, .. }) if !signature.is_empty()
            ),
            "assistant turn {i} starts with a signed thinking block: {:?}",
            turn.content
        );
    }
}
