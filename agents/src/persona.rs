//! `Persona`: a chat agent that speaks in character. It keeps one [`History`] (the
//! persona is its system prompt), asks its questions one after another, and each reply
//! joins the history. Give its [`Ask`] a trim policy and the history can grow without
//! limit: the broker cuts the oldest turns to fit.

use quotaswarm::agent::{Agent, AgentResult, Ask, Ctx, History};

pub struct Persona {
    pub ask: Ask,
    pub history: History,
    pub questions: Vec<String>,
}

impl Persona {
    pub fn new(ask: Ask, persona: impl Into<String>, questions: Vec<String>) -> Self {
        Persona {
            ask,
            history: History::with_system(persona),
            questions,
        }
    }
}

impl Agent for Persona {
    type Msg = ();

    async fn on_start(&mut self, ctx: &mut Ctx<()>) -> AgentResult {
        for q in std::mem::take(&mut self.questions) {
            // A failed turn is counted in the report; the conversation goes on.
            let _ = ctx.chat(&self.ask, &mut self.history, q).await;
        }
        ctx.finish();
        Ok(())
    }
}
