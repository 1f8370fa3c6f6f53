//! The gateway's routes: each vendor request is authenticated, parsed into a broker
//! request, routed by its `model`, admitted against the client's limits and the queue,
//! and answered in the client's wire format.

use super::anthropic;
use super::clients::Clients;
use super::errors::{GatewayError, Wire};
use super::openai;
use super::ratelimit::RateView;
use super::usage::Usage;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::StreamExt;
use quotaswarm::broker::StreamItem;
use quotaswarm::{BrokerHandle, Completion, CompletionRequest, Config};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tracing::Instrument;

/// What every handler shares.
pub struct Gateway {
    pub handle: BrokerHandle,
    pub clients: Clients,
    pub queue: Arc<Semaphore>,
    pub max_body: usize,
    pub ready: AtomicBool,
    pub access_log: bool,
    pub rates: RateView,
    pub usage: Usage,
}

type Shared = State<Arc<Gateway>>;

pub fn router(gw: Arc<Gateway>) -> Router {
    // The monitor's routes (dashboard, `/routes`) answer whatever the gateway does not;
    // the gateway's `/stats` and `/metrics` add its per-client counters to the broker's.
    let monitor = quotaswarm::monitor::router(gw.handle.clone());
    Router::new()
        .route("/stats", get(stats))
        .route("/metrics", get(metrics))
        .route("/v1/messages", post(messages))
        .route("/v1/messages/count_tokens", post(count_tokens))
        .route("/v1/chat/completions", post(chat_completions))
        .route("/v1/models", get(models))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(gw)
        .fallback_service(monitor)
}

/// The broker's stats, with a `clients` section: the gateway's per-client counters.
async fn stats(State(gw): Shared) -> Response {
    match gw.handle.stats().await {
        Ok(s) => {
            let mut body = serde_json::to_value(&s).unwrap_or(Value::Null);
            if let Value::Object(m) = &mut body {
                m.insert("clients".into(), gw.usage.json());
            }
            Json(body).into_response()
        }
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n")).into_response(),
    }
}

/// The broker's metrics, then the gateway's per-client families.
async fn metrics(State(gw): Shared) -> Response {
    match gw.handle.stats().await {
        Ok(s) => {
            let text = quotaswarm::monitor::render_prometheus(&s) + &gw.usage.prometheus();
            (
                [(header::CONTENT_TYPE, quotaswarm::monitor::CONTENT_TYPE)],
                text,
            )
                .into_response()
        }
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n")).into_response(),
    }
}

/// The config model or ladder `model` names: itself, or the config model whose
/// provider model it is.
pub fn resolve(config: &Config, model: &str) -> Option<String> {
    if config.rungs(model).is_some() {
        return Some(model.to_string());
    }
    config
        .models
        .values()
        .find(|m| m.model == model)
        .map(|m| m.name.clone())
}

/// Broker options a vendor body cannot express, from `x-quotaswarm-*` headers.
fn options(req: &mut CompletionRequest, headers: &HeaderMap) -> Result<(), GatewayError> {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let number = |name: &str, v: &str| {
        v.trim()
            .parse::<f64>()
            .ok()
            .filter(|n| n.is_finite() && *n >= 0.0)
            .ok_or_else(|| GatewayError::BadRequest(format!("{name}: not a number: {v:?}")))
    };
    if let Some(v) = get("x-quotaswarm-max-wait") {
        req.options.max_wait = Some(Duration::from_secs_f64(
            number("x-quotaswarm-max-wait", v)?.min(quotaswarm::broker::MAX_WAIT.as_secs_f64()),
        ));
    }
    if let Some(v) = get("x-quotaswarm-coalesce") {
        req.options.coalesce = matches!(v.trim(), "1" | "true" | "yes" | "on");
    }
    if let Some(v) = get("x-quotaswarm-trim") {
        *req = req.clone().trim(number("x-quotaswarm-trim", v)? as u64);
    }
    if let Some(v) = get("x-quotaswarm-floor") {
        req.options.floor = Some(number("x-quotaswarm-floor", v)? as usize);
    }
    Ok(())
}

/// The body, or 413 past the limit.
async fn body(req: Request, max: usize) -> Result<(HeaderMap, Bytes), GatewayError> {
    let (parts, body) = req.into_parts();
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > max) {
        return Err(GatewayError::TooLarge(max));
    }
    let bytes = axum::body::to_bytes(body, max)
        .await
        .map_err(|_| GatewayError::TooLarge(max))?;
    Ok((parts.headers, bytes))
}

/// Who asks, for what, as what: the request ready to send.
struct Admitted {
    client: String,
    estimate: u64,
    request: CompletionRequest,
    permit: OwnedSemaphorePermit,
}

fn admit(
    gw: &Gateway,
    client: String,
    headers: &HeaderMap,
    mut request: CompletionRequest,
    model: &str,
) -> Result<Admitted, GatewayError> {
    request.target = resolve(gw.handle.config(), model)
        .ok_or_else(|| GatewayError::UnknownModel(model.to_string()))?;
    options(&mut request, headers)?;
    let estimate = if gw.clients.open() {
        0
    } else {
        let prepared = gw
            .handle
            .prepare(request.clone())
            .map_err(GatewayError::from_broker)?;
        prepared.rungs.first().map_or(0, |r| r.est_input) + u64::from(request.max_tokens)
    };
    gw.clients.admit(&client, estimate)?;
    let permit = gw
        .queue
        .clone()
        .try_acquire_owned()
        .map_err(|_| GatewayError::Overloaded {
            message: "the gateway's queue is full".into(),
            retry_after: Duration::from_secs(1),
        })?;
    Ok(Admitted {
        client,
        estimate,
        request,
        permit,
    })
}

/// Charges the client what the completion cost.
fn settle(gw: &Gateway, client: &str, estimate: u64, c: &Completion) {
    let usd = gw
        .handle
        .config()
        .model(&c.model)
        .map_or(0.0, |m| m.cost(&c.usage));
    let actual = c.usage.total_input() + c.usage.output_tokens;
    gw.clients
        .charge(client, actual as i64 - estimate as i64, usd);
    gw.usage
        .completed(client, c.usage.total_input(), c.usage.output_tokens, usd);
}

fn request_id(wire: Wire) -> (&'static str, String) {
    let n: u128 = rand::random();
    match wire {
        Wire::Anthropic => ("request-id", format!("req_{n:024x}")),
        Wire::OpenAi => ("x-request-id", format!("req_{n:032x}")),
    }
}

fn set(resp: &mut Response, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        resp.headers_mut().insert(name, v);
    }
}

/// The headers every answer carries: ids, who answered, the broker's view of the quota.
fn decorate(gw: &Gateway, resp: &mut Response, wire: Wire, client: &str, model: Option<&str>) {
    let (name, id) = request_id(wire);
    set(resp, name, &id);
    set(resp, "x-quotaswarm-client", client);
    if let Some(m) = model {
        set(resp, "x-quotaswarm-model", m);
        for (h, v) in gw.rates.headers(m, wire) {
            set(resp, h, &v);
        }
    }
}

fn log(gw: &Gateway, t0: Instant, wire: Wire, client: &str, model: &str, status: u16) {
    if gw.access_log {
        let line = json!({
            "ts": std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64()),
            "wire": if wire == Wire::Anthropic { "anthropic" } else { "openai" },
            "client": client, "model": model, "status": status,
            "ms": t0.elapsed().as_secs_f64() * 1000.0,
        });
        eprintln!("{line}");
    }
}

/// The error's answer; `client` is `-` when the request came before (or without) a
/// known client, and only known clients are counted.
fn error(
    gw: &Gateway,
    e: GatewayError,
    wire: Wire,
    t0: Instant,
    client: &str,
    model: &str,
) -> Response {
    let refusal = e.refusal();
    let mut resp = e.into_response(wire);
    let (name, id) = request_id(wire);
    set(&mut resp, name, &id);
    let status = resp.status().as_u16();
    if client != "-" {
        gw.usage.failed(client, status, refusal);
    }
    log(gw, t0, wire, client, model, status);
    resp
}

/// One completion on `wire`: JSON or SSE.
async fn complete(
    gw: Arc<Gateway>,
    wire: Wire,
    headers: HeaderMap,
    parsed: Result<(String, bool, bool, CompletionRequest), GatewayError>,
    t0: Instant,
) -> Response {
    let client = match gw.clients.authenticate(&headers) {
        Ok(c) => c,
        Err(e) => return error(&gw, e, wire, t0, "-", "-"),
    };
    tracing::Span::current().record("client", client.as_str());
    gw.usage.request(&client);
    let (model, stream, include_usage, request) = match parsed {
        Ok(p) => p,
        Err(e) => return error(&gw, e, wire, t0, &client, "-"),
    };
    tracing::Span::current().record("model", model.as_str());
    let a = match admit(&gw, client.clone(), &headers, request, &model) {
        Ok(a) => a,
        Err(e) => return error(&gw, e, wire, t0, &client, &model),
    };
    if stream {
        return stream_response(gw, wire, a, model, include_usage, t0).await;
    }
    // `client` is the admitted one (`a.client`); the queue slot (`a.permit`) is held
    // until the answer is in.
    let reply = match a.request.options.max_wait {
        Some(max_wait)
            if gw
                .handle
                .config()
                .rungs(&a.request.target)
                .is_some_and(|r| r.len() == 1) =>
        {
            within(&gw.handle, a.request, max_wait).await
        }
        _ => gw
            .handle
            .complete(a.request)
            .await
            .map_err(GatewayError::from_broker),
    };
    drop(a.permit);
    match reply {
        Ok(c) => {
            settle(&gw, &client, a.estimate, &c);
            let body = match wire {
                Wire::Anthropic => anthropic::message(&c),
                Wire::OpenAi => openai::completion(&c),
            };
            let mut resp = Json(body).into_response();
            decorate(&gw, &mut resp, wire, &client, Some(&c.model));
            log(&gw, t0, wire, &client, &c.model, 200);
            resp
        }
        Err(e) => error(&gw, e, wire, t0, &client, &model),
    }
}

/// The broker bounds a ladder rung's wait by `max_wait` (then moves down); a single
/// model waits for its turn however long. For a single model the gateway bounds the time
/// to the provider's first byte itself: past `max_wait`, the request is given up (no
/// quota spent) and the client told to retry.
async fn within(
    handle: &BrokerHandle,
    request: CompletionRequest,
    max_wait: Duration,
) -> Result<Completion, GatewayError> {
    let target = request.target.clone();
    let mut stream = handle
        .stream(request)
        .await
        .map_err(GatewayError::from_broker)?;
    let first = tokio::time::timeout(max_wait, stream.next()).await;
    let mut item = match first {
        Ok(item) => item,
        Err(_) => {
            return Err(GatewayError::WouldWait {
                message: format!(
                    "model {target} cannot start this request within its x-quotaswarm-max-wait of {:.1}s",
                    max_wait.as_secs_f64()
                ),
                retry_after: max_wait.max(Duration::from_secs(1)),
            })
        }
    };
    loop {
        match item {
            Some(Ok(StreamItem::Done(c))) => return Ok(c),
            Some(Ok(StreamItem::Event(_))) => item = stream.next().await,
            Some(Err(e)) => return Err(GatewayError::from_broker(e)),
            None => {
                return Err(GatewayError::from_broker(
                    quotaswarm::BrokerError::BrokerStopped,
                ))
            }
        }
    }
}

enum Enc {
    A(anthropic::Encoder),
    O(openai::Encoder),
}

impl Enc {
    fn event(&mut self, e: &quotaswarm::provider::StreamEvent, model: &str) -> String {
        match self {
            Enc::A(x) => x.event(e, model),
            Enc::O(x) => x.event(e),
        }
    }
    fn finish(&mut self, c: &Completion) -> String {
        match self {
            Enc::A(x) => x.finish(c),
            Enc::O(x) => x.finish(c),
        }
    }
    fn error(&mut self, body: Value) -> String {
        match self {
            Enc::A(x) => x.error(body),
            Enc::O(x) => x.error(body),
        }
    }
}

async fn stream_response(
    gw: Arc<Gateway>,
    wire: Wire,
    a: Admitted,
    model: String,
    include_usage: bool,
    t0: Instant,
) -> Response {
    let Admitted {
        client,
        estimate,
        request,
        permit,
    } = a;
    let config_model = request.target.clone();
    let single = gw
        .handle
        .config()
        .rungs(&config_model)
        .is_some_and(|r| r.len() == 1);
    let request_max_wait = request.options.max_wait.filter(|_| single);
    let mut stream = match gw.handle.stream(request).await {
        Ok(s) => s,
        Err(e) => {
            let e = GatewayError::from_broker(e);
            return error(&gw, e, wire, t0, &client, &model);
        }
    };
    // Errors before the first event (a wait too long, every rung failed) still get their
    // HTTP status; after it, they travel as an error event.
    let first = match request_max_wait {
        Some(w) => match tokio::time::timeout(w, stream.next()).await {
            Ok(item) => item,
            Err(_) => {
                let e = GatewayError::WouldWait {
                    message: format!(
                        "model {config_model} cannot start this request within its x-quotaswarm-max-wait of {:.1}s",
                        w.as_secs_f64()
                    ),
                    retry_after: w.max(Duration::from_secs(1)),
                };
                return error(&gw, e, wire, t0, &client, &model);
            }
        },
        None => stream.next().await,
    };
    let first = match first {
        Some(Ok(item)) => item,
        Some(Err(e)) => {
            let e = GatewayError::from_broker(e);
            return error(&gw, e, wire, t0, &client, &model);
        }
        None => {
            let e = quotaswarm::BrokerError::BrokerStopped;
            return error(&gw, GatewayError::from_broker(e), wire, t0, &client, &model);
        }
    };
    let mut enc = match wire {
        Wire::Anthropic => Enc::A(anthropic::Encoder::default()),
        Wire::OpenAi => Enc::O(openai::Encoder::new(&model, include_usage)),
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(64);
    let task_gw = gw.clone();
    let task_client = client.clone();
    tokio::spawn(
        async move {
            let _permit = permit;
            let mut item = Some(Ok(first));
            while let Some(next) = item.take() {
                let (text, end) = match next {
                    Ok(StreamItem::Event(e)) => (enc.event(&e, &model), false),
                    Ok(StreamItem::Done(c)) => {
                        settle(&task_gw, &task_client, estimate, &c);
                        log(&task_gw, t0, wire, &task_client, &c.model, 200);
                        (enc.finish(&c), true)
                    }
                    Err(e) => {
                        // The status line has gone out as 200; the error travels as an event
                        // but is counted with the status it would have had.
                        let e = GatewayError::from_broker(e);
                        let status = e.status(wire).as_u16();
                        task_gw.usage.failed(&task_client, status, e.refusal());
                        (enc.error(e.body(wire)), true)
                    }
                };
                // A client that hung up drops the body: dropping the stream cancels the request.
                if !text.is_empty() && tx.send(Bytes::from(text)).await.is_err() {
                    return;
                }
                if end {
                    return;
                }
                item = stream.next().await;
            }
        }
        .in_current_span(),
    );
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|b| (Ok::<_, std::convert::Infallible>(b), rx))
    });
    let mut resp = Response::new(Body::from_stream(body));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream; charset=utf-8"),
    );
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    decorate(&gw, &mut resp, wire, &client, Some(&config_model));
    resp
}

async fn messages(State(gw): Shared, req: Request) -> Response {
    let t0 = Instant::now();
    let (headers, bytes) = match body(req, gw.max_body).await {
        Ok(b) => b,
        Err(e) => return error(&gw, e, Wire::Anthropic, t0, "-", "-"),
    };
    let parsed = anthropic::parse(&bytes, false).map(|p| (p.model, p.stream, false, p.request));
    complete(gw, Wire::Anthropic, headers, parsed, t0)
        .instrument(request_span(Wire::Anthropic))
        .await
}

async fn chat_completions(State(gw): Shared, req: Request) -> Response {
    let t0 = Instant::now();
    let (headers, bytes) = match body(req, gw.max_body).await {
        Ok(b) => b,
        Err(e) => return error(&gw, e, Wire::OpenAi, t0, "-", "-"),
    };
    let parsed = openai::parse(&bytes).map(|p| (p.model, p.stream, p.include_usage, p.request));
    complete(gw, Wire::OpenAi, headers, parsed, t0)
        .instrument(request_span(Wire::OpenAi))
        .await
}

/// The span of one completion request; `client` and `model` are recorded once known,
/// so everything the request logs (broker and providers included) names its client.
fn request_span(wire: Wire) -> tracing::Span {
    tracing::info_span!(
        "gateway_request",
        wire = if wire == Wire::Anthropic {
            "anthropic"
        } else {
            "openai"
        },
        client = tracing::field::Empty,
        model = tracing::field::Empty,
    )
}

/// `count_tokens`: the broker's estimate for the first rung, without sending anything.
async fn count_tokens(State(gw): Shared, req: Request) -> Response {
    let t0 = Instant::now();
    let wire = Wire::Anthropic;
    let run = async {
        let (headers, bytes) = body(req, gw.max_body).await?;
        let client = gw.clients.authenticate(&headers)?;
        let p = anthropic::parse(&bytes, true)?;
        let mut request = p.request;
        request.target = resolve(gw.handle.config(), &p.model)
            .ok_or_else(|| GatewayError::UnknownModel(p.model.clone()))?;
        let prepared = gw
            .handle
            .prepare(request)
            .map_err(GatewayError::from_broker)?;
        let tokens = prepared.rungs.first().map_or(0, |r| r.est_input);
        Ok::<_, GatewayError>((client, tokens))
    };
    match run.await {
        Ok((client, tokens)) => {
            let mut resp = Json(json!({"input_tokens": tokens})).into_response();
            decorate(&gw, &mut resp, wire, &client, None);
            resp
        }
        Err(e) => error(&gw, e, wire, t0, "-", "-"),
    }
}

/// The config's models, ladders and provider models, in the asking SDK's shape (Anthropic's SDK sends
/// `anthropic-version`).
async fn models(State(gw): Shared, headers: HeaderMap) -> Response {
    let anthropic = headers.contains_key("anthropic-version");
    let wire = if anthropic {
        Wire::Anthropic
    } else {
        Wire::OpenAi
    };
    if let Err(e) = gw.clients.authenticate(&headers) {
        return e.into_response(wire);
    }
    let config = gw.handle.config();
    // Every name `model` may take: config models, ladders, and the provider models
    // they map.
    let mut names: Vec<(String, String)> = config
        .models
        .values()
        .map(|m| (m.name.clone(), m.provider.clone()))
        .chain(
            config
                .ladders
                .keys()
                .map(|l| (l.clone(), "quotaswarm".to_string())),
        )
        .collect();
    for m in config.models.values() {
        if !names.iter().any(|(n, _)| *n == m.model) {
            names.push((m.model.clone(), m.provider.clone()));
        }
    }
    let body = if anthropic {
        let data: Vec<Value> = names
            .iter()
            .map(|(id, _)| json!({"type": "model", "id": id, "display_name": id, "created_at": "1970-01-01T00:00:00Z"}))
            .collect();
        json!({"data": data, "has_more": false,
               "first_id": names.first().map(|n| &n.0), "last_id": names.last().map(|n| &n.0)})
    } else {
        let data: Vec<Value> = names
            .iter()
            .map(
                |(id, owner)| json!({"id": id, "object": "model", "created": 0, "owned_by": owner}),
            )
            .collect();
        json!({"object": "list", "data": data})
    };
    Json(body).into_response()
}

async fn readyz(State(gw): Shared) -> Response {
    if gw.ready.load(Ordering::Acquire) && gw.handle.stats().await.is_ok() {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "draining\n").into_response()
    }
}
