//! What a lane knows of the provider's prompt cache, pure over `now`: the prefixes its
//! recent requests cached (at their breakpoints), so that a request repeating one is
//! reserved only what the provider will charge against input tokens per minute.
//!
//! Anthropic does not count cache reads against ITPM. A request whose breakpoint ends a
//! prefix the lane's last responses wrote or read (same prefix hash, within the TTL)
//! will read it, so the broker reserves its estimate less that prefix: a long
//! conversation is admitted on what it adds, not on its whole history, and a history
//! larger than a minute of input quota still fits while it is cached. The reservation is
//! settled against the real usage as always, so a prefix that the provider dropped early
//! only costs one over-admitted request (whose usage shows no read, and the lane forgets
//! the prefix).
//!
//! Only for models whose cache reads are free against the input limit (Anthropic,
//! without `cache_reads_count`); OpenAI's cached tokens count toward tokens per minute.

use crate::types::Usage;
use std::collections::HashMap;
use std::time::Duration;
use tokio::time::Instant;

/// The most prefixes a lane remembers; beyond that the expired ones go, then all.
const MAX_ENTRIES: usize = 4096;

/// A prefix a request marks with a breakpoint: its hash (blocks in prompt order,
/// breakpoints left out), its estimated tokens and the breakpoint's TTL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CachedPrefix {
    pub(crate) hash: u64,
    pub(crate) tokens: u64,
    pub(crate) ttl: Duration,
}

/// Prefix hash → (cached until, tokens as the provider counts them).
#[derive(Debug, Default)]
pub(crate) struct WarmPrefixes {
    entries: HashMap<u64, (Instant, u64)>,
}

impl WarmPrefixes {
    /// The tokens (as the provider counted them) of the longest of `prefixes` still
    /// cached at `now` (0 if none): what a request ending on them will read instead of
    /// being charged.
    pub(crate) fn cached_tokens(&self, prefixes: &[CachedPrefix], now: Instant) -> u64 {
        prefixes
            .iter()
            .filter_map(|p| self.entries.get(&p.hash))
            .filter(|(until, _)| *until > now)
            .map(|(_, tokens)| *tokens)
            .max()
            .unwrap_or(0)
    }

    /// A response to a request with `prefixes` reported `usage`: with cache activity,
    /// every prefix of at least `min_tokens` (estimated) is now cached (written, or read,
    /// which refreshes it) for its TTL; without any, none of them is.
    pub(crate) fn observe(
        &mut self,
        prefixes: &[CachedPrefix],
        usage: &Usage,
        min_tokens: u64,
        now: Instant,
    ) {
        if usage.cache_read_input_tokens == 0 && usage.cache_creation_input_tokens == 0 {
            for p in prefixes {
                self.entries.remove(&p.hash);
            }
            return;
        }
        if self.entries.len() + prefixes.len() > MAX_ENTRIES {
            self.entries.retain(|_, (until, _)| *until > now);
            if self.entries.len() + prefixes.len() > MAX_ENTRIES {
                self.entries.clear();
            }
        }
        // Remember each prefix in the provider's own count: the longest one cached is
        // what the response read and wrote, the shorter ones in proportion to their
        // estimates. (The estimates err on the high side; a discount in them would
        // reserve less than the provider charges for the rest.)
        let eligible = prefixes.iter().filter(|p| p.tokens >= min_tokens);
        let Some(longest) = eligible.clone().map(|p| p.tokens).max() else {
            return;
        };
        let counted = usage.cache_read_input_tokens + usage.cache_creation_input_tokens;
        let scale = (counted as f64 / longest as f64).min(1.0);
        for p in eligible {
            let until = super::time::after(now, p.ttl);
            let tokens = (p.tokens as f64 * scale) as u64;
            self.entries.insert(p.hash, (until, tokens));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefix(hash: u64, tokens: u64) -> CachedPrefix {
        CachedPrefix {
            hash,
            tokens,
            ttl: Duration::from_secs(300),
        }
    }

    fn usage(read: u64, write: u64) -> Usage {
        Usage {
            input_tokens: 10,
            output_tokens: 10,
            cache_creation_input_tokens: write,
            cache_read_input_tokens: read,
            cache_creation_1h_input_tokens: 0,
            ..Default::default()
        }
    }

    #[test]
    fn a_prefix_written_is_read_until_its_ttl_ends() {
        let t0 = Instant::now();
        let mut w = WarmPrefixes::default();
        let first = [prefix(1, 3000), prefix(2, 3400)];
        assert_eq!(w.cached_tokens(&first, t0), 0, "nothing cached yet");
        // The provider counted 3,200 where the broker estimated 3,400.
        w.observe(&first, &usage(0, 3200), 1024, t0);
        // The next turn ends on prefix 2 and a longer one of its own.
        let next = [prefix(1, 3000), prefix(2, 3400), prefix(3, 3900)];
        assert_eq!(
            w.cached_tokens(&next, t0 + Duration::from_secs(60)),
            3200,
            "in the provider's count"
        );
        assert_eq!(
            w.cached_tokens(&first[..1], t0),
            2823,
            "3,000 x 3,200 / 3,400"
        );
        assert_eq!(w.cached_tokens(&next, t0 + Duration::from_secs(300)), 0);
    }

    #[test]
    fn short_prefixes_are_not_cached_and_a_response_without_cache_forgets() {
        let t0 = Instant::now();
        let mut w = WarmPrefixes::default();
        w.observe(
            &[prefix(1, 500), prefix(2, 3000)],
            &usage(0, 3000),
            1024,
            t0,
        );
        assert_eq!(w.cached_tokens(&[prefix(1, 500)], t0), 0);
        assert_eq!(w.cached_tokens(&[prefix(2, 3000)], t0), 3000);
        w.observe(&[prefix(2, 3000)], &usage(0, 0), 1024, t0);
        assert_eq!(
            w.cached_tokens(&[prefix(2, 3000)], t0),
            0,
            "the cache was gone"
        );
    }
}
