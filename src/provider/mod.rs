//! Providers: the real wire formats (Anthropic Messages, OpenAI Chat Completions, OpenAI
//! Responses) behind one trait, over one transport seam.
//!
//! - [`Provider`] encodes a core [`CompletionRequest`] into an HTTP request and decodes
//!   the HTTP response (success or failure) into a [`ProviderReply`] or a
//!   [`ProviderFailure`]; [`for_wire`] gives the built-in one for a [`Wire`]. One private
//!   module per wire (`anthropic.rs`, `openai.rs`, `responses.rs`), same shape: constants, the provider
//!   struct, the trait impl, private wire types, conversions, fixture tests.
//! - [`Transport`] moves bytes: [`HttpTransport`] over reqwest (rustls), the embedded
//!   simulator in-process (`quotaswarm_sim::EmbeddedTransport`), or a test's
//!   scripted responses, so the wire code is the same whether a test uses sockets or
//!   paused time.
//! - [`Endpoint`] puts a provider, a transport and a key together and sends one attempt
//!   ([`Endpoint::complete`], [`Endpoint::stream`]); the broker runs each attempt in a
//!   task of its own over its lane's endpoint (`attempt.rs`). A provider configured with
//!   its own path, query, key scheme or headers is its wire wrapped in a [`Routed`]
//!   (`route.rs`), which also applies each request's own headers and `extra_body`.
//! - Every response's rate-limit headers (both vendors' families) become one
//!   [`RateLimitSnapshot`]; every failure becomes a typed [`ProviderError`] (status and
//!   error body, with `x-should-retry` honoured).
//! - Streaming: [`StreamEvent`] is what a consumer sees, [`StreamDecoder`] the per-wire
//!   pure SSE state machine, [`ProviderStream`] drives one over a body.

mod anthropic;
mod attempt;
mod classify;
mod openai;
#[cfg(test)]
mod parsers_never_panic;
mod ratelimit;
mod responses;
mod route;
mod stream;
mod transport;

pub(crate) use attempt::{spawn_attempt, Dispatch, EventSink, Overdue, Reporter};
pub use classify::ProviderError;
pub use ratelimit::{LimitWindow, RateLimitSnapshot};
pub use route::{Route, Routed};
pub use stream::{ByteStream, Flow, ProviderStream, SseEvent, StreamDecoder, StreamEvent};
pub use transport::{
    HttpRequest, HttpResponse, HttpTransport, StreamingResponse, Transport, TransportError,
};

use crate::config::{MaxTokensField, Wire};
use crate::secret::ApiKey;
use crate::types::{Completion, CompletionRequest};
use std::sync::Arc;
use std::time::SystemTime;

/// A successful answer with the rate-limit state the server reported.
#[derive(Debug, Clone)]
pub struct ProviderReply {
    /// The answer, with the provider's usage. Its `model` is still the wire model; the
    /// broker renames it to the config model.
    pub completion: Completion,
    /// What the response's rate-limit headers said.
    pub rate_limits: RateLimitSnapshot,
}

/// A failed attempt: what went wrong and the rate-limit state reported with it (the
/// default snapshot when there was no response).
#[derive(Debug, Clone)]
pub struct ProviderFailure {
    /// What went wrong.
    pub error: ProviderError,
    /// What the response's rate-limit headers said.
    pub rate_limits: RateLimitSnapshot,
}

/// One attempt to encode: `req` sent to wire model `model`, carrying `key` when given;
/// `stream` asks for a streamed (SSE) response.
#[derive(Debug, Clone, Copy)]
pub struct Attempt<'a> {
    /// The provider's model id.
    pub model: &'a str,
    /// What to ask.
    pub req: &'a CompletionRequest,
    /// The API key to send, if any.
    pub key: Option<&'a ApiKey>,
    /// Whether to ask for server-sent events.
    pub stream: bool,
    /// Chat Completions: the body field of the output cap, as the provider's config
    /// names it (`max_tokens_field`); `None`: by the model's family.
    pub max_tokens_field: Option<MaxTokensField>,
}

impl<'a> Attempt<'a> {
    /// `req` for wire model `model` with `key`, streamed or not.
    pub fn new(
        model: &'a str,
        req: &'a CompletionRequest,
        key: Option<&'a ApiKey>,
        stream: bool,
    ) -> Self {
        Attempt {
            model,
            req,
            key,
            stream,
            max_tokens_field: None,
        }
    }
}

/// What decoding gives: the reply, or the classified failure with the response's rate
/// limits.
pub type Decoded = Result<ProviderReply, ProviderFailure>;

/// What encoding gives: the HTTP request, or why it cannot be sent.
pub type Encoded = Result<HttpRequest, ProviderError>;

/// A JSON `POST` to `path` with `body`, the fixed `headers`, and the key (when given) in
/// header `key_header`, written by `key_value`. The key's header is marked sensitive, so
/// it never shows in a `Debug` of the request.
fn json_request<T: serde::Serialize>(
    path: &str,
    body: &T,
    key: Option<&ApiKey>,
    key_header: reqwest::header::HeaderName,
    key_value: impl FnOnce(&str) -> String,
    headers: &[(reqwest::header::HeaderName, &'static str)],
) -> Encoded {
    use reqwest::header::{HeaderMap, HeaderValue, CONTENT_TYPE};
    // Room for a short conversation's body at once: serde_json's own start (128 bytes)
    // grows, and copies, a few times for even the smallest request.
    let mut buf = Vec::with_capacity(1024);
    serde_json::to_writer(&mut buf, body).map_err(|e| ProviderError::BadRequest {
        message: format!("not sent: request could not be serialised: {e}"),
    })?;
    let body = buf;
    let mut map = HeaderMap::with_capacity(2 + headers.len());
    if let Some(key) = key {
        let mut value = HeaderValue::from_str(&key_value(key.expose())).map_err(|_| {
            ProviderError::BadRequest {
                message: "not sent: the API key contains characters not allowed in an HTTP header"
                    .into(),
            }
        })?;
        value.set_sensitive(true);
        map.insert(key_header, value);
    }
    for (name, value) in headers {
        map.insert(name.clone(), HeaderValue::from_static(value));
    }
    map.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(HttpRequest {
        path: path.to_string(),
        headers: map,
        body: body.into(),
    })
}

impl From<ProviderError> for ProviderFailure {
    fn from(error: ProviderError) -> Self {
        ProviderFailure {
            error,
            rate_limits: RateLimitSnapshot::default(),
        }
    }
}

/// A wire format. Pure: no I/O, so every conversion is unit-testable against fixtures.
///
/// The built-in ones come from [`for_wire`]. Implement it to speak another dialect of one
/// of the two wires (an [`Endpoint`] takes any `Arc<dyn Provider>`).
pub trait Provider: Send + Sync + 'static {
    /// The wire format this provider speaks (decides, e.g., whether `count_tokens` exists).
    fn wire(&self) -> Wire;

    /// The HTTP request for one attempt. Errs with [`ProviderError::BadRequest`] when the
    /// body cannot be serialised or the key is not a valid header value.
    fn encode_attempt(&self, attempt: Attempt<'_>) -> Encoded;

    /// The HTTP request for `req` sent to wire model `model`, carrying `key` when given.
    fn encode(&self, model: &str, req: &CompletionRequest, key: Option<&ApiKey>) -> Encoded {
        self.encode_attempt(Attempt::new(model, req, key, false))
    }

    /// The outcome of a response. `now` resolves absolute reset times in headers.
    // `ProviderFailure` carries the whole rate-limit snapshot (~280 bytes); failures are
    // not a hot path, so it stays unboxed.
    #[allow(clippy::result_large_err)]
    fn decode(&self, response: HttpResponse, now: SystemTime) -> Decoded;

    /// Like [`Provider::encode`], asking for a streamed (SSE) response.
    fn encode_stream(&self, model: &str, req: &CompletionRequest, key: Option<&ApiKey>) -> Encoded {
        self.encode_attempt(Attempt::new(model, req, key, true))
    }

    /// A fresh decoder for one streamed response from wire model `model` (the model
    /// picks the tokenizer used when output must be counted locally).
    fn stream_decoder(&self, model: &str) -> Box<dyn StreamDecoder>;

    /// Like [`Provider::decode`], knowing the request the response answers (the
    /// Anthropic wire turns a structured-output tool call back into the reply's text).
    /// [`Endpoint`] calls this one; the default is `decode`.
    #[allow(clippy::result_large_err)]
    fn decode_for(&self, req: &CompletionRequest, res: HttpResponse, now: SystemTime) -> Decoded {
        let _ = req;
        self.decode(res, now)
    }

    /// The request counting `req`'s input tokens with the provider's own counter
    /// (Anthropic `count_tokens`); `None` (the default) for wires that have none.
    /// `a.stream` is ignored: a count is never streamed.
    fn encode_count_tokens(&self, a: Attempt<'_>) -> Option<Encoded> {
        let _ = a;
        None
    }

    /// Like [`Provider::stream_decoder`], knowing the request the stream answers.
    /// [`Endpoint`] calls this one; the default is `stream_decoder`.
    fn stream_decoder_for(&self, model: &str, req: &CompletionRequest) -> Box<dyn StreamDecoder> {
        let _ = req;
        self.stream_decoder(model)
    }
}

/// The built-in provider for `wire`.
pub fn for_wire(wire: Wire) -> Arc<dyn Provider> {
    match wire {
        Wire::Anthropic => Arc::new(anthropic::Anthropic),
        Wire::OpenAi => Arc::new(openai::OpenAi),
        Wire::Responses => Arc::new(responses::Responses),
    }
}

/// One endpoint: a wire format, a transport and a key. Cheap to clone. Its `Debug`
/// never prints the key.
///
/// [`broker::start`](crate::broker::start) takes one per provider of the config, keyed by
/// provider name.
#[derive(Clone)]
pub struct Endpoint {
    /// The provider's config name (`anthropic`), for logs.
    pub name: String,
    /// The wire format.
    pub provider: Arc<dyn Provider>,
    /// How the bytes travel.
    pub transport: Arc<dyn Transport>,
    /// The API key to send, if any.
    pub key: Option<ApiKey>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("name", &self.name)
            .field("wire", &self.provider.wire())
            .field("key", &self.key.as_ref().map(|_| "***"))
            .finish()
    }
}

impl Endpoint {
    /// Counts `req`'s input tokens with the provider's own counter (Anthropic
    /// `count_tokens`); `None` for wires that have none. One HTTP request, not rate
    /// limited here (the broker keeps a separate bucket for these calls).
    pub async fn count_tokens(
        &self,
        model: &str,
        req: &CompletionRequest,
    ) -> Option<Result<u64, ProviderFailure>> {
        let encoded = self
            .provider
            .encode_count_tokens(Attempt::new(model, req, self.key.as_ref(), false))?
            .and_then(|h| route::with_request_extras(h, req, false));
        let http = match encoded {
            Ok(h) => h,
            Err(e) => return Some(Err(e.into())),
        };
        Some(match self.transport.send(http).await {
            Ok(r) => anthropic::decode_count_tokens(r),
            Err(e) => Err(self.failure_of_transport(e)),
        })
    }

    /// Sends one attempt of `req` to wire model `model` and classifies the outcome. No
    /// retries, no rate limiting: that is the broker's job.
    pub async fn complete(&self, model: &str, req: &CompletionRequest) -> Decoded {
        let http = self.provider.encode(model, req, self.key.as_ref())?;
        let http = route::with_request_extras(http, req, true)?;
        let lost = |e| self.failure_of_transport(e);
        let response = self.transport.send(http).await.map_err(lost)?;
        self.provider.decode_for(req, response, SystemTime::now())
    }

    /// Sends one streamed attempt of `req` to wire model `model`.
    ///
    /// Returns once the status and headers are in. A non-2xx answer (errors before the
    /// stream starts come as ordinary JSON) is read whole and classified exactly like
    /// [`Endpoint::complete`] does. On `200` the [`ProviderStream`] yields the events;
    /// any later failure is a [`ProviderError::MidStream`]. Dropping the stream cancels
    /// the request.
    pub async fn stream(
        &self,
        model: &str,
        req: &CompletionRequest,
    ) -> Result<ProviderStream, ProviderFailure> {
        let http = self.provider.encode_stream(model, req, self.key.as_ref())?;
        let http = route::with_request_extras(http, req, true)?;
        let lost = |e| self.failure_of_transport(e);
        let response = self.transport.send_streaming(http).await.map_err(lost)?;
        let now = SystemTime::now();
        let rate_limits = ratelimit::parse(&response.headers, now);
        if !(200..300).contains(&response.status) {
            let (status, headers) = (response.status, response.headers.clone());
            let body = match response.collect().await {
                Ok(r) => r.body,
                Err(e) => {
                    return Err(ProviderFailure {
                        error: self.failure_of_transport(e).error,
                        rate_limits,
                    })
                }
            };
            return Err(ProviderFailure {
                error: classify::classify(status, &headers, &body, now),
                rate_limits,
            });
        }
        Ok(ProviderStream::new(
            self.provider.stream_decoder_for(model, req),
            response.body,
            rate_limits,
        ))
    }
}

/// The shared half of every wire's `decode`: a non-2xx response is classified, a 2xx body
/// is parsed by `parse` (an unreadable body is [`invalid_response`]; a wire whose 200
/// can report a failure, as a Responses `status: "failed"` does, classifies it); either
/// way the rate-limit headers travel with the outcome.
pub(crate) fn decode_response(
    response: HttpResponse,
    now: SystemTime,
    parse: impl FnOnce(&[u8]) -> Result<Completion, ProviderError>,
) -> Result<ProviderReply, ProviderFailure> {
    let rate_limits = ratelimit::parse(&response.headers, now);
    if !(200..300).contains(&response.status) {
        return Err(ProviderFailure {
            error: classify::classify(response.status, &response.headers, &response.body, now),
            rate_limits,
        });
    }
    match parse(&response.body) {
        Ok(completion) => Ok(ProviderReply {
            completion,
            rate_limits,
        }),
        Err(error) => Err(ProviderFailure { error, rate_limits }),
    }
}

/// A 2xx body that could not be read as a completion.
pub(crate) fn invalid_response(message: String) -> ProviderError {
    ProviderError::InvalidResponse { message }
}

impl Endpoint {
    /// A request that got no response, as the provider error naming this endpoint.
    fn failure_of_transport(&self, e: TransportError) -> ProviderFailure {
        match e {
            TransportError::Timeout => ProviderError::Timeout.into(),
            TransportError::Connection(message) => ProviderError::Connection { message }.into(),
            TransportError::Unreachable { base_url, reason } => ProviderError::Unreachable {
                provider: self.name.clone(),
                base_url,
                reason,
            }
            .into(),
        }
    }
}
