//! [`Asker`]: asks the broker on an agent's behalf and counts every completion and
//! error into the agent's report. [`Ctx`](super::Ctx) derefs to one, so handlers call
//! these methods on their `ctx`; clones of it go into spawned tasks and count into the
//! same report. Its methods take `&self`, so any
//! number of asks can be in flight at once. Each ask races the broker against the
//! agent's cancellation: once the agent is cut, waiting asks return
//! [`BrokerError::Cancelled`] (dropping the broker call) and new ones are not sent.

use super::ask::{Ask, History};
use super::AgentReport;
use crate::broker::{BrokerError, BrokerHandle, CompletionStream, StreamItem};
use crate::types::{Completion, CompletionRequest};
use futures_util::Stream;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

/// Asks the broker for one agent, counting each answer and each error in that agent's
/// [`AgentReport`]. Cheap to clone, `Send` and `'static`: get one with
/// [`Ctx::asker`](super::Ctx::asker) and move it into a spawned task.
///
/// Await such tasks before the agent finishes: the report is read when the agent's actor
/// stops, so an ask still running then is not in it. When the agent is cut, the asks of
/// its clones fail with [`BrokerError::Cancelled`] too.
///
/// ```no_run
/// use quotaswarm::agent::{Agent, AgentResult, Ask, Ctx};
///
/// struct Fanout;
///
/// impl Agent for Fanout {
///     type Msg = ();
///     async fn on_start(&mut self, ctx: &mut Ctx<()>) -> AgentResult {
///         let ask = Ask::new("haiku").max_tokens(50);
///         let tasks: Vec<_> = (0..4)
///             .map(|i| {
///                 let (asker, ask) = (ctx.asker(), ask.clone());
///                 tokio::spawn(async move { asker.ask(&ask, format!("Fact number {i}?")).await })
///             })
///             .collect();
///         for t in tasks {
///             println!("{}", t.await??.text());
///         }
///         ctx.finish();
///         Ok(())
///     }
/// }
/// ```
#[derive(Clone)]
pub struct Asker {
    name: Arc<str>,
    broker: Arc<BrokerHandle>,
    report: Arc<Mutex<AgentReport>>,
    /// Cancelled when the agent is cut; every ask races it.
    token: CancellationToken,
}

impl Asker {
    pub(crate) fn new(
        name: Arc<str>,
        broker: Arc<BrokerHandle>,
        report: Arc<Mutex<AgentReport>>,
        token: CancellationToken,
    ) -> Self {
        Asker {
            name,
            broker,
            report,
            token,
        }
    }

    /// Whether the agent has been cut: asks now fail with [`BrokerError::Cancelled`].
    pub fn is_cancelled(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Resolves once the agent is cut. For handlers doing long work that does not ask
    /// the broker: race it against the work (`tokio::select!`) and return when it wins;
    /// a handler still running a grace period after the cut is killed.
    pub fn cancelled(&self) -> impl Future<Output = ()> + Send + '_ {
        self.token.cancelled()
    }

    /// The agent's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The broker itself, for what is not an ask (statistics, the config). Requests sent
    /// straight to it are not counted in the agent's report.
    pub fn broker(&self) -> &BrokerHandle {
        &self.broker
    }

    /// Asks the broker for a completion. Fails with [`BrokerError::Cancelled`] once the
    /// agent is cut (not counted as an error).
    pub fn complete(
        &self,
        req: CompletionRequest,
    ) -> impl Future<Output = Result<Completion, BrokerError>> + Send + '_ {
        // Borrowed from the config: a waiting ask holds no copy of the name.
        let first = self.first_rung(&req.target);
        // Only with `--transcript`: the request is needed after the broker took it. Boxed:
        // held inline it would take a request's room in every waiting ask's future.
        let transcript = self
            .broker
            .config
            .transcript
            .as_ref()
            .map(|d| (d, Box::new(req.clone())));
        // The broker's future takes the request now (it does nothing before it is
        // polled), boxed: captured inline by the `async` block below, it would be stored
        // twice in every waiting ask (where it is captured, and where it is awaited), and
        // the request a third time.
        let call = Box::pin(self.broker.complete(req));
        async move {
            if self.token.is_cancelled() {
                return Err(refused().await);
            }
            let result = tokio::select! {
                biased;
                // Dropping the broker call lets the broker drop the job when no one else
                // waits for it.
                () = self.token.cancelled() => return Err(BrokerError::Cancelled),
                result = call => result,
            };
            self.record(first, result.as_ref());
            if let Some((dir, req)) = transcript {
                crate::monitor::transcript::record(dir, &self.name, &req, result.as_ref());
            }
            result
        }
    }

    /// A one-shot question: `ask` with `user` appended as its last turn (no history).
    pub async fn ask(&self, ask: &Ask, user: impl Into<String>) -> Result<Completion, BrokerError> {
        self.complete(ask.clone().user(user)).await
    }

    /// One conversational turn: `user` joins `history`, then the reply does. On an error
    /// the unanswered user turn is taken back, so the history stays valid.
    pub async fn chat(
        &self,
        ask: &Ask,
        history: &mut History,
        user: impl Into<String>,
    ) -> Result<Completion, BrokerError> {
        history.push_user(user);
        match self.complete(history.request(ask)).await {
            Ok(c) => {
                history.append(&c);
                Ok(c)
            }
            Err(e) => {
                history.messages.pop();
                Err(e)
            }
        }
    }

    /// Asks for a streamed completion: deltas as they arrive, then the completion (see
    /// [`CompletionStream`]). The completion, or the error that ends the stream, is
    /// counted when it arrives; a stream dropped before its end is cancelled and counted
    /// as neither. When the agent is cut, the stream ends with [`BrokerError::Cancelled`]
    /// (not counted).
    pub async fn stream(&self, req: CompletionRequest) -> Result<CountedStream, BrokerError> {
        if self.token.is_cancelled() {
            return Err(refused().await);
        }
        let first = self.first_rung(&req.target).map(str::to_owned);
        let opened = tokio::select! {
            biased;
            () = self.token.cancelled() => return Err(BrokerError::Cancelled),
            opened = self.broker.stream(req) => opened,
        };
        match opened {
            Ok(inner) => Ok(CountedStream {
                inner: Some(inner),
                asker: self.clone(),
                first,
                counted: false,
                cancelled: Box::pin(self.token.clone().cancelled_owned()),
            }),
            Err(e) => {
                self.record(first.as_deref(), Err(&e));
                Err(e)
            }
        }
    }

    /// The cheapest rung of `target` (a ladder's last model, or the model itself), for
    /// work that does not need the best model: summaries, classification, routing.
    pub fn cheapest(&self, target: &str) -> String {
        self.broker
            .config()
            .rungs(target)
            .and_then(|r| r.last().cloned())
            .unwrap_or_else(|| target.to_string())
    }

    /// The first rung of `target`: an answer from another model is a fallback.
    fn first_rung(&self, target: &str) -> Option<&str> {
        self.broker.config().first_rung(target)
    }

    /// Counts one finished ask.
    fn record(&self, first: Option<&str>, result: Result<&Completion, &BrokerError>) {
        self.update(|r| match result {
            Ok(c) => {
                r.completions += 1;
                r.input_tokens += c.usage.total_input();
                r.output_tokens += c.usage.output_tokens;
                if first.is_some_and(|f| f != c.model) {
                    r.fallbacks += 1;
                }
            }
            Err(e) => {
                r.errors += 1;
                r.last_error = Some(e.to_string());
            }
        });
    }

    pub(crate) fn update(&self, f: impl FnOnce(&mut AgentReport)) {
        let mut r = self.report.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut r);
    }
}

/// The answer to an ask made after the agent was cut. It yields first: a handler that
/// catches the error and asks again in a loop still reaches an `.await` that lets its
/// actor be killed after the grace period.
async fn refused() -> BrokerError {
    tokio::task::yield_now().await;
    BrokerError::Cancelled
}

impl fmt::Debug for Asker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Asker").field("name", &self.name).finish()
    }
}

/// A [`CompletionStream`] asked through an [`Asker`] (or a [`Ctx`](super::Ctx)): the
/// same items, and its end (the completion, or the error) is counted in the agent's
/// report when it arrives. Dropping it cancels the request.
pub struct CountedStream {
    /// `None` once the agent's cut has ended it (dropping it cancels the request).
    inner: Option<CompletionStream>,
    asker: Asker,
    first: Option<String>,
    counted: bool,
    cancelled: Pin<Box<WaitForCancellationFutureOwned>>,
}

impl Stream for CountedStream {
    type Item = Result<StreamItem, BrokerError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let Some(inner) = this.inner.as_mut() else {
            return Poll::Ready(None);
        };
        if !this.counted && this.cancelled.as_mut().poll(cx).is_ready() {
            this.inner = None;
            this.counted = true;
            return Poll::Ready(Some(Err(BrokerError::Cancelled)));
        }
        let polled = Pin::new(inner).poll_next(cx);
        if let Poll::Ready(Some(item)) = &polled {
            let end = match item {
                Ok(StreamItem::Done(c)) => Some(Ok(c)),
                Err(e) => Some(Err(e)),
                Ok(StreamItem::Event(_)) => None,
            };
            if let Some(end) = end.filter(|_| !this.counted) {
                this.counted = true;
                this.asker.record(this.first.as_deref(), end);
            }
        }
        polled
    }
}

impl CountedStream {
    /// Reads to the end; returns the completion (deltas are dropped).
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

impl fmt::Debug for CountedStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CountedStream")
            .field("agent", &self.asker.name)
            .field("ended", &self.counted)
            .finish()
    }
}
