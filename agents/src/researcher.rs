//! `Researcher`: before each of its questions it re-checks a context shared by the whole
//! team. The re-check is the same request for every researcher (same target, system,
//! text and `max_tokens`), so while one is in flight the broker merges the others into
//! it: one call, many answers (see `merged` in the statistics).

use quotaswarm::agent::{Agent, AgentResult, Ask, Ctx};

pub struct Researcher {
    pub ask: Ask,
    /// The shared context every researcher re-checks.
    pub context: String,
    pub questions: Vec<String>,
    /// What the last re-check said.
    pub facts: Option<String>,
}

impl Researcher {
    pub fn new(ask: Ask, context: impl Into<String>, questions: Vec<String>) -> Self {
        Researcher {
            ask,
            context: context.into(),
            questions,
            facts: None,
        }
    }

    /// The re-check: identical across researchers on purpose.
    fn recheck(&self) -> String {
        format!(
            "Shared context:\n{}\n\nList the facts in it that still hold.",
            self.context
        )
    }
}

impl Agent for Researcher {
    type Msg = ();

    async fn on_start(&mut self, ctx: &mut Ctx<()>) -> AgentResult {
        for q in std::mem::take(&mut self.questions) {
            if let Ok(c) = ctx.ask(&self.ask, self.recheck()).await {
                self.facts = Some(c.text());
            }
            let facts = self.facts.clone().unwrap_or_default();
            let _ = ctx
                .ask(&self.ask, format!("Facts: {facts}\n\nQuestion: {q}"))
                .await;
        }
        ctx.finish();
        Ok(())
    }
}
