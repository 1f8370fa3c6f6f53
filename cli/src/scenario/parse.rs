//! Parsing a scenario file: the file's raw shapes, checked while deserialising so every
//! error carries the field's path and its line.

use super::{AgentSpec, Kind, Scenario, ScenarioError};
use crate::checked::{self, MAX_AGENTS};
use quotaswarm_agents::Turn;
use serde::{Deserialize, Deserializer};
use std::path::Path;
use std::time::Duration;

/// `deadline_secs`: seconds above 0, checked (a zero would silently mean no deadline:
/// leave the field out for that).
pub(super) fn deadline<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    Option::<f64>::deserialize(d)?
        .map(|v| {
            checked::positive_secs(v).map_err(|m| {
                serde::de::Error::custom(format!(
                    "`deadline_secs` {m} (leave it out for no deadline)"
                ))
            })
        })
        .transpose()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAgent {
    name: String,
    kind: Option<Kind>,
    #[serde(default)]
    turns: Vec<TurnSpec>,
    system: Option<String>,
    model: Option<String>,
    ladder: Option<Vec<String>>,
    max_tokens: Option<u32>,
    max_wait_secs: Option<f64>,
    trim: Option<RawTrim>,
    coalesce: Option<bool>,
    copies: Option<u32>,
    #[serde(default)]
    prompts: Vec<String>,
    context: Option<String>,
    #[serde(default)]
    labels: Vec<String>,
    rounds: Option<u32>,
    reuse_secs: Option<f64>,
    prefer_secs: Option<f64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTrim {
    max_input_tokens: u64,
    #[serde(default)]
    summarize: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTurn {
    user: Option<String>,
    assistant: Option<String>,
    max_tokens: Option<u32>,
    oneshot: Option<RawOneshot>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOneshot {
    system: Option<String>,
    user: String,
    max_tokens: Option<u32>,
}

/// A turn, validated while parsing (so its errors carry the turn's path and line).
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "RawTurn")]
struct TurnSpec(Turn);

impl TryFrom<RawTurn> for TurnSpec {
    type Error = String;
    fn try_from(t: RawTurn) -> Result<TurnSpec, String> {
        turn(t).map(TurnSpec)
    }
}

fn turn(t: RawTurn) -> Result<Turn, String> {
    {
        match (t.user, t.oneshot) {
            (Some(user), None) => Ok(Turn::Chat {
                user,
                assistant: t.assistant,
                max_tokens: nonzero(t.max_tokens, "max_tokens")?,
            }),
            (None, Some(o)) if t.assistant.is_none() && t.max_tokens.is_none() => {
                Ok(Turn::Oneshot {
                    system: o.system,
                    user: o.user,
                    max_tokens: nonzero(o.max_tokens, "oneshot.max_tokens")?,
                })
            }
            (None, Some(_)) => Err(
                "a oneshot turn takes its `max_tokens` inside `oneshot` and has no `assistant`"
                    .into(),
            ),
            (Some(_), Some(_)) => Err("a turn has either `user` or `oneshot`, not both".into()),
            (None, None) => Err("a turn needs `user` (a chat turn) or `oneshot`".into()),
        }
    }
}

fn nonzero(v: Option<u32>, field: &str) -> Result<Option<u32>, String> {
    match v {
        Some(0) => Err(format!("`{field}` must be at least 1")),
        v => Ok(v),
    }
}

impl TryFrom<RawAgent> for AgentSpec {
    type Error = String;
    fn try_from(r: RawAgent) -> Result<AgentSpec, String> {
        let at = |m: String| format!("agent {:?}: {m}", r.name);
        if r.name.trim().is_empty() {
            return Err("`name` must not be empty".into());
        }
        let kind = r.kind.unwrap_or(Kind::Scripted);
        if kind != Kind::Scripted && !r.turns.is_empty() {
            return Err(at(format!(
                "\"turns\" are for kind \"scripted\", not \"{kind}\" (give \"prompts\")"
            )));
        }
        // Kinds and fields as the file spells them: `kind "scripted" needs "turns"`.
        let need = |ok: bool, what: &str| {
            if ok {
                Ok(())
            } else {
                Err(at(format!("kind \"{kind}\" needs {what}")))
            }
        };
        match kind {
            Kind::Scripted => need(!r.turns.is_empty(), "\"turns\"")?,
            Kind::Persona | Kind::Summarizer => need(!r.prompts.is_empty(), "\"prompts\"")?,
            Kind::Researcher => need(
                !r.prompts.is_empty() && r.context.is_some(),
                "\"context\" and \"prompts\"",
            )?,
            Kind::Classifier => need(
                !r.prompts.is_empty() && !r.labels.is_empty(),
                "\"labels\" and \"prompts\"",
            )?,
            Kind::CriticPair => need(r.prompts.len() == 1, "exactly one entry in \"prompts\"")?,
        }
        if r.model.is_some() == r.ladder.is_some() {
            return Err(at("give exactly one of `model` and `ladder`".into()));
        }
        if r.ladder.as_ref().is_some_and(Vec::is_empty) {
            return Err(at("`ladder` must name at least one model".into()));
        }
        if r.copies == Some(0) {
            return Err(at("`copies` must be at least 1".into()));
        }
        if r.copies.is_some_and(|c| c > MAX_AGENTS) {
            return Err(at(format!("`copies` must be at most {MAX_AGENTS}")));
        }
        if r.rounds == Some(0) {
            return Err(at("`rounds` must be at least 1".into()));
        }
        if r.max_tokens == Some(0) {
            return Err(at("`max_tokens` must be at least 1".into()));
        }
        let max_wait = r
            .max_wait_secs
            .map(checked::secs)
            .transpose()
            .map_err(|m| at(format!("`max_wait_secs` {m}")))?;
        if r.reuse_secs.is_some_and(|w| !(0.0..=3600.0).contains(&w)) {
            return Err(at(
                "`reuse_secs` must be a number of seconds from 0 to 3600".into(),
            ));
        }
        let reuse = r
            .reuse_secs
            .map(checked::secs)
            .transpose()
            .map_err(|m| at(format!("`reuse_secs` {m}")))?;
        let prefer = r
            .prefer_secs
            .map(checked::secs)
            .transpose()
            .map_err(|m| at(format!("`prefer_secs` {m}")))?;
        if r.trim.as_ref().is_some_and(|t| t.max_input_tokens == 0) {
            return Err(at("`trim.max_input_tokens` must be at least 1".into()));
        }
        let turns = r.turns.into_iter().map(|t| t.0).collect();
        Ok(AgentSpec {
            name: r.name,
            kind,
            turns,
            system: r.system,
            model: r.model,
            ladder: r.ladder,
            max_tokens: r.max_tokens.unwrap_or(256),
            max_wait,
            trim: r.trim.map(|t| quotaswarm::types::TrimPolicy {
                max_input_tokens: t.max_input_tokens,
                summarize: t.summarize,
            }),
            coalesce: r.coalesce.unwrap_or(true),
            copies: r.copies.unwrap_or(1),
            prompts: r.prompts,
            context: r.context,
            labels: r.labels,
            rounds: r.rounds.unwrap_or(2),
            reuse,
            prefer,
        })
    }
}

impl Scenario {
    /// Parses JSON text; `origin` names it in errors.
    pub fn from_json_str(text: &str, origin: &str) -> Result<Scenario, ScenarioError> {
        let de = &mut serde_json::Deserializer::from_str(text);
        let mut s: Scenario = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let full = inner.to_string();
            let message = full
                .rsplit_once(" at line ")
                .map_or(full.as_str(), |(m, _)| m)
                .to_string();
            ScenarioError::Parse {
                origin: origin.to_string(),
                path: if path == "." { "(top)".into() } else { path },
                line: inner.line(),
                column: inner.column(),
                message,
            }
        })?;
        if s.agents.is_empty() {
            return Err(ScenarioError::NoAgents {
                origin: origin.to_string(),
            });
        }
        s.origin = origin.to_string();
        s.lines = s.agents.iter().map(|a| name_line(text, &a.name)).collect();
        Ok(s)
    }

    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_json_str(&text, &path.display().to_string())
    }
}

/// The line of the first `"name": "NAME"` in `text` (1-based; 0 if not found).
fn name_line(text: &str, name: &str) -> usize {
    let quoted = serde_json::to_string(name).unwrap_or_default();
    text.lines()
        .position(|l| l.contains("\"name\"") && l.contains(&quoted))
        .map_or(0, |i| i + 1)
}
