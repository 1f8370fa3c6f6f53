//! One frame of `quotaswarm top`, as a pure function of a [`Stats`] snapshot and the
//! terminal width: header (uptime, mailbox, totals, 429s, cost, prompt-cache hits when
//! there are any, alerts, advice), then one row per lane. Clearing the screen and polling live
//! in `cli/top.rs`.

use crate::broker::CircuitState;
use crate::broker::LaneStats;
use crate::broker::Severity;
use crate::Stats;
use std::fmt::Write as _;

/// Narrower than this and the frame is not worth reading; render as if this wide.
const MIN_WIDTH: usize = 40;

/// Renders one frame, each line at most `width` characters (header and advice wrap at
/// word boundaries; table rows are cut).
pub fn render_top(stats: &Stats, width: usize) -> String {
    let width = width.max(MIN_WIDTH);
    let mut out = String::new();

    let cache = (stats.cache_read_tokens + stats.cache_write_tokens > 0).then(|| {
        format!(
            "cache hit {:.1}% (saved ${:.4})",
            stats.cache_hit_share * 100.0,
            stats.cache_saved_usd
        )
    });
    let header = [
        format!("quotaswarm  up {}", duration(stats.uptime_secs)),
        format!("mailbox {}", stats.mailbox_depth),
        format!("requests {}", stats.requests),
        format!("completed {}", stats.completed),
        format!("failed {}", stats.failed),
        format!("merged {}", stats.merged),
        format!("retries {}", stats.retries),
        format!(
            "429s {} ({:.2}% of requests last hour, {} last min)",
            stats.rate_limited,
            stats.rate_limited_share * 100.0,
            stats.rate_limited_last_minute
        ),
        format!("cost ${:.4}", stats.cost_usd),
        format!("burn ${:.4}/min", stats.cost_burn_usd_per_min),
    ];
    let header = header.iter().chain(cache.as_ref()).map(String::as_str);
    wrap(&mut out, header, "  ", width, "");
    // Alerts before advice: they are what is wrong now.
    for a in &stats.alerts {
        let head = format!(
            "ALERT {} {}{}{} for {}:",
            severity(a.severity),
            a.kind.as_str(),
            if a.lane.is_some() { " " } else { "" },
            a.lane_label(),
            duration(a.age_secs)
        );
        let words = std::iter::once(head.as_str()).chain(a.message.split_whitespace());
        wrap(&mut out, words, " ", width, "  ");
    }
    for advice in &stats.advice {
        let words = std::iter::once("advice:").chain(advice.split_whitespace());
        wrap(&mut out, words, " ", width, "  ");
    }
    out.push('\n');

    let rows: Vec<[String; 9]> = stats.lanes.iter().map(row).collect();
    let titles = [
        "MODEL",
        "QUEUE",
        "IN FLIGHT",
        "CIRCUIT",
        "HEADROOM",
        "DRY IN",
        "429/MIN",
        "WAIT P95",
        "COST",
    ];
    let mut widths = titles.map(str::len);
    for r in &rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    // Text columns are left-aligned, figures right-aligned.
    let left = [true, false, false, true, true, true, false, false, false];
    let line = |cells: &[&str]| {
        let mut s = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i > 0 {
                s.push_str("  ");
            }
            let pad = widths[i].saturating_sub(cell.chars().count());
            if left[i] {
                s.push_str(cell);
                if i + 1 < cells.len() {
                    s.push_str(&" ".repeat(pad));
                }
            } else {
                s.push_str(&" ".repeat(pad));
                s.push_str(cell);
            }
        }
        s
    };
    let _ = writeln!(out, "{}", cut(&line(&titles), width).trim_end());
    for r in &rows {
        let cells: Vec<&str> = r.iter().map(String::as_str).collect();
        let _ = writeln!(out, "{}", cut(&line(&cells), width).trim_end());
    }
    if rows.is_empty() {
        out.push_str("(no lanes)\n");
    }
    out
}

fn row(l: &LaneStats) -> [String; 9] {
    let circuit = match l.circuit {
        CircuitState::Closed => "closed".to_string(),
        CircuitState::Open => "OPEN".to_string(),
        CircuitState::HalfOpen => "half-open".to_string(),
    };
    let circuit = if l.paused_for_secs > 0.0 {
        format!("{circuit} (paused {})", duration(l.paused_for_secs))
    } else {
        circuit
    };
    let headroom = l
        .buckets
        .iter()
        .map(|b| format!("{} {:.0}%", short(&b.bucket), b.headroom_pct))
        .collect::<Vec<_>>()
        .join(" ");
    let exhausts = l
        .buckets
        .iter()
        .filter_map(|b| b.time_to_exhaustion_secs.map(|t| (t, &b.bucket)))
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .map_or_else(
            || "-".to_string(),
            |(t, b)| format!("{} {}", duration(t), short(b)),
        );
    [
        l.model.clone(),
        l.queue_depth.to_string(),
        l.in_flight.to_string(),
        circuit,
        headroom,
        exhausts,
        l.rate_limited_last_minute.to_string(),
        format!("{:.2}s", l.queue_wait_p95_secs),
        if l.priced {
            format!("${:.4}", l.cost_usd)
        } else {
            "unknown".to_string()
        },
    ]
}

/// How an alert's severity reads in the header (critical shouts).
fn severity(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "CRITICAL",
        Severity::Warning => "warning",
    }
}

/// A bucket's short name for the table (`input_tokens` → `in`); unknown names stay whole.
fn short(bucket: &str) -> &str {
    match bucket {
        "requests" => "req",
        "input_tokens" => "in",
        "output_tokens" => "out",
        "tokens" => "tok",
        other => other,
    }
}

/// `42s`, `3m07s`, `1h02m03s`.
fn duration(secs: f64) -> String {
    if !secs.is_finite() || secs < 0.0 {
        return "-".into();
    }
    let s = secs.round() as u64;
    if s < 60 {
        format!("{s}s")
    } else if s < 3600 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{}h{:02}m{:02}s", s / 3600, s / 60 % 60, s % 60)
    }
}

fn cut(line: &str, width: usize) -> String {
    line.chars().take(width).collect()
}

/// Appends `items` joined by `sep`, wrapped to `width` between items; continuation lines
/// start with `indent`; an item wider than a line is cut.
fn wrap<'a>(
    out: &mut String,
    items: impl IntoIterator<Item = &'a str>,
    sep: &str,
    width: usize,
    indent: &str,
) {
    let mut line = String::new();
    let mut empty = true;
    for item in items {
        let len = line.chars().count();
        if !empty && len + sep.len() + item.chars().count() > width {
            let _ = writeln!(out, "{}", cut(&line, width));
            line = indent.to_string();
            empty = true;
        }
        if !empty {
            line.push_str(sep);
        }
        line.push_str(item);
        empty = false;
    }
    if !empty {
        let _ = writeln!(out, "{}", cut(&line, width));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitor::fixture;

    #[test]
    fn shows_each_lane_with_headroom_per_bucket() {
        let frame = render_top(&fixture::stats(), 160);
        let lanes: [(&str, &[&str]); 2] = [
            (
                "sonnet",
                &["req 80% in 25% out 75%", "43s in", "1.50s", "$0.0871"],
            ),
            // " - ": no time to exhaustion shows as '-'.
            ("gpt-4o", &["req 99% tok 97%", "OPEN (paused 4s)", " - "]),
        ];
        for (lane, wants) in lanes {
            let line = frame.lines().find(|l| l.starts_with(lane)).unwrap();
            for want in wants {
                assert!(line.contains(want), "{lane}: missing {want:?} in\n{frame}");
            }
        }
    }

    #[test]
    fn header_has_uptime_totals_429_rate_cost_and_advice() {
        let frame = render_top(&fixture::stats(), 200);
        for want in [
            "up 1h02m04s",
            "mailbox 1",
            "requests 77",
            "completed 72",
            "merged 5",
            "retries 6",
            "429s 6 (7.50% of requests last hour, 4 last min)",
            "cost $0.1742",
            "burn $0.0246/min",
            "cache hit 3.9% (saved $0.0024)",
            "advice: p95 backoff wait is 2.5s",
            "ALERT CRITICAL circuit_open gpt-4o for 24s: circuit open",
        ] {
            assert!(frame.contains(want), "missing {want:?} in\n{frame}");
        }
    }

    #[test]
    fn keeps_every_line_within_the_width() {
        for width in [40, 60, 80, 120] {
            let frame = render_top(&fixture::stats(), width);
            for line in frame.lines() {
                assert!(
                    line.chars().count() <= width,
                    "{width}: {line:?} is {} wide",
                    line.chars().count()
                );
            }
            assert!(frame.contains("advice:"), "{frame}");
        }
    }

    #[test]
    fn formats_durations_like_top() {
        assert_eq!(duration(4.4), "4s");
        assert_eq!(duration(187.0), "3m07s");
        assert_eq!(duration(3723.0), "1h02m03s");
        assert_eq!(duration(f64::NAN), "-");
    }
}
