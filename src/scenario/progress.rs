//! What a run shows: the refreshing status line while it goes and the final report
//! table. Pure functions of the figures, so they are unit-tested.

use crate::broker::Stats;
use crate::swarm::SwarmReport;
use std::fmt::Write;
use std::time::Duration;

/// One status line: agents done, completions, queue depth, in flight, the lowest
/// headroom of each busy lane, 429s, retries, merged.
pub fn status_line(stats: &Stats, done: usize, total: usize, elapsed: Duration) -> String {
    let mut headroom = String::new();
    for lane in stats
        .lanes
        .iter()
        .filter(|l| l.requests > 0 || l.queue_depth > 0)
    {
        let low = lane
            .buckets
            .iter()
            .map(|b| b.headroom_pct)
            .fold(f64::INFINITY, f64::min);
        if low.is_finite() {
            let _ = write!(headroom, " {}:{:.0}%", lane.model, low);
        }
    }
    format!(
        "[{:>5.1}s] agents {done}/{total}  completions {}  queue {}  in flight {}  429s {}  retries {}  merged {}  headroom{}",
        elapsed.as_secs_f64(),
        stats.completed,
        stats.queue_depth,
        stats.in_flight,
        stats.rate_limited,
        stats.retries,
        stats.merged,
        if headroom.is_empty() { " -".to_string() } else { headroom },
    )
}

/// The final report: one row per agent, then the totals and each lane's figures.
pub fn report_table(r: &SwarmReport) -> String {
    let mut out = String::new();
    let width = r
        .agents
        .iter()
        .map(|a| a.name.len())
        .max()
        .unwrap_or(5)
        .max(5);
    let _ = writeln!(
        out,
        "{:<width$}  {:>7}  {:>6}  {:>10}  {:>8}  {:>9}  note",
        "agent", "answers", "errors", "lower rung", "in tok", "out tok"
    );
    for a in &r.agents {
        let note = match (&a.failure, &a.last_error) {
            (Some(f), _) => format!("FAILED: {f}"),
            (None, Some(e)) => format!("last error: {e}"),
            (None, None) => String::new(),
        };
        let _ = writeln!(
            out,
            "{:<width$}  {:>7}  {:>6}  {:>10}  {:>8}  {:>9}  {note}",
            a.name, a.completions, a.errors, a.fallbacks, a.input_tokens, a.output_tokens
        );
    }
    let t = &r.totals;
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "agents {} ({} finished, {} failed)  answers {}  provider completions {}  errors {}",
        t.agents, t.agents_finished, t.agents_failed, t.answers, t.completions, t.errors
    );
    let _ = writeln!(
        out,
        "merged {}  retries {}  429s {}  529/503s {}  fallbacks {}  trimmed tokens {}",
        t.merged, t.retries, t.rate_limited, t.overloaded, t.fallbacks, t.trimmed_tokens
    );
    let _ = writeln!(
        out,
        "tokens in {} out {}  cost ${:.4}  makespan {:.1}s  elapsed {:.1}s{}",
        t.input_tokens,
        t.output_tokens,
        t.cost_usd,
        t.makespan_secs,
        t.elapsed_secs,
        if r.timed_out { "  (deadline hit)" } else { "" }
    );
    if let Some(s) = &r.stats {
        for (path, n) in &s.fallbacks {
            let _ = writeln!(out, "  fallback {path}: {n}");
        }
        for l in s.lanes.iter().filter(|l| l.requests > 0) {
            let _ = writeln!(
                out,
                "  {:<12} attempts {:>4}  completions {:>4}  retries {:>3}  429s {:>3}  529s {:>3}  queue wait p50 {:>5.2}s p95 {:>5.2}s",
                l.model,
                l.requests,
                l.completions,
                l.retries,
                l.rate_limited,
                l.status.get("529").copied().unwrap_or(0),
                l.queue_wait_p50_secs,
                l.queue_wait_p95_secs
            );
        }
    }
    if let Some(sim) = &r.sim {
        let _ = writeln!(
            out,
            "simulator: {} requests, {} answered 200, {} answered 429, {} answered 529",
            sim.total.requests,
            sim.total.status(200),
            sim.total.status(429),
            sim.total.status(529)
        );
    }
    out
}
