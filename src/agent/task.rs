//! The task that runs one agent: a tokio task reading one unbounded mailbox, in order
//! (messages sent before the start are handled before it), one handler at a time.
//!
//! Why not a ractor actor, like the broker: an agent needs a mailbox, a way to be cut
//! and a way to be killed, and nothing of a supervision tree. A ractor actor carries four
//! channels (a supervision one whose first block alone is ~2.6 KB), its properties and
//! a larger task: about 5 KB an agent, idle or not, which is half a GiB in a swarm of
//! 100,000. Here the mailbox is one channel of the agent's own messages, the cut is the
//! agent's cancellation token (also what its asks race) and the kill is the task's abort.

use super::addr::AgentMsg;
use super::{Agent, AgentError, AgentOutput, Ctx};
use futures_util::FutureExt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use tokio::sync::mpsc::UnboundedReceiver;

/// Runs `agent` until it finishes, fails, panics or is cut.
///
/// An `async` block rather than an `async fn`: the function's arguments would be stored
/// twice in the task (as arguments, then as the locals they move into), the agent and
/// its context among them.
pub(super) fn run<A: Agent<O>, O: AgentOutput>(
    mut agent: A,
    mut ctx: Ctx<A::Msg, O>,
    mut mailbox: UnboundedReceiver<AgentMsg<A::Msg>>,
) -> impl Future<Output = ()> + Send {
    async move {
        let mut started = false;
        loop {
            let msg = tokio::select! {
                biased;
                // Cut while idle, or before this message's turn came: handle nothing more.
                () = ctx.asker.cancelled() => break,
                msg = mailbox.recv() => msg,
            };
            // The agent's own address (in its `Ctx`) keeps the mailbox open: `None` cannot
            // come, but ends the agent if it did.
            let Some(msg) = msg else { break };
            // The handlers' futures are boxed while they run: held inline, their largest
            // state (an ask's, through the broker handle) would size every agent's task from
            // its spawn on, asking or not — kilobytes per agent in a swarm of 100,000.
            let run = match msg {
                AgentMsg::Start if started => continue,
                AgentMsg::Start => {
                    started = true;
                    AssertUnwindSafe(Box::pin(agent.on_start(&mut ctx)))
                        .catch_unwind()
                        .await
                }
                AgentMsg::Msg(m) => {
                    AssertUnwindSafe(Box::pin(agent.on_message(&mut ctx, m)))
                        .catch_unwind()
                        .await
                }
            };
            // A panic is this agent's failure, reported like an error; the swarm goes on.
            let outcome = run.unwrap_or_else(|payload| {
                let what = payload
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a non-string payload".into());
                Err(AgentError::other(format!("panicked: {what}")))
            });
            if let Err(e) = outcome {
                tracing::debug!(agent = ctx.name(), error = %e, "agent failed");
                ctx.asker.update(|r| r.failure = Some(e.to_string()));
                break;
            }
            if ctx.finished {
                let output = ctx.output.take();
                ctx.asker.update(|r| {
                    r.finished = true;
                    if let Some(output) = output {
                        r.set_output(output);
                    }
                });
                break;
            }
        }
        // Later sends fail at once, as to any stopped agent; those still queued are dropped.
        mailbox.close();
    }
}
