//! A scenario's agents into a swarm: names and models checked against the config, inline
//! ladders registered, and each agent spawned as its kind says.

use super::{AgentSpec, Kind, Scenario, ScenarioError};
use crate::checked::{MAX_AGENTS, MAX_SECS};
use quotaswarm::agent::RunningAgent;
use quotaswarm::config::Config;
use quotaswarm::swarm::{Backend, Swarm, SwarmBuilder, SwarmError};
use quotaswarm_agents::ScriptedAgent;
use quotaswarm_agents::{classifier, critics, persona, researcher, summarizer};
use std::time::Duration;

impl Scenario {
    pub(super) fn invalid(&self, index: usize, field: &str, message: String) -> ScenarioError {
        ScenarioError::Invalid {
            origin: self.origin.clone(),
            path: format!("agents[{index}].{field}"),
            line: self.lines.get(index).copied().unwrap_or(0),
            message,
        }
    }

    /// Checks the names against `config` and registers inline ladders in it. Also
    /// checks the counts and durations again, for a scenario built in code rather than
    /// parsed (parsing checks them with the field's line).
    pub fn apply(&self, config: &mut Config) -> Result<(), ScenarioError> {
        let most = Duration::from_secs(MAX_SECS);
        let too_long = |d: &Option<Duration>| d.is_some_and(|d| d > most);
        if too_long(&self.deadline) || self.deadline.is_some_and(|d| d.is_zero()) {
            return Err(ScenarioError::Invalid {
                origin: self.origin.clone(),
                path: "deadline_secs".into(),
                line: 0,
                message: format!("must be above 0 and at most {MAX_SECS} seconds"),
            });
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, a) in self.agents.iter().enumerate() {
            for (field, d) in [("max_wait_secs", &a.max_wait), ("reuse_secs", &a.reuse)] {
                if too_long(d) {
                    let message = format!("must be at most {MAX_SECS} seconds");
                    return Err(self.invalid(i, field, message));
                }
            }
            // `copies` first: `names()` builds one name per copy.
            if a.copies > MAX_AGENTS || seen.len() + a.names().len() > MAX_AGENTS as usize {
                return Err(self.invalid(
                    i,
                    "copies",
                    format!("the scenario asks for more than {MAX_AGENTS} agents"),
                ));
            }
            for n in a.names() {
                if !seen.insert(n.clone()) {
                    return Err(self.invalid(i, "name", format!("agent name {n:?} is used twice")));
                }
            }
            if let Some(m) = &a.model {
                if config.rungs(m).is_none() {
                    let known: Vec<&String> =
                        config.models.keys().chain(config.ladders.keys()).collect();
                    return Err(self.invalid(
                        i,
                        "model",
                        format!("unknown model or ladder {m:?} (the config has {known:?})"),
                    ));
                }
            }
            if let Some(ladder) = &a.ladder {
                if let Some(m) = ladder.iter().find(|m| config.model(m).is_none()) {
                    return Err(self.invalid(i, "ladder", format!("unknown model {m:?}")));
                }
                config.ladders.insert(a.target(), ladder.clone());
            }
        }
        Ok(())
    }

    /// A swarm builder with every agent of this scenario, over `config`.
    pub fn builder(
        &self,
        mut config: Config,
        backend: Backend,
    ) -> Result<SwarmBuilder, ScenarioError> {
        self.apply(&mut config)?;
        let mut b = SwarmBuilder::new(config).backend(backend);
        if let Some(d) = self.deadline {
            b = b.deadline(d);
        }
        for spec in &self.agents {
            let spec = spec.clone();
            b = b.agents_with(move |swarm| Box::pin(async move { spawn_spec(swarm, &spec).await }));
        }
        Ok(b)
    }
}

async fn spawn_spec(swarm: &Swarm, spec: &AgentSpec) -> Result<Vec<RunningAgent>, SwarmError> {
    let ask = spec.ask();
    let names = spec.names();
    let mut out = Vec::new();
    if spec.kind == Kind::CriticPair {
        let question = spec.prompts.first().cloned().unwrap_or_default();
        let system = spec
            .system
            .clone()
            .unwrap_or_else(|| "You answer carefully and take criticism well.".into());
        for pair in names.chunks(2) {
            let critic =
                || critics::Critic::new(ask.clone(), system.clone(), question.clone(), spec.rounds);
            if let [a, b] = pair {
                out.extend(critics::spawn_pair(swarm, [a, b], critic(), critic()).await?);
            }
        }
        return Ok(out);
    }
    // One copy of the options for all of this spec's scripted agents.
    let options = std::sync::Arc::new(ask.options.clone());
    for name in names {
        let a = match spec.kind {
            Kind::Scripted => {
                let mut agent = ScriptedAgent::new(spec.target(), spec.turns.clone());
                agent.system = spec.system.clone();
                agent.max_tokens = spec.max_tokens;
                agent.options = options.clone();
                swarm.spawn_idle(name, agent).await?.erase()
            }
            Kind::Persona => {
                let system = spec.system.clone().unwrap_or_default();
                let agent = persona::Persona::new(ask.clone(), system, spec.prompts.clone());
                swarm.spawn_idle(name, agent).await?.erase()
            }
            Kind::Researcher => {
                let context = spec.context.clone().unwrap_or_default();
                let agent = researcher::Researcher::new(ask.clone(), context, spec.prompts.clone());
                swarm.spawn_idle(name, agent).await?.erase()
            }
            Kind::Summarizer => {
                let agent = summarizer::Summarizer::new(ask.clone(), spec.prompts.clone());
                swarm.spawn_idle(name, agent).await?.erase()
            }
            Kind::Classifier => {
                let agent =
                    classifier::Router::new(ask.clone(), spec.labels.clone(), spec.prompts.clone());
                swarm.spawn_idle(name, agent).await?.erase()
            }
            Kind::CriticPair => continue,
        };
        out.push(a);
    }
    Ok(out)
}
