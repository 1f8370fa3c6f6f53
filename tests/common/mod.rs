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
