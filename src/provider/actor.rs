//! The provider actor: one per endpoint, generic over the [`Provider`](super::Provider)
//! trait through [`Endpoint`].
//!
//! Messages: [`ProviderMsg::Dispatch`]. For each dispatch it spawns one task that sends the
//! HTTP request and hands the outcome to the dispatch's `on_done` callback, which the
//! broker builds to post a `Finished` message back to itself. The actor itself never
//! awaits I/O, so one slow response does not hold up the next dispatch. Every dispatch
//! reports exactly once: success, failure and timeout alike (the transport has a timeout).

use super::{Endpoint, ProviderError, ProviderFailure, ProviderReply, StreamEvent};
use crate::tokens::Encoding;
use crate::types::{CompletionRequest, Usage};
use futures_util::future::BoxFuture;
use futures_util::StreamExt;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use std::sync::Arc;

/// Called once with the outcome of a dispatch.
pub type OnDone = Box<dyn FnOnce(Result<ProviderReply, ProviderFailure>) + Send + 'static>;

/// Where a streaming dispatch hands its events (all but the final `Finished`, which goes
/// to `on_done` as the completion) as they arrive.
pub trait EventSink: Send + Sync + 'static {
    /// Hands one event on; false when nobody listens any more.
    fn send(&self, event: StreamEvent) -> bool;
    /// Resolves when nobody listens any more.
    fn closed(&self) -> BoxFuture<'static, ()>;
}

pub struct Dispatch {
    pub wire_model: String,
    pub request: Arc<CompletionRequest>,
    pub on_done: OnDone,
    /// Stream the response to this sink (`None`: a plain request).
    pub stream: Option<Arc<dyn EventSink>>,
}

pub enum ProviderMsg {
    Dispatch(Box<Dispatch>),
}

pub struct ProviderActor;

impl Actor for ProviderActor {
    type Msg = ProviderMsg;
    type State = Endpoint;
    type Arguments = Endpoint;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        endpoint: Endpoint,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(endpoint)
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        endpoint: &mut Endpoint,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            ProviderMsg::Dispatch(d) => on_dispatch(endpoint.clone(), *d),
        }
        Ok(())
    }
}

fn on_dispatch(endpoint: Endpoint, d: Dispatch) {
    let Dispatch {
        wire_model,
        request,
        on_done,
        stream: sink,
    } = d;
    tokio::spawn(async move {
        let outcome = match sink {
            None => endpoint.complete(&wire_model, &request).await,
            Some(sink) => stream(&endpoint, &wire_model, &request, sink).await,
        };
        on_done(outcome);
    });
}

/// Streams one attempt to `sink`. Dropping the provider stream (on cancellation) closes
/// the connection, so the provider stops generating.
async fn stream(
    endpoint: &Endpoint,
    wire_model: &str,
    request: &CompletionRequest,
    sink: Arc<dyn EventSink>,
) -> Result<ProviderReply, ProviderFailure> {
    let mut events = endpoint.stream(wire_model, request).await?;
    let rate_limits = events.rate_limits.clone();
    let encoding = Encoding::for_model(wire_model);
    // What was produced so far, for settling a cancelled stream.
    let mut partial = Usage::default();
    let mut counted_output = 0;
    let cancelled = |partial: Usage, counted: u64, rate_limits| ProviderFailure {
        error: ProviderError::Cancelled {
            partial_usage: Usage {
                output_tokens: partial.output_tokens.max(counted),
                ..partial
            },
        },
        rate_limits,
    };
    loop {
        let next = tokio::select! {
            ev = events.next() => ev,
            _ = sink.closed() => {
                return Err(cancelled(partial, counted_output, rate_limits));
            }
        };
        match next {
            Some(Ok(StreamEvent::Finished { completion, .. })) => {
                return Ok(ProviderReply {
                    completion,
                    rate_limits,
                })
            }
            Some(Ok(event)) => {
                match &event {
                    StreamEvent::Started { usage, .. } => partial = *usage,
                    StreamEvent::TextDelta { text, .. } => counted_output += encoding.count(text),
                    StreamEvent::ToolInputDelta { partial_json, .. } => {
                        counted_output += encoding.count(partial_json)
                    }
                    _ => {}
                }
                if !sink.send(event) {
                    return Err(cancelled(partial, counted_output, rate_limits));
                }
            }
            Some(Err(failure)) => return Err(failure),
            None => {
                return Err(ProviderFailure {
                    error: ProviderError::Connection {
                        message: "the stream ended without its final event".into(),
                    },
                    rate_limits,
                })
            }
        }
    }
}
