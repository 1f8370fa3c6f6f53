//! The status line on stderr while a scenario runs: refreshed in place on a terminal,
//! plain lines in a log.

use std::time::Duration;

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
    pub(super) fn every(self) -> Option<Duration> {
        match self {
            Progress::Off => None,
            Progress::Refresh => Some(Duration::from_millis(250)),
            Progress::Lines(every) => Some(every.max(Duration::from_millis(10))),
        }
    }

    /// The first line: at once on a terminal; after one interval in a log (a line at
    /// 0.0 s says nothing).
    pub(super) fn first_after(self) -> Duration {
        match self {
            Progress::Lines(_) => self.every().unwrap_or_default(),
            Progress::Off | Progress::Refresh => Duration::ZERO,
        }
    }

    pub(super) fn show(self, line: &str) {
        match self {
            Progress::Off => {}
            Progress::Refresh => eprint!("\r{line}\x1b[K"),
            Progress::Lines(_) => eprintln!("{line}"),
        }
    }

    /// The last line, kept.
    pub(super) fn finish(self, line: &str) {
        match self {
            Progress::Off => {}
            Progress::Refresh => eprintln!("\r{line}\x1b[K"),
            Progress::Lines(_) => eprintln!("{line}"),
        }
    }
}
