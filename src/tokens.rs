//! Pre-flight token estimation, run in the caller's task (never inside the broker).
//!
//! - tiktoken-rs with the encoding of the target model family (`o200k_base` for gpt-4o,
//!   4.1, 5 and the o-series; `cl100k_base` for gpt-4/3.5 and, as a stand-in, Claude),
//!   with the cookbook's per-message overheads (the figures OpenAI publishes for its
//!   chat format; our own tests pin them to the cookbook's example);
//! - per-message counts cached by content hash in a bounded concurrent cache
//!   (`quick_cache`, capacity `[broker] estimator_cache_entries`), so a growing history
//!   costs only its new messages and a long-running swarm's memory stays flat: old
//!   entries are evicted, and an evicted message is merely counted again;
//! - a conversation's own memory of its counts ([`MessageCounts`], which a
//!   [`History`](crate::agent::History) shares with its requests): one more turn then
//!   reads only its new messages, not the whole history's text again;
//! - a safety margin on the system prompt and tool schemas;
//! - a per-model calibration factor learned from the `usage` responses report: the
//!   largest provider/estimate ratio of the last [`CALIBRATION_WINDOW`] responses. It
//!   rises at once when the provider counts more than we do and comes down only as high
//!   ratios age out, so estimates err on the safe side even though the ratio varies from
//!   one request to the next (a swarm runs at the bucket's edge, where one
//!   under-estimate is one 429).

use crate::types::{CompletionRequest, ContentBlock, Message, Role};

mod ascii;
use dashmap::DashMap;
use quick_cache::sync::Cache;
#[cfg(test)]
use std::sync::atomic::{AtomicU64, Ordering};

use crate::types::counts;
pub use crate::types::MessageCounts;
use std::collections::VecDeque;

/// How many recent responses calibration remembers per model.
pub const CALIBRATION_WINDOW: usize = 16;

/// The estimator cache's default capacity, in counts (`[broker] estimator_cache_entries`).
pub const DEFAULT_CACHE_ENTRIES: usize = 100_000;
use std::hash::{Hash, Hasher};
use tiktoken_rs::CoreBPE;

/// A tiktoken tokenizer family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Encoding {
    /// `cl100k_base`: gpt-4, gpt-3.5, and the stand-in for Claude models.
    Cl100k,
    /// `o200k_base`: gpt-4o, 4.1, 4.5, 5 and the o-series (and unknown models).
    O200k,
}

impl Encoding {
    /// This encoding's place in a conversation's remembered counts
    /// ([`MessageCounts`]), below [`counts::SLOTS`].
    fn slot(self) -> usize {
        match self {
            Encoding::Cl100k => 0,
            Encoding::O200k => 1,
        }
    }

    /// The encoding for a wire model name. Claude's tokenizer is not public: cl100k is
    /// the closest public one, and the calibration from `usage` covers the difference.
    pub fn for_model(model: &str) -> Encoding {
        let m = model.strip_prefix("ft:").unwrap_or(model);
        if m.starts_with("gpt-4o")
            || m.starts_with("chatgpt-4o")
            || m.starts_with("gpt-4.1")
            || m.starts_with("gpt-4.5")
            || m.starts_with("gpt-5")
            || m.starts_with("o1")
            || m.starts_with("o3")
            || m.starts_with("o4")
        {
            Encoding::O200k
        } else if m.starts_with("gpt-4")
            || m.starts_with("gpt-3.5")
            || m.starts_with("gpt-35")
            || m.starts_with("claude")
        {
            Encoding::Cl100k
        } else {
            Encoding::O200k
        }
    }

    fn bpe(self) -> &'static CoreBPE {
        match self {
            Encoding::Cl100k => tiktoken_rs::cl100k_base_singleton(),
            Encoding::O200k => tiktoken_rs::o200k_base_singleton(),
        }
    }

    /// Tokens of `text` on its own (no message overheads). The tokenizer's tables are
    /// loaded on first use.
    pub fn count(self, text: &str) -> u64 {
        if text.is_empty() {
            return 0;
        }
        if self == Encoding::Cl100k {
            if let Some(n) = ascii::count_cl100k(text) {
                return n;
            }
        }
        self.bpe().count_ordinary(text) as u64
    }
}

/// Reply priming, per message and per name overheads from the OpenAI cookbook.
const REPLY_PRIMING: u64 = 3;
/// Tokens each message costs on top of its content (role and separators, per the
/// OpenAI cookbook).
pub const PER_MESSAGE: u64 = 3;

/// Pre-flight input-token estimates: tiktoken counts with a per-message cache, a safety
/// margin on fixed parts, and a per-model calibration factor learned from the usage that
/// responses report.
///
/// Thread-safe; one is shared by every caller (through the broker handle, see
/// [`BrokerHandle::estimator`](crate::BrokerHandle::estimator)) and the broker (for
/// calibration).
#[derive(Debug)]
pub struct Estimator {
    /// Token counts by (encoding, content hash); bounded, so memory does not grow with
    /// the number of distinct messages a run has seen.
    cache: Cache<(Encoding, u64), u64>,
    /// The last [`CALIBRATION_WINDOW`] ratios per config model: bounded by the number of
    /// configured models (the broker observes only those) times the window.
    calibration: DashMap<String, VecDeque<f64>>,
    /// Extra fraction added to system prompt and tool schema counts.
    margin: f64,
    /// How many messages' content has been read (hashed or counted), so tests can show
    /// which estimates read old messages again.
    #[cfg(test)]
    messages_read: AtomicU64,
}

/// The factor a model starts with before any response calibrates it: 1 where tiktoken
/// is the model's own tokenizer, 1.2 for Claude (its tokenizer is not public and counts
/// more than cl100k on English text), so the first requests err on the safe side.
fn initial_factor(encoding_is_exact: bool) -> f64 {
    if encoding_is_exact {
        1.0
    } else {
        1.2
    }
}

impl Estimator {
    /// An estimator with nothing cached or learned. `margin` is the fraction added to
    /// the system prompt and tool schemas (`[broker] safety_margin`, e.g. 0.05); the
    /// cache holds at most [`DEFAULT_CACHE_ENTRIES`] counts.
    pub fn new(margin: f64) -> Self {
        Self::with_cache_entries(margin, DEFAULT_CACHE_ENTRIES)
    }

    /// Like [`Estimator::new`], with a cache of at most `entries` counts
    /// (`[broker] estimator_cache_entries`); the least useful are evicted beyond that.
    pub fn with_cache_entries(margin: f64, entries: usize) -> Self {
        Estimator {
            cache: Cache::new(entries.max(1)),
            calibration: DashMap::new(),
            margin,
            #[cfg(test)]
            messages_read: AtomicU64::new(0),
        }
    }

    /// Raw (uncalibrated) input tokens of `req` in `encoding`: messages with their
    /// overheads, plus system prompt and tools with the margin.
    pub fn raw_input(&self, encoding: Encoding, req: &CompletionRequest) -> u64 {
        let total = REPLY_PRIMING + self.messages_input(encoding, req);
        let mut fixed = 0;
        if !req.system.is_empty() {
            fixed += PER_MESSAGE;
            for b in &req.system {
                fixed += match b {
                    ContentBlock::Text { text, .. } => self.cached_count(encoding, text),
                    other => block_tokens(encoding, other),
                };
            }
        }
        for t in &req.tools {
            fixed += self.cached_count(encoding, &t.name)
                + t.description
                    .as_deref()
                    .map_or(0, |d| self.cached_count(encoding, d))
                + self.cached_count(encoding, &t.input_schema.to_string())
                + 7;
        }
        total + (fixed as f64 * (1.0 + self.margin)).ceil() as u64
    }

    /// Tokens of `req`'s messages with their overheads: from the conversation's
    /// remembered counts where it carries them (`options.counts`), so an old message's
    /// text is not read again; from the shared cache otherwise.
    fn messages_input(&self, encoding: Encoding, req: &CompletionRequest) -> u64 {
        let messages = &req.messages;
        let overheads = PER_MESSAGE * messages.len() as u64;
        let (Some(counts), Some(first)) = (&req.options.counts, messages.first()) else {
            return overheads
                + messages
                    .iter()
                    .map(|m| self.message_tokens(encoding, m))
                    .sum::<u64>();
        };
        let mut memo = counts.lock();
        memo.begin(self.read(first));
        let newest = messages.len() - 1;
        // The remembered run, in one tight pass; from the first message without a
        // remembered count on, each is counted (and remembered) as it comes.
        let (known, sum) = memo.known_prefix(&messages[..newest], encoding.slot());
        let mut total = overheads + sum;
        for (i, m) in messages.iter().enumerate().skip(known) {
            let shape = counts::shape(m);
            // The newest turn is always counted: it may be a retry of the one remembered.
            let n = match memo.get(i, shape, encoding.slot()).filter(|_| i < newest) {
                Some(n) => n,
                None => {
                    let n = self.message_tokens(encoding, m);
                    memo.put(i, shape, encoding.slot(), n);
                    n
                }
            };
            total += n;
        }
        total
    }

    /// Tokens of one message's content, without [`PER_MESSAGE`] (cached by content
    /// hash, so a growing history costs only its new messages).
    pub fn message_tokens(&self, encoding: Encoding, m: &Message) -> u64 {
        let key = (encoding, self.read(m));
        if let Some(n) = self.cache.get(&key) {
            return n;
        }
        let n = 1 + m
            .content
            .iter()
            .map(|b| block_tokens(encoding, b))
            .sum::<u64>();
        self.cache.insert(key, n);
        n
    }

    /// `m`'s content hash (counted as a read in tests).
    fn read(&self, m: &Message) -> u64 {
        #[cfg(test)]
        self.messages_read.fetch_add(1, Ordering::Relaxed);
        hash_message(m)
    }

    fn cached_count(&self, encoding: Encoding, text: &str) -> u64 {
        let mut h = std::hash::DefaultHasher::new();
        text.hash(&mut h);
        let key = (encoding, h.finish());
        if let Some(n) = self.cache.get(&key) {
            return n;
        }
        let n = encoding.count(text);
        self.cache.insert(key, n);
        n
    }

    /// The calibration factor of config model `model` (wire name `wire_model`): the
    /// largest provider/estimate ratio of its last [`CALIBRATION_WINDOW`] responses;
    /// before half of those have come in, at least 1.0 (1.2 for Claude, whose tokenizer
    /// tiktoken only approximates).
    pub fn factor(&self, model: &str, wire_model: &str) -> f64 {
        let initial = initial_factor(!wire_model.starts_with("claude"));
        let Some(recent) = self.calibration.get(model) else {
            return initial;
        };
        let max = recent.iter().copied().fold(0.0, f64::max);
        if recent.len() < CALIBRATION_WINDOW / 2 {
            // Too few responses to trust a lower figure yet.
            max.max(initial)
        } else {
            max
        }
    }

    /// The calibrated estimate for `raw` tokens on `model`.
    pub fn calibrated(&self, model: &str, wire_model: &str, raw: u64) -> u64 {
        (raw as f64 * self.factor(model, wire_model)).ceil() as u64
    }

    /// Learns from a response: the provider charged `actual` input tokens for a request
    /// whose raw estimate was `raw`.
    pub fn observe(&self, model: &str, raw: u64, actual: u64) {
        if raw == 0 || actual == 0 {
            return;
        }
        let ratio = (actual as f64 / raw as f64).clamp(0.25, 4.0);
        // Known models (all but the first response of each) are found without copying
        // their name.
        let mut recent = match self.calibration.get_mut(model) {
            Some(r) => r,
            None => self.calibration.entry(model.to_string()).or_default(),
        };
        recent.push_back(ratio);
        while recent.len() > CALIBRATION_WINDOW {
            recent.pop_front();
        }
    }

    /// How many counts the cache holds (messages and fixed parts, per encoding).
    pub fn cached_entries(&self) -> usize {
        self.cache.len()
    }
}

fn block_tokens(encoding: Encoding, b: &ContentBlock) -> u64 {
    match b {
        ContentBlock::Text { text, .. } => encoding.count(text),
        ContentBlock::ToolUse { name, input, .. } => {
            encoding.count(name) + encoding.count(&input.to_string()) + 4
        }
        ContentBlock::ToolResult { content, .. } => {
            content
                .iter()
                .map(|b| block_tokens(encoding, b))
                .sum::<u64>()
                + 4
        }
        // Images are priced by size, not text; a conservative flat figure.
        ContentBlock::Image { .. } => 1600,
        // Replayed reasoning counts as input; the signature is opaque and not tokenised
        // as text, so it is left out.
        ContentBlock::Thinking { thinking, .. } => encoding.count(thinking) + 4,
        ContentBlock::RedactedThinking { data } => (data.len() as u64) / 4 + 4,
        // An OpenAI reasoning item: its summary is text; its encrypted payload is
        // opaque, estimated like redacted thinking.
        ContentBlock::Reasoning {
            summary,
            encrypted_content,
            ..
        } => {
            summary.iter().map(|s| encoding.count(s)).sum::<u64>()
                + encrypted_content.as_ref().map_or(0, |e| e.len() as u64 / 4)
                + 4
        }
        ContentBlock::Document { source, .. } => document_tokens(encoding, source),
        // Kept-whole blocks (server-tool results, search results): their JSON text, a
        // generous stand-in for what the provider counts of them.
        ContentBlock::Raw(block) => {
            encoding.count(&serde_json::Value::Object(block.clone()).to_string())
        }
    }
}

/// A document's input tokens: a text source's text; a PDF (base64 or by URL) is read as
/// text and page images, so a conservative figure: one image's 1600 tokens, or one token
/// per 30 bytes of the file when that is more (a dense page is ~100 KB and ~3000 tokens).
fn document_tokens(encoding: Encoding, source: &serde_json::Value) -> u64 {
    let data = source.get("data").and_then(serde_json::Value::as_str);
    match source.get("type").and_then(serde_json::Value::as_str) {
        Some("text") => encoding.count(data.unwrap_or("")) + 4,
        _ => 1600u64.max(data.map_or(0, |d| d.len() as u64 * 3 / 4 / 30)),
    }
}

fn hash_message(m: &Message) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    matches!(m.role, Role::User).hash(&mut h);
    hash_blocks(&m.content, &mut h);
    h.finish()
}

fn hash_blocks(blocks: &[ContentBlock], h: &mut std::hash::DefaultHasher) {
    for b in blocks {
        match b {
            ContentBlock::Text { text, .. } => {
                0u8.hash(h);
                text.hash(h);
            }
            ContentBlock::ToolUse { id, name, input } => {
                1u8.hash(h);
                id.hash(h);
                name.hash(h);
                input.to_string().hash(h);
            }
            ContentBlock::ToolResult {
                tool_use_id,
                content,
                is_error,
                ..
            } => {
                2u8.hash(h);
                tool_use_id.hash(h);
                hash_blocks(content, h);
                is_error.hash(h);
            }
            ContentBlock::Image { source, .. } => {
                3u8.hash(h);
                source.to_string().hash(h);
            }
            ContentBlock::Thinking { thinking, .. } => {
                4u8.hash(h);
                thinking.hash(h);
            }
            ContentBlock::RedactedThinking { data } => {
                5u8.hash(h);
                data.hash(h);
            }
            ContentBlock::Document { source, .. } => {
                16u8.hash(h);
                source.to_string().hash(h);
            }
            ContentBlock::Raw(block) => {
                18u8.hash(h);
                serde_json::Value::Object(block.clone()).to_string().hash(h);
            }
            ContentBlock::Reasoning {
                id,
                summary,
                encrypted_content,
            } => {
                6u8.hash(h);
                id.hash(h);
                summary.hash(h);
                encrypted_content.hash(h);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The OpenAI cookbook's six-message example: 129 tokens (cl100k), 124 (o200k).
    fn cookbook() -> Vec<(&'static str, &'static str, Option<&'static str>)> {
        vec![
            ("system", "You are a helpful, pattern-following assistant that translates corporate jargon into plain English.", None),
            ("system", "New synergies will help drive top-line growth.", Some("example_user")),
            ("system", "Things working well together will increase revenue.", Some("example_assistant")),
            ("system", "Let's circle back when we have more bandwidth to touch base on opportunities for increased leverage.", Some("example_user")),
            ("system", "Let's talk later when we're less busy about how to do better.", Some("example_assistant")),
            ("user", "This late pivot means we don't have time to boil the ocean for the client deliverable.", None),
        ]
    }

    fn cookbook_count(enc: Encoding) -> u64 {
        let mut n = REPLY_PRIMING;
        for (role, content, name) in cookbook() {
            n += PER_MESSAGE + enc.count(role) + enc.count(content);
            if let Some(name) = name {
                n += enc.count(name) + 1;
            }
        }
        n
    }

    #[test]
    fn matches_the_cookbook_test_vectors() {
        assert_eq!(cookbook_count(Encoding::Cl100k), 129);
        assert_eq!(cookbook_count(Encoding::O200k), 124);
    }

    #[test]
    fn picks_the_encoding_by_model_family() {
        assert_eq!(Encoding::for_model("gpt-4o-mini"), Encoding::O200k);
        assert_eq!(Encoding::for_model("gpt-4.1"), Encoding::O200k);
        assert_eq!(Encoding::for_model("o3-mini"), Encoding::O200k);
        assert_eq!(Encoding::for_model("gpt-4-turbo"), Encoding::Cl100k);
        assert_eq!(Encoding::for_model("gpt-3.5-turbo"), Encoding::Cl100k);
        assert_eq!(Encoding::for_model("claude-sonnet-4-5"), Encoding::Cl100k);
        assert_eq!(Encoding::for_model("mystery"), Encoding::O200k);
    }

    #[test]
    fn a_growing_history_counts_only_its_new_messages() {
        let e = Estimator::new(0.0);
        let mut req = CompletionRequest::prompt("m", "hello there");
        let first = e.raw_input(Encoding::O200k, &req);
        let entries = e.cached_entries();
        req.messages.push(Message::assistant("general kenobi"));
        let second = e.raw_input(Encoding::O200k, &req);
        assert_eq!(e.cached_entries(), entries + 1);
        assert_eq!(
            second - first,
            PER_MESSAGE + 1 + Encoding::O200k.count("general kenobi")
        );
    }

    /// A conversation of `n` distinct turns that remembers its counts.
    fn remembered_history(n: usize) -> CompletionRequest {
        let mut req = CompletionRequest::new("m");
        req.options.counts = Some(MessageCounts::new());
        for i in 0..n {
            req.messages
                .push(Message::user(format!("turn {i} of a long conversation")));
        }
        req
    }

    #[test]
    fn one_more_turn_reads_only_the_new_message_whatever_the_history_length() {
        for n in [10, 1_000] {
            let e = Estimator::new(0.0);
            let mut req = remembered_history(n);
            e.raw_input(Encoding::O200k, &req);
            req.messages.push(Message::assistant("and one more reply"));
            let before = e.messages_read.load(Ordering::Relaxed);
            let estimate = e.raw_input(Encoding::O200k, &req);
            // The new message, and the first one (which tells a trimmed history apart).
            assert_eq!(
                e.messages_read.load(Ordering::Relaxed) - before,
                2,
                "n = {n}"
            );
            assert_eq!(
                estimate,
                Estimator::new(0.0).raw_input(Encoding::O200k, &req),
                "n = {n}"
            );
        }
    }

    #[test]
    fn remembered_counts_follow_trims_retries_and_forks() {
        let e = Estimator::new(0.0);
        let recount = |req: &CompletionRequest| Estimator::new(0.0).raw_input(Encoding::O200k, req);
        let mut req = remembered_history(20);
        assert_eq!(e.raw_input(Encoding::O200k, &req), recount(&req));
        // Trimmed from the front: the first message changed, everything is counted again.
        let mut trimmed = req.clone();
        trimmed.options.counts = req.options.counts.as_ref().map(MessageCounts::share);
        trimmed.messages.drain(..5);
        assert_eq!(e.raw_input(Encoding::O200k, &trimmed), recount(&trimmed));
        // A retried last turn of the same length is counted anew.
        req = remembered_history(20);
        e.raw_input(Encoding::O200k, &req);
        req.messages.pop();
        req.messages.push(Message::user(
            "x".repeat("turn 19 of a long conversation".len()),
        ));
        assert_eq!(e.raw_input(Encoding::O200k, &req), recount(&req));
        // A fork (clone) grows its own counts; the original keeps its own.
        let mut fork = req.clone();
        fork.messages.push(Message::assistant("the fork's reply"));
        req.messages.push(Message::assistant(
            "a different reply, longer than the fork's",
        ));
        assert_eq!(e.raw_input(Encoding::O200k, &fork), recount(&fork));
        assert_eq!(e.raw_input(Encoding::O200k, &req), recount(&req));
        req.messages.push(Message::user("next"));
        assert_eq!(e.raw_input(Encoding::O200k, &req), recount(&req));
        assert_eq!(
            req.options.counts.as_ref().map(MessageCounts::len),
            Some(22)
        );
    }

    #[test]
    fn calibration_takes_the_largest_recent_ratio_and_forgets_old_ones() {
        let e = Estimator::new(0.0);
        assert_eq!(e.factor("gpt", "gpt-4o"), 1.0);
        assert_eq!(e.factor("sonnet", "claude-sonnet-4-5"), 1.2);
        e.observe("gpt", 100, 120);
        assert!((e.factor("gpt", "gpt-4o") - 1.2).abs() < 1e-9);
        assert_eq!(e.calibrated("gpt", "gpt-4o", 1000), 1200);
        e.observe("gpt", 100, 105);
        assert!(
            (e.factor("gpt", "gpt-4o") - 1.2).abs() < 1e-9,
            "the high ratio is still recent"
        );
        e.observe("sonnet", 100, 90);
        assert_eq!(
            e.factor("sonnet", "claude-sonnet-4-5"),
            1.2,
            "one low ratio is not trusted yet"
        );
        for _ in 0..CALIBRATION_WINDOW {
            e.observe("gpt", 100, 105);
        }
        assert!((e.factor("gpt", "gpt-4o") - 1.05).abs() < 1e-9);
    }

    #[test]
    fn system_and_tools_carry_the_safety_margin() {
        let plain = Estimator::new(0.0);
        let careful = Estimator::new(0.5);
        let req = CompletionRequest::prompt("m", "hi").system("a long system prompt of some size");
        assert!(careful.raw_input(Encoding::O200k, &req) > plain.raw_input(Encoding::O200k, &req));
    }

    #[test]
    fn the_cache_stays_at_its_bound_and_counts_stay_correct() {
        let bound = 64;
        let e = Estimator::with_cache_entries(0.0, bound);
        let text = |i: usize| format!("distinct message number {i} with some words");
        for i in 0..10 * bound {
            let m = Message::user(text(i));
            assert_eq!(
                e.message_tokens(Encoding::O200k, &m),
                1 + Encoding::O200k.count(&text(i))
            );
            assert!(
                e.cached_entries() <= bound,
                "{} > {bound}",
                e.cached_entries()
            );
        }
        // Evicted or not, every message still counts the same.
        for i in 0..10 * bound {
            let m = Message::user(text(i));
            assert_eq!(
                e.message_tokens(Encoding::O200k, &m),
                1 + Encoding::O200k.count(&text(i))
            );
        }
        assert!(e.cached_entries() <= bound);
    }
}
