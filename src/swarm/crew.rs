//! [`Crew`]: agents of any kinds, started together and awaited together, with a deadline.

use crate::agent::{AgentHandle, AgentReport, RunningAgent};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// Agents of any kinds, started together and awaited together.
#[derive(Default)]
pub struct Crew {
    agents: Vec<RunningAgent>,
    done: Arc<AtomicUsize>,
}

/// What [`Crew::wait`] returns.
#[derive(Debug, Clone)]
pub struct CrewOutcome {
    /// Each agent's report, in the order they were added.
    pub reports: Vec<AgentReport>,
    /// Whether the deadline stopped agents that had not finished.
    pub timed_out: bool,
    /// From [`Crew::start`] to the last agent's end.
    pub makespan: Duration,
}

impl Crew {
    /// An empty crew.
    pub fn new() -> Self {
        Crew::default()
    }

    /// Adds a spawned (idle) agent of any message type.
    pub fn add<M: Send + 'static>(&mut self, agent: AgentHandle<M>) {
        self.agents.push(agent.erase());
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

    /// Waits for every agent, stopping those still running at `deadline` (from
    /// `started`). Reports come in the order agents were added.
    pub async fn wait(self, started: Instant, deadline: Option<Duration>) -> CrewOutcome {
        let done = self.done.clone();
        let waits = self.agents.into_iter().map(|a| {
            let done = done.clone();
            async move {
                let mut a = a;
                let in_time = match deadline {
                    Some(d) => tokio::time::timeout_at(started + d, &mut a.join)
                        .await
                        .is_ok(),
                    None => {
                        let _ = (&mut a.join).await;
                        true
                    }
                };
                let end = Instant::now();
                if !in_time {
                    a.stop("deadline");
                    let _ = (&mut a.join).await;
                }
                done.fetch_add(1, Ordering::Relaxed);
                let mut report = a.final_report();
                if !in_time && !report.finished {
                    report.failure = Some("stopped at the deadline".into());
                }
                (report, !in_time, end)
            }
        });
        let results = futures_util::future::join_all(waits).await;
        let timed_out = results.iter().any(|(_, t, _)| *t);
        let last = results.iter().map(|(_, _, e)| *e).max().unwrap_or(started);
        CrewOutcome {
            reports: results.into_iter().map(|(r, _, _)| r).collect(),
            timed_out,
            makespan: last.saturating_duration_since(started),
        }
    }
}
