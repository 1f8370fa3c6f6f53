//! What the benches share: an instant in-process provider, a one-model config, distinct
//! requests, and a driver that spreads calls over concurrent callers.

use futures_util::future::BoxFuture;
use quotaswarm::config::Config;
use quotaswarm::provider::{self, Endpoint, HttpRequest, HttpResponse, Transport, TransportError};
use quotaswarm::ApiKey;
use std::sync::Arc;

/// Answers every request at once with the same 200.
struct Instant200(bytes::Bytes);

impl Transport for Instant200 {
    fn send(&self, _r: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        let body = self.0.clone();
        Box::pin(async move {
            Ok(HttpResponse {
                status: 200,
                headers: Default::default(),
                body,
            })
        })
    }
}

/// One Anthropic model `m` on provider `p`, with `rpm` requests per minute and token
/// limits too large to matter.
pub fn config(rpm: &str) -> Config {
    Config::from_toml_str(
        &format!(
            "[providers.p]\nkind = \"anthropic\"\nbase_url = \"http://127.0.0.1:9\"\n\
             [models.m]\nprovider = \"p\"\nmodel = \"claude-sonnet-4-5\"\nrpm = {rpm}\nitpm = 1e15\notpm = 1e15\n\
             [broker]\nmax_in_flight = 100000\n"
        ),
        "bench",
    )
    .expect("bench config")
}

/// Provider `p` over the instant transport.
pub fn endpoint() -> Endpoint {
    let body = serde_json::json!({
        "id": "msg_b", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
        "content": [{"type": "text", "text": "ok"}], "stop_reason": "end_turn",
        "usage": {"input_tokens": 20, "output_tokens": 2}
    });
    Endpoint {
        name: "p".into(),
        provider: provider::for_wire(quotaswarm::config::Wire::Anthropic),
        transport: Arc::new(Instant200(body.to_string().into())),
        key: Some(ApiKey::new("bench")),
    }
}

/// Request `i` of a run: distinct requests (no coalescing), a short conversation each.
#[allow(dead_code)]
pub fn request(i: usize) -> quotaswarm::CompletionRequest {
    quotaswarm::CompletionRequest::prompt("m", format!("question number {i} about rate limits"))
        .coalesce(false)
}

/// Calls `f(i)` for every `i` in `0..n`, spread over `callers` concurrent tasks; returns
/// the calls per second and every call's latency in nanoseconds.
#[allow(dead_code)]
pub async fn spread(
    n: usize,
    callers: usize,
    f: impl Fn(usize) -> BoxFuture<'static, ()> + Send + Sync + 'static,
) -> (f64, hdrhistogram::Histogram<u64>) {
    use hdrhistogram::Histogram;
    let f = Arc::new(f);
    let start = std::time::Instant::now();
    let mut tasks = Vec::new();
    for c in 0..callers {
        let f = f.clone();
        tasks.push(tokio::spawn(async move {
            let mut h = Histogram::<u64>::new(3).expect("histogram");
            for i in (c..n).step_by(callers) {
                let t = std::time::Instant::now();
                f(i).await;
                let _ = h.record(t.elapsed().as_nanos() as u64);
            }
            h
        }));
    }
    let mut all = Histogram::<u64>::new(3).expect("histogram");
    for t in tasks {
        if let Ok(h) = t.await {
            let _ = all.add(h);
        }
    }
    (n as f64 / start.elapsed().as_secs_f64(), all)
}
