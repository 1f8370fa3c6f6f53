//! One attempt: [`spawn_attempt`] runs a [`Dispatch`] in a task of its own, which sends the
//! HTTP request (or reads the stream) through its [`Endpoint`] and hands the outcome to the
//! dispatch's [`Reporter`], which the broker builds to post a `Finished` message back to
//! itself. The broker calls it from its handler without awaiting anything, so one slow
//! response does not hold up the next dispatch (and no actor sits between the two: a
//! dispatch costs one task spawn, not a message hop and then a spawn).
//!
//! Every dispatch reports exactly once, whatever happens to it: success, failure and
//! timeout alike (the transport has a timeout); a panic inside the attempt is caught and
//! reported as [`ProviderError::Aborted`]; and a dispatch dropped without reporting (its
//! task aborted, the runtime shutting down) reports `Aborted` from the [`Reporter`]'s
//! `Drop`. So the broker always hears back and the lane's in-flight slot is always
//! released. An attempt given an [`Overdue`] limit that has not finished within it calls
//! the limit's notice first and is then dropped (its `Reporter` reports `Aborted`, which
//! the broker, told first, ignores as stale).

use super::{Endpoint, ProviderError, ProviderFailure, ProviderReply, StreamEvent};
use crate::tokens::Encoding;
use crate::types::{CompletionRequest, Usage};
use futures_util::future::BoxFuture;
use futures_util::{FutureExt, StreamExt};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

/// Called once with the outcome of a dispatch.
pub type OnDone = Box<dyn FnOnce(Result<ProviderReply, ProviderFailure>) + Send + 'static>;

/// Hands the outcome of one dispatch to its [`OnDone`] exactly once: through
/// [`Reporter::report`], or, if it is dropped before that, with
/// [`ProviderError::Aborted`].
pub struct Reporter {
    on_done: Option<OnDone>,
}

impl Reporter {
    pub fn new(on_done: OnDone) -> Self {
        Reporter {
            on_done: Some(on_done),
        }
    }

    /// Reports `outcome`.
    pub fn report(mut self, outcome: Result<ProviderReply, ProviderFailure>) {
        if let Some(f) = self.on_done.take() {
            f(outcome);
        }
    }
}

impl Drop for Reporter {
    fn drop(&mut self) {
        if let Some(f) = self.on_done.take() {
            f(Err(ProviderError::Aborted {
                message: "the attempt was dropped before it reported (its task was aborted, \
                          or the runtime shut down)"
                    .into(),
            }
            .into()));
        }
    }
}

/// Where a streaming dispatch hands its events (all but the final `Finished`, which goes
/// to `on_done` as the completion) as they arrive.
pub trait EventSink: Send + Sync + 'static {
    /// Hands one event on, waiting while the listener's buffer is full (so a slow
    /// reader slows the reading of the response instead of growing memory); false
    /// when nobody listens any more.
    fn send(&self, event: StreamEvent) -> BoxFuture<'_, bool>;
    /// Resolves when nobody listens any more.
    fn closed(&self) -> BoxFuture<'static, ()>;
}

pub struct Dispatch {
    pub wire_model: String,
    pub request: Arc<CompletionRequest>,
    pub on_done: Reporter,
    /// Stream the response to this sink (`None`: a plain request).
    pub stream: Option<Arc<dyn EventSink>>,
    /// Give up on the attempt if it has not finished within this limit.
    pub overdue: Option<Overdue>,
}

/// An attempt's limit: past `after` without an outcome, `notify` is called and the
/// attempt is dropped. Its timer costs nothing for an attempt that finishes on its first
/// poll (a timer is registered only when the attempt has to wait).
pub struct Overdue {
    pub after: std::time::Duration,
    pub notify: Box<dyn FnOnce() + Send + 'static>,
}

/// Runs `d` through `endpoint` in a task of its own (see the module doc).
pub(crate) fn spawn_attempt(endpoint: Arc<Endpoint>, d: Dispatch) {
    let Dispatch {
        wire_model,
        request,
        on_done,
        stream: sink,
        overdue,
    } = d;
    // Boxed: the attempt's future is several kilobytes (encode, send, decode), and
    // `spawn` moves what it is given several times before it rests in the task.
    tokio::spawn(Box::pin(async move {
        let attempt = async {
            match sink {
                None => endpoint.complete(&wire_model, &request).await,
                Some(sink) => stream(&endpoint, &wire_model, &request, sink).await,
            }
        };
        // A panic in the transport or the wire code must not lose the report.
        let attempt = AssertUnwindSafe(attempt).catch_unwind();
        let caught = match overdue {
            None => attempt.await,
            Some(Overdue { after, notify }) => match tokio::time::timeout(after, attempt).await {
                Ok(caught) => caught,
                Err(_) => {
                    notify();
                    return; // `on_done` dropped: a stale `Aborted` after the notice
                }
            },
        };
        let outcome = match caught {
            Ok(outcome) => outcome,
            Err(panic) => Err(ProviderError::Aborted {
                message: format!("the attempt panicked: {}", panic_message(panic.as_ref())),
            }
            .into()),
        };
        on_done.report(outcome);
    }));
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    if let Some(s) = panic.downcast_ref::<&str>() {
        s
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s
    } else {
        "(no message)"
    }
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
                if !sink.send(event).await {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    fn recorder() -> (Reporter, Arc<Mutex<Vec<String>>>) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        let reporter = Reporter::new(Box::new(move |outcome| {
            let text = match outcome {
                Ok(_) => "ok".to_string(),
                Err(f) => f.error.to_string(),
            };
            s.lock().unwrap().push(text);
        }));
        (reporter, seen)
    }

    #[test]
    fn a_reporter_dropped_unreported_reports_aborted_once() {
        let (reporter, seen) = recorder();
        drop(reporter);
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 1);
        assert!(seen[0].starts_with("the attempt was lost"), "{seen:?}");
    }

    #[test]
    fn a_reporter_that_reported_says_nothing_more_on_drop() {
        let (reporter, seen) = recorder();
        reporter.report(Err(ProviderError::Timeout.into()));
        assert_eq!(*seen.lock().unwrap(), vec!["request timed out".to_string()]);
    }

    #[tokio::test]
    async fn an_aborted_attempt_task_reports_aborted() {
        let (reporter, seen) = recorder();
        let task = tokio::spawn(async move {
            std::future::pending::<()>().await;
            reporter.report(Err(ProviderError::Timeout.into()));
        });
        tokio::task::yield_now().await;
        task.abort();
        let _ = task.await;
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 1);
        assert!(seen[0].starts_with("the attempt was lost"), "{seen:?}");
    }
}
