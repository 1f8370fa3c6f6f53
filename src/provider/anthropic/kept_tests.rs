//! Fixtures of the blocks the runtime keeps without interpreting them: a web search
//! reply (server_tool_use, web_search_tool_result, text with citations, the usage's
//! `server_tool_use`) in the documented shape, decoded plain and streamed, and sent back
//! in the next request unchanged; server tools and documents encoded.

use super::*;
use crate::provider::stream::test_support::{finished_reported, now, ok, run};
use serde_json::{json, Value};

/// A web search reply as the API documents it (ids and encrypted fields shortened).
const SEARCH_REPLY: &str = r#"{
  "id": "msg_a930390d3a", "type": "message", "role": "assistant",
  "model": "claude-sonnet-4-6",
  "content": [
    {"type": "text", "text": "I'll search for when Claude Shannon was born."},
    {"type": "server_tool_use", "id": "srvtoolu_01WYG3ziw53XMcoyKL4XcZmE",
     "name": "web_search", "input": {"query": "claude shannon birth date"}},
    {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_01WYG3ziw53XMcoyKL4XcZmE",
     "content": [{"type": "web_search_result", "url": "https://en.wikipedia.org/wiki/Claude_Shannon",
                  "title": "Claude Shannon - Wikipedia", "encrypted_content": "EqgfCioIARgBIiQ3YTAw",
                  "page_age": "April 30, 2025"}]},
    {"type": "text", "text": "Claude Shannon was born on April 30, 1916, in Petoskey, Michigan",
     "citations": [{"type": "web_search_result_location",
                    "url": "https://en.wikipedia.org/wiki/Claude_Shannon",
                    "title": "Claude Shannon - Wikipedia", "encrypted_index": "Eo8BCioIAhgBIiQy",
                    "cited_text": "Claude Elwood Shannon (April 30, 1916 – February 24, 2001) was"}]}
  ],
  "stop_reason": "end_turn", "stop_sequence": null,
  "usage": {"input_tokens": 6039, "output_tokens": 931,
            "server_tool_use": {"web_search_requests": 1}}
}"#;

fn reply_content() -> Vec<Value> {
    let reply: Value = serde_json::from_str(SEARCH_REPLY).unwrap();
    reply["content"].as_array().unwrap().clone()
}

/// The next request's body after `content` joined the history as the assistant turn.
fn next_request(content: Vec<ContentBlock>) -> Value {
    let req = CompletionRequest::prompt("claude", "When was Claude Shannon born?")
        .tool(Tool::server("web_search_20250305", "web_search").setting("max_uses", 5))
        .message(Message {
            role: Role::Assistant,
            content,
        })
        .user("And where did he die?");
    let r = Anthropic.encode("claude-sonnet-4-6", &req, None).unwrap();
    serde_json::from_slice(&r.body).unwrap()
}

#[test]
fn a_search_reply_is_decoded_whole_and_sent_back_unchanged() {
    let c = Anthropic
        .decode(ok(SEARCH_REPLY), now())
        .unwrap()
        .completion;
    assert_eq!(c.content.len(), 4);
    assert_eq!(c.content[1].raw_type(), Some("server_tool_use"));
    assert_eq!(c.content[2].raw_type(), Some("web_search_tool_result"));
    assert!(
        matches!(&c.content[3], ContentBlock::Text { citations: Some(cs), .. } if cs.len() == 1)
    );
    assert_eq!(c.usage.web_search_requests, 1);
    assert_eq!((c.usage.input_tokens, c.usage.output_tokens), (6039, 931));
    assert!(c.text().starts_with("I'll search"));

    let body = next_request(c.to_message().content);
    assert_eq!(body["messages"][1]["role"], "assistant");
    assert_eq!(
        body["messages"][1]["content"],
        Value::Array(reply_content())
    );
    assert_eq!(
        body["tools"],
        json!([{"type": "web_search_20250305", "name": "web_search", "max_uses": 5}])
    );
}

/// The same reply streamed as the API streams it: a server tool call's input as
/// `input_json_delta`s, its result whole in its start event, citations as
/// `citations_delta`s.
fn search_stream() -> String {
    let content = reply_content();
    let mut events = vec![json!({"type": "message_start", "message": {
        "id": "msg_a930390d3a", "type": "message", "role": "assistant",
        "model": "claude-sonnet-4-6", "content": [], "stop_reason": null,
        "usage": {"input_tokens": 6039, "output_tokens": 1}}})];
    for (index, block) in content.iter().enumerate() {
        let mut start = block.clone();
        let mut deltas = Vec::new();
        match block["type"].as_str().unwrap() {
            "text" => {
                start = json!({"type": "text", "text": ""});
                for c in block["citations"].as_array().into_iter().flatten() {
                    deltas.push(json!({"type": "citations_delta", "citation": c}));
                }
                deltas.push(json!({"type": "text_delta", "text": block["text"]}));
            }
            "server_tool_use" => {
                start["input"] = json!({});
                let input = block["input"].to_string();
                let (a, b) = input.split_at(input.len() / 2);
                for part in ["", a, b] {
                    deltas.push(json!({"type": "input_json_delta", "partial_json": part}));
                }
            }
            _ => {}
        }
        events.push(json!({"type": "content_block_start", "index": index, "content_block": start}));
        for d in deltas {
            events.push(json!({"type": "content_block_delta", "index": index, "delta": d}));
        }
        events.push(json!({"type": "content_block_stop", "index": index}));
    }
    events.push(json!({"type": "message_delta",
        "delta": {"stop_reason": "end_turn", "stop_sequence": null},
        "usage": {"output_tokens": 931, "server_tool_use": {"web_search_requests": 1}}}));
    events.push(json!({"type": "message_stop"}));
    events
        .iter()
        .map(|e| format!("event: {}\ndata: {e}\n\n", e["type"].as_str().unwrap()))
        .collect()
}

#[tokio::test]
async fn a_streamed_search_reply_keeps_the_same_blocks() {
    let plain = Anthropic
        .decode(ok(SEARCH_REPLY), now())
        .unwrap()
        .completion;
    let items = run(
        Box::new(AnthropicStream::new("claude-sonnet-4-6")),
        &search_stream(),
        37,
    )
    .await;
    let streamed = finished_reported(&items);
    assert_eq!(streamed.content, plain.content);
    assert_eq!(streamed.usage, plain.usage);
    assert_eq!(
        next_request(streamed.content)["messages"][1]["content"],
        Value::Array(reply_content())
    );
}

#[test]
fn documents_and_images_by_url_are_sent_in_the_documented_shape() {
    let req = CompletionRequest::new("claude").message(Message {
        role: Role::User,
        content: vec![
            ContentBlock::pdf_base64("JVBERi0x")
                .titled("Report")
                .with_citations(),
            ContentBlock::pdf_url("https://example.com/a.pdf"),
            ContentBlock::text_document("Grass is green."),
            ContentBlock::image_url("https://example.com/cat.png"),
            ContentBlock::text("Summarise."),
        ],
    });
    let r = Anthropic.encode("claude-sonnet-4-6", &req, None).unwrap();
    let body: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(
        body["messages"][0]["content"],
        json!([
            {"type": "document", "title": "Report", "citations": {"enabled": true},
             "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0x"}},
            {"type": "document", "source": {"type": "url", "url": "https://example.com/a.pdf"}},
            {"type": "document",
             "source": {"type": "text", "media_type": "text/plain", "data": "Grass is green."}},
            {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.png"}},
            {"type": "text", "text": "Summarise."}
        ])
    );
}

#[test]
fn only_an_object_with_a_string_type_is_kept_whole() {
    let kept: ContentBlock =
        serde_json::from_value(json!({"type": "container_upload", "file_id": "f"})).unwrap();
    assert_eq!(kept.raw_type(), Some("container_upload"));
    for bad in [
        json!({"file_id": "f"}),
        json!({"type": 3}),
        json!("text"),
        json!([1]),
    ] {
        assert!(
            serde_json::from_value::<ContentBlock>(bad.clone()).is_err(),
            "{bad}"
        );
    }
}

#[tokio::test]
async fn a_streamed_search_reply_hands_on_the_kept_blocks_whole_and_the_citations_in_order() {
    let items = run(
        Box::new(AnthropicStream::new("claude-sonnet-4-6")),
        &search_stream(),
        23,
    )
    .await;
    let content = reply_content();
    let kept = |i: usize| ContentBlock::Raw(content[i].as_object().unwrap().clone());
    let handed: Vec<StreamEvent> = items
        .iter()
        .filter_map(|i| match i {
            Ok(e @ (StreamEvent::Block { .. } | StreamEvent::Citation { .. })) => Some(e.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        handed,
        [
            StreamEvent::Block {
                index: 1,
                block: kept(1)
            },
            StreamEvent::Block {
                index: 2,
                block: kept(2)
            },
            StreamEvent::Citation {
                index: 3,
                citation: content[3]["citations"][0].clone()
            },
        ]
    );
}
