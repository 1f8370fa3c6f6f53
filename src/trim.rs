//! History trimming, pure: cut a conversation down to a token budget and keep it valid
//! for every wire, including the strictest hosts of the same models.
//!
//! Rules:
//! - the system prompt is kept (it is not a message: the caller counts it as fixed cost);
//! - the newest turns are kept, the oldest dropped;
//! - consecutive messages of one role are merged, so roles alternate;
//! - the result starts with a user turn that carries no `tool_result` (its `tool_use`
//!   would have been cut), so a `tool_use` and its `tool_result` are never separated;
//! - dropped turns may be replaced by one summary, sent as the first user turn.
//!
//! The budget covers the messages only; `count` gives one message's tokens.

use crate::types::{ContentBlock, Message, Role};

/// What [`trim_to_budget`] did.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Trimmed {
    /// The kept history: normalised, valid, within the budget.
    pub messages: Vec<Message>,
    /// Messages of the (normalised) input that were dropped, oldest first.
    pub dropped: Vec<Message>,
    /// The dropped messages' tokens, as `count` gave them.
    pub dropped_tokens: u64,
}

/// Merges consecutive messages of one role, and drops empty ones.
pub fn normalise(messages: &[Message]) -> Vec<Message> {
    let mut out: Vec<Message> = Vec::with_capacity(messages.len());
    for m in messages.iter().filter(|m| !m.content.is_empty()) {
        match out.last_mut() {
            Some(last) if last.role == m.role => last.content.extend(m.content.iter().cloned()),
            _ => out.push(m.clone()),
        }
    }
    out
}

fn has_tool_result(m: &Message) -> bool {
    m.content
        .iter()
        .any(|b| matches!(b, ContentBlock::ToolResult { .. }))
}

/// Where a kept history may start: a user turn with no `tool_result`.
fn is_clean_start(m: &Message) -> bool {
    m.role == Role::User && !has_tool_result(m)
}

/// Keeps the newest turns of `messages` that fit `budget` tokens, `count` giving each
/// message's tokens (the caller's estimator, overheads included). The input is
/// [`normalise`]d first; the result keeps the module's rules.
///
/// Returns `None` when even the smallest valid suffix (from the last clean user turn) does
/// not fit: the request cannot be trimmed enough.
pub fn trim_to_budget(
    messages: &[Message],
    budget: u64,
    count: impl Fn(&Message) -> u64,
) -> Option<Trimmed> {
    let msgs = normalise(messages);
    let costs: Vec<u64> = msgs.iter().map(&count).collect();
    let total: u64 = costs.iter().sum();
    if total <= budget {
        return Some(Trimmed {
            messages: msgs,
            dropped: Vec::new(),
            dropped_tokens: 0,
        });
    }
    // Suffix sums from the end; the cut goes at the earliest clean start that fits.
    let mut suffix = 0u64;
    let mut best: Option<usize> = None;
    for i in (0..msgs.len()).rev() {
        suffix += costs[i];
        if suffix > budget {
            break;
        }
        if is_clean_start(&msgs[i]) {
            best = Some(i);
        }
    }
    let cut = best?;
    let dropped_tokens = costs[..cut].iter().sum();
    let mut messages = msgs;
    let kept = messages.split_off(cut);
    Some(Trimmed {
        messages: kept,
        dropped: messages,
        dropped_tokens,
    })
}

/// Puts `summary` in front of a trimmed history, as part of its first user turn (so the
/// history still starts with a user turn and alternates).
pub fn prepend_summary(messages: &mut [Message], summary: &str) {
    let note = ContentBlock::text(format!(
        "Summary of the earlier conversation (older turns were trimmed): {summary}"
    ));
    if let Some(first) = messages.first_mut() {
        first.content.insert(0, note);
    }
}

/// Checks that `messages` keep this module's rules (non-empty, starts with a user turn,
/// roles alternate, a `tool_use` before the last turn is answered by a `tool_result` in
/// the next one, every `tool_result` follows its `tool_use`); returns the first
/// violation, in words.
/// Used by tests and debug checks.
pub fn check_valid(messages: &[Message]) -> Result<(), String> {
    let Some(first) = messages.first() else {
        return Err("empty history".into());
    };
    if first.role != Role::User {
        return Err("does not start with a user turn".into());
    }
    for (i, w) in messages.windows(2).enumerate() {
        if w[0].role == w[1].role {
            return Err(format!("messages {i} and {} share a role", i + 1));
        }
    }
    for (i, m) in messages.iter().enumerate() {
        for b in &m.content {
            if let ContentBlock::ToolResult { tool_use_id, .. } = b {
                let ok = i > 0
                    && messages[i - 1].content.iter().any(
                        |p| matches!(p, ContentBlock::ToolUse { id, .. } if id == tool_use_id),
                    );
                if !ok || m.role != Role::User {
                    return Err(format!(
                        "message {i}: tool_result {tool_use_id} without its tool_use"
                    ));
                }
            }
            if let ContentBlock::ToolUse { id, .. } = b {
                if m.role != Role::Assistant {
                    return Err(format!("message {i}: tool_use in a user turn"));
                }
                if let Some(next) = messages.get(i + 1) {
                    let answered = next.content.iter().any(
                        |p| matches!(p, ContentBlock::ToolResult { tool_use_id, .. } if tool_use_id == id),
                    );
                    if !answered {
                        return Err(format!("message {i}: tool_use {id} not answered next"));
                    }
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn words(m: &Message) -> u64 {
        m.content
            .iter()
            .map(|b| match b {
                ContentBlock::Text { text, .. } => text.split_whitespace().count() as u64,
                _ => 5,
            })
            .sum::<u64>()
            + 3
    }

    fn tool_turns(id: &str) -> [Message; 2] {
        [
            Message {
                role: Role::Assistant,
                content: vec![ContentBlock::ToolUse {
                    id: id.into(),
                    name: "lookup".into(),
                    input: json!({"q": id}),
                }],
            },
            Message {
                role: Role::User,
                content: vec![ContentBlock::tool_result(id, "result")],
            },
        ]
    }

    #[test]
    fn keeps_everything_that_fits() {
        let h = vec![Message::user("a b"), Message::assistant("c")];
        let t = trim_to_budget(&h, 100, words).unwrap();
        assert_eq!(t.messages, h);
        assert_eq!(t.dropped_tokens, 0);
    }

    #[test]
    fn drops_the_oldest_turns_first_and_starts_with_a_user_turn() {
        let h: Vec<Message> = (0..10)
            .map(|i| {
                if i % 2 == 0 {
                    Message::user(format!("u{i} x x x"))
                } else {
                    Message::assistant(format!("a{i} y y y"))
                }
            })
            .collect();
        let t = trim_to_budget(&h, 30, words).unwrap();
        assert_eq!(t.messages.last(), h.last());
        assert_eq!(t.messages[0].role, Role::User);
        assert!(t.messages.iter().map(words).sum::<u64>() <= 30);
        assert_eq!(t.dropped.len() + t.messages.len(), 10);
        assert!(check_valid(&t.messages).is_ok());
    }

    #[test]
    fn never_separates_a_tool_use_from_its_result() {
        let mut h = vec![Message::user("start here please")];
        h.extend(tool_turns("t1"));
        h.push(Message::assistant("done with t1"));
        h.push(Message::user("now again"));
        h.extend(tool_turns("t2"));
        h.push(Message::assistant("final"));
        h.push(Message::user("thanks"));
        // Budget that would cut between a tool_use and its result.
        let t = trim_to_budget(&h, 28, words).unwrap();
        check_valid(&t.messages).unwrap();
        assert!(t.messages[0].text().contains("now again") || t.messages[0].text() == "thanks");
    }

    #[test]
    fn merges_consecutive_turns_of_one_role() {
        let h = vec![
            Message::user("a"),
            Message::user("b"),
            Message::assistant("c"),
        ];
        let n = normalise(&h);
        assert_eq!(n.len(), 2);
        assert_eq!(n[0].content.len(), 2);
    }

    #[test]
    fn refuses_when_the_last_turn_alone_is_too_large() {
        let h = vec![Message::user("one two three four five six")];
        assert_eq!(trim_to_budget(&h, 4, words), None);
    }

    #[test]
    fn a_summary_joins_the_first_user_turn() {
        let mut m = vec![Message::user("latest"), Message::assistant("ok")];
        prepend_summary(&mut m, "we talked about buckets");
        assert!(m[0].text().contains("buckets"));
        check_valid(&m).unwrap();
    }

    fn history() -> impl Strategy<Value = Vec<Message>> {
        // Random valid conversations: text turns and tool exchanges, random lengths.
        prop::collection::vec((0u8..3, 1usize..40), 1..40).prop_map(|steps| {
            let mut h = vec![Message::user("first question")];
            for (n, (kind, len)) in steps.into_iter().enumerate() {
                let text = "w ".repeat(len);
                match kind {
                    0 => {
                        h.push(Message::assistant(text.clone()));
                        h.push(Message::user(text));
                    }
                    1 => {
                        let id = format!("toolu_{n}");
                        h.extend(tool_turns(&id));
                        h.push(Message::assistant(text));
                        h.push(Message::user("go on"));
                    }
                    _ => {
                        // Two user texts in a row (normalisation merges them).
                        h.push(Message::user(text));
                    }
                }
            }
            h
        })
    }

    proptest! {
        #![proptest_config(crate::types::test_seed::config())]
        #[test]
        fn trimmed_histories_are_always_valid_and_within_budget(h in history(), budget in 10u64..400) {
            let input = normalise(&h);
            prop_assert!(check_valid(&input).is_ok(), "generator made an invalid history");
            if let Some(t) = trim_to_budget(&h, budget, words) {
                prop_assert!(check_valid(&t.messages).is_ok(), "{:?}", check_valid(&t.messages));
                let kept: u64 = t.messages.iter().map(words).sum();
                prop_assert!(kept <= budget || t.dropped.is_empty());
                prop_assert_eq!(t.messages.last(), input.last());
                let dropped: u64 = t.dropped.iter().map(words).sum();
                prop_assert_eq!(dropped, t.dropped_tokens);
            }
        }
    }
}
