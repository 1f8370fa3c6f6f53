//! `Summarizer`: summarises documents on the cheapest rung of its target (a ladder's
//! last model, e.g. `haiku` for `claude`): summaries do not need the best model, and the
//! cheap rung has its own, larger quota.

use quotaswarm::agent::{Agent, AgentResult, Ask, Ctx};

pub struct Summarizer {
    pub ask: Ask,
    pub documents: Vec<String>,
    pub summaries: Vec<String>,
}

impl Summarizer {
    pub fn new(ask: Ask, documents: Vec<String>) -> Self {
        Summarizer {
            ask,
            documents,
            summaries: Vec::new(),
        }
    }
}

impl Agent for Summarizer {
    type Msg = ();

    async fn on_start(&mut self, ctx: &mut Ctx<()>) -> AgentResult {
        let ask = self.ask.clone().target(ctx.cheapest(&self.ask.target));
        for doc in std::mem::take(&mut self.documents) {
            let prompt = format!("Summarise in two sentences:\n\n{doc}");
            if let Ok(c) = ctx.ask(&ask, prompt).await {
                self.summaries.push(c.text());
            }
        }
        ctx.finish();
        Ok(())
    }
}
