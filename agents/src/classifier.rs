//! `Router`: classifies items into labels on the cheapest rung of its target and, when a
//! route is set for the label, forwards the item to that agent (a `String` message).
//! Classification is short and frequent: exactly the work for the cheap model.

use quotaswarm::agent::{Addr, Agent, AgentResult, Ask, Ctx};
use std::collections::BTreeMap;

pub struct Router {
    pub ask: Ask,
    pub labels: Vec<String>,
    pub items: Vec<String>,
    /// Where items of a label go.
    pub routes: BTreeMap<String, Addr<String>>,
    /// (item, label) decisions so far; `None` when the answer named no label.
    pub decisions: Vec<(String, Option<String>)>,
}

impl Router {
    pub fn new(ask: Ask, labels: Vec<String>, items: Vec<String>) -> Self {
        Router {
            ask,
            labels,
            items,
            routes: BTreeMap::new(),
            decisions: Vec::new(),
        }
    }

    pub fn route(mut self, label: impl Into<String>, to: Addr<String>) -> Self {
        self.routes.insert(label.into(), to);
        self
    }
}

impl Agent for Router {
    type Msg = ();

    async fn on_start(&mut self, ctx: &mut Ctx<()>) -> AgentResult {
        let ask = self.ask.clone().target(ctx.cheapest(&self.ask.target));
        let labels = self.labels.join(", ");
        for item in std::mem::take(&mut self.items) {
            let prompt =
                format!("Classify into one of [{labels}]; answer with the label only.\n\n{item}");
            let Ok(c) = ctx.ask(&ask, prompt).await else {
                continue;
            };
            let answer = c.text().to_lowercase();
            let label = self
                .labels
                .iter()
                .find(|l| answer.contains(&l.to_lowercase()))
                .cloned();
            if let Some(to) = label.as_ref().and_then(|l| self.routes.get(l)) {
                // An agent that has stopped takes no more items; the decision stands.
                if let Err(e) = ctx.send(to, item.clone()) {
                    tracing::debug!(agent = ctx.name(), error = %e, "route gone");
                }
            }
            self.decisions.push((item, label));
        }
        ctx.finish();
        Ok(())
    }
}
