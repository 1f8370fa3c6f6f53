//! Prompt caching: which prefixes of a request are cached, read and written, per key and
//! model, pure over `now`. Both vendors cache prompt prefixes per organization and
//! report reads and writes in the usage, which changes what a request costs and what it
//! charges to the limits; the broker's accounting is only tested if the simulator does
//! the same.
//!
//! A request is cut into blocks in prompt order (Anthropic: tools → system → messages,
//! one block per tool, system block and content block; OpenAI: the tools, then one block
//! per message). Each block boundary has a prefix hash (chained over the blocks before
//! it, `cache_control` left out) and the prefix's token count (the same counting as
//! [`super::tokens`], so the prefixes add up to the request's input tokens).
//!
//! Anthropic: a prefix is cached at each `cache_control` breakpoint (at most 4; a
//! top-level `cache_control` adds one on the last block) for its TTL (5 min, or 1 h with
//! `"ttl": "1h"`), if it is at least the model's minimum cacheable length. A read is the
//! longest cached prefix found at a breakpoint or up to 20 blocks before one; a read
//! refreshes the entry's TTL. The write is what the longest eligible breakpoint adds
//! beyond the read, split by TTL. Writes become readable only when the response that made
//! them is sent ([`CacheStore::commit`]): parallel first requests all pay the write.
//!
//! OpenAI: automatic; a prompt of at least 1,024 tokens caches every message prefix of
//! at least 1,024 tokens for 5 minutes (refreshed by a read); `cached_tokens` is the
//! longest cached prefix, rounded down to 1,024 + a multiple of 128.

use super::reply::fnv1a;
use super::tokens::{self, PER_MESSAGE, PRIMING};
use serde_json::Value;
use std::collections::HashMap;
use std::time::Duration;
use tokio::time::Instant;

/// At most this many `cache_control` breakpoints per request.
pub(super) const MAX_BREAKPOINTS: usize = 4;
/// How far before a breakpoint the service looks for a cached prefix, in blocks.
const LOOKBACK_BLOCKS: usize = 20;
/// OpenAI caches prompts from this length on, in steps of [`OPENAI_STEP`].
const OPENAI_MIN: u64 = 1024;
const OPENAI_STEP: u64 = 128;
const FIVE_MINUTES: Duration = Duration::from_secs(300);
const ONE_HOUR: Duration = Duration::from_secs(3600);

/// A cache entry's lifetime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ttl {
    FiveMinutes,
    OneHour,
}

impl Ttl {
    fn of(cache_control: &Value) -> Ttl {
        match cache_control.get("ttl").and_then(Value::as_str) {
            Some("1h") => Ttl::OneHour,
            _ => Ttl::FiveMinutes,
        }
    }

    fn duration(self) -> Duration {
        match self {
            Ttl::FiveMinutes => FIVE_MINUTES,
            Ttl::OneHour => ONE_HOUR,
        }
    }
}

/// The block boundaries of one request: prefix hash and (scaled) prefix tokens after
/// each block, and the breakpoints (boundary index, TTL).
#[derive(Debug, Clone, Default)]
pub(super) struct Prefixes {
    pub boundaries: Vec<(u64, u64)>,
    pub breakpoints: Vec<(usize, Ttl)>,
}

/// Builds [`Prefixes`] block by block.
struct Chain {
    hash: u64,
    raw: usize,
    factor: f64,
    out: Prefixes,
}

impl Chain {
    fn new(factor: f64) -> Chain {
        Chain {
            hash: 0xcbf2_9ce4_8422_2325,
            raw: PRIMING,
            factor,
            out: Prefixes::default(),
        }
    }

    /// Appends a block: its identity (hashed), its raw tokens, its `cache_control`.
    fn push(&mut self, identity: &Value, raw: usize, cache_control: Option<&Value>) {
        let mut bytes = self.hash.to_le_bytes().to_vec();
        bytes.extend_from_slice(identity.to_string().as_bytes());
        self.hash = fnv1a(&bytes);
        self.raw += raw;
        self.out
            .boundaries
            .push((self.hash, tokens::scale(self.raw, self.factor)));
        if let Some(cc) = cache_control.filter(|c| !c.is_null()) {
            self.out
                .breakpoints
                .push((self.out.boundaries.len() - 1, Ttl::of(cc)));
        }
    }
}

/// A block without its `cache_control`, as the cache identifies it.
fn identity(block: &Value) -> Value {
    let mut b = block.clone();
    if let Some(o) = b.as_object_mut() {
        o.remove("cache_control");
    }
    b
}

/// The prefixes of an Anthropic Messages body. A top-level `cache_control` adds a
/// breakpoint on the last block unless it has one.
pub(super) fn anthropic(body: &Value, factor: f64) -> Prefixes {
    let bpe = tokens::cl100k();
    let mut chain = Chain::new(factor);
    for tool in body
        .get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let raw = tokens::value_tokens(bpe, tool) + PER_MESSAGE;
        chain.push(&identity(tool), raw, tool.get("cache_control"));
    }
    match body.get("system") {
        Some(Value::Array(blocks)) => {
            for b in blocks {
                let raw = tokens::anthropic_block(bpe, b);
                chain.push(&identity(b), raw, b.get("cache_control"));
            }
        }
        Some(s @ Value::String(_)) => chain.push(s, tokens::anthropic_content(bpe, s), None),
        _ => {}
    }
    for m in body
        .get("messages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let role = m.get("role").cloned().unwrap_or(Value::Null);
        chain.push(&role, PER_MESSAGE, None);
        match m.get("content") {
            Some(Value::Array(blocks)) => {
                for b in blocks {
                    let raw = tokens::anthropic_block(bpe, b);
                    chain.push(&identity(b), raw, b.get("cache_control"));
                }
            }
            Some(c) => chain.push(c, tokens::anthropic_content(bpe, c), None),
            None => {}
        }
    }
    let mut out = chain.out;
    if let Some(cc) = body.get("cache_control").filter(|c| !c.is_null()) {
        let last = out.boundaries.len().saturating_sub(1);
        if !out.boundaries.is_empty() && !out.breakpoints.iter().any(|(i, _)| *i == last) {
            out.breakpoints.push((last, Ttl::of(cc)));
        }
    }
    out
}

/// How many `cache_control` marks a body carries (tools, system, message blocks and the
/// top level), for the 4-breakpoint rule.
pub(super) fn anthropic_marks(body: &Value) -> usize {
    let marked = |b: &Value| b.get("cache_control").is_some_and(|c| !c.is_null());
    let list = |v: Option<&Value>| {
        v.and_then(Value::as_array)
            .map(|a| a.iter().filter(|b| marked(b)).count())
            .unwrap_or(0)
    };
    let messages: usize = body
        .get("messages")
        .and_then(Value::as_array)
        .map(|ms| ms.iter().map(|m| list(m.get("content"))).sum())
        .unwrap_or(0);
    list(body.get("tools")) + list(body.get("system")) + messages + usize::from(marked(body))
}

/// The prefixes of an OpenAI Chat Completions body: the tools, then each message.
pub(super) fn openai(model: &str, body: &Value, factor: f64) -> Prefixes {
    let bpe = tokens::openai_encoding(model);
    let mut chain = Chain::new(factor);
    if let Some(tools) = body.get("tools").filter(|t| !t.is_null()) {
        chain.push(tools, tokens::tools_tokens(bpe, body), None);
    }
    for m in body
        .get("messages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        chain.push(m, tokens::openai_message(bpe, m), None);
    }
    chain.out
}

/// The minimum cacheable prefix of an Anthropic model (the real API silently skips
/// caching a shorter prefix, per model), unless configured.
pub(super) fn min_cacheable(model: &str, configured: &HashMap<String, u64>) -> u64 {
    if let Some(n) = configured.get(model) {
        return *n;
    }
    let big = ["opus-4-5", "opus-4-6", "haiku-4-5"];
    if big.iter().any(|m| model.contains(m)) {
        4096
    } else if model.contains("haiku-3") || model.contains("3-haiku") || model.contains("3-5-haiku")
    {
        2048
    } else {
        1024
    }
}

/// What caching did for one request.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Outcome {
    /// Tokens read from the cache.
    pub read: u64,
    /// Tokens written at a 5-minute and at a 1-hour TTL.
    pub write_5m: u64,
    pub write_1h: u64,
    /// Entries to store when the response is sent: (prefix hash, tokens, TTL).
    pub pending: Vec<(u64, u64, Ttl)>,
}

impl Outcome {
    pub fn write(&self) -> u64 {
        self.write_5m + self.write_1h
    }
}

#[derive(Debug, Clone)]
struct Entry {
    ttl: Duration,
    expires: Instant,
}

/// Cached prefixes by (key hash, model, prefix hash).
#[derive(Debug, Default)]
pub(super) struct CacheStore {
    entries: HashMap<(u64, String, u64), Entry>,
}

impl CacheStore {
    /// Reads (and refreshes) the longest live entry among `hashes`, returning its index.
    fn read_longest(
        &mut self,
        key: u64,
        model: &str,
        candidates: impl Iterator<Item = (usize, u64)>,
        now: Instant,
    ) -> Option<usize> {
        let mut best: Option<(usize, u64)> = None;
        for (i, hash) in candidates {
            let live = self
                .entries
                .get(&(key, model.to_string(), hash))
                .is_some_and(|e| e.expires > now);
            if live && best.is_none_or(|(b, _)| i > b) {
                best = Some((i, hash));
            }
        }
        let (i, hash) = best?;
        if let Some(e) = self.entries.get_mut(&(key, model.to_string(), hash)) {
            e.expires = now + e.ttl;
        }
        Some(i)
    }

    /// An Anthropic request's read and write, given its prefixes and the model's
    /// minimum cacheable length.
    pub fn anthropic(
        &mut self,
        key: u64,
        model: &str,
        p: &Prefixes,
        min: u64,
        now: Instant,
    ) -> Outcome {
        let tokens_at = |i: usize| p.boundaries.get(i).map(|b| b.1).unwrap_or(0);
        let candidates = p.breakpoints.iter().flat_map(|(bp, _)| {
            let from = bp.saturating_sub(LOOKBACK_BLOCKS);
            (from..=*bp).filter_map(|i| p.boundaries.get(i).map(|b| (i, b.0)))
        });
        let read_at =
            self.read_longest(key, model, candidates.collect::<Vec<_>>().into_iter(), now);
        let read = read_at.map(tokens_at).unwrap_or(0);
        let mut eligible: Vec<(usize, Ttl)> = p
            .breakpoints
            .iter()
            .copied()
            .filter(|(i, _)| tokens_at(*i) >= min && tokens_at(*i) > read)
            .collect();
        eligible.sort_by_key(|(i, _)| *i);
        let mut out = Outcome {
            read,
            ..Outcome::default()
        };
        let mut covered = read;
        for (i, ttl) in eligible {
            let t = tokens_at(i);
            let added = t.saturating_sub(covered);
            covered = covered.max(t);
            match ttl {
                Ttl::FiveMinutes => out.write_5m += added,
                Ttl::OneHour => out.write_1h += added,
            }
            out.pending.push((p.boundaries[i].0, t, ttl));
        }
        out
    }

    /// An OpenAI request's cached tokens (nothing is written: every prefix of at least
    /// 1,024 tokens is queued in `pending`).
    pub fn openai(&mut self, key: u64, model: &str, p: &Prefixes, now: Instant) -> Outcome {
        let total = p.boundaries.last().map(|b| b.1).unwrap_or(0);
        if total < OPENAI_MIN {
            return Outcome::default();
        }
        let candidates = p.boundaries.iter().enumerate().map(|(i, b)| (i, b.0));
        let read = self
            .read_longest(key, model, candidates, now)
            .and_then(|i| p.boundaries.get(i))
            .map(|b| OPENAI_MIN + (b.1.min(total) - OPENAI_MIN) / OPENAI_STEP * OPENAI_STEP)
            .unwrap_or(0);
        let pending = p
            .boundaries
            .iter()
            .filter(|b| b.1 >= OPENAI_MIN)
            .map(|b| (b.0, b.1, Ttl::FiveMinutes))
            .collect();
        Outcome {
            read,
            pending,
            ..Outcome::default()
        }
    }

    /// Stores entries once the response that wrote them is sent; drops expired ones.
    pub fn commit(&mut self, key: u64, model: &str, pending: &[(u64, u64, Ttl)], now: Instant) {
        if pending.is_empty() {
            return;
        }
        self.entries.retain(|_, e| e.expires > now);
        for (hash, _, ttl) in pending {
            let ttl = ttl.duration();
            let e = self
                .entries
                .entry((key, model.to_string(), *hash))
                .or_insert(Entry { ttl, expires: now });
            e.ttl = e.ttl.max(ttl);
            e.expires = e.expires.max(now + ttl);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Now, and a store with nothing cached.
    fn empty_store() -> (Instant, CacheStore) {
        (Instant::now(), CacheStore::default())
    }

    const M: &str = "claude-sonnet-4-5";

    fn long_system(ttl: Option<&str>) -> Value {
        let mut cc = json!({"type": "ephemeral"});
        if let Some(t) = ttl {
            cc["ttl"] = json!(t);
        }
        json!({"model": M, "max_tokens": 10,
               "system": [{"type": "text", "text": "rules ".repeat(1500), "cache_control": cc}],
               "messages": [{"role": "user", "content": "hi"}]})
    }

    #[test]
    fn prefixes_add_up_to_the_input_tokens() {
        let mut b = long_system(None);
        b["tools"] = json!([{"name": "f", "input_schema": {"type": "object"}}]);
        b["messages"] = json!([{"role": "user", "content": [{"type": "text", "text": "a b c"}]},
                               {"role": "assistant", "content": "ok"}]);
        let p = anthropic(&b, 1.1);
        assert_eq!(
            p.boundaries.last().unwrap().1,
            tokens::anthropic_input(&b, 1.1)
        );
        assert_eq!(p.breakpoints, vec![(1, Ttl::FiveMinutes)]);
        let o = json!({"messages": [{"role": "system", "content": "x y"}, {"role": "user", "content": "z"}]});
        assert_eq!(
            openai("gpt-4o", &o, 1.0).boundaries.last().unwrap().1,
            tokens::openai_prompt("gpt-4o", &o, 1.0)
        );
    }

    #[test]
    fn writes_then_reads_after_commit_and_expires_after_the_ttl() {
        let (t0, mut s) = empty_store();
        let p = anthropic(&long_system(None), 1.0);
        let first = s.anthropic(1, M, &p, 1024, t0);
        assert_eq!(first.read, 0);
        assert_eq!(first.write_5m, p.boundaries[0].1);
        // Not committed yet: a parallel request pays the write too.
        assert_eq!(s.anthropic(1, M, &p, 1024, t0).read, 0);
        s.commit(1, M, &first.pending, t0);
        let second = s.anthropic(1, M, &p, 1024, t0 + Duration::from_secs(10));
        assert_eq!((second.read, second.write()), (p.boundaries[0].1, 0));
        // Another key has its own cache.
        assert_eq!(s.anthropic(2, M, &p, 1024, t0).read, 0);
        // The read refreshed the entry: 5 min after it, it is gone.
        assert!(
            s.anthropic(1, M, &p, 1024, t0 + Duration::from_secs(300))
                .read
                > 0
        );
        assert_eq!(
            s.anthropic(1, M, &p, 1024, t0 + Duration::from_secs(601))
                .read,
            0
        );
    }

    #[test]
    fn one_hour_entries_outlive_five_minutes_and_are_reported_apart() {
        let (t0, mut s) = empty_store();
        let p = anthropic(&long_system(Some("1h")), 1.0);
        let first = s.anthropic(1, M, &p, 1024, t0);
        assert_eq!((first.write_5m, first.write_1h > 0), (0, true));
        s.commit(1, M, &first.pending, t0);
        assert!(
            s.anthropic(1, M, &p, 1024, t0 + Duration::from_secs(3000))
                .read
                > 0
        );
    }

    #[test]
    fn short_prefixes_are_not_cached() {
        let (t0, mut s) = empty_store();
        let p = anthropic(&long_system(None), 1.0);
        let o = s.anthropic(1, M, &p, 4096, t0);
        assert_eq!((o.read, o.write(), o.pending.len()), (0, 0, 0));
        assert_eq!(min_cacheable("claude-haiku-4-5", &HashMap::new()), 4096);
        assert_eq!(min_cacheable(M, &HashMap::new()), 1024);
    }

    #[test]
    fn a_later_breakpoint_reads_an_earlier_prefix_within_twenty_blocks() {
        let (t0, mut s) = empty_store();
        let mut turn1 = long_system(None);
        turn1["system"][0]
            .as_object_mut()
            .unwrap()
            .remove("cache_control");
        turn1["messages"] = json!([{"role": "user", "content": [
            {"type": "text", "text": "q1", "cache_control": {"type": "ephemeral"}}]}]);
        let p1 = anthropic(&turn1, 1.0);
        let o1 = s.anthropic(1, M, &p1, 1024, t0);
        s.commit(1, M, &o1.pending, t0);
        let mut turn2 = turn1.clone();
        turn2["messages"][0]["content"][0]
            .as_object_mut()
            .unwrap()
            .remove("cache_control");
        turn2["messages"] = json!([turn2["messages"][0].clone(),
            {"role": "assistant", "content": "a1"},
            {"role": "user", "content": [{"type": "text", "text": "q2", "cache_control": {"type": "ephemeral"}}]}]);
        let p2 = anthropic(&turn2, 1.0);
        let o2 = s.anthropic(1, M, &p2, 1024, t0);
        assert_eq!(o2.read, p1.boundaries.last().unwrap().1);
        assert_eq!(o2.write(), p2.boundaries.last().unwrap().1 - o2.read);
    }

    #[test]
    fn counts_marks_and_adds_a_top_level_breakpoint() {
        let mut b = long_system(None);
        b["cache_control"] = json!({"type": "ephemeral"});
        assert_eq!(anthropic_marks(&b), 2);
        assert_eq!(anthropic(&b, 1.0).breakpoints.len(), 2);
    }

    #[test]
    fn openai_caches_message_prefixes_in_steps_of_128() {
        let (t0, mut s) = empty_store();
        let long = json!({"messages": [{"role": "system", "content": "rules ".repeat(1500)},
                                       {"role": "user", "content": "q1"}]});
        let p = openai("gpt-4o", &long, 1.0);
        let first = s.openai(1, "gpt-4o", &p, t0);
        assert_eq!(first.read, 0);
        s.commit(1, "gpt-4o", &first.pending, t0);
        let mut next = long.clone();
        next["messages"][1]["content"] = json!("q2");
        let p2 = openai("gpt-4o", &next, 1.0);
        let read = s.openai(1, "gpt-4o", &p2, t0).read;
        assert!(
            read >= 1024 && (read - 1024).is_multiple_of(128) && read <= p.boundaries[0].1,
            "{read}"
        );
    }
}
