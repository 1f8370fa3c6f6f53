//! How `quotaswarm` ends: [`Exit`], one exit code per kind of ending, so scripts can
//! tell a clean run from a run with failures, bad input, a run that could not go, and
//! an interrupted one. `quotaswarm run --help` and the README list the same codes.

use crate::scenario::ScenarioError;
use quotaswarm::config::ConfigError;

/// The exit codes, as `quotaswarm run --help` shows them.
pub const EXIT_CODES: &str = "\
Exit codes:
  0    every agent finished and no request ended in an error
  1    the run ended, but agents failed or were cut at the deadline, or requests
       ended in errors (with --allow-errors: 0)
  2    bad input: arguments, or a config or scenario file unreadable or invalid
       (an empty scenario included)
  3    the run could not start or go on (e.g. an address in use)
  130  interrupted by Ctrl-C (SIGINT; 143 for SIGTERM): the agents were cut and the
       partial report printed; a second Ctrl-C exits at once";

/// A signal that interrupts a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGINT (Ctrl-C).
    Int,
    /// SIGTERM.
    Term,
}

impl Signal {
    /// Its number (2 or 15).
    pub fn number(self) -> u8 {
        match self {
            Signal::Int => 2,
            Signal::Term => 15,
        }
    }
}

/// How the command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 0: done; for `run`, every agent finished and no request ended in an error.
    Clean,
    /// 1: the run ended, but agents failed or were cut at the deadline, or requests
    /// ended in errors.
    Failures,
    /// 2: bad input (arguments, config, scenario). Also clap's code for bad arguments.
    BadInput,
    /// 3: the run could not start or go on.
    CannotRun,
    /// 128 + the signal's number: the run was interrupted.
    Interrupted(Signal),
}

impl Exit {
    /// The process exit code.
    pub fn code(self) -> u8 {
        match self {
            Exit::Clean => 0,
            Exit::Failures => 1,
            Exit::BadInput => 2,
            Exit::CannotRun => 3,
            Exit::Interrupted(s) => 128 + s.number(),
        }
    }

    /// The ending of a command that failed with `error`: bad input when the error (or
    /// one it wraps) is a config or scenario error, else could not run.
    pub fn of_error(error: &anyhow::Error) -> Exit {
        let bad_input = error.chain().any(|e| {
            e.is::<ConfigError>()
                || e.downcast_ref::<ScenarioError>()
                    .is_some_and(ScenarioError::is_bad_input)
        });
        if bad_input {
            Exit::BadInput
        } else {
            Exit::CannotRun
        }
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(exit: Exit) -> Self {
        std::process::ExitCode::from(exit.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_and_signals_follow_the_shell_convention() {
        let all = [
            Exit::Clean,
            Exit::Failures,
            Exit::BadInput,
            Exit::CannotRun,
            Exit::Interrupted(Signal::Int),
            Exit::Interrupted(Signal::Term),
        ];
        let codes: Vec<u8> = all.iter().map(|e| e.code()).collect();
        assert_eq!(codes, [0, 1, 2, 3, 130, 143]);
        for code in &codes[..5] {
            assert!(
                EXIT_CODES.contains(&format!("\n  {code} ")),
                "{code} documented"
            );
        }
        assert!(EXIT_CODES.contains("143 for SIGTERM"));
    }

    #[test]
    fn config_and_scenario_errors_are_bad_input_others_cannot_run() {
        let config = anyhow::Error::from(ConfigError::Parse {
            origin: "x.toml".into(),
            line: None,
            message: "nope".into(),
        });
        assert_eq!(Exit::of_error(&config), Exit::BadInput);
        let empty = anyhow::Error::from(ScenarioError::NoAgents {
            origin: "x.json".into(),
        });
        assert_eq!(Exit::of_error(&empty), Exit::BadInput);
        let wrapped = empty.context("loading");
        assert_eq!(Exit::of_error(&wrapped), Exit::BadInput);
        let io = anyhow::Error::from(std::io::Error::other("address in use"));
        assert_eq!(Exit::of_error(&io), Exit::CannotRun);
    }
}
