//! `ScriptedAgent`: replays user turns, keeping its history; the agent behind
//! `quotaswarm run` and scenario files. A failed turn is counted and the next one goes
//! on (or the agent stops, with `stop_on_error`); once the agent is cut (deadline, stop,
//! interrupt) it returns at once.

use quotaswarm::agent::{Agent, AgentResult, Ctx};
use quotaswarm::types::{CompletionRequest, Message, RequestOptions};
use std::sync::{Arc, LazyLock};

/// The default options, one copy for every scripted agent that keeps them.
static DEFAULT_OPTIONS: LazyLock<Arc<RequestOptions>> = LazyLock::new(Arc::default);

/// One scripted turn.
#[derive(Debug, Clone, PartialEq)]
pub enum Turn {
    /// The user text joins the history and the request is sent; then the model's reply
    /// joins the history, or the scripted `assistant` text instead. The request is made
    /// either way (a scripted turn is load on the broker); `assistant` only makes the
    /// history, and so the following turns, the same on every run.
    Chat {
        user: String,
        assistant: Option<String>,
        max_tokens: Option<u32>,
    },
    /// A standalone request that does not touch the history.
    Oneshot {
        system: Option<String>,
        user: String,
        max_tokens: Option<u32>,
    },
}

#[derive(Debug, Clone)]
pub struct ScriptedAgent {
    pub target: String,
    pub system: Option<String>,
    pub max_tokens: u32,
    /// The options of every request it sends. Shared: the scripted agents of a swarm
    /// mostly have the same ones, and inline they would be 152 bytes in each of 100,000
    /// agents. Change one agent's with `Arc::make_mut(&mut agent.options)`.
    pub options: Arc<RequestOptions>,
    pub turns: Vec<Turn>,
    /// Stop at the first failed turn (default: go on with the next).
    pub stop_on_error: bool,
    pub history: Vec<Message>,
}

impl ScriptedAgent {
    pub fn new(target: impl Into<String>, turns: Vec<Turn>) -> Self {
        ScriptedAgent {
            target: target.into(),
            system: None,
            max_tokens: 256,
            options: DEFAULT_OPTIONS.clone(),
            turns,
            stop_on_error: false,
            history: Vec::new(),
        }
    }

    /// Convenience: chat turns from user texts.
    pub fn chat(target: impl Into<String>, users: &[&str]) -> Self {
        let turns = users
            .iter()
            .map(|u| Turn::Chat {
                user: u.to_string(),
                assistant: None,
                max_tokens: None,
            })
            .collect();
        Self::new(target, turns)
    }

    fn request(
        &self,
        system: Option<String>,
        messages: Vec<Message>,
        max: Option<u32>,
    ) -> CompletionRequest {
        let mut req = CompletionRequest::new(self.target.clone())
            .messages(messages)
            .max_tokens(max.unwrap_or(self.max_tokens))
            .options(RequestOptions::clone(&self.options));
        if let Some(system) = system {
            req = req.system(system);
        }
        req
    }
}

impl Agent for ScriptedAgent {
    type Msg = ();

    async fn on_start(&mut self, ctx: &mut Ctx<()>) -> AgentResult {
        let chats = self
            .turns
            .iter()
            .filter(|t| matches!(t, Turn::Chat { .. }))
            .count();
        // A user turn and its reply per chat turn: the history's room is taken once, to
        // size (a push would take room for four messages, and double it).
        self.history.reserve_exact(2 * chats);
        let mut turns = std::mem::take(&mut self.turns).into_iter();
        // While an ask waits, this future holds only the turns left, the ask, and what a
        // chat turn adds to the history afterwards (not the turn, nor a copy of the
        // request): a swarm of 100,000 agents waits in 100,000 of them.
        // `let … else`, not `while let`: a `while let`'s scrutinee would be kept across
        // the ask (another 64 bytes per waiting agent).
        #[allow(clippy::while_let_loop)]
        loop {
            let Some(turn) = turns.next() else { break };
            let (req, chat) = self.turn_request(turn);
            let outcome = ctx.complete(req).await;
            let outcome = match (outcome, chat) {
                (Ok(c), Some((user, assistant))) => {
                    // An unanswered user turn never joins the history: it stays valid.
                    self.history.push(Message::user(user));
                    self.history.push(match assistant {
                        Some(text) => Message::assistant(text),
                        None => c.to_message(),
                    });
                    Ok(())
                }
                (outcome, _) => outcome.map(|_| ()),
            };
            if let Err(e) = outcome {
                // Cut (deadline, stop, interrupt): no turn after this one could be asked.
                if ctx.is_cancelled() {
                    return Err(e.into());
                }
                tracing::debug!(agent = ctx.name(), error = %e, "turn failed");
                if self.stop_on_error {
                    return Err(e.into());
                }
            }
        }
        ctx.finish();
        Ok(())
    }
}

impl ScriptedAgent {
    /// The request of `turn`, and for a chat turn what joins the history once it is
    /// answered: the user text and the scripted assistant text, if any.
    fn turn_request(&self, turn: Turn) -> (CompletionRequest, Option<(String, Option<String>)>) {
        match turn {
            Turn::Chat {
                user,
                assistant,
                max_tokens,
            } => {
                let mut messages = Vec::with_capacity(self.history.len() + 1);
                messages.extend(self.history.iter().cloned());
                messages.push(Message::user(user.clone()));
                let req = self.request(self.system.clone(), messages, max_tokens);
                (req, Some((user, assistant)))
            }
            Turn::Oneshot {
                system,
                user,
                max_tokens,
            } => (
                self.request(system, vec![Message::user(user)], max_tokens),
                None,
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quotaswarm::swarm::SwarmBuilder;
    use quotaswarm::Config;

    #[tokio::test(start_paused = true)]
    async fn a_turn_with_a_scripted_assistant_text_still_asks_the_model() {
        let turns = vec![
            Turn::Chat {
                user: "Hello!".into(),
                assistant: Some("Hi.".into()),
                max_tokens: None,
            },
            Turn::Chat {
                user: "Explain token buckets.".into(),
                assistant: None,
                max_tokens: None,
            },
        ];
        let report = SwarmBuilder::new(Config::default())
            .backend(quotaswarm_sim::embedded())
            .agent("chat", ScriptedAgent::new("haiku", turns))
            .run()
            .await
            .unwrap();
        assert_eq!(report.agents[0].completions, 2, "{:?}", report.agents);
        let sim = quotaswarm_sim::stats_of(&report).map(|s| s.total.requests);
        assert_eq!(
            sim,
            Some(2),
            "one request per turn, the scripted one included"
        );
    }
}
