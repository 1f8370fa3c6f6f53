//! Cutting an agent short: [`Cut`] (why), and the control the swarm keeps over each
//! agent's actor (cancel its asks, stop it, kill it).
//!
//! How a cut flows:
//! 1. the swarm (a deadline, an interrupt) or the code holding the agent's handle (a
//!    stop) records the [`Cut`] in the agent's report and cancels the agent's token;
//! 2. every ask of the agent waiting on the broker returns [`BrokerError::Cancelled`] at
//!    once (its broker future is dropped, so the broker forgets a job no one else waits
//!    for), and later asks fail the same way without reaching the broker;
//!    `ctx.cancelled()` ([`Asker::cancelled`]) resolves for agents doing long local work;
//! 3. the actor is asked to stop: it stops as soon as the running handler returns;
//! 4. a handler that goes on anyway (it ignores the errors, or loops on work that never
//!    asks) is killed after the grace period: its future is dropped at its next `.await`.
//!
//! [`BrokerError::Cancelled`]: crate::BrokerError::Cancelled
//! [`Asker::cancelled`]: super::Asker::cancelled

use super::AgentReport;
use ractor::ActorCell;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How long a cut agent's handler may go on before its actor is killed, unless the
/// swarm says otherwise ([`SwarmBuilder::grace`](crate::swarm::SwarmBuilder::grace)).
pub const DEFAULT_GRACE: Duration = Duration::from_secs(2);

/// Why an agent was cut short while it was still running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Cut {
    /// The swarm's deadline passed.
    Deadline,
    /// It was stopped through its handle.
    Stopped,
    /// The run was interrupted (Ctrl-C, SIGTERM, or [`Interrupter::interrupt`]).
    ///
    /// [`Interrupter::interrupt`]: crate::swarm::Interrupter::interrupt
    Interrupted,
}

impl fmt::Display for Cut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Cut::Deadline => "at the deadline",
            Cut::Stopped => "by a stop",
            Cut::Interrupted => "by an interrupt",
        })
    }
}

/// What the swarm holds to cut one agent: its actor (untyped), its token and its report.
#[derive(Clone)]
pub(crate) struct Control {
    pub(crate) cell: ActorCell,
    pub(crate) token: CancellationToken,
    pub(crate) report: Arc<Mutex<AgentReport>>,
}

impl Control {
    /// Records `why` (unless the agent has already ended on its own), cancels its asks
    /// and asks its actor to stop after the running handler, with `reason` (for tracing;
    /// `cut <why>` when `None`).
    pub(crate) fn cancel(&self, why: Cut, reason: Option<&str>) {
        {
            let mut r = self.report.lock().unwrap_or_else(|p| p.into_inner());
            if r.cut.is_none() && !r.finished && r.failure.is_none() {
                r.cut = Some(why);
            }
        }
        self.token.cancel();
        let reason = reason.map_or_else(|| format!("cut {why}"), str::to_string);
        self.cell.stop(Some(reason));
    }

    /// Cuts the agent and waits for its actor to stop; kills it if it is still running
    /// `grace` later.
    pub(crate) async fn cut(&self, join: &mut JoinHandle<()>, why: Cut, grace: Duration) {
        self.cancel(why, None);
        if tokio::time::timeout(grace, &mut *join).await.is_err() {
            self.report.lock().unwrap_or_else(|p| p.into_inner()).killed = true;
            self.cell.kill();
            let _ = join.await;
        }
    }
}

/// The failure text of a cut agent: why, after how many completions, and whether it had
/// to be killed.
pub(crate) fn cut_text(why: Cut, completions: u64, killed: bool) -> String {
    let plural = if completions == 1 { "" } else { "s" };
    let mut text = format!("cut {why} after {completions} completion{plural}");
    if killed {
        text.push_str("; killed after the grace period (it went on ignoring the cancellation)");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cut_text_says_why_and_after_how_many_completions() {
        assert_eq!(
            cut_text(Cut::Deadline, 12, false),
            "cut at the deadline after 12 completions"
        );
        assert_eq!(
            cut_text(Cut::Interrupted, 1, false),
            "cut by an interrupt after 1 completion"
        );
        assert!(cut_text(Cut::Stopped, 0, true)
            .starts_with("cut by a stop after 0 completions; killed"));
    }

    #[test]
    fn a_cut_serialises_as_a_plain_word() {
        assert_eq!(
            serde_json::to_string(&Cut::Deadline).ok().as_deref(),
            Some("\"deadline\"")
        );
    }
}
