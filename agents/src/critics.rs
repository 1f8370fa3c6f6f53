//! `Critic`: two critics answer the same question and critique each other's answers
//! through agent-to-agent messages, revising their own answer after each critique.
//!
//! ```text
//! A ──Answer(1)──▶ B     B critiques, A revises      A ◀──Critique(1)── B
//! A ──Answer(2)──▶ B     ... for `rounds` rounds, and the same the other way
//! ```
//!
//! Each critic finishes once its own last answer has been critiqued and it has critiqued
//! its peer's last answer. [`spawn_pair`] wires the two addresses before either starts.

use quotaswarm::agent::{Addr, Agent, AgentResult, Ask, Ctx, History, RunningAgent};
use quotaswarm::swarm::{Swarm, SwarmError};

#[derive(Debug)]
pub enum CriticMsg {
    /// The peer's address (sent before the start).
    Peer(Addr<CriticMsg>),
    /// The peer's answer, to critique.
    Answer { round: u32, text: String },
    /// The peer's critique of our answer.
    Critique { round: u32, text: String },
}

pub struct Critic {
    pub ask: Ask,
    pub question: String,
    pub rounds: u32,
    pub history: History,
    peer: Option<Addr<CriticMsg>>,
    own_done: bool,
    peer_done: bool,
}

impl Critic {
    pub fn new(
        ask: Ask,
        system: impl Into<String>,
        question: impl Into<String>,
        rounds: u32,
    ) -> Self {
        Critic {
            ask,
            question: question.into(),
            rounds: rounds.max(1),
            history: History::with_system(system),
            peer: None,
            own_done: false,
            peer_done: false,
        }
    }

    fn tell(&self, ctx: &Ctx<CriticMsg>, msg: CriticMsg) {
        if let Some(peer) = &self.peer {
            // A peer that has stopped (it failed) has nothing more to say: neither do we.
            if let Err(e) = ctx.send(peer, msg) {
                tracing::debug!(agent = ctx.name(), error = %e, "peer gone");
            }
        }
    }
}

impl Agent for Critic {
    type Msg = CriticMsg;

    async fn on_start(&mut self, ctx: &mut Ctx<CriticMsg>) -> AgentResult {
        let answer = ctx
            .chat(&self.ask, &mut self.history, self.question.clone())
            .await?;
        self.tell(
            ctx,
            CriticMsg::Answer {
                round: 1,
                text: answer.text(),
            },
        );
        Ok(())
    }

    async fn on_message(&mut self, ctx: &mut Ctx<CriticMsg>, msg: CriticMsg) -> AgentResult {
        match msg {
            CriticMsg::Peer(addr) => self.peer = Some(addr),
            CriticMsg::Answer { round, text } => {
                let prompt = format!(
                    "Critique this answer to \"{}\" in two sentences:\n\n{text}",
                    self.question
                );
                let critique = ctx.ask(&self.ask, prompt).await?;
                self.tell(
                    ctx,
                    CriticMsg::Critique {
                        round,
                        text: critique.text(),
                    },
                );
                self.peer_done |= round >= self.rounds;
            }
            CriticMsg::Critique { round, text } if round < self.rounds => {
                let revise = format!("A reviewer said: {text}\n\nRevise your answer.");
                let answer = ctx.chat(&self.ask, &mut self.history, revise).await?;
                self.tell(
                    ctx,
                    CriticMsg::Answer {
                        round: round + 1,
                        text: answer.text(),
                    },
                );
            }
            CriticMsg::Critique { .. } => self.own_done = true,
        }
        if self.own_done && self.peer_done {
            ctx.finish();
        }
        Ok(())
    }
}

/// Spawns two critics (idle) that know each other; start them with the rest.
pub async fn spawn_pair(
    swarm: &Swarm,
    names: [&str; 2],
    a: Critic,
    b: Critic,
) -> Result<Vec<RunningAgent>, SwarmError> {
    let a = swarm.spawn_idle(names[0], a).await?;
    let b = swarm.spawn_idle(names[1], b).await?;
    a.addr().send(CriticMsg::Peer(b.addr()))?;
    b.addr().send(CriticMsg::Peer(a.addr()))?;
    Ok(vec![a.erase(), b.erase()])
}
