//! What can go wrong with a scenario: reading, parsing and checking it (bad input, each
//! error naming the file, the field's path and the line), and running it.

use quotaswarm::config::ConfigError;
use quotaswarm::swarm::SwarmError;

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
    /// Whether the scenario or its config is at fault (not the run). A stats address
    /// that cannot be served (in use, not this machine's) is not: the run could not
    /// start (exit 3, as the README says).
    pub fn is_bad_input(&self) -> bool {
        !matches!(self, ScenarioError::Swarm(_) | ScenarioError::Stats(_))
    }
}
