//! Fixture tests of the Responses stream decoder, at every chunking; no HTTP.

use super::*;
use crate::provider::stream::test_support::{
    events, finished, finished_reported, in_cached_out, reasoning, run, run_ok,
};
use crate::provider::StreamEvent;
use serde_json::json;

/// The reference's example stream of a plain answer.
const DOCUMENTED: &str = include_str!("streams/documented.sse");
/// A reasoning model's stream: a reasoning item (summary and encrypted content), then a
/// function call whose arguments come in pieces; cached and reasoning usage.
const REASONING_CALL: &str = include_str!("streams/reasoning_call.sse");
/// Text, then an `error` event.
const ERROR: &str = include_str!("streams/error.sse");
/// An `error` event whose code blames the prompt.
const ERROR_INVALID_PROMPT: &str = include_str!("streams/error_invalid_prompt.sse");

fn decoder() -> Box<ResponsesStream> {
    Box::new(ResponsesStream::new("gpt-4.1"))
}

#[tokio::test]
async fn decodes_the_documented_text_stream_at_any_chunking() {
    for chunk in [1, 7, 64, 100_000] {
        let items = run_ok(decoder(), DOCUMENTED, chunk).await;
        let evs = events(&items);
        assert!(matches!(
            &evs[0],
            StreamEvent::Started { id, provider_model, .. }
                if id.starts_with("resp_67c9") && provider_model == "gpt-4.1-2025-04-14"
        ));
        let deltas: Vec<&StreamEvent> = evs.iter().filter(|e| e.is_delta()).collect();
        assert_eq!(
            deltas,
            [
                &StreamEvent::TextDelta {
                    index: 0,
                    text: "Hi".into()
                },
                &StreamEvent::TextDelta {
                    index: 0,
                    text: " there!".into()
                }
            ]
        );
        let c = finished_reported(&items);
        assert_eq!(c.text(), "Hi there!");
        assert_eq!(c.stop_reason, StopReason::EndTurn);
        assert_eq!((c.usage.input_tokens, c.usage.output_tokens), (37, 11));
    }
}

#[tokio::test]
async fn decodes_reasoning_then_a_function_call_streamed_in_pieces() {
    for chunk in [1, 13, 100_000] {
        let items = run(decoder(), REASONING_CALL, chunk).await;
        let evs = events(&items);
        let deltas: Vec<&StreamEvent> = evs.iter().filter(|e| e.is_delta()).collect();
        let whole = StreamEvent::Block {
            index: 0,
            block: reasoning("rs_abc", "Need the weather.", "gAAAAABoENC=="),
        };
        assert_eq!(
            deltas,
            [
                &whole,
                &StreamEvent::ToolUseStart {
                    index: 1,
                    id: "call_W1".into(),
                    name: "get_weather".into()
                },
                &StreamEvent::ToolInputDelta {
                    index: 1,
                    partial_json: "{\"city\":".into()
                },
                &StreamEvent::ToolInputDelta {
                    index: 1,
                    partial_json: "\"Paris\"}".into()
                },
            ]
        );
        let (c, _) = finished(&items);
        assert_eq!(
            c.content,
            vec![
                reasoning("rs_abc", "Need the weather.", "gAAAAABoENC=="),
                ContentBlock::tool_use("call_W1", "get_weather", json!({"city": "Paris"})),
            ]
        );
        assert_eq!(c.stop_reason, StopReason::ToolUse);
        assert_eq!(in_cached_out(&c.usage), (56, 64, 90));
    }
}

#[tokio::test]
async fn a_completed_event_without_output_keeps_what_the_stream_delivered() {
    // Everything up to the last item, then a `response.completed` naming no output
    // and no usage (as a terse proxy might send): the items gathered from the stream
    // make the answer, and output is counted locally.
    let mut text: String = REASONING_CALL
        .split("\n\n")
        .filter(|e| !e.contains("response.completed") && !e.trim().is_empty())
        .map(|e| format!("{e}\n\n"))
        .collect();
    text.push_str("event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"id\":\"resp_r1\",\"status\":\"completed\",\"output\":[]}}\n\n");
    let items = run(decoder(), &text, 5).await;
    let (c, estimated) = finished(&items);
    assert!(estimated);
    assert_eq!(c.content.len(), 2, "{:?}", c.content);
    assert_eq!(c.stop_reason, StopReason::ToolUse);
    assert!(c.usage.output_tokens > 0);
}

#[tokio::test]
async fn an_error_event_is_a_mid_stream_failure_after_the_delivered_text() {
    let items = run(decoder(), ERROR, 9).await;
    let evs = events(&items);
    assert!(evs.contains(&StreamEvent::TextDelta {
        index: 0,
        text: "Par".into()
    }));
    let failure = items
        .iter()
        .find_map(|i| i.as_ref().err())
        .expect("a failure");
    match &failure.error {
        ProviderError::MidStream { error, .. } => {
            assert!(matches!(**error, ProviderError::Server { .. }), "{error:?}");
        }
        other => panic!("not a mid-stream error: {other:?}"),
    }
}

#[tokio::test]
async fn an_error_event_blaming_the_prompt_is_a_bad_request_not_retried() {
    let items = run(decoder(), ERROR_INVALID_PROMPT, 9).await;
    let failure = items
        .iter()
        .find_map(|i| i.as_ref().err())
        .expect("a failure");
    let e = failure.error.underlying();
    assert!(
        matches!(e, ProviderError::BadRequest { message }
            if message.contains("invalid_prompt") && message.contains("flagged")),
        "{e:?}"
    );
    assert!(!failure.error.is_retryable());
}

#[tokio::test]
async fn a_failed_response_and_a_cut_stream_are_errors() {
    let failed = "event: response.failed\ndata: {\"type\":\"response.failed\",\"response\":{\"id\":\"r\",\"status\":\"failed\",\"error\":{\"code\":\"rate_limit_exceeded\",\"message\":\"Rate limit reached. Please try again in 2s.\"}}}\n\n";
    let items = run(decoder(), failed, 4).await;
    assert!(
        items.iter().any(|i| matches!(
            i,
            Err(ProviderFailure { error: ProviderError::MidStream { error, .. }, .. })
                if matches!(**error, ProviderError::RateLimited { .. })
        )),
        "{items:?}"
    );
    let cut: String = DOCUMENTED
        .split("\n\n")
        .take(5)
        .map(|e| format!("{e}\n\n"))
        .collect();
    let items = run(decoder(), &cut, 11).await;
    assert!(items.last().is_some_and(Result::is_err), "{items:?}");
}

#[tokio::test]
async fn a_built_in_tool_item_takes_no_block_index() {
    let sent = [
        json!({"type": "response.created", "response": {"id": "resp_w", "model": "gpt-4.1", "output": []}}),
        json!({"type": "response.output_item.added", "output_index": 0,
               "item": {"type": "web_search_call", "id": "ws_1", "status": "in_progress"}}),
        json!({"type": "response.output_item.done", "output_index": 0,
               "item": {"type": "web_search_call", "id": "ws_1", "status": "completed"}}),
        json!({"type": "response.output_item.added", "output_index": 1,
               "item": {"type": "message", "id": "msg_1", "role": "assistant", "content": []}}),
        json!({"type": "response.output_text.delta", "output_index": 1, "content_index": 0,
               "item_id": "msg_1", "delta": "Found it."}),
        json!({"type": "response.completed", "response": {"id": "resp_w", "status": "completed",
               "model": "gpt-4.1", "output": [
                   {"type": "web_search_call", "id": "ws_1", "status": "completed"},
                   {"type": "message", "id": "msg_1", "role": "assistant",
                    "content": [{"type": "output_text", "text": "Found it."}]}],
               "usage": {"input_tokens": 9, "output_tokens": 3}}}),
    ];
    let text: String = sent
        .iter()
        .map(|e| format!("event: {}\ndata: {e}\n\n", e["type"].as_str().unwrap()))
        .collect();
    let items = run(decoder(), &text, 3).await;
    assert!(events(&items).contains(&StreamEvent::TextDelta {
        index: 0,
        text: "Found it.".into()
    }));
    let (c, _) = finished(&items);
    assert_eq!(c.content, vec![ContentBlock::text("Found it.")]);
}

/// `sent` as an SSE body, each event named by its `type`.
fn sse(sent: &[serde_json::Value]) -> String {
    sent.iter()
        .map(|e| format!("event: {}\ndata: {e}\n\n", e["type"].as_str().unwrap_or("")))
        .collect()
}

#[tokio::test]
async fn an_incomplete_stream_finishes_with_the_length_or_filter_stop_reason() {
    for (reason, want) in [
        ("max_output_tokens", StopReason::MaxTokens),
        ("content_filter", StopReason::ContentFilter),
    ] {
        let message = json!({"type": "message", "id": "msg_1", "role": "assistant",
                             "status": "incomplete",
                             "content": [{"type": "output_text", "text": "Once"}]});
        let end = |output: serde_json::Value| {
            json!({"type": "response.incomplete", "response": {
                "id": "resp_i", "status": "incomplete", "model": "gpt-4.1", "error": null,
                "incomplete_details": {"reason": reason}, "output": output,
                "usage": {"input_tokens": 9, "output_tokens": 1}}})
        };
        let start = [
            json!({"type": "response.created", "response": {"id": "resp_i", "model": "gpt-4.1",
                   "status": "in_progress", "output": []}}),
            json!({"type": "response.output_item.added", "output_index": 0,
                   "item": {"type": "message", "id": "msg_1", "role": "assistant", "content": []}}),
            json!({"type": "response.output_text.delta", "output_index": 0, "content_index": 0,
                   "item_id": "msg_1", "delta": "Once"}),
        ];
        // With the whole output in the final event, and with none (as a terse proxy).
        for output in [json!([message]), json!([])] {
            let mut sent = start.to_vec();
            sent.push(end(output));
            let items = run_ok(decoder(), &sse(&sent), 7).await;
            let c = finished_reported(&items);
            assert_eq!(c.stop_reason, want, "{reason}");
            assert_eq!(c.text(), "Once");
        }
    }
}

/// A `response.failed` event and an `error` event mean the same by the same code.
#[tokio::test]
async fn a_failed_stream_is_classified_by_its_code() {
    let failed = |code: &str| {
        sse(&[json!({"type": "response.failed", "response": {
            "id": "r", "status": "failed", "output": [],
            "error": {"code": code, "message": "It failed."}}})])
    };
    let error_event = |code: &str| {
        sse(&[
            json!({"type": "error", "code": code, "message": "It failed.",
                     "param": null, "sequence_number": 0}),
        ])
    };
    let underlying = |items: &[Result<StreamEvent, ProviderFailure>]| {
        items
            .iter()
            .find_map(|i| i.as_ref().err())
            .map(|f| f.error.underlying().clone())
            .expect("a failure")
    };
    for stream in [failed, error_event] {
        let e = underlying(&run(decoder(), &stream("server_error"), 5).await);
        assert!(
            matches!(e, ProviderError::Server { status: 500, .. }),
            "{e:?}"
        );
        assert!(e.is_retryable());
        let e = underlying(&run(decoder(), &stream("vector_store_timeout"), 5).await);
        assert!(
            matches!(e, ProviderError::Server { status: 504, .. }),
            "{e:?}"
        );
        let e = underlying(&run(decoder(), &stream("rate_limit_exceeded"), 5).await);
        assert!(matches!(e, ProviderError::RateLimited { .. }), "{e:?}");
        for code in ["invalid_prompt", "image_too_large", "a_future_code"] {
            let e = underlying(&run(decoder(), &stream(code), 5).await);
            assert!(
                matches!(&e, ProviderError::BadRequest { message } if message.contains(code)),
                "{code}: {e:?}"
            );
            assert!(!e.is_retryable(), "{code}");
        }
    }
}
