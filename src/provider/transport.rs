//! The transport seam: bytes in, bytes out. Real HTTP here; the embedded simulator
//! implements the same trait in-process (`quotaswarm_sim::EmbeddedTransport`, in its own crate).
//!
//! [`Transport::send_streaming`] hands the body over as a stream of chunks as they
//! arrive (for SSE). Dropping that stream cancels the response: reqwest closes the
//! connection; the embedded simulator sees its receiver gone.

use super::stream::ByteStream;
use futures_util::future::BoxFuture;
use futures_util::{StreamExt, TryStreamExt};
use reqwest::header::HeaderMap;
use std::time::Duration;

/// A POST with a JSON body. Header values carrying keys are marked sensitive, so `Debug`
/// never prints them.
#[derive(Debug, Clone)]
pub struct HttpRequest {
    /// Path from the base URL, e.g. `/v1/messages`.
    pub path: String,
    /// Request headers: content type, API version, and the key (`x-api-key` or
    /// `authorization`).
    pub headers: HeaderMap,
    /// The JSON body.
    pub body: bytes::Bytes,
}

/// A whole HTTP response, of any status.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// The HTTP status code.
    pub status: u16,
    /// Response headers (rate-limit headers, `retry-after`, request id, ...).
    pub headers: HeaderMap,
    /// The body, complete.
    pub body: bytes::Bytes,
}

/// A request that got no HTTP response at all (an error status is a response, not a
/// `TransportError`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// No response (or no complete body) within the timeout.
    #[error("timed out")]
    Timeout,
    /// The connection broke, or the client failed; the text says why (never headers).
    #[error("connection failed: {0}")]
    Connection(String),
    /// No connection could be made at all: refused, unknown host, no route, connect
    /// timeout. Nothing listens at `base_url` (right now, or ever: a wrong URL).
    #[error("nothing answers at {base_url} ({reason})")]
    Unreachable {
        /// The base URL the request went to.
        base_url: String,
        /// Why, e.g. `connection refused` or the resolver's message.
        reason: String,
    },
}

/// A response whose body is still arriving (for streamed answers).
pub struct StreamingResponse {
    /// The HTTP status code.
    pub status: u16,
    /// Response headers, complete.
    pub headers: HeaderMap,
    /// The body, chunk by chunk. Dropping it cancels the response.
    pub body: ByteStream,
}

impl std::fmt::Debug for StreamingResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamingResponse")
            .field("status", &self.status)
            .field("headers", &self.headers)
            .finish_non_exhaustive()
    }
}

impl StreamingResponse {
    /// A response whose body is already complete (one chunk).
    pub fn complete(response: HttpResponse) -> Self {
        StreamingResponse {
            status: response.status,
            headers: response.headers,
            body: futures_util::stream::once(async move { Ok(response.body) }).boxed(),
        }
    }

    /// Reads the whole body. A transport failure part-way ends it with that error.
    pub async fn collect(self) -> Result<HttpResponse, TransportError> {
        let chunks: Vec<bytes::Bytes> = self.body.try_collect().await?;
        Ok(HttpResponse {
            status: self.status,
            headers: self.headers,
            body: chunks.concat().into(),
        })
    }
}

/// Moves one request's bytes to a provider and back: [`HttpTransport`] for real HTTP,
/// the in-process simulator, or a test's scripted responses. Implement
/// [`Transport::send`]; override [`Transport::send_streaming`] to stream bodies.
///
/// Any HTTP status is an `Ok` response; `Err` only when there was no response.
pub trait Transport: Send + Sync + 'static {
    /// Sends `request` and returns the whole response.
    fn send(&self, request: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>>;

    /// Sends `request` and returns as soon as the status and headers are in; the body
    /// follows as a stream. The default buffers the whole response with [`Transport::send`]
    /// (fine for scripted test transports); real transports override it.
    fn send_streaming(
        &self,
        request: HttpRequest,
    ) -> BoxFuture<'_, Result<StreamingResponse, TransportError>> {
        Box::pin(async move { self.send(request).await.map(StreamingResponse::complete) })
    }
}

/// Real HTTP: reqwest over rustls, POSTing to `base_url` + the request's path, with a
/// connection pool shared by all clones.
///
/// Two clocks bound a request, because a streamed answer may rightly last longer than
/// any sensible total timeout:
/// - a non-streamed [`Transport::send`] must be complete (headers and body) within
///   `timeout`;
/// - a streamed [`Transport::send_streaming`] has no total bound: it times out only when
///   the server stays silent for the stream idle timeout, waiting for the headers or
///   between two chunks of the body (default [`HttpTransport::DEFAULT_STREAM_IDLE`]).
///
/// Both end in [`TransportError::Timeout`].
#[derive(Debug, Clone)]
pub struct HttpTransport {
    client: reqwest::Client,
    base_url: String,
    /// The whole-request bound of non-streamed calls (set per request, not on the client,
    /// so it never cuts a stream).
    timeout: Duration,
    /// The longest silence a streamed call tolerates.
    stream_idle: Duration,
}

impl HttpTransport {
    /// The stream idle timeout unless [`HttpTransport::stream_idle_timeout`] says
    /// otherwise.
    pub const DEFAULT_STREAM_IDLE: Duration = Duration::from_secs(60);

    /// A transport to `base_url` (e.g. `https://api.anthropic.com`; a trailing `/` is
    /// ignored). `timeout` bounds each whole non-streamed request, body included;
    /// streamed requests are bounded by the idle timeout instead. Connecting is bounded
    /// by 5 s (or `timeout` if shorter). Errs with [`TransportError::Connection`] if the
    /// HTTP client cannot be built.
    pub fn new(base_url: &str, timeout: Duration) -> Result<Self, TransportError> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5).min(timeout))
            .pool_max_idle_per_host(64)
            .build()
            .map_err(|e| TransportError::Connection(e.to_string()))?;
        Ok(HttpTransport {
            client,
            base_url: base_url.trim_end_matches('/').to_string(),
            timeout,
            stream_idle: Self::DEFAULT_STREAM_IDLE,
        })
    }

    /// This transport with streamed calls timing out after `idle` without a byte (for the
    /// headers, then between chunks). A zero `idle` is taken as the default.
    pub fn stream_idle_timeout(mut self, idle: Duration) -> Self {
        self.stream_idle = if idle.is_zero() {
            Self::DEFAULT_STREAM_IDLE
        } else {
            idle
        };
        self
    }
}

fn describe(e: &reqwest::Error) -> String {
    // reqwest's Display can include the URL, never headers; keys travel only in headers.
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

impl Transport for HttpTransport {
    fn send(&self, request: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        Box::pin(async move {
            let response = self.post(request, Some(self.timeout)).await?;
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            let body = response
                .bytes()
                .await
                .map_err(|e| self.transport_error(&e))?;
            Ok(HttpResponse {
                status,
                headers,
                body,
            })
        })
    }

    fn send_streaming(
        &self,
        request: HttpRequest,
    ) -> BoxFuture<'_, Result<StreamingResponse, TransportError>> {
        Box::pin(async move {
            let idle = self.stream_idle;
            let response = tokio::time::timeout(idle, self.post(request, None))
                .await
                .map_err(|_| TransportError::Timeout)??;
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            // Owning the response inside the stream: dropping the stream drops the
            // connection, which is how a cancelled stream reaches the server.
            let this = self.clone();
            let chunks = response
                .bytes_stream()
                .map_err(move |e| this.transport_error(&e))
                .boxed();
            let body = idle_bounded(chunks, idle);
            Ok(StreamingResponse {
                status,
                headers,
                body,
            })
        })
    }
}

impl HttpTransport {
    /// Sends `request`; the response's headers have arrived, its body not yet.
    /// `timeout`, when given, bounds the whole request, body included (reqwest's
    /// per-request timeout).
    async fn post(
        &self,
        request: HttpRequest,
        timeout: Option<Duration>,
    ) -> Result<reqwest::Response, TransportError> {
        let url = format!("{}{}", self.base_url, request.path);
        let mut builder = self
            .client
            .post(url)
            .headers(request.headers)
            .body(request.body);
        if let Some(t) = timeout {
            builder = builder.timeout(t);
        }
        builder.send().await.map_err(|e| self.transport_error(&e))
    }

    /// A connect failure is [`TransportError::Unreachable`] (checked before timeouts: a
    /// connect timeout is one); any other timeout is [`TransportError::Timeout`].
    fn transport_error(&self, e: &reqwest::Error) -> TransportError {
        if e.is_connect() {
            TransportError::Unreachable {
                base_url: self.base_url.clone(),
                reason: connect_reason(e),
            }
        } else if e.is_timeout() {
            TransportError::Timeout
        } else {
            TransportError::Connection(describe(e))
        }
    }
}

/// `chunks`, ending with [`TransportError::Timeout`] when no chunk arrives for `idle`.
/// Each chunk restarts the clock; after an error or the end nothing more is read.
fn idle_bounded(chunks: ByteStream, idle: Duration) -> ByteStream {
    futures_util::stream::unfold(Some(chunks), move |state| async move {
        let mut chunks = state?;
        match tokio::time::timeout(idle, chunks.next()).await {
            Ok(Some(Ok(chunk))) => Some((Ok(chunk), Some(chunks))),
            Ok(Some(Err(e))) => Some((Err(e), None)),
            Ok(None) => None,
            Err(_) => Some((Err(TransportError::Timeout), None)),
        }
    })
    .boxed()
}

/// The root cause of a failed connect, short: `connection refused`, `connect timed out`,
/// or the deepest error's own text (e.g. the resolver's `Name or service not known`).
fn connect_reason(e: &reqwest::Error) -> String {
    let mut deepest: &dyn std::error::Error = e;
    while let Some(inner) = deepest.source() {
        deepest = inner;
    }
    let io_kind = deepest
        .downcast_ref::<std::io::Error>()
        .map(std::io::Error::kind);
    match io_kind {
        Some(std::io::ErrorKind::ConnectionRefused) => "connection refused".into(),
        Some(std::io::ErrorKind::TimedOut) => "connect timed out".into(),
        _ if e.is_timeout() => "connect timed out".into(),
        _ => deepest.to_string(),
    }
}
