//! Automatic prompt-cache breakpoints (Anthropic), pure: where the broker puts
//! `cache_control` on a request so that what the next requests repeat is read from the
//! provider's cache (a tenth of the input price, and free against input tokens per
//! minute) instead of being sent and charged again.
//!
//! A breakpoint marks the end of a prefix, in the provider's order tools → system →
//! messages; a request may carry at most 4 (the model's `max_cache_breakpoints`). The
//! candidates, best first:
//!
//! 1. the stable prefix: the last system block (or, without a system prompt, the last
//!    tool), which every agent sharing that system prompt and those tools repeats;
//! 2. the final user turn's last block: the whole prompt, which the conversation's next
//!    request repeats;
//! 3. the previous user turn's last block: the prefix the previous request wrote with
//!    its own breakpoint 2, so this request reads it by an exact match. (The provider
//!    also looks back about 20 blocks from each breakpoint, but a breakpoint on exactly
//!    the prefix written before does not depend on that; a breakpoint on the assistant
//!    reply before the final turn would write a prefix no later request ends on.)
//! 4. the last tool, when there is also a system prompt: tools stay cached for a request
//!    whose system prompt differs.
//!
//! Breakpoints the caller placed are kept and count toward the limit. A candidate whose
//! prefix is estimated below the model's minimum cacheable length is skipped (the
//! provider would not cache it, both cache fields would read 0). Only text, image and
//! tool-result blocks (and tools) carry breakpoints, never thinking or tool-use blocks:
//! in a message, the last block that can carry one is used. A longer TTL must come before
//! a shorter one: a one-hour breakpoint placed after a caller's five-minute one becomes a
//! five-minute one, and a candidate before a caller's one-hour breakpoint is skipped
//! rather than given a shorter TTL ahead of it.
//!
//! [`prefixes`] hashes the prefixes a request marks (breakpoints left out of the hash),
//! so a lane can tell a request that repeats one its responses cached (`warm.rs`).

use super::warm::CachedPrefix;
use crate::types::{CacheControl, CacheTtl, CompletionRequest, ContentBlock, Role};
use std::time::Duration;

/// A place in a request that can carry a breakpoint, in prefix order (tools, then
/// system, then messages).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Spot {
    Tool(usize),
    System(usize),
    Message { message: usize, block: usize },
}

/// A candidate breakpoint and the estimated tokens of the prefix it ends.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Candidate {
    pub(crate) spot: Spot,
    pub(crate) prefix_tokens: u64,
}

/// Chooses where to add breakpoints: `candidates` best first, `existing` the caller's
/// (with their TTLs), `min_tokens` the model's minimum cacheable prefix, `max` the most
/// breakpoints a request may carry. Returns the new breakpoints in prefix order.
pub(crate) fn choose(
    candidates: &[Candidate],
    existing: &[(Spot, CacheTtl)],
    min_tokens: u64,
    ttl: CacheTtl,
    max: usize,
) -> Vec<(Spot, CacheControl)> {
    let mut room = max.saturating_sub(existing.len());
    let mut out: Vec<(Spot, CacheControl)> = Vec::new();
    for c in candidates {
        if room == 0 {
            break;
        }
        let taken =
            existing.iter().any(|(s, _)| *s == c.spot) || out.iter().any(|(s, _)| *s == c.spot);
        if taken || c.prefix_tokens < min_tokens {
            continue;
        }
        // A longer TTL must not follow a shorter one.
        let shorter_before = existing
            .iter()
            .any(|(s, t)| *s < c.spot && *t == CacheTtl::FiveMinutes);
        let longer_after = existing
            .iter()
            .any(|(s, t)| *s > c.spot && *t == CacheTtl::OneHour);
        let ttl = if shorter_before {
            CacheTtl::FiveMinutes
        } else {
            ttl
        };
        if longer_after && ttl == CacheTtl::FiveMinutes {
            continue;
        }
        out.push((c.spot, CacheControl { ttl }));
        room -= 1;
    }
    out.sort_by_key(|(s, _)| *s);
    out
}

/// The breakpoints `req` already carries, in prefix order.
pub(crate) fn existing(req: &CompletionRequest) -> Vec<(Spot, CacheTtl)> {
    let mut out = Vec::new();
    for (i, t) in req.tools.iter().enumerate() {
        if let Some(c) = t.cache_control {
            out.push((Spot::Tool(i), c.ttl));
        }
    }
    for (i, b) in req.system.iter().enumerate() {
        if let Some(c) = b.cache_control() {
            out.push((Spot::System(i), c.ttl));
        }
    }
    for (m, msg) in req.messages.iter().enumerate() {
        for (b, block) in msg.content.iter().enumerate() {
            if let Some(c) = nested_cache_control(block) {
                out.push((
                    Spot::Message {
                        message: m,
                        block: b,
                    },
                    c.ttl,
                ));
            }
        }
    }
    out
}

/// A block's breakpoint, or one inside a tool result's content (which counts too).
fn nested_cache_control(block: &ContentBlock) -> Option<CacheControl> {
    block.cache_control().or_else(|| match block {
        ContentBlock::ToolResult { content, .. } => content.iter().find_map(|b| b.cache_control()),
        _ => None,
    })
}

/// Whether a block can carry a breakpoint: text (not empty: the API refuses a breakpoint
/// on an empty text block), image, document and tool-result blocks.
fn carries(b: &ContentBlock) -> bool {
    match b {
        ContentBlock::Text { text, .. } => !text.trim().is_empty(),
        ContentBlock::Image { .. }
        | ContentBlock::Document { .. }
        | ContentBlock::ToolResult { .. } => true,
        _ => false,
    }
}

/// The last block of message `m` that can carry a breakpoint.
fn last_carrier(req: &CompletionRequest, m: usize) -> Option<Spot> {
    let msg = req.messages.get(m)?;
    let block = msg.content.iter().rposition(carries)?;
    Some(Spot::Message { message: m, block })
}

/// The estimated tokens of a request's parts, in prefix order, as `handle.rs` counts
/// them (calibrated like the input estimate): the tools, the system prompt, each
/// message.
#[derive(Debug, Clone, Default)]
pub(crate) struct Sizes {
    pub(crate) tools: u64,
    pub(crate) system: u64,
    pub(crate) messages: Vec<u64>,
}

/// The candidates of `req`, best first (see the module doc).
pub(crate) fn candidates(req: &CompletionRequest, sizes: &Sizes) -> Vec<Candidate> {
    let through = |m: usize| -> u64 {
        sizes.tools + sizes.system + sizes.messages.iter().take(m + 1).sum::<u64>()
    };
    let tools = req.tools.len().checked_sub(1).map(|i| Candidate {
        spot: Spot::Tool(i),
        prefix_tokens: sizes.tools,
    });
    let system = req.system.iter().rposition(carries).map(|i| Candidate {
        spot: Spot::System(i),
        prefix_tokens: sizes.tools + sizes.system,
    });
    let users: Vec<usize> = req
        .messages
        .iter()
        .enumerate()
        .filter(|(_, m)| m.role == Role::User)
        .map(|(i, _)| i)
        .collect();
    let last = req.messages.len().checked_sub(1);
    // The final user turn is the request's last message (a request ending with an
    // assistant turn, a prefill, has none).
    let final_user = last.filter(|l| users.last() == Some(l));
    let previous_user = final_user.and_then(|f| users.iter().rev().find(|u| **u < f).copied());
    let message = |m: Option<usize>| {
        m.and_then(|m| {
            last_carrier(req, m).map(|spot| Candidate {
                spot,
                prefix_tokens: through(m),
            })
        })
    };
    let mut out = Vec::new();
    match system {
        Some(s) => out.push(s),
        None => out.extend(tools),
    }
    out.extend(message(final_user));
    out.extend(message(previous_user));
    if system.is_some() {
        out.extend(tools);
    }
    out
}

/// The prefixes `req` marks at `breakpoints` (in prefix order), with their hashes and
/// estimated tokens (from `sizes`; a breakpoint inside a message counts the whole
/// message), for the lane's memory of what the provider has cached (`warm.rs`).
pub(crate) fn prefixes(
    req: &CompletionRequest,
    breakpoints: &[(Spot, CacheTtl)],
    sizes: &Sizes,
) -> Vec<CachedPrefix> {
    use std::hash::{Hash, Hasher};
    if breakpoints.is_empty() {
        return Vec::new();
    }
    let ttl = |t: CacheTtl| match t {
        CacheTtl::FiveMinutes => Duration::from_secs(300),
        CacheTtl::OneHour => Duration::from_secs(3600),
    };
    let mut h = std::hash::DefaultHasher::new();
    let mut out = Vec::new();
    let mut emit = |h: &std::hash::DefaultHasher, spot: Spot, tokens: u64| {
        if let Some((_, t)) = breakpoints.iter().find(|(s, _)| *s == spot) {
            out.push(CachedPrefix {
                hash: h.finish(),
                tokens,
                ttl: ttl(*t),
            });
        }
    };
    for (i, t) in req.tools.iter().enumerate() {
        0u8.hash(&mut h);
        t.name.hash(&mut h);
        t.description.hash(&mut h);
        t.input_schema.to_string().hash(&mut h);
        emit(&h, Spot::Tool(i), sizes.tools);
    }
    for (i, b) in req.system.iter().enumerate() {
        1u8.hash(&mut h);
        hash_block(b, &mut h);
        emit(&h, Spot::System(i), sizes.tools + sizes.system);
    }
    let mut through = sizes.tools + sizes.system;
    for (m, msg) in req.messages.iter().enumerate() {
        through += sizes.messages.get(m).copied().unwrap_or(0);
        2u8.hash(&mut h);
        (msg.role == Role::User).hash(&mut h);
        for (b, block) in msg.content.iter().enumerate() {
            hash_block(block, &mut h);
            emit(
                &h,
                Spot::Message {
                    message: m,
                    block: b,
                },
                through,
            );
        }
    }
    out
}

/// Hashes what a block says, leaving its breakpoint out.
fn hash_block(b: &ContentBlock, h: &mut std::hash::DefaultHasher) {
    use std::hash::Hash;
    match b {
        ContentBlock::Text { text, .. } => (0u8, text).hash(h),
        ContentBlock::ToolUse { id, name, input } => (1u8, id, name, input.to_string()).hash(h),
        ContentBlock::ToolResult {
            tool_use_id,
            content,
            is_error,
            ..
        } => {
            (2u8, tool_use_id, is_error).hash(h);
            for c in content {
                hash_block(c, h);
            }
        }
        ContentBlock::Image { source, .. } => (3u8, source.to_string()).hash(h),
        ContentBlock::Thinking {
            thinking,
            signature,
        } => (4u8, thinking, signature).hash(h),
        ContentBlock::RedactedThinking { data } => (5u8, data).hash(h),
        ContentBlock::Document { source, .. } => (16u8, source.to_string()).hash(h),
        ContentBlock::Raw(block) => {
            (18u8, serde_json::to_string(block).unwrap_or_default()).hash(h)
        }
        ContentBlock::Reasoning {
            id,
            summary,
            encrypted_content,
        } => (6u8, id, summary, encrypted_content).hash(h),
    }
}

/// Puts the chosen breakpoints on `req`.
pub(crate) fn apply(req: &mut CompletionRequest, points: &[(Spot, CacheControl)]) {
    for (spot, cc) in points {
        match *spot {
            Spot::Tool(i) => {
                if let Some(t) = req.tools.get_mut(i) {
                    t.cache_control = Some(*cc);
                }
            }
            Spot::System(i) => {
                if let Some(b) = req.system.get_mut(i) {
                    b.set_cache_control(Some(*cc));
                }
            }
            Spot::Message { message, block } => {
                if let Some(b) = req
                    .messages
                    .get_mut(message)
                    .and_then(|m| m.content.get_mut(block))
                {
                    b.set_cache_control(Some(*cc));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{Message, Tool};

    const FIVE: CacheTtl = CacheTtl::FiveMinutes;

    fn chat(turns: usize) -> CompletionRequest {
        let mut req = CompletionRequest::new("sonnet")
            .system("You are a careful analyst.")
            .tool(Tool::new("lookup", serde_json::json!({"type": "object"})));
        for i in 0..turns {
            req = req.user(format!("question {i}"));
            if i + 1 < turns {
                req = req.assistant(format!("answer {i}"));
            }
        }
        req
    }

    fn sizes(req: &CompletionRequest, each: u64) -> Sizes {
        Sizes {
            tools: 100,
            system: 2000,
            messages: vec![each; req.messages.len()],
        }
    }

    fn msg(message: usize, block: usize) -> Spot {
        Spot::Message { message, block }
    }

    fn place(req: &CompletionRequest, s: &Sizes, min: u64) -> Vec<Spot> {
        choose(&candidates(req, s), &existing(req), min, FIVE, 4)
            .into_iter()
            .map(|(s, _)| s)
            .collect()
    }

    #[test]
    fn marks_the_system_prompt_both_user_turns_and_the_tools() {
        let req = chat(3); // user, assistant, user, assistant, user
        let spots = place(&req, &sizes(&req, 50), 100);
        assert_eq!(
            spots,
            [Spot::Tool(0), Spot::System(0), msg(2, 0), msg(4, 0),]
        );
    }

    #[test]
    fn skips_prefixes_below_the_models_minimum() {
        let req = chat(2);
        // Tools 100 and system 2,000: only prefixes from the system prompt on reach 2,048
        // once the messages add up.
        let s = Sizes {
            tools: 100,
            system: 1900,
            messages: vec![30, 30, 30],
        };
        assert_eq!(place(&req, &s, 2048), [msg(2, 0)]);
        assert!(place(&req, &s, 4096).is_empty());
    }

    #[test]
    fn caller_breakpoints_are_kept_and_count_toward_the_four() {
        let mut req = chat(3);
        req.system = vec![ContentBlock::text("sys").cached(CacheControl::ephemeral())];
        req.messages[0].content[0].set_cache_control(Some(CacheControl::ephemeral()));
        req.messages[2].content[0].set_cache_control(Some(CacheControl::ephemeral()));
        let spots = place(&req, &sizes(&req, 50), 0);
        assert_eq!(spots, [msg(4, 0)], "one slot left");
    }

    #[test]
    fn never_marks_thinking_or_tool_use_blocks() {
        let mut req = CompletionRequest::new("sonnet").system("s");
        req.messages = vec![
            Message::user("q"),
            Message {
                role: Role::Assistant,
                content: vec![
                    ContentBlock::Thinking {
                        thinking: "hm".into(),
                        signature: "sig".into(),
                    },
                    ContentBlock::ToolUse {
                        id: "t1".into(),
                        name: "lookup".into(),
                        input: serde_json::json!({}),
                    },
                ],
            },
            Message {
                role: Role::User,
                content: vec![
                    ContentBlock::tool_result("t1", "found"),
                    ContentBlock::ToolUse {
                        id: "odd".into(),
                        name: "x".into(),
                        input: serde_json::json!({}),
                    },
                ],
            },
        ];
        let spots = place(&req, &sizes(&req, 50), 0);
        assert_eq!(spots, [Spot::System(0), msg(0, 0), msg(2, 0),]);
        let mut marked = req.clone();
        apply(
            &mut marked,
            &choose(&candidates(&req, &sizes(&req, 50)), &[], 0, FIVE, 4),
        );
        assert!(marked.messages[1]
            .content
            .iter()
            .all(|b| b.cache_control().is_none()));
        assert!(marked.messages[2].content[0].cache_control().is_some());
    }

    #[test]
    fn a_one_hour_breakpoint_never_follows_a_five_minute_one() {
        let mut req = chat(2);
        req.system = vec![ContentBlock::text("sys").cached(CacheControl::ephemeral())];
        let out = choose(
            &candidates(&req, &sizes(&req, 50)),
            &existing(&req),
            0,
            CacheTtl::OneHour,
            4,
        );
        assert_eq!(out.len(), 3, "{out:?}");
        for (s, c) in &out {
            let expected = if *s < Spot::System(0) {
                CacheTtl::OneHour
            } else {
                FIVE
            };
            assert_eq!(c.ttl, expected, "{s:?}");
        }
        // Before a caller's one-hour breakpoint, nothing shorter is added.
        let mut req = chat(2);
        req.messages[2].content[0].set_cache_control(Some(CacheControl::one_hour()));
        let out = choose(
            &candidates(&req, &sizes(&req, 50)),
            &existing(&req),
            0,
            FIVE,
            4,
        );
        assert!(out.is_empty(), "{out:?}");
    }

    #[test]
    fn an_empty_text_block_is_passed_over() {
        let mut req = CompletionRequest::prompt("sonnet", "hello").system("sys");
        req.system.push(ContentBlock::text(""));
        req.messages[0].content.push(ContentBlock::text(" "));
        let spots = place(&req, &sizes(&req, 50), 0);
        assert_eq!(spots, [Spot::System(0), msg(0, 0)]);
    }

    #[test]
    fn the_next_turn_repeats_the_prefix_hashes_whatever_the_breakpoints() {
        let turn1 = chat(2);
        let s1 = sizes(&turn1, 50);
        let mut marked = turn1.clone();
        apply(
            &mut marked,
            &choose(&candidates(&turn1, &s1), &[], 0, FIVE, 4),
        );
        let p1 = prefixes(&marked, &existing(&marked), &s1);
        let turn2 = chat(3);
        let s2 = sizes(&turn2, 50);
        let all: Vec<(Spot, CacheTtl)> = candidates(&turn2, &s2)
            .into_iter()
            .map(|c| (c.spot, FIVE))
            .collect();
        let p2 = prefixes(&turn2, &all, &s2);
        // Turn 1's final user turn (message 2) is turn 2's previous user turn.
        let last1 = p1.last().expect("turn 1 marks its final turn");
        assert!(p2
            .iter()
            .any(|p| p.hash == last1.hash && p.tokens == last1.tokens));
        let ends: Vec<u64> = p2.iter().map(|p| p.tokens).collect();
        assert_eq!(ends, [100, 2100, 2250, 2350]);
    }

    #[test]
    fn a_single_prompt_gets_the_stable_prefix_and_its_turn() {
        let req = CompletionRequest::prompt("sonnet", "hello").system("sys");
        let spots = place(&req, &sizes(&req, 50), 0);
        assert_eq!(spots, [Spot::System(0), msg(0, 0)]);
    }
}
