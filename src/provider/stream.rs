//! Streaming (SSE) responses, provider-neutral.
//!
//! - [`StreamEvent`] is what a consumer sees: the start (with the input-side usage when
//!   the provider reports it up front), content deltas keyed by block index, and one
//!   [`StreamEvent::Finished`] with the whole assembled [`Completion`] and final usage.
//! - [`StreamDecoder`] is the pure, per-wire state machine from SSE events (`event`,
//!   `data`) to [`StreamEvent`]s; each provider module has one, fixture-tested without I/O.
//! - [`ProviderStream`] drives a decoder over a byte body (split into SSE events by
//!   `eventsource-stream`), counts delivered deltas, and wraps every failure after the
//!   `200` in [`ProviderError::MidStream`], so a caller can apply "retry only if nothing
//!   was delivered yet". Dropping it drops the body, which cancels the response (closes
//!   the HTTP connection, or tells the in-process simulator the client went away).

use super::{ProviderError, ProviderFailure, RateLimitSnapshot, TransportError};
use crate::types::{Completion, ContentBlock, Usage};
use bytes::Bytes;
use eventsource_stream::{EventStreamError, Eventsource};
use futures_util::stream::{BoxStream, Stream, StreamExt};
use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::SystemTime;

/// One step of a streamed completion. Block `index`es are the content blocks' positions
/// in the final [`Completion`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum StreamEvent {
    /// The response started. `usage` holds what is known up front: Anthropic's input-side
    /// counts from `message_start` (its placeholder `output_tokens` included); zeros for
    /// OpenAI, which reports usage only at the end.
    Started {
        /// The provider's id for the response (`msg_…`, `chatcmpl-…`).
        id: String,
        /// The wire model that answers, as the provider names it.
        provider_model: String,
        /// What is known of the usage so far.
        usage: Usage,
    },
    /// Text appended to the text block at `index`.
    TextDelta {
        /// The content block's index.
        index: usize,
        /// The new text.
        text: String,
    },
    /// A tool call opened at block `index`.
    ToolUseStart {
        /// The content block's index.
        index: usize,
        /// The tool call's id (to answer with a `tool_result`).
        id: String,
        /// The tool's name.
        name: String,
    },
    /// A piece of the JSON text of the tool call at `index` (concatenate; the parsed
    /// input is in the final completion).
    ToolInputDelta {
        /// The content block's index.
        index: usize,
        /// The next piece of the tool input's JSON text.
        partial_json: String,
    },
    /// A block the stream delivers whole once it is complete, at its place among the
    /// others: thinking (with its signature) and redacted thinking, a Responses
    /// reasoning item, and blocks kept whole ([`ContentBlock::Raw`]: server-tool calls
    /// and results, types this version does not know). A consumer that relays the
    /// stream (the gateway) hands them on so its client gets every block a
    /// non-streamed answer has.
    ///
    /// [`ContentBlock::Raw`]: crate::types::ContentBlock::Raw
    Block {
        /// The content block's index.
        index: usize,
        /// The whole block, as it is in the final completion.
        block: ContentBlock,
    },
    /// A citation appended to the text block at `index` (Anthropic `citations_delta`).
    Citation {
        /// The content block's index.
        index: usize,
        /// The citation object, kept whole.
        citation: serde_json::Value,
    },
    /// The end: the assembled completion with its final usage. `usage_estimated` is true
    /// when the provider never reported usage (an OpenAI stream without, or cut before,
    /// its usage chunk): then `output_tokens` was counted locally and input is 0.
    Finished {
        /// The whole answer, as a non-streamed request would have returned it.
        completion: Completion,
        /// Whether `completion.usage` was counted locally rather than reported.
        usage_estimated: bool,
    },
}

impl StreamEvent {
    /// Whether this event carries content (what "a delta has been delivered" counts: a
    /// whole block or a citation handed on is content a relaying consumer has sent).
    pub fn is_delta(&self) -> bool {
        matches!(
            self,
            StreamEvent::TextDelta { .. }
                | StreamEvent::ToolUseStart { .. }
                | StreamEvent::ToolInputDelta { .. }
                | StreamEvent::Block { .. }
                | StreamEvent::Citation { .. }
        )
    }
}

/// Whether a decoder wants more events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Keep feeding events.
    Continue,
    /// The stream is complete (`message_stop`, `[DONE]`); anything after it is ignored.
    Done,
}

/// One dispatched SSE event as a [`StreamDecoder`] sees it.
#[derive(Debug, Clone, Copy)]
pub struct SseEvent<'a> {
    /// The event name; `"message"` when the server named none.
    pub event: &'a str,
    /// The event's data (its `data:` lines joined).
    pub data: &'a str,
    /// When it arrived (resolves the relative resets an error event carries).
    pub now: SystemTime,
}

/// A wire's SSE state machine, from SSE events to [`StreamEvent`]s; one fresh decoder
/// per response ([`Provider::stream_decoder`](super::Provider::stream_decoder)). Pure:
/// no I/O, no clock beyond the `now` passed in.
pub trait StreamDecoder: Send + 'static {
    /// One dispatched SSE event. An `Err` is the failure inside the stream (not yet
    /// wrapped in `MidStream`).
    fn on_event(
        &mut self,
        sse: SseEvent<'_>,
        out: &mut Vec<StreamEvent>,
    ) -> Result<Flow, ProviderError>;

    /// The body ended before [`Flow::Done`]: push any final events, or err if the
    /// stream is incomplete.
    fn on_eof(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), ProviderError>;

    /// What the provider has charged so far, as well as known (for `MidStream`).
    fn partial_usage(&self) -> Usage;
}

/// A streaming HTTP response body: chunks as they arrive; an `Err` ends it.
pub type ByteStream = BoxStream<'static, Result<Bytes, TransportError>>;

/// The events of one streamed completion, with the rate-limit state reported in the
/// response headers. Yields `Ok` events, ending with [`StreamEvent::Finished`], or one
/// `Err` (always [`ProviderError::MidStream`]) after which it ends.
pub struct ProviderStream {
    /// Parsed from the response headers (sent before the first event).
    pub rate_limits: RateLimitSnapshot,
    events: BoxStream<'static, Result<StreamEvent, ProviderFailure>>,
}

impl std::fmt::Debug for ProviderStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderStream")
            .field("rate_limits", &self.rate_limits)
            .finish_non_exhaustive()
    }
}

struct DriveState {
    sse: BoxStream<'static, Result<eventsource_stream::Event, EventStreamError<TransportError>>>,
    decoder: Box<dyn StreamDecoder>,
    pending: VecDeque<StreamEvent>,
    deltas: u64,
    done: bool,
    rate_limits: RateLimitSnapshot,
}

impl DriveState {
    fn fail(&mut self, error: ProviderError) -> ProviderFailure {
        self.done = true;
        self.pending.clear();
        ProviderFailure {
            error: ProviderError::MidStream {
                error: Box::new(error),
                deltas_delivered: self.deltas,
                partial_usage: self.decoder.partial_usage(),
            },
            rate_limits: self.rate_limits.clone(),
        }
    }
}

impl ProviderStream {
    /// Decodes `body` (an SSE body of a `200` response) with `decoder`;
    /// `rate_limits` are those of the response's headers. Nothing is read until the
    /// stream is polled.
    pub fn new(
        decoder: Box<dyn StreamDecoder>,
        body: ByteStream,
        rate_limits: RateLimitSnapshot,
    ) -> Self {
        let state = DriveState {
            sse: body.eventsource().boxed(),
            decoder,
            pending: VecDeque::new(),
            deltas: 0,
            done: false,
            rate_limits: rate_limits.clone(),
        };
        let events = futures_util::stream::unfold(state, |mut st| async move {
            loop {
                if let Some(ev) = st.pending.pop_front() {
                    if ev.is_delta() {
                        st.deltas += 1;
                    }
                    return Some((Ok(ev), st));
                }
                if st.done {
                    return None;
                }
                let mut out = Vec::new();
                match st.sse.next().await {
                    Some(Ok(ev)) => {
                        match st.decoder.on_event(
                            SseEvent {
                                event: &ev.event,
                                data: &ev.data,
                                now: SystemTime::now(),
                            },
                            &mut out,
                        ) {
                            Ok(flow) => {
                                st.pending.extend(out);
                                if flow == Flow::Done {
                                    st.done = true;
                                    // Drop the body now: nothing after the end matters.
                                    st.sse = futures_util::stream::empty().boxed();
                                }
                            }
                            Err(e) => {
                                let f = st.fail(e);
                                return Some((Err(f), st));
                            }
                        }
                    }
                    Some(Err(e)) => {
                        let error = match e {
                            EventStreamError::Transport(TransportError::Timeout) => {
                                ProviderError::Timeout
                            }
                            EventStreamError::Transport(TransportError::Connection(message)) => {
                                ProviderError::Connection { message }
                            }
                            // A stream's body has a connection already; kept for completeness.
                            EventStreamError::Transport(e @ TransportError::Unreachable { .. }) => {
                                ProviderError::Connection {
                                    message: e.to_string(),
                                }
                            }
                            other => ProviderError::InvalidResponse {
                                message: format!("event stream: {other}"),
                            },
                        };
                        let f = st.fail(error);
                        return Some((Err(f), st));
                    }
                    None => {
                        st.done = true;
                        if let Err(e) = st.decoder.on_eof(&mut out) {
                            let f = st.fail(e);
                            return Some((Err(f), st));
                        }
                        st.pending.extend(out);
                    }
                }
            }
        })
        .boxed();
        ProviderStream {
            rate_limits,
            events,
        }
    }

    /// Reads the whole stream and returns the finished completion, or the failure (an
    /// `InvalidResponse` if the stream ended without a completion).
    pub async fn into_completion(mut self) -> Result<Completion, ProviderFailure> {
        while let Some(item) = self.next().await {
            if let StreamEvent::Finished { completion, .. } = item? {
                return Ok(completion);
            }
        }
        Err(ProviderFailure {
            error: ProviderError::InvalidResponse {
                message: "stream ended without a completion".into(),
            },
            rate_limits: self.rate_limits,
        })
    }
}

impl Stream for ProviderStream {
    type Item = Result<StreamEvent, ProviderFailure>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.events.poll_next_unpin(cx)
    }
}

/// Output tokens counted locally for `text` (when the provider did not say).
pub(crate) fn count_output(model: &str, text: &str) -> u64 {
    crate::tokens::Encoding::for_model(model).count(text)
}

#[cfg(test)]
pub(crate) mod test_support {
    use super::*;
    use crate::provider::{HttpRequest, HttpResponse};

    /// The fixed wall-clock instant the wire tests decode at (2025-08-21).
    pub fn now() -> SystemTime {
        SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_755_780_000)
    }

    /// A tiny base64 PNG image block (`{"type": "base64", "media_type": "image/png",
    /// "data": "AAAA"}`), as the wire tests send it.
    pub fn png_image() -> crate::types::ContentBlock {
        crate::types::ContentBlock::Image {
            source: serde_json::json!({"type": "base64", "media_type": "image/png", "data": "AAAA"}),
            cache_control: None,
        }
    }

    /// A reasoning item with one summary part and its encrypted content.
    pub fn reasoning(id: &str, summary: &str, encrypted: &str) -> crate::types::ContentBlock {
        crate::types::ContentBlock::Reasoning {
            id: id.into(),
            summary: vec![summary.into()],
            encrypted_content: Some(encrypted.into()),
        }
    }

    /// `(input, cache read, output)` tokens of `u`.
    pub fn in_cached_out(u: &Usage) -> (u64, u64, u64) {
        (u.input_tokens, u.cache_read_input_tokens, u.output_tokens)
    }

    /// A request's body as JSON.
    pub fn body_json(r: &HttpRequest) -> serde_json::Value {
        serde_json::from_slice(&r.body).unwrap()
    }

    /// An expected JSON body, written as text.
    pub fn expected(text: &str) -> serde_json::Value {
        serde_json::from_str(text).unwrap()
    }

    /// A header map of `(name, value)` pairs; values may hold any header bytes (`µs`).
    pub fn headers(pairs: &[(&str, &str)]) -> reqwest::header::HeaderMap {
        use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_bytes(v.as_bytes()).unwrap(),
            );
        }
        h
    }

    /// The events among `items`, failures left out.
    pub fn events(items: &[Result<StreamEvent, ProviderFailure>]) -> Vec<StreamEvent> {
        items
            .iter()
            .filter_map(|i| i.as_ref().ok().cloned())
            .collect()
    }

    /// A 200 response with `body` and no headers.
    pub fn ok(body: &str) -> HttpResponse {
        HttpResponse {
            status: 200,
            headers: reqwest::header::HeaderMap::new(),
            body: body.to_string().into(),
        }
    }

    /// Feeds `text` to `decoder` in `chunk`-byte pieces and collects every item.
    pub async fn run(
        decoder: Box<dyn StreamDecoder>,
        text: &str,
        chunk: usize,
    ) -> Vec<Result<StreamEvent, ProviderFailure>> {
        let bytes = text.as_bytes().to_vec();
        let pieces: Vec<Result<Bytes, TransportError>> = bytes
            .chunks(chunk.max(1))
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        let body = futures_util::stream::iter(pieces).boxed();
        ProviderStream::new(decoder, body, RateLimitSnapshot::default())
            .collect()
            .await
    }

    /// Like [`run`], asserting that no item is a failure.
    pub async fn run_ok(
        decoder: Box<dyn StreamDecoder>,
        text: &str,
        chunk: usize,
    ) -> Vec<Result<StreamEvent, ProviderFailure>> {
        let items = run(decoder, text, chunk).await;
        assert!(items.iter().all(Result::is_ok), "{items:?}");
        items
    }

    /// The `Finished` completion among `items`, asserting its usage is the provider's
    /// own (not estimated).
    pub fn finished_reported(items: &[Result<StreamEvent, ProviderFailure>]) -> Completion {
        let (c, estimated) = finished(items);
        assert!(!estimated, "usage estimated: {c:?}");
        c
    }

    /// The `Finished` completion among `items`.
    pub fn finished(items: &[Result<StreamEvent, ProviderFailure>]) -> (Completion, bool) {
        items
            .iter()
            .find_map(|i| match i {
                Ok(StreamEvent::Finished {
                    completion,
                    usage_estimated,
                }) => Some((completion.clone(), *usage_estimated)),
                _ => None,
            })
            .expect("a Finished event")
    }
}
