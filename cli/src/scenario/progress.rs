//! The status line on stderr while a scenario runs: refreshed in place on a terminal,
//! plain lines in a log.
//!
//! On a terminal the line is fitted to its width (`COLUMNS`, else 80): a line longer
//! than the terminal wraps, and `\r` then redraws only its last row, so the screen
//! scrolls instead of refreshing. The figures come most important first (time and
//! agents, a quota-store alert, completions, 429s, queue, in flight, retries, merged,
//! headroom), and the ones that do not fit are left out whole.

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
            // Clamped: `Lines` can be built in code with any duration, and an interval
            // past the far future overflows an `Instant`.
            Progress::Lines(every) => Some(every.clamp(
                Duration::from_millis(10),
                Duration::from_secs(crate::checked::MAX_SECS),
            )),
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
            Progress::Refresh => eprint!("\r{}\x1b[K", fit(line, terminal_width())),
            Progress::Lines(_) => eprintln!("{line}"),
        }
    }

    /// The last line, kept.
    pub(super) fn finish(self, line: &str) {
        match self {
            Progress::Off => {}
            Progress::Refresh => eprintln!("\r{}\x1b[K", fit(line, terminal_width())),
            Progress::Lines(_) => eprintln!("{line}"),
        }
    }
}

/// The terminal's width: `COLUMNS` when it is a sensible number, else 80 (the shell
/// rarely exports `COLUMNS`; 80 never wraps on a usual terminal).
fn terminal_width() -> usize {
    width_from(std::env::var("COLUMNS").ok().as_deref())
}

fn width_from(columns: Option<&str>) -> usize {
    columns
        .and_then(|c| c.trim().parse::<usize>().ok())
        .filter(|w| (10..=1000).contains(w))
        .unwrap_or(80)
}

/// The status line (`[ 12.3s] agents 3/20  completions 5  ...  headroom a:50% b:20%`)
/// in at most `width - 1` characters (the last column left free: some terminals wrap
/// when it is written). Whole figures are dropped from the least important; headroom
/// keeps the lanes that fit.
fn fit(line: &str, width: usize) -> String {
    let room = width.saturating_sub(1).max(1);
    if line.chars().count() <= room {
        return line.to_string();
    }
    // `[ 12.3s] agents 3/20` stays together; the other figures are two spaces apart.
    let (stamp, rest) = match line.split_once("] ") {
        Some((s, r)) => (format!("{s}]"), r),
        None => (String::new(), line),
    };
    let mut fields: Vec<&str> = rest.split("  ").filter(|f| !f.is_empty()).collect();
    let rank = |f: &str| {
        const ORDER: [&str; 9] = [
            "agents",
            "QUOTA STORE",
            "completions",
            "429s",
            "queue",
            "in flight",
            "retries",
            "merged",
            "headroom",
        ];
        ORDER
            .iter()
            .position(|p| f.starts_with(p))
            .unwrap_or(ORDER.len())
    };
    fields.sort_by_key(|f| rank(f));
    let mut out = stamp;
    for field in fields {
        let sep = if out.is_empty() {
            ""
        } else if out.ends_with(']') {
            " "
        } else {
            "  "
        };
        let len = out.chars().count() + sep.chars().count();
        if len + field.chars().count() <= room {
            out.push_str(sep);
            out.push_str(field);
        } else if let Some(lanes) = field.strip_prefix("headroom") {
            // As many lanes as fit.
            let mut part = String::from("headroom");
            for lane in lanes.split_whitespace() {
                if len + part.chars().count() + 1 + lane.chars().count() > room {
                    break;
                }
                part.push(' ');
                part.push_str(lane);
            }
            if part != "headroom" {
                out.push_str(sep);
                out.push_str(&part);
            }
        }
    }
    // Even the first figures too long (a very narrow terminal): cut.
    out.chars().take(room).collect()
}

/// The last status line: `agents 2/20 (18 cut)` when a deadline or an interrupt cut
/// agents, instead of counting them as done.
pub(super) fn with_cut(line: &str, done: usize, total: usize, cut: usize) -> String {
    if cut == 0 {
        return line.to_string();
    }
    line.replacen(
        &format!("agents {done}/{total}"),
        &format!("agents {done}/{total} ({cut} cut)"),
        1,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const LONG: &str = "[ 12.3s] agents 3/20  completions 57  queue 12  in flight 4  429s 2  retries 3  merged 9  headroom opus:50% sonnet:20% haiku:95% gpt-4o-mini:100%  QUOTA STORE UNREACHABLE: local share";

    #[test]
    fn a_line_that_fits_is_left_alone() {
        let short = "[  1.0s] agents 1/2  completions 1";
        assert_eq!(fit(short, 80), short);
    }

    #[test]
    fn the_line_never_exceeds_the_width_and_keeps_the_first_figures() {
        for width in 1..=220 {
            let line = fit(LONG, width);
            assert!(
                line.chars().count() < width.max(2),
                "{width}: {} chars: {line}",
                line.chars().count()
            );
        }
        let at_80 = fit(LONG, 80);
        assert!(
            at_80.starts_with("[ 12.3s] agents 3/20  QUOTA STORE"),
            "{at_80}"
        );
        let at_60 = fit(LONG, 60);
        assert_eq!(
            at_60,
            "[ 12.3s] agents 3/20  QUOTA STORE UNREACHABLE: local share"
        );
        let wide = fit(LONG, 150);
        assert!(
            wide.contains("429s 2") && wide.contains("headroom opus:50%"),
            "{wide}"
        );
    }

    #[test]
    fn headroom_keeps_the_lanes_that_fit() {
        let line = "[  2.0s] agents 1/1  completions 1  headroom opus:50% sonnet:20% haiku:95%";
        let fitted = fit(line, 60);
        assert_eq!(
            fitted,
            "[  2.0s] agents 1/1  completions 1  headroom opus:50%"
        );
    }

    #[test]
    fn the_width_comes_from_columns_when_sensible() {
        assert_eq!(width_from(Some("120")), 120);
        assert_eq!(width_from(Some(" 100 ")), 100);
        assert_eq!(width_from(None), 80);
        for odd in ["0", "-5", "wide", "18446744073709551616", "5"] {
            assert_eq!(width_from(Some(odd)), 80, "{odd}");
        }
    }

    #[test]
    fn the_last_line_counts_cut_agents() {
        let line = "[  9.0s] agents 2/20  completions 2";
        assert_eq!(
            with_cut(line, 2, 20, 18),
            "[  9.0s] agents 2/20 (18 cut)  completions 2"
        );
        assert_eq!(with_cut(line, 2, 20, 0), line);
    }
}
