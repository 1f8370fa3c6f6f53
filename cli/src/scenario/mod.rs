//! Scenario files: a swarm described in JSON, run by `quotaswarm run --scenario FILE`.
//!
//! ```json
//! {
//!   "name": "two researchers and a scripted chat",
//!   "deadline_secs": 60,
//!   "agents": [
//!     {"name": "researcher", "kind": "researcher", "copies": 2, "model": "claude",
//!      "context": "Our API allows 50 requests per minute.",
//!      "prompts": ["What limits us?", "What should we cache?"]},
//!     {"name": "chat", "ladder": ["sonnet", "haiku"], "system": "Be brief.",
//!      "max_tokens": 200, "trim": {"max_input_tokens": 2000}, "coalesce": false,
//!      "turns": [
//!        {"user": "Hello!", "assistant": "Hi."},
//!        {"user": "Explain token buckets.", "max_tokens": 300},
//!        {"oneshot": {"system": "Translate to French.", "user": "Good morning"}}
//!      ]}
//!   ]
//! }
//! ```
//!
//! An agent has a `name`, either a `kind` with its inputs or scripted `turns` (kind
//! `scripted`, the default), and how it asks: `model` (a model or ladder of the config) or
//! `ladder` (an inline list of models), `system`, `max_tokens`, `max_wait_secs` (then move
//! down the ladder), `trim` (`max_input_tokens`, `summarize`), `coalesce` (default true),
//! `reuse_secs` (answer an identical request from a completion this recent; default: the
//! config's `reuse_secs`) and `copies` (default 1; copies are named `NAME-1`, `NAME-2`,
//! ...). Kinds and their
//! inputs (see the `agents/` crate):
//!
//! | kind | inputs |
//! |---|---|
//! | `scripted` | `turns` |
//! | `persona` | `system` (the persona), `prompts` (its questions, one chat turn each) |
//! | `researcher` | `context` (shared, re-checked before each question), `prompts` |
//! | `summarizer` | `prompts` (documents), run on the cheapest rung of `model` |
//! | `classifier` | `labels`, `prompts` (items), run on the cheapest rung of `model` |
//! | `critic_pair` | `prompts` (one question), `rounds` (default 2); each copy is two agents |
//!
//! A chat turn (`{"user": ...}`) sends the history with its user text and keeps the reply
//! in the history. With `"assistant"` the request is still made (and counted, and
//! charged): the scripted text replaces the reply in the history, so the following turns
//! send the same text on every run. A `oneshot` turn is a standalone request that leaves
//! the history alone.
//!
//! Unknown fields are errors; every error names the field's path and the line
//! (`scenario demo.json, line 7, column 21: agents[1].turns[0].max_tokens: invalid type`).
//! All agents start at once; each sends its next turn when the previous one is answered.

use quotaswarm::agent::{Ask, RunningAgent};
use quotaswarm::config::{Config, ConfigError};
use quotaswarm::swarm::{
    status_line, Backend, BuiltSwarm, Swarm, SwarmBuilder, SwarmError, SwarmReport,
};
use quotaswarm_agents::{classifier, critics, persona, researcher, summarizer};
use quotaswarm_agents::{ScriptedAgent, Turn};
use serde::Deserialize;
use std::path::Path;
use std::time::Duration;

/// The demo `quotaswarm run` runs with no arguments: its config (limits and faults)...
pub const DEFAULT_CONFIG: &str = include_str!("default.toml");
/// ...and its agents.
pub const DEFAULT_SCENARIO: &str = include_str!("default.json");

#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The I/O error is the `source()`, not part of the message: a chain printed whole
    /// (`{:#}`, as the CLI does) shows it once.
    #[error("cannot read scenario file {path}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("scenario {origin}, line {line}, column {column}: {path}: {message}")]
    Parse {
        origin: String,
        path: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("scenario {origin}, line {line}: {path}: {message}")]
    Invalid {
        origin: String,
        path: String,
        line: usize,
        message: String,
    },
    #[error("scenario {origin} has no agents: `agents` is empty; give at least one")]
    NoAgents { origin: String },
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Swarm(#[from] SwarmError),
    /// The stats server (`--stats-addr`) could not start: `cannot serve stats on ADDR`,
    /// then why.
    #[error(transparent)]
    Stats(#[from] quotaswarm::monitor::MonitorError),
}

impl ScenarioError {
    /// Whether the scenario or its config is at fault (not the run).
    pub fn is_bad_input(&self) -> bool {
        !matches!(self, ScenarioError::Swarm(_))
    }
}

/// A scenario file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// Stop agents still running after this many seconds.
    #[serde(default)]
    pub deadline_secs: Option<f64>,
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
#[serde(try_from = "RawAgent")]
pub struct AgentSpec {
    pub name: String,
    pub kind: Kind,
    pub turns: Vec<Turn>,
    pub system: Option<String>,
    pub model: Option<String>,
    pub ladder: Option<Vec<String>>,
    pub max_tokens: u32,
    pub max_wait_secs: Option<f64>,
    pub trim: Option<quotaswarm::types::TrimPolicy>,
    pub coalesce: bool,
    pub copies: u32,
    pub prompts: Vec<String>,
    pub context: Option<String>,
    pub labels: Vec<String>,
    pub rounds: u32,
    /// The reuse window of this agent's requests (`reuse_secs`); `None` follows the
    /// config.
    pub reuse_secs: Option<f64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAgent {
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
        if r.max_tokens == Some(0) {
            return Err(at("`max_tokens` must be at least 1".into()));
        }
        if r.max_wait_secs
            .is_some_and(|w| !(w.is_finite() && w >= 0.0))
        {
            return Err(at("`max_wait_secs` must be a number ≥ 0".into()));
        }
        if r.reuse_secs
            .is_some_and(|w| !(w.is_finite() && (0.0..=3600.0).contains(&w)))
        {
            return Err(at(
                "`reuse_secs` must be a number of seconds from 0 to 3600".into(),
            ));
        }
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
            max_wait_secs: r.max_wait_secs,
            trim: r.trim.map(|t| quotaswarm::types::TrimPolicy {
                max_input_tokens: t.max_input_tokens,
                summarize: t.summarize,
            }),
            coalesce: r.coalesce.unwrap_or(true),
            copies: r.copies.unwrap_or(1),
            prompts: r.prompts,
            context: r.context,
            labels: r.labels,
            rounds: r.rounds.unwrap_or(2).max(1),
            reuse_secs: r.reuse_secs,
        })
    }
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
        if let Some(w) = self.max_wait_secs {
            ask = ask.max_wait(Duration::from_secs_f64(w));
        }
        ask.options.trim = self.trim.clone();
        ask.options.reuse = self.reuse_secs.map(Duration::from_secs_f64);
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

    /// `agents` scripted chat agents of `turns` turns each on the `claude` ladder (or the
    /// config's first model): the quick swarm of `quotaswarm run --agents N --turns T`.
    pub fn simple(agents: u32, turns: u32, target: &str) -> Scenario {
        let turns = (0..turns.max(1))
            .map(|t| Turn::Chat {
                user: format!("Turn {t}: explain token buckets in two sentences."),
                assistant: None,
                max_tokens: None,
            })
            .collect();
        Scenario {
            name: Some("scripted chat agents".into()),
            description: None,
            deadline_secs: Some(120.0),
            agents: vec![AgentSpec {
                name: "agent".into(),
                kind: Kind::Scripted,
                turns,
                system: Some("You are a concise explainer.".into()),
                model: Some(target.to_string()),
                ladder: None,
                max_tokens: 200,
                max_wait_secs: None,
                trim: None,
                coalesce: true,
                copies: agents.max(1),
                prompts: Vec::new(),
                context: None,
                labels: Vec::new(),
                rounds: 1,
                reuse_secs: None,
            }],
            origin: "--agents".into(),
            lines: vec![0],
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

    fn invalid(&self, index: usize, field: &str, message: String) -> ScenarioError {
        ScenarioError::Invalid {
            origin: self.origin.clone(),
            path: format!("agents[{index}].{field}"),
            line: self.lines.get(index).copied().unwrap_or(0),
            message,
        }
    }

    /// Checks the names against `config` and registers inline ladders in it.
    pub fn apply(&self, config: &mut Config) -> Result<(), ScenarioError> {
        let mut seen = std::collections::BTreeSet::new();
        for (i, a) in self.agents.iter().enumerate() {
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
        if let Some(d) = self.deadline_secs.filter(|d| d.is_finite() && *d > 0.0) {
            b = b.deadline(Duration::from_secs_f64(d));
        }
        for spec in &self.agents {
            let spec = spec.clone();
            b = b.agents_with(move |swarm| Box::pin(async move { spawn_spec(swarm, &spec).await }));
        }
        Ok(b)
    }

    /// Runs this scenario to the end: a status line on stderr while it runs (as
    /// `opts.progress` says), and `opts.stats_addr` serves the broker's statistics
    /// meanwhile.
    pub async fn run(
        &self,
        config: Config,
        backend: Backend,
        opts: RunOptions,
    ) -> Result<SwarmReport, ScenarioError> {
        let t0 = tokio::time::Instant::now();
        let BuiltSwarm {
            swarm,
            crew,
            deadline,
            ..
        } = self.builder(config, backend)?.build().await?;
        if let Some(f) = opts.on_start {
            f(&swarm);
        }
        let stats_server = match opts.stats_addr {
            Some(addr) => match swarm.serve_stats(addr).await {
                Ok(server) => Some(server),
                Err(e) => {
                    swarm.shutdown().await;
                    return Err(e.into());
                }
            },
            None => None,
        };
        if let Some(s) = &stats_server {
            let line = format!(
                "stats on {}  (watch: quotaswarm top --addr {})",
                s.url(),
                s.addr
            );
            if opts.stdout_reserved {
                eprintln!("{line}");
            } else {
                println!("{line}");
            }
        }
        let total = crew.len();
        let done = crew.done_counter();
        let interrupter = opts.interrupt.map(|signal| {
            let interrupter = crew.interrupter();
            tokio::spawn(async move {
                signal.await;
                interrupter.interrupt();
            })
        });
        let started = crew.start();
        let progress = opts.progress;
        let ticker = progress.every().map(|every| {
            let handle = swarm.handle();
            tokio::spawn(async move {
                let first = tokio::time::Instant::now() + progress.first_after();
                let mut ticks = tokio::time::interval_at(first, every);
                ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    ticks.tick().await;
                    if let Ok(stats) = handle.stats().await {
                        let d = done.load(std::sync::atomic::Ordering::Relaxed);
                        progress.show(&status_line(&stats, d, total, started.elapsed()));
                    }
                }
            })
        });
        let outcome = crew.wait(started, deadline).await;
        if let Some(t) = interrupter {
            t.abort();
        }
        if let Some(t) = ticker {
            t.abort();
            if let Ok(stats) = swarm.handle().stats().await {
                progress.finish(&status_line(&stats, total, total, started.elapsed()));
            }
        }
        let report = swarm.report(outcome, t0.elapsed()).await;
        if let Some(s) = stats_server {
            let _ = s.shutdown().await;
        }
        swarm.shutdown().await;
        Ok(report)
    }
}

/// Called once the swarm is up, before its agents start.
pub type OnStart = Box<dyn FnOnce(&Swarm) + Send>;

/// Resolves when the run should be interrupted (e.g. on Ctrl-C).
pub type Interrupt = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// How [`Scenario::run`] shows progress on stderr: a status line (agents done,
/// completions, queue, in flight, 429s, retries, merged, headroom) while the run goes, and
/// once more at the end.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Progress {
    /// Nothing.
    #[default]
    Off,
    /// One line redrawn in place four times a second (`\r`, clear to end of line): for
    /// a terminal.
    Refresh,
    /// A plain line (no `\r`, no escape codes) this often: for a pipe, a file or a CI log.
    Lines(Duration),
}

impl Progress {
    /// How often a line is drawn; `None` when off.
    fn every(self) -> Option<Duration> {
        match self {
            Progress::Off => None,
            Progress::Refresh => Some(Duration::from_millis(250)),
            Progress::Lines(every) => Some(every.max(Duration::from_millis(10))),
        }
    }

    /// The first line: at once on a terminal; after one interval in a log (a line at
    /// 0.0 s says nothing).
    fn first_after(self) -> Duration {
        match self {
            Progress::Lines(_) => self.every().unwrap_or_default(),
            Progress::Off | Progress::Refresh => Duration::ZERO,
        }
    }

    fn show(self, line: &str) {
        match self {
            Progress::Off => {}
            Progress::Refresh => eprint!("\r{line}\x1b[K"),
            Progress::Lines(_) => eprintln!("{line}"),
        }
    }

    /// The last line, kept.
    fn finish(self, line: &str) {
        match self {
            Progress::Off => {}
            Progress::Refresh => eprintln!("\r{line}\x1b[K"),
            Progress::Lines(_) => eprintln!("{line}"),
        }
    }
}

/// Options of [`Scenario::run`].
#[derive(Default)]
pub struct RunOptions {
    /// The status line on stderr while the run goes.
    pub progress: Progress,
    /// Serve `/stats` and `/metrics` here while the run goes (announced on stdout).
    pub stats_addr: Option<std::net::SocketAddr>,
    /// Stdout carries only the report (`--json`): announce on stderr instead.
    pub stdout_reserved: bool,
    /// Called once the swarm is up, before agents start (e.g. to print the backends).
    pub on_start: Option<OnStart>,
    /// When it resolves, the agents still running are cut and the run reports (the
    /// report says `interrupted`).
    pub interrupt: Option<Interrupt>,
}

/// The line of the first `"name": "NAME"` in `text` (1-based; 0 if not found).
fn name_line(text: &str, name: &str) -> usize {
    let quoted = serde_json::to_string(name).unwrap_or_default();
    text.lines()
        .position(|l| l.contains("\"name\"") && l.contains(&quoted))
        .map_or(0, |i| i + 1)
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
    for name in names {
        let a = match spec.kind {
            Kind::Scripted => {
                let mut agent = ScriptedAgent::new(spec.target(), spec.turns.clone());
                agent.system = spec.system.clone();
                agent.max_tokens = spec.max_tokens;
                agent.options = ask.options.clone();
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
