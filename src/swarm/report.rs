//! What a run reports: [`SwarmReport`] and its [`Totals`], the final report table and
//! the refreshing status line while a run goes. Pure functions of the figures, so they
//! are unit-tested.

use crate::agent::{AgentReport, Ending};
use crate::broker::{LaneStats, Stats};
use serde::{Deserialize, Serialize};
use std::fmt::Write;
use std::time::Duration;

/// A swarm run's outcome.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SwarmReport {
    /// Each agent's report, in the order the agents were added.
    pub agents: Vec<AgentReport>,
    /// From the swarm's start (simulator and broker included) to the report.
    pub elapsed_secs: f64,
    /// From the agents' start to the last agent's end.
    pub makespan_secs: f64,
    /// Whether the deadline cut agents that had not finished.
    pub timed_out: bool,
    /// Whether the run was interrupted (its agents still running were cut).
    #[serde(default)]
    pub interrupted: bool,
    /// The run's figures.
    pub totals: Totals,
    /// Where each provider's requests went.
    pub backends: Vec<String>,
    /// The broker's statistics at the end (`None` if it could not be asked).
    pub stats: Option<Stats>,
    /// The simulator's own counters, when the swarm ran one (`quotaswarm_sim::SimStats`
    /// serialized: the core does not know the simulator's types).
    #[serde(default)]
    pub sim: Option<serde_json::Value>,
}

impl SwarmReport {
    /// What the agent `name` returned, if it returned a `T` (see [`AgentReport::output`]).
    pub fn output<T: 'static>(&self, name: &str) -> Option<&T> {
        self.agents.iter().find(|a| a.name == name)?.output()
    }
}

/// A run's figures, as `quotaswarm run --json` prints them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    /// Agents in the run.
    pub agents: usize,
    /// Agents that finished, none of their asks failing.
    pub agents_finished: usize,
    /// Agents that finished, but some of their asks failed.
    #[serde(default)]
    pub agents_finished_with_errors: usize,
    /// Agents cut short while still running: at the deadline, by a stop or an interrupt.
    #[serde(default)]
    pub agents_cut: usize,
    /// Agents that returned an error, panicked or stopped without finishing.
    pub agents_failed: usize,
    /// Answers providers gave to agents' requests (each an HTTP 200; one answer may serve
    /// merged waiters). Summaries are not included: see `summaries`.
    pub completions: u64,
    /// Summaries the broker asked for to replace trimmed turns (trim policies with
    /// `summarize`): provider answers too, but no agent asked for them directly.
    #[serde(default)]
    pub summaries: u64,
    /// Answers agents received (completions + merged waiters).
    pub answers: u64,
    /// The part of `answers` that came from a lower rung of a ladder than its first (the
    /// sum of the report table's `lower rung` column).
    #[serde(default)]
    pub fallback_answers: u64,
    /// Requests that finally failed, as agents saw them.
    pub errors: u64,
    /// Requests attempted at providers (first attempts, retries and fallbacks).
    pub attempts: u64,
    /// Requests that joined an identical one in flight instead of being sent.
    pub merged: u64,
    /// Attempts sent again on the same model after a retryable failure.
    pub retries: u64,
    /// 429 responses received.
    pub rate_limited: u64,
    /// 529 (and 503) responses received.
    pub overloaded: u64,
    /// Moves down a ladder, of either kind: at admission (`fallbacks_at_admission`), or
    /// after a failed attempt (429, 529, retries used up, never fits) or a queue wait over
    /// the request's max wait. A request can move twice and still fail, so this may
    /// exceed `fallback_answers`.
    pub fallbacks: u64,
    /// The part of `fallbacks` decided at admission: the first rung was paused after a
    /// 429, its circuit open, or its wait longer than the request's max wait, so it was
    /// skipped without an attempt.
    #[serde(default)]
    pub fallbacks_at_admission: u64,
    /// Input tokens cut from histories by trim policies (estimated).
    pub trimmed_tokens: u64,
    /// Uncached input tokens billed by providers.
    pub input_tokens: u64,
    /// Output tokens billed by providers.
    pub output_tokens: u64,
    /// Input tokens read from the providers' prompt caches (Anthropic
    /// `cache_read_input_tokens`, OpenAI `cached_tokens`).
    #[serde(default)]
    pub cache_read_tokens: u64,
    /// Input tokens written to the providers' prompt caches (Anthropic
    /// `cache_creation_input_tokens`).
    #[serde(default)]
    pub cache_write_tokens: u64,
    /// Cache reads as a share of all input tokens (uncached, written and read), 0..1.
    #[serde(default)]
    pub cache_hit_share: f64,
    /// Input tokens that did not count against input rate limits thanks to cache reads.
    #[serde(default)]
    pub cache_saved_tokens: u64,
    /// US dollars prompt caching saved: reads at the read price instead of the input
    /// price, less the write surcharge.
    #[serde(default)]
    pub cache_saved_usd: f64,
    /// US dollars spent, at the configured prices (models without prices add nothing:
    /// see `cost_unknown_for`).
    pub cost_usd: f64,
    /// US dollars spent on attempts that failed (streams cut short), part of `cost_usd`.
    #[serde(default)]
    pub wasted_usd: f64,
    /// Models that were used but have no prices in the config: their cost is unknown.
    #[serde(default)]
    pub cost_unknown_for: Vec<String>,
    /// Times the shared quota store became unreachable during the run (each a window in
    /// which this process admitted with its local share); 0 with the memory store.
    #[serde(default)]
    pub quota_store_outages: u64,
    /// From the swarm's start to the report, in seconds.
    pub elapsed_secs: f64,
    /// From the agents' start to the last agent's end, in seconds.
    pub makespan_secs: f64,
    /// Whether the deadline cut agents that had not finished.
    #[serde(default)]
    pub timed_out: bool,
    /// Whether the run was interrupted.
    #[serde(default)]
    pub interrupted: bool,
}

impl Totals {
    /// The totals of these agent reports and the broker's statistics (without them,
    /// the provider-side figures stay 0). `timed_out` and `interrupted` stay false: they
    /// are the run's, not the reports'.
    pub fn from_parts(
        reports: &[AgentReport],
        stats: Option<&Stats>,
        elapsed: Duration,
        makespan: Duration,
    ) -> Totals {
        let count = |f: fn(Ending) -> bool| reports.iter().filter(|r| f(r.ending())).count();
        let mut t = Totals {
            agents: reports.len(),
            agents_finished: count(|e| e == Ending::Finished),
            agents_finished_with_errors: count(|e| e == Ending::FinishedWithErrors),
            agents_cut: count(|e| matches!(e, Ending::Cut(_))),
            agents_failed: count(|e| e == Ending::Failed),
            answers: reports.iter().map(|r| r.completions).sum(),
            fallback_answers: reports.iter().map(|r| r.fallbacks).sum(),
            errors: reports.iter().map(|r| r.errors).sum(),
            elapsed_secs: elapsed.as_secs_f64(),
            makespan_secs: makespan.as_secs_f64(),
            ..Totals::default()
        };
        if let Some(s) = stats {
            t.completions = s.completed;
            t.summaries = s.summaries;
            t.attempts = s.lanes.iter().map(|l| l.requests).sum();
            t.merged = s.merged;
            t.retries = s.retries;
            t.rate_limited = s.rate_limited;
            t.overloaded = s.overloaded;
            t.fallbacks = s.fallbacks.values().sum();
            t.fallbacks_at_admission = s.fallbacks_at_admission.values().sum();
            t.trimmed_tokens = s.trimmed_tokens;
            t.input_tokens = s.input_tokens;
            t.output_tokens = s.output_tokens;
            t.cache_read_tokens = s.cache_read_tokens;
            t.cache_write_tokens = s.cache_write_tokens;
            t.cache_hit_share = s.cache_hit_share;
            t.cache_saved_tokens = s.cache_saved_tokens;
            t.cache_saved_usd = s.cache_saved_usd;
            t.cost_usd = s.cost_usd;
            t.wasted_usd = s.wasted_usd;
            t.quota_store_outages = s.quota_store_outages;
            t.cost_unknown_for = s
                .lanes
                .iter()
                .filter(|l| !l.priced && l.requests > 0)
                .map(|l| l.model.clone())
                .collect();
        }
        t
    }

    /// Whether every agent finished and no ask failed.
    pub fn is_clean(&self) -> bool {
        self.agents_finished == self.agents && self.errors == 0
    }
}

/// One status line: agents done, completions, queue depth, in flight, the lowest
/// headroom of each busy lane, 429s, retries, merged; and, while a shared quota store is
/// unreachable, that alert.
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
    ) + if stats.quota_store_degraded {
        "  QUOTA STORE UNREACHABLE: local share"
    } else {
        ""
    }
}

/// The totals' cost: `cost $0.0123` (with what failed attempts wasted, when anything),
/// `cost unknown` when no model used has prices, or the known part plus the models
/// whose cost is unknown.
fn cost_text(t: &Totals) -> String {
    let wasted = if t.wasted_usd > 0.0 {
        format!(" (wasted on failed attempts ${:.4})", t.wasted_usd)
    } else {
        String::new()
    };
    if t.cost_unknown_for.is_empty() {
        format!("cost ${:.4}{wasted}", t.cost_usd)
    } else if t.cost_usd > 0.0 {
        format!(
            "cost ${:.4}{wasted} + unknown for {} (no prices)",
            t.cost_usd,
            t.cost_unknown_for.join(", ")
        )
    } else {
        format!(
            "cost unknown ({} has no prices)",
            t.cost_unknown_for.join(", ")
        )
    }
}

/// A lane's limits in effect per minute, by config key (`rpm`, `itpm`, `otpm` or
/// `tpm`), from its buckets.
pub fn lane_limits(l: &LaneStats) -> Vec<(&'static str, f64)> {
    l.buckets
        .iter()
        .filter_map(|b| {
            let key = match b.bucket.as_str() {
                "requests" => "rpm",
                "input_tokens" => "itpm",
                "output_tokens" => "otpm",
                "tokens" => "tpm",
                _ => return None,
            };
            Some((key, b.limit_per_min))
        })
        .collect()
}

/// `limits server: rpm 200 itpm 120000 otpm 2000`: a lane's limits in effect and where
/// they come from (see [`LaneStats::limit_source`]).
fn limits_text(l: &LaneStats) -> String {
    let mut out = format!("limits {}:", l.limit_source);
    for (key, limit) in lane_limits(l) {
        let _ = write!(out, " {key} {limit:.0}");
    }
    out
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
            (Some(f), _) if a.cut.is_some() => f.clone(),
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
    let summaries = if t.summaries > 0 {
        format!("  summaries {}", t.summaries)
    } else {
        String::new()
    };
    let _ = writeln!(
        out,
        "agents {} ({} finished, {} finished with errors, {} cut, {} failed)  answers {} ({} from a lower rung)  provider completions {}{summaries}  errors {}",
        t.agents,
        t.agents_finished,
        t.agents_finished_with_errors,
        t.agents_cut,
        t.agents_failed,
        t.answers,
        t.fallback_answers,
        t.completions,
        t.errors
    );
    let _ = writeln!(
        out,
        "merged {}  retries {}  429s {}  529/503s {}  trimmed tokens {}",
        t.merged, t.retries, t.rate_limited, t.overloaded, t.trimmed_tokens
    );
    if t.fallbacks > 0 {
        let _ = writeln!(
            out,
            "moves down a ladder {}: {} at admission (rung paused, open or too slow), {} after a failure or a long wait",
            t.fallbacks,
            t.fallbacks_at_admission,
            t.fallbacks.saturating_sub(t.fallbacks_at_admission)
        );
    }
    let _ = writeln!(
        out,
        "tokens in {} out {}  {}  makespan {:.1}s  elapsed {:.1}s{}",
        t.input_tokens,
        t.output_tokens,
        cost_text(t),
        t.makespan_secs,
        t.elapsed_secs,
        match (r.interrupted, r.timed_out) {
            (true, _) => "  (interrupted)",
            (false, true) => "  (deadline hit)",
            (false, false) => "",
        }
    );
    if t.cache_read_tokens + t.cache_write_tokens > 0 {
        let _ = writeln!(
            out,
            "prompt cache: hit {:.1}% of input tokens (read {}, written {})  saved {} tokens of input limits, ${:.4}",
            t.cache_hit_share * 100.0,
            t.cache_read_tokens,
            t.cache_write_tokens,
            t.cache_saved_tokens,
            t.cache_saved_usd
        );
    }
    if let Some(s) = &r.stats {
        for (path, n) in &s.fallbacks {
            let at_admission = s.fallbacks_at_admission.get(path).copied().unwrap_or(0);
            let _ = writeln!(out, "  moved {path}: {n} ({at_admission} at admission)");
        }
        for l in s.lanes.iter().filter(|l| l.requests > 0) {
            let cost = if l.priced {
                format!("cost ${:.4}", l.cost_usd)
            } else {
                "cost unknown".to_string()
            };
            let cache = if l.cache_read_tokens + l.cache_write_tokens > 0 {
                format!("  cache hit {:.1}%", l.cache_hit_share * 100.0)
            } else {
                String::new()
            };
            let _ = writeln!(
                out,
                "  {:<12} attempts {:>4}  completions {:>4}  retries {:>3}  429s {:>3}  529s {:>3}  queue wait p50 {:>5.2}s p95 {:>5.2}s  {}  {cost}{cache}",
                l.model,
                l.requests,
                l.completions,
                l.retries,
                l.rate_limited,
                l.status.get("529").copied().unwrap_or(0),
                l.queue_wait_p50_secs,
                l.queue_wait_p95_secs,
                limits_text(l)
            );
        }
    }
    if let Some(sim) = &r.sim {
        let total = &sim["total"];
        let status = |s: &str| total["statuses"][s].as_u64().unwrap_or(0);
        let _ = writeln!(
            out,
            "simulator: {} requests, {} answered 200, {} answered 429, {} answered 529",
            total["requests"].as_u64().unwrap_or(0),
            status("200"),
            status("429"),
            status("529")
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::Cut;

    fn agent(f: impl FnOnce(&mut AgentReport)) -> AgentReport {
        let mut r = AgentReport::new("a");
        f(&mut r);
        r
    }

    #[test]
    fn totals_tell_clean_finishes_from_errors_cuts_and_failures() {
        let reports = [
            agent(|r| r.finished = true),
            agent(|r| {
                r.finished = true;
                r.errors = 3;
            }),
            agent(|r| r.cut = Some(Cut::Deadline)),
            agent(|r| {
                r.cut = Some(Cut::Interrupted);
                r.finished = true;
            }),
            agent(|r| r.failure = Some("gave up".into())),
            agent(|_| {}),
        ];
        let t = Totals::from_parts(&reports, None, Duration::ZERO, Duration::ZERO);
        assert_eq!(t.agents, 6);
        assert_eq!(t.agents_finished, 1);
        assert_eq!(t.agents_finished_with_errors, 1);
        assert_eq!(t.agents_cut, 2);
        assert_eq!(t.agents_failed, 2);
        assert_eq!(t.errors, 3);
        assert!(!t.is_clean());
    }

    #[test]
    fn only_finishes_without_errors_are_clean() {
        let done = agent(|r| r.finished = true);
        let t = Totals::from_parts(&[done.clone(), done], None, Duration::ZERO, Duration::ZERO);
        assert!(t.is_clean());
        let failed_ask = agent(|r| {
            r.finished = true;
            r.errors = 1;
        });
        let t = Totals::from_parts(&[failed_ask], None, Duration::ZERO, Duration::ZERO);
        assert!(!t.is_clean());
    }

    #[test]
    fn the_table_tells_answers_from_a_lower_rung_apart_from_moves_down_a_ladder() {
        // Broker: 72 completions and 1 summary; opus->sonnet moved twice, once at admission.
        let stats = crate::monitor::fixture::stats();
        let mut agent = AgentReport::new("a");
        agent.completions = 3;
        agent.fallbacks = 1;
        agent.finished = true;
        let secs = Duration::from_secs(2);
        let totals = Totals::from_parts(std::slice::from_ref(&agent), Some(&stats), secs, secs);
        assert_eq!(totals.answers, 3);
        assert_eq!(totals.fallback_answers, 1);
        assert_eq!((totals.fallbacks, totals.fallbacks_at_admission), (2, 1));
        assert_eq!((totals.completions, totals.summaries), (72, 1));
        let report = SwarmReport {
            agents: vec![agent],
            elapsed_secs: 2.0,
            makespan_secs: 2.0,
            timed_out: false,
            interrupted: false,
            totals,
            backends: Vec::new(),
            stats: Some(stats),
            sim: None,
        };
        let table = report_table(&report);
        println!("{table}");
        assert!(table.contains("answers 3 (1 from a lower rung)"), "{table}");
        assert!(
            table.contains("provider completions 72  summaries 1"),
            "{table}"
        );
        assert!(
            table.contains("moves down a ladder 2: 1 at admission"),
            "{table}"
        );
        assert!(
            table.contains("moved opus->sonnet: 2 (1 at admission)"),
            "{table}"
        );
        assert!(
            table.contains("prompt cache: hit 3.9% of input tokens (read 1000, written 500)  saved 1000 tokens of input limits, $0.0024"),
            "{table}"
        );
        assert!(table.contains("cache hit 3.9%"), "{table}");
        assert!(
            table.contains("limits server: rpm 50 itpm 30000 otpm 8000"),
            "{table}"
        );
        let json = serde_json::to_value(&report.totals).unwrap();
        assert_eq!(json["cache_read_tokens"], 1000);
        assert_eq!(json["cache_write_tokens"], 500);
    }
}
