//! Transcripts (`quotaswarm run --transcript DIR`, [`Config::transcript`]): what each
//! agent asked and was answered, one JSON line per completion in `DIR/AGENT.jsonl`, so a
//! person can read the swarm's actual work. Written by the agent's
//! [`Asker`](crate::agent::Asker) after each answer; nothing is cloned or written when
//! no directory is set.
//!
//! [`Config::transcript`]: crate::Config::transcript

use crate::broker::BrokerError;
use crate::types::{Completion, CompletionRequest};
use serde::Serialize;
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// One line of a transcript.
#[derive(Debug, Serialize)]
struct Line<'a> {
    agent: &'a str,
    /// Seconds since the Unix epoch when the answer came.
    at_unix_secs: f64,
    request: &'a CompletionRequest,
    #[serde(skip_serializing_if = "Option::is_none")]
    answer: Option<&'a Completion>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// The file of `agent`'s transcript in `dir`: its name with anything but letters,
/// digits, `.`, `-` and `_` replaced by `_` (names may hold `/`).
pub fn file_of(dir: &Path, agent: &str) -> PathBuf {
    let safe: String = agent
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    dir.join(format!("{safe}.jsonl"))
}

/// Appends one exchange to `agent`'s transcript; a failure to write is logged, never
/// the agent's problem.
pub(crate) fn record(
    dir: &Path,
    agent: &str,
    request: &CompletionRequest,
    result: Result<&Completion, &BrokerError>,
) {
    let line = Line {
        agent,
        at_unix_secs: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64()),
        request,
        answer: result.ok(),
        error: result.err().map(ToString::to_string),
    };
    let path = file_of(dir, agent);
    let written = serde_json::to_vec(&line)
        .map_err(std::io::Error::other)
        .and_then(|mut bytes| {
            bytes.push(b'\n');
            // One append of the whole line, so concurrent asks of one agent never
            // interleave within a line.
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)?
                .write_all(&bytes)
        });
    if let Err(e) = written {
        tracing::warn!(agent, path = %path.display(), error = %e, "cannot write the transcript");
    }
}
