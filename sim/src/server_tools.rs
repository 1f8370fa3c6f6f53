//! Anthropic server tools and citations in the simulated Messages API.
//!
//! - **Web search.** A request offering a `web_search_*` tool (`{"type":
//!   "web_search_20250305", "name": "web_search", "max_uses": N}`) is answered with
//!   searches: per search a `server_tool_use` block (`srvtoolu_` id, `input.query` taken
//!   from the user's question) and a `web_search_tool_result` block of two
//!   `web_search_result`s, then a text block citing the last result
//!   (`web_search_result_location`). The model wants `max_uses` searches (1 when
//!   absent); a response runs at most [`SEARCHES_PER_RESPONSE`] of them — standing in
//!   for the real API's server-side iteration limit — and stops with `pause_turn` when
//!   more remain. A request ending with that assistant turn continues it: the searches
//!   already in it count. `usage.server_tool_use.web_search_requests` says how many ran.
//! - **Document citations.** When the last user turn has a text `document` with
//!   `citations: {"enabled": true}`, the answer cites its first sentence
//!   (`char_location`, with `document_index` and `document_title`).
//!
//! Everything is derived from the request hash, so identical requests get identical
//! blocks. Server blocks and citations are not output tokens, except the search
//! query the model writes.

use super::content::Part;
use super::reply;
use serde_json::{json, Value};

/// The most searches one response runs before it pauses (`pause_turn`).
pub(super) const SEARCHES_PER_RESPONSE: u64 = 2;

/// The web search tool a request offers: its name and the searches the model wants.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct WebSearch {
    name: String,
    wanted: u64,
}

/// The request's web search server tool, if it offers one.
pub(super) fn web_search(body: &Value) -> Option<WebSearch> {
    let tool = body.get("tools")?.as_array()?.iter().find(|t| {
        t.get("type")
            .and_then(Value::as_str)
            .is_some_and(|k| k.starts_with("web_search_"))
    })?;
    Some(WebSearch {
        name: tool
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("web_search")
            .to_string(),
        wanted: tool
            .get("max_uses")
            .and_then(Value::as_u64)
            .unwrap_or(1)
            .max(1),
    })
}

fn blocks(m: &Value) -> &[Value] {
    m.get("content")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

fn of_type<'a>(blocks: &'a [Value], kind: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
    blocks
        .iter()
        .filter(move |b| b.get("type").and_then(Value::as_str) == Some(kind))
}

/// Searches already run in the turn being continued: the results in a trailing
/// assistant turn (0 when the request ends with a user turn).
fn searches_done(messages: &[Value]) -> u64 {
    match messages.last() {
        Some(m) if m.get("role").and_then(Value::as_str) == Some("assistant") => {
            of_type(blocks(m), "web_search_tool_result").count() as u64
        }
        _ => 0,
    }
}

/// The text of the last user turn (its text blocks joined), the search's query source.
fn question(messages: &[Value]) -> String {
    let Some(user) = messages
        .iter()
        .rev()
        .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))
    else {
        return String::new();
    };
    match user.get("content") {
        Some(Value::String(s)) => s.clone(),
        _ => of_type(blocks(user), "text")
            .filter_map(|b| b.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(" "),
    }
}

/// What a web search turn answers: the searches run now and, when none remain, the
/// cited text; `paused` when it stops with `pause_turn`.
pub(super) struct Searched {
    pub parts: Vec<Part>,
    pub searches: u64,
    pub paused: bool,
}

/// Runs the searches this response does (see the module doc), then the answer `text`
/// (of `tokens` output tokens) citing the last result unless searches remain.
pub(super) fn search(
    tool: &WebSearch,
    messages: &[Value],
    hash: u64,
    text: String,
    tokens: u64,
) -> Searched {
    let done = searches_done(messages);
    let remaining = tool.wanted.saturating_sub(done);
    let now = remaining.min(SEARCHES_PER_RESPONSE);
    let words: Vec<String> = question(messages)
        .split_whitespace()
        .take(8)
        .map(String::from)
        .collect();
    let query = if words.is_empty() {
        "latest news".to_string()
    } else {
        words.join(" ")
    };
    let mut parts = Vec::new();
    let mut last = None;
    for i in 0..now {
        let n = done + i;
        let salt = hash ^ n.wrapping_mul(0x9e37_79b9);
        let id = format!("srvtoolu_{}", reply::hex_id(salt, 24));
        let results: Vec<Value> = (0..2)
            .map(|r| {
                json!({
                    "type": "web_search_result",
                    "url": format!("https://example.com/{}/{r}", reply::hex_id(salt ^ r, 8)),
                    "title": format!("Result {r} of search {n}"),
                    "encrypted_content": reply::hex_id(salt ^ (r + 7), 48),
                    "page_age": "April 30, 2026",
                })
            })
            .collect();
        last = results.first().cloned();
        let input = json!({"query": query});
        parts.push(Part::Server {
            tokens: (words.len() as u64).max(1) + 2,
            block: json!({"type": "server_tool_use", "id": id, "name": tool.name, "input": input}),
        });
        parts.push(Part::Server {
            block: json!({"type": "web_search_tool_result", "tool_use_id": id, "content": results}),
            tokens: 0,
        });
    }
    if done + now < tool.wanted {
        return Searched {
            parts,
            searches: now,
            paused: true,
        };
    }
    let citations = match last {
        Some(r) => vec![json!({
            "type": "web_search_result_location",
            "url": r["url"],
            "title": r["title"],
            "encrypted_index": reply::hex_id(hash ^ 0x6369_7465, 32),
            "cited_text": first_words(&text, 6),
        })],
        None => Vec::new(),
    };
    parts.push(Part::Text {
        text,
        tokens,
        citations,
    });
    Searched {
        parts,
        searches: now,
        paused: false,
    }
}

fn first_words(text: &str, n: usize) -> String {
    text.split_whitespace()
        .take(n)
        .collect::<Vec<_>>()
        .join(" ")
}

/// `char_location` citations of the text documents with citations enabled in the last
/// user turn: each cites its first sentence (at most 200 characters).
pub(super) fn document_citations(messages: &[Value]) -> Vec<Value> {
    let Some(user) = messages.last() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (index, doc) in of_type(blocks(user), "document").enumerate() {
        let enabled = doc.pointer("/citations/enabled").and_then(Value::as_bool);
        let source = doc.get("source");
        let text = source
            .filter(|s| s.get("type").and_then(Value::as_str) == Some("text"))
            .and_then(|s| s.get("data"))
            .and_then(Value::as_str);
        let (Some(true), Some(text)) = (enabled, text) else {
            continue;
        };
        let cited: String = text
            .split_inclusive(['.', '\n'])
            .next()
            .unwrap_or(text)
            .chars()
            .take(200)
            .collect();
        out.push(json!({
            "type": "char_location",
            "cited_text": cited,
            "document_index": index,
            "document_title": doc.get("title").cloned().unwrap_or(Value::Null),
            "start_char_index": 0,
            "end_char_index": cited.chars().count(),
        }));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(max_uses: u64) -> Value {
        json!({"tools": [{"type": "web_search_20250305", "name": "web_search", "max_uses": max_uses}]})
    }

    #[test]
    fn one_search_answers_with_a_citation_of_its_result() {
        let tool = web_search(&body(1)).unwrap();
        let messages = vec![json!({"role": "user", "content": "who won the cup"})];
        let s = search(&tool, &messages, 7, "The answer is here".into(), 4);
        assert!(!s.paused);
        assert_eq!(s.searches, 1);
        let kinds: Vec<Value> = s.parts.iter().map(|p| p.json()["type"].clone()).collect();
        assert_eq!(
            kinds,
            vec![
                json!("server_tool_use"),
                json!("web_search_tool_result"),
                json!("text")
            ]
        );
        let text = s.parts[2].json();
        assert_eq!(text["citations"][0]["type"], "web_search_result_location");
        assert_eq!(s.parts[0].json()["input"]["query"], "who won the cup");
    }

    #[test]
    fn more_searches_than_a_response_runs_pause_then_continue() {
        let tool = web_search(&body(3)).unwrap();
        let mut messages = vec![json!({"role": "user", "content": "compare three things"})];
        let first = search(&tool, &messages, 9, "Done".into(), 1);
        assert!(first.paused);
        assert_eq!(first.searches, SEARCHES_PER_RESPONSE);
        let content: Vec<Value> = first.parts.iter().map(Part::json).collect();
        messages.push(json!({"role": "assistant", "content": content}));
        let rest = search(&tool, &messages, 10, "Done".into(), 1);
        assert!(!rest.paused);
        assert_eq!(rest.searches, 1);
    }

    #[test]
    fn cites_a_text_document_with_citations_enabled() {
        let messages = vec![json!({"role": "user", "content": [
            {"type": "document", "source": {"type": "text", "media_type": "text/plain",
             "data": "Grass is green. Sky is blue."}, "title": "Colors", "citations": {"enabled": true}},
            {"type": "text", "text": "What color is grass?"}
        ]})];
        let c = document_citations(&messages);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0]["cited_text"], "Grass is green.");
        assert_eq!(c[0]["document_title"], "Colors");
        assert_eq!(c[0]["end_char_index"], 15);
    }
}
