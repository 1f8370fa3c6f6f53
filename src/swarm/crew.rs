//! [`Crew`]: agents of any kinds, started together and awaited together, with a deadline;
//! [`Interrupter`]: cuts a crew's agents from outside (a signal handler, a UI).
//!
//! At the deadline, or when interrupted, every agent still running is cut (see
//! [`Cut`]): its asks fail with `BrokerError::Cancelled`, its actor stops once the
//! running handler returns, and one still running a grace period later is killed.

use crate::agent::{AgentHandle, AgentReport, Cut, RunningAgent, DEFAULT_GRACE};
use futures_util::stream::FuturesUnordered;
use futures_util::{FutureExt, StreamExt};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Agents of any kinds, started together and awaited together.
pub struct Crew {
    agents: Vec<RunningAgent>,
    done: Arc<AtomicUsize>,
    /// How long a cut agent's handler may go on before its actor is killed.
    grace: Duration,
    /// Cancelled by an [`Interrupter`]: cuts every agent still running.
    interrupt: CancellationToken,
}

impl Default for Crew {
    fn default() -> Self {
        Crew {
            agents: Vec::new(),
            done: Arc::default(),
            grace: DEFAULT_GRACE,
            interrupt: CancellationToken::new(),
        }
    }
}

/// What [`Crew::wait`] returns.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CrewOutcome {
    /// Each agent's report, in the order they were added.
    pub reports: Vec<AgentReport>,
    /// Whether the deadline cut agents that had not finished.
    pub timed_out: bool,
    /// Whether an [`Interrupter`] cut the run short.
    pub interrupted: bool,
    /// From [`Crew::start`] to the last agent's end (cut agents included).
    pub makespan: Duration,
}

/// Cuts every agent of a [`Crew`] still running ([`Cut::Interrupted`]), from anywhere:
/// a signal handler, a UI. Cheap to clone. Get one with [`Crew::interrupter`].
#[derive(Debug, Clone)]
pub struct Interrupter(CancellationToken);

impl Interrupter {
    /// Interrupts the run: [`Crew::wait`] cuts every agent still running and returns
    /// their reports. Interrupting again does nothing more.
    pub fn interrupt(&self) {
        self.0.cancel();
    }

    /// Whether the run has been interrupted.
    pub fn is_interrupted(&self) -> bool {
        self.0.is_cancelled()
    }
}

impl Crew {
    /// An empty crew, with the default grace period ([`DEFAULT_GRACE`]).
    pub fn new() -> Self {
        Crew::default()
    }

    /// Adds a spawned (idle) agent of any message type.
    pub fn add<M: Send + 'static>(&mut self, agent: AgentHandle<M>) {
        self.agents.push(agent.erase());
    }

    /// Room for `n` more agents, taken once (a crew of 100,000 grown by doubling would
    /// hold up to twice the room, and both copies while it moves).
    pub fn reserve(&mut self, n: usize) {
        self.agents.reserve_exact(n);
    }

    /// Adds an agent whose message type is already erased.
    pub fn push(&mut self, agent: RunningAgent) {
        self.agents.push(agent);
    }

    /// How many agents it has.
    pub fn len(&self) -> usize {
        self.agents.len()
    }

    /// Whether it has no agents.
    pub fn is_empty(&self) -> bool {
        self.agents.is_empty()
    }

    /// How long a cut agent's handler may go on before its actor is killed (default
    /// [`DEFAULT_GRACE`]).
    pub fn set_grace(&mut self, grace: Duration) {
        self.grace = grace;
    }

    /// The grace period (see [`Crew::set_grace`]).
    pub fn grace(&self) -> Duration {
        self.grace
    }

    /// A handle that interrupts this crew's run (usable before and during
    /// [`Crew::wait`]).
    pub fn interrupter(&self) -> Interrupter {
        Interrupter(self.interrupt.clone())
    }

    /// How many agents have stopped so far (readable while [`Crew::wait`] runs).
    pub fn done_counter(&self) -> Arc<AtomicUsize> {
        self.done.clone()
    }

    /// Starts every agent at once; returns the start time, for [`Crew::wait`].
    pub fn start(&self) -> Instant {
        for a in &self.agents {
            // One that has already stopped (stopped before its start) gets no start;
            // `wait` reports it as stopped.
            let _ = a.start();
        }
        Instant::now()
    }

    /// Waits for every agent. At `deadline` (from `started`), or when interrupted, cuts
    /// those still running and waits for them to stop, killing any still running after
    /// the grace period. Reports come in the order agents were added.
    pub async fn wait(self, started: Instant, deadline: Option<Duration>) -> CrewOutcome {
        let mut agents = self.agents;
        let (done, grace, interrupt) = (self.done, self.grace, self.interrupt);
        // When each agent ended; `None` while it runs.
        let mut ends: Vec<Option<Instant>> = vec![None; agents.len()];
        // One deadline and one interrupt for the whole crew, and per agent only its join
        // handle: a swarm of 100,000 waits on 100,000 small futures, not on as many timers.
        let cut = {
            let mut running: FuturesUnordered<_> = agents
                .iter_mut()
                .enumerate()
                .map(|(i, a)| (&mut a.join).map(move |_| i))
                .collect();
            let at_deadline = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(started + d).await,
                    None => std::future::pending().await,
                }
            };
            tokio::pin!(at_deadline);
            loop {
                tokio::select! {
                    biased;
                    ended = running.next() => match ended {
                        Some(i) => {
                            ends[i] = Some(Instant::now());
                            done.fetch_add(1, Ordering::Relaxed);
                        }
                        None => break None,
                    },
                    () = interrupt.cancelled() => break Some(Cut::Interrupted),
                    () = &mut at_deadline => break Some(Cut::Deadline),
                }
            }
        };
        let mut timed_out = false;
        if let Some(why) = cut {
            let still: Vec<_> = agents
                .iter_mut()
                .zip(ends.iter_mut())
                .filter(|(_, end)| end.is_none())
                .collect();
            timed_out = why == Cut::Deadline && !still.is_empty();
            let cuts = still.into_iter().map(|(a, end)| {
                let done = &done;
                async move {
                    a.cut(why, grace).await;
                    *end = Some(Instant::now());
                    done.fetch_add(1, Ordering::Relaxed);
                }
            });
            futures_util::future::join_all(cuts).await;
        }
        let last = ends.iter().flatten().max().copied().unwrap_or(started);
        CrewOutcome {
            reports: agents.iter().map(RunningAgent::final_report).collect(),
            timed_out,
            interrupted: interrupt.is_cancelled(),
            makespan: last.saturating_duration_since(started),
        }
    }
}
