//! Streamed answers (SSE), shared by both wires.
//!
//! A wire renders the whole event sequence up front as [`Frame`]s (each knowing how many
//! output tokens it carries); [`start`] spawns a producer task that sends them through a
//! small bounded channel, sleeping `per_token` before each token, and returns the
//! response whose body is the receiving end. The producer:
//!
//! - injects the wire's mid-stream error frame after `after_tokens` tokens when a
//!   `mid_stream` fault was drawn, and stops there;
//! - notices a client that went away (in-process receiver dropped, or the HTTP body
//!   dropped by hyper when the connection closed) at the next send or while it sleeps,
//!   and stops generating;
//! - then settles the output reservation and records the request: a completed stream is
//!   charged the reply's full output (what its final usage says); a cancelled or failed
//!   one only the tokens actually sent.

use super::stats::Event;
use super::{KeyId, Simulator};
use bytes::Bytes;
use futures_util::StreamExt;
use quotaswarm::provider::{StreamingResponse, TransportError};
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::Value;
use std::time::Duration;
use tokio::sync::mpsc;

/// One SSE event as sent.
#[derive(Debug, Clone)]
pub(super) struct Frame {
    pub bytes: Bytes,
    /// Output tokens this frame carries (1 per text delta, per tool-argument piece; 0
    /// for structure).
    pub tokens: u64,
    /// After the content (`content_block_stop`, `message_delta`, finish/usage chunks, …):
    /// a pending mid-stream error is sent before the first of these.
    pub tail: bool,
}

impl Frame {
    pub fn structure(bytes: String) -> Frame {
        Frame {
            bytes: bytes.into(),
            tokens: 0,
            tail: false,
        }
    }

    pub fn tail(bytes: String) -> Frame {
        Frame {
            bytes: bytes.into(),
            tokens: 0,
            tail: true,
        }
    }
}

/// `event: <name>` + `data: <json>` (Anthropic style).
pub(super) fn named_event(name: &str, data: &Value) -> String {
    format!("event: {name}\ndata: {data}\n\n")
}

/// `data: <payload>` only (OpenAI style).
pub(super) fn data_event(data: &str) -> String {
    format!("data: {data}\n\n")
}

/// `text` cut into per-token pieces: each word with its leading space. Joined, they are
/// `text` exactly; a reply of `n` words gives `n` pieces (the words are one token each).
pub(super) fn pieces(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, c) in text.char_indices() {
        if c == ' ' && i > start {
            out.push(&text[start..i]);
            start = i;
        }
    }
    if start < text.len() {
        out.push(&text[start..]);
    }
    out
}

/// Everything the producer needs.
pub(super) struct Plan {
    pub key: KeyId,
    pub model: String,
    /// Input tokens charged at admission (for stats).
    pub input: u64,
    /// Prompt-cache tokens read and written (for stats).
    pub cache_read: u64,
    pub cache_write: u64,
    /// Output reserved at admission, settled at the end.
    pub reserve: f64,
    /// Output tokens a completed stream reports and is charged.
    pub output: u64,
    /// Before the first frame (base latency + slow faults).
    pub head_delay: Duration,
    pub frames: Vec<Frame>,
    /// `Some((after_tokens, error frame))` when a mid-stream fault was drawn.
    pub fail: Option<(u64, Bytes)>,
    /// Response headers (rate limits, ids); content type is added here.
    pub headers: HeaderMap,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Completed,
    Cancelled,
    Failed,
}

/// Frames in flight between producer and consumer: small, so a client that stops reading
/// stops generation soon.
const CHANNEL_FRAMES: usize = 1;

/// Starts producing `plan` and returns the `200` response streaming it.
pub(super) fn start(sim: &Simulator, plan: Plan) -> StreamingResponse {
    let (tx, rx) = mpsc::channel::<Bytes>(CHANNEL_FRAMES);
    let mut headers = plan.headers.clone();
    headers.insert(
        "content-type",
        HeaderValue::from_static("text/event-stream; charset=utf-8"),
    );
    headers.insert("cache-control", HeaderValue::from_static("no-cache"));
    tokio::spawn(produce(sim.clone(), plan, tx));
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|b| (Ok::<Bytes, TransportError>(b), rx))
    })
    .boxed();
    StreamingResponse {
        status: 200,
        headers,
        body,
    }
}

/// Sleeps `d`, or returns false at once if the receiver goes away.
async fn wait(tx: &mpsc::Sender<Bytes>, d: Duration) -> bool {
    if d.is_zero() {
        return !tx.is_closed();
    }
    tokio::select! {
        _ = tokio::time::sleep(d) => true,
        _ = tx.closed() => false,
    }
}

async fn produce(sim: Simulator, plan: Plan, tx: mpsc::Sender<Bytes>) {
    let per_token = sim.inner.per_token;
    let mut produced: u64 = 0;
    let mut outcome = Outcome::Completed;
    if !wait(&tx, plan.head_delay).await {
        outcome = Outcome::Cancelled;
    }
    let mut fail = plan.fail;
    for frame in plan.frames {
        if outcome != Outcome::Completed {
            break;
        }
        let fail_now = match &fail {
            Some((after, _)) => (frame.tokens > 0 && produced >= *after) || frame.tail,
            None => false,
        };
        if fail_now {
            if let Some((_, error)) = fail.take() {
                outcome = match tx.send(error).await {
                    Ok(()) => Outcome::Failed,
                    Err(_) => Outcome::Cancelled,
                };
            }
            break;
        }
        if frame.tokens > 0 {
            let d = per_token.saturating_mul(u32::try_from(frame.tokens).unwrap_or(u32::MAX));
            if !wait(&tx, d).await {
                outcome = Outcome::Cancelled;
                break;
            }
        }
        if tx.send(frame.bytes).await.is_err() {
            outcome = Outcome::Cancelled;
            break;
        }
        produced += frame.tokens;
    }
    let charged = match outcome {
        Outcome::Completed => plan.output,
        Outcome::Cancelled | Outcome::Failed => produced,
    };
    sim.settle(&plan.key, &plan.model, plan.reserve, charged as f64);
    sim.record(&Event {
        key: Some(plan.key.label),
        model: Some(plan.model),
        status: 200,
        input_tokens: plan.input,
        output_tokens: charged,
        count_tokens: false,
        stream: true,
        cancelled: outcome == Outcome::Cancelled,
        stream_error: outcome == Outcome::Failed,
        cache_read: plan.cache_read,
        cache_write: plan.cache_write,
    });
    if outcome == Outcome::Cancelled {
        tracing::debug!(produced, "simulator: client went away mid-stream");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_join_back_to_the_text_one_per_word() {
        let text = "Answer is a simple plan";
        let p = pieces(text);
        assert_eq!(p, vec!["Answer", " is", " a", " simple", " plan"]);
        assert_eq!(p.concat(), text);
        assert!(pieces("").is_empty());
        assert_eq!(pieces("x ").concat(), "x ");
    }
}
