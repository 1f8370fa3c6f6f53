//! The [`Stats`] snapshot: every lane's figures (`Lane::stats`) summed with the
//! broker's own totals, the coalescing savings, the mailbox and the shared store.

use super::shared::SharedQuota;
use super::state::BrokerState;
use super::stats::{self, LaneStats, Stats};
use ractor::RpcReplyPort;
use tokio::time::Instant;

impl BrokerState {
    /// A `Stats` message: the snapshot, to a caller that may have stopped waiting.
    pub(crate) fn on_stats(&self, reply: RpcReplyPort<Stats>, now: Instant) {
        let _ = reply.send(self.snapshot(now));
    }

    pub(crate) fn snapshot(&self, now: Instant) -> Stats {
        let lanes: Vec<_> = self.lanes.iter().map(|l| l.stats(now)).collect();
        let counters = &self.mailbox.counters;
        let q = |p: f64| {
            if self.handling.is_empty() {
                0.0
            } else {
                self.handling.value_at_quantile(p) as f64
            }
        };
        let [backoff_p50, backoff_p95] = stats::merged_quantiles(
            self.lanes.iter().map(|l| &l.counters.backoff_wait),
            now,
            [0.5, 0.95],
        );
        let sum = |f: fn(&LaneStats) -> u64| lanes.iter().map(f).sum::<u64>();
        let limited_hour = sum(|l| l.rate_limited_last_hour);
        let requests_hour: u64 = self
            .lanes
            .iter()
            .map(|l| l.counters.recent_requests.last_hour(now))
            .sum();
        let share_429 = stats::share(limited_hour, requests_hour);
        let (quota_store, quota_store_degraded, quota_processes, quota_store_outages) =
            SharedQuota::figures(self.quota.as_ref());
        Stats {
            advice: stats::advice(
                backoff_p95,
                share_429,
                self.coalescing.merged,
                self.totals.requests,
            ),
            in_flight: lanes.iter().map(|l| l.in_flight as u64).sum(),
            queue_depth: lanes.iter().map(|l| l.queue_depth as u64).sum(),
            rate_limited_last_minute: sum(|l| l.rate_limited_last_minute),
            rate_limited_last_hour: limited_hour,
            rate_limited_share: share_429,
            overloaded: sum(|l| l.overloaded),
            server_errors: sum(|l| l.server_errors),
            backoff_wait_p50_secs: backoff_p50,
            backoff_wait_p95_secs: backoff_p95,
            input_tokens: sum(|l| l.input_tokens),
            output_tokens: sum(|l| l.output_tokens),
            cache_read_tokens: sum(|l| l.cache_read_tokens),
            cache_write_tokens: sum(|l| l.cache_write_tokens),
            cache_hit_share: stats::cache_hit_share(
                sum(|l| l.input_tokens),
                sum(|l| l.cache_read_tokens),
                sum(|l| l.cache_write_tokens),
            ),
            cache_saved_tokens: sum(|l| l.cache_saved_tokens),
            cache_saved_usd: lanes.iter().map(|l| l.cache_saved_usd).sum(),
            cost_burn_usd_per_min: lanes.iter().map(|l| l.cost_burn_usd_per_min).sum(),
            wasted_usd: lanes.iter().map(|l| l.wasted_usd).sum(),
            uptime_secs: now.saturating_duration_since(self.started).as_secs_f64(),
            mailbox_depth: counters.depth(),
            messages_received: counters.received.load(std::sync::atomic::Ordering::Acquire),
            messages_handled: counters.handled.load(std::sync::atomic::Ordering::Acquire),
            handling_p50_us: q(0.5),
            handling_p99_us: q(0.99),
            requests: self.totals.requests,
            completed: self.totals.completed,
            failed: self.totals.failed,
            refused: self.totals.refused,
            merged: self.coalescing.merged,
            merged_tokens_saved: self.coalescing.merged_tokens_saved,
            merged_usd_saved: self.coalescing.merged_usd_saved,
            retries: lanes.iter().map(|l| l.retries).sum(),
            attempts_abandoned: sum(|l| l.attempts_abandoned),
            rate_limited: lanes.iter().map(|l| l.rate_limited).sum(),
            fallbacks: self.totals.fallbacks.clone(),
            fallbacks_at_admission: self.totals.fallbacks_at_admission.clone(),
            fallback_answers: self.totals.fallback_answers,
            summaries: self.totals.summaries,
            trimmed_tokens: self.totals.trimmed_tokens,
            cost_usd: lanes.iter().map(|l| l.cost_usd).sum(),
            lanes,
            quota_store,
            quota_store_degraded,
            quota_processes,
            quota_store_outages,
            // Counted in the callers' tasks; `BrokerHandle::stats` fills them in.
            reused: 0,
            reused_tokens_saved: 0,
            reused_usd_saved: 0.0,
            // Evaluated by the alert watcher; `BrokerHandle::stats` fills them in.
            alerts: Vec::new(),
        }
    }
}
