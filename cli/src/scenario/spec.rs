//! What a scenario is once parsed: the [`Scenario`], its agents ([`AgentSpec`]) and their
//! [`Kind`]s; the quick swarm of `--agents N` and the built-in demo.

use super::{ScenarioError, DEFAULT_CONFIG, DEFAULT_SCENARIO};
use quotaswarm::agent::Ask;
use quotaswarm::config::Config;
use quotaswarm_agents::Turn;
use serde::Deserialize;
use std::time::Duration;

/// A scenario file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// Stop agents still running after this long (`deadline_secs`, checked while
    /// parsing: above 0 and at most 30 days).
    #[serde(
        default,
        rename = "deadline_secs",
        deserialize_with = "super::parse::deadline"
    )]
    pub deadline: Option<Duration>,
    pub agents: Vec<AgentSpec>,
    /// Where the file came from (for errors).
    #[serde(skip)]
    pub origin: String,
    /// The line of each agent's `"name"` (for errors found after parsing).
    #[serde(skip)]
    pub lines: Vec<usize>,
}

/// What an agent is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Scripted,
    Persona,
    Researcher,
    Summarizer,
    Classifier,
    CriticPair,
}

impl Kind {
    /// The kind as a scenario file spells it (`critic_pair`).
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Scripted => "scripted",
            Kind::Persona => "persona",
            Kind::Researcher => "researcher",
            Kind::Summarizer => "summarizer",
            Kind::Classifier => "classifier",
            Kind::CriticPair => "critic_pair",
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One agent entry (validated while parsing, so errors carry a line).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "super::parse::RawAgent")]
pub struct AgentSpec {
    pub name: String,
    pub kind: Kind,
    pub turns: Vec<Turn>,
    pub system: Option<String>,
    pub model: Option<String>,
    pub ladder: Option<Vec<String>>,
    pub max_tokens: u32,
    /// How long a request waits for its rung before moving down (`max_wait_secs`).
    pub max_wait: Option<Duration>,
    pub trim: Option<quotaswarm::types::TrimPolicy>,
    pub coalesce: bool,
    pub copies: u32,
    pub prompts: Vec<String>,
    pub context: Option<String>,
    pub labels: Vec<String>,
    pub rounds: u32,
    /// The reuse window of this agent's requests (`reuse_secs`); `None` follows the
    /// config.
    pub reuse: Option<Duration>,
    /// How much longer this agent's ladder requests wait per step up the ladder before
    /// spilling to a rung that finishes sooner (`prefer_secs`); `None` follows the config.
    pub prefer: Option<Duration>,
}

impl AgentSpec {
    /// The target requests name: `model`, or the inline ladder registered by
    /// [`Scenario::apply`].
    pub fn target(&self) -> String {
        match &self.model {
            Some(m) => m.clone(),
            None => format!("{}.ladder", self.name),
        }
    }

    pub fn ask(&self) -> Ask {
        let mut ask = Ask::new(self.target())
            .max_tokens(self.max_tokens)
            .coalesce(self.coalesce);
        if let Some(w) = self.max_wait {
            ask = ask.max_wait(w);
        }
        ask.options.trim = self.trim.clone();
        ask.options.reuse = self.reuse;
        ask.options.prefer = self.prefer;
        ask
    }

    /// The names of its copies' agents.
    pub fn names(&self) -> Vec<String> {
        let copies: Vec<String> = if self.copies == 1 {
            vec![self.name.clone()]
        } else {
            (1..=self.copies)
                .map(|i| format!("{}-{i}", self.name))
                .collect()
        };
        if self.kind == Kind::CriticPair {
            copies
                .into_iter()
                .flat_map(|n| [format!("{n}-a"), format!("{n}-b")])
                .collect()
        } else {
            copies
        }
    }
}

impl Scenario {
    /// `agents` scripted chat agents of `turns` turns each on the `claude` ladder (or the
    /// config's first model): the quick swarm of `quotaswarm run --agents N --turns T`.
    ///
    /// Each agent asks its own questions (`agent-3`, turn 1: a topic of its own): with
    /// one script for all, every turn would be N identical requests merged into one, and
    /// the swarm would never meet a rate limit.
    pub fn simple(agents: u32, turns: u32, target: &str) -> Scenario {
        const TOPICS: [&str; 8] = [
            "token buckets",
            "rate limits",
            "exponential backoff",
            "prompt caching",
            "request coalescing",
            "model fallback ladders",
            "circuit breakers",
            "context trimming",
        ];
        let agents = agents.max(1);
        let specs: Vec<AgentSpec> = (1..=agents)
            .map(|a| {
                let turns = (0..turns.max(1))
                    .map(|t| {
                        let topic = TOPICS[(a as usize + t as usize) % TOPICS.len()];
                        Turn::Chat {
                            user: format!("Agent {a}, turn {t}: explain {topic} in two sentences."),
                            assistant: None,
                            max_tokens: None,
                        }
                    })
                    .collect();
                AgentSpec {
                    name: if agents == 1 {
                        "agent".into()
                    } else {
                        format!("agent-{a}")
                    },
                    kind: Kind::Scripted,
                    turns,
                    system: Some("You are a concise explainer.".into()),
                    model: Some(target.to_string()),
                    ladder: None,
                    max_tokens: 200,
                    max_wait: None,
                    trim: None,
                    coalesce: true,
                    copies: 1,
                    prompts: Vec::new(),
                    context: None,
                    labels: Vec::new(),
                    rounds: 1,
                    reuse: None,
                    prefer: None,
                }
            })
            .collect();
        Scenario {
            name: Some("scripted chat agents".into()),
            description: None,
            deadline: Some(Duration::from_secs(120)),
            lines: vec![0; specs.len()],
            agents: specs,
            origin: "--agents".into(),
        }
    }

    /// The built-in demo (`quotaswarm run` with no arguments) and its config.
    pub fn builtin_demo() -> Result<(Scenario, Config), ScenarioError> {
        let config = Config::from_toml_str_over_defaults(DEFAULT_CONFIG, "built-in demo config")?;
        Ok((
            Self::from_json_str(DEFAULT_SCENARIO, "built-in demo")?,
            config,
        ))
    }
}
