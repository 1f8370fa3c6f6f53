//! Streaming through the broker.
//!
//! A streamed request is admitted, reserved, retried and settled like any other. Its
//! deltas go straight from the provider task to the caller (not through the broker's
//! mailbox); the final event — the completion with its real usage, or the error — comes
//! from the broker once it has settled the lane. The output bucket is settled on the
//! tokens actually produced, the input on what the stream reported.
//!
//! - Dropping a [`CompletionStream`] cancels the HTTP request; the lane is settled on what
//!   was produced by then, and the cancellation is counted in the stats. A stream dropped
//!   while still queued leaves the queue at once and costs nothing.
//! - A failure inside a stream is retried only when no delta has reached the caller yet;
//!   after that it reaches the caller once, as an error, and output is never duplicated.
//! - Streams are exempt from coalescing: each streamed request gets its own upstream
//!   stream (merging would need every waiter to receive every delta from one upstream;
//!   not done, so identical streamed requests each cost their own quota).
//! - The channel to the caller holds at most [`STREAM_BUFFER`] items. A caller that reads
//!   slowly makes the provider task wait for room, so it stops reading the response (and
//!   the provider, through TCP flow control or the simulator's own small channel, stops
//!   sending): memory per stream stays bounded whatever the consumer does. The broker
//!   never waits: it hands the final item over with `try_send`, and only when the
//!   buffer is full does a small task wait for room to deliver it.

use super::error::BrokerError;
use super::give_up::GiveUp;
use crate::provider::EventSink;
use crate::provider::StreamEvent;
use crate::types::Completion;
use futures_util::future::BoxFuture;
use futures_util::Stream;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::mpsc::{channel as bounded, Receiver, Sender};

/// How many items (events and the final one) a [`CompletionStream`] holds unread before
/// the provider task waits for the caller to read.
pub const STREAM_BUFFER: usize = 256;

/// One item of a streamed completion.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamItem {
    /// A delta (text, tool call start, tool input) or the `Started` event.
    Event(StreamEvent),
    /// The end: the completion, naming the model that answered, with its final usage.
    Done(Completion),
}

/// The caller's side of a streamed completion, from
/// [`BrokerHandle::stream`](super::BrokerHandle::stream).
///
/// A [`Stream`] of [`StreamItem`]s: events as the provider sends them, then
/// [`StreamItem::Done`]; or an `Err`, after which the stream ends. A failed attempt is
/// retried (or falls back) only while no delta has reached the caller, so text is never
/// repeated. If the broker
/// stops first, the last item is [`BrokerError::BrokerStopped`]. Dropping it cancels the
/// request; the lane is charged only what was produced.
pub struct CompletionStream {
    rx: Receiver<Result<StreamItem, BrokerError>>,
    ended: bool,
    /// Tells the broker if the stream is dropped before its end (see `GiveUp`).
    give_up: Option<GiveUp>,
}

impl CompletionStream {
    fn end(&mut self) {
        self.ended = true;
        if let Some(g) = self.give_up.take() {
            g.disarm();
        }
    }
}

impl Stream for CompletionStream {
    type Item = Result<StreamItem, BrokerError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.ended {
            return Poll::Ready(None);
        }
        match self.rx.poll_recv(cx) {
            Poll::Ready(Some(item)) => {
                if matches!(item, Ok(StreamItem::Done(_)) | Err(_)) {
                    self.end();
                }
                Poll::Ready(Some(item))
            }
            Poll::Ready(None) => {
                self.end();
                Poll::Ready(Some(Err(BrokerError::BrokerStopped)))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl CompletionStream {
    /// Items received and not yet read: at most [`STREAM_BUFFER`], however slowly the
    /// caller reads.
    pub fn unread(&self) -> usize {
        self.rx.len()
    }

    /// Reads to the end and returns the completion (the deltas are dropped); errs with
    /// the stream's error, or [`BrokerError::BrokerStopped`] if it ends without one.
    pub async fn collect_completion(mut self) -> Result<Completion, BrokerError> {
        use futures_util::StreamExt;
        while let Some(item) = self.next().await {
            if let StreamItem::Done(c) = item? {
                return Ok(c);
            }
        }
        Err(BrokerError::BrokerStopped)
    }
}

/// The broker's side: deltas from provider tasks, the final item from the broker.
#[derive(Clone)]
pub(crate) struct StreamSink {
    tx: Sender<Result<StreamItem, BrokerError>>,
}

/// A stream and its sink; dropping the stream early drops `give_up`, which tells the
/// broker.
pub(crate) fn channel(give_up: GiveUp) -> (StreamSink, CompletionStream) {
    let (tx, rx) = bounded(STREAM_BUFFER);
    let stream = CompletionStream {
        rx,
        ended: false,
        give_up: Some(give_up),
    };
    (StreamSink { tx }, stream)
}

impl StreamSink {
    /// Hands the final item over without waiting (the broker calls this). When the
    /// caller's buffer is full, a task waits for room; it ends when the item is
    /// delivered or the caller drops the stream. Every event of the last attempt was
    /// sent before its outcome reached the broker, so the final item comes after them.
    pub(crate) fn finish(&self, result: Result<Completion, BrokerError>) {
        match self.tx.try_send(result.map(StreamItem::Done)) {
            Ok(()) | Err(TrySendError::Closed(_)) => {}
            Err(TrySendError::Full(item)) => {
                let tx = self.tx.clone();
                tokio::spawn(async move {
                    let _ = tx.send(item).await;
                });
            }
        }
    }

    /// The caller dropped its [`CompletionStream`].
    pub(crate) fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
}

impl EventSink for StreamSink {
    fn send(&self, event: StreamEvent) -> BoxFuture<'_, bool> {
        // Waits for room: this is the backpressure on the provider task. A dropped
        // stream ends the wait at once with `false`.
        Box::pin(async move { self.tx.send(Ok(StreamItem::Event(event))).await.is_ok() })
    }

    fn closed(&self) -> BoxFuture<'static, ()> {
        let tx = self.tx.clone();
        Box::pin(async move { tx.closed().await })
    }
}
