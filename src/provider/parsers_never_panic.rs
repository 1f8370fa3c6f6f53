//! Property tests: every parser of what a provider sends (rate-limit headers,
//! `retry-after`, Go durations, error bodies, both SSE decoders, whole SSE bodies cut
//! into arbitrary chunks) returns `Ok`/`Err`/`None` on any input and never panics.
//!
//! 256 cases each by default; `PROPTEST_CASES=100000 cargo test --workspace
//! parsers_never_panic` for a long run.

use super::anthropic::AnthropicStream;
use super::openai::OpenAiStream;
use super::responses::ResponsesStream;
use super::stream::{ProviderStream, SseEvent, StreamDecoder, StreamEvent};
use super::{classify, ratelimit, RateLimitSnapshot, TransportError};
use bytes::Bytes;
use futures_util::StreamExt;
use proptest::prelude::*;
use proptest::test_runner::TestRunner;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{json, Value};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Every header the classifier reads: retry hints, request ids, then each vendor's
/// rate-limit headers.
fn header_names() -> Vec<String> {
    let mut names: Vec<String> = [
        "retry-after",
        "retry-after-ms",
        "x-should-retry",
        "request-id",
        "x-request-id",
    ]
    .map(String::from)
    .into();
    for dim in ["requests", "input-tokens", "output-tokens", "tokens"] {
        for part in ["limit", "remaining", "reset"] {
            names.push(format!("anthropic-ratelimit-{dim}-{part}"));
        }
    }
    for dim in ["requests", "tokens"] {
        for part in ["limit", "remaining", "reset"] {
            names.push(format!("x-ratelimit-{part}-{dim}"));
        }
    }
    names
}

fn runner() -> TestRunner {
    TestRunner::new(crate::types::test_seed::config())
}

/// Any instant from 1970 to the year 9999.
fn any_now() -> impl Strategy<Value = SystemTime> {
    (0u64..=253_402_300_799).prop_map(|s| UNIX_EPOCH + Duration::from_secs(s))
}

/// Header values: raw bytes, and text shaped like the real thing (numbers, Go
/// durations, HTTP and RFC 3339 dates) with arbitrary digits.
fn header_value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..48),
        "[-+0-9.eE]{0,24}".prop_map(String::into_bytes),
        "([0-9]{1,22}(\\.[0-9]{0,22})?(h|m|s|ms|us|µs|μs|ns|x)?){0,5}".prop_map(String::into_bytes),
        "(Mon|Sun|Xyz), [0-9]{1,3} (Jan|Dec|Foo) [0-9]{1,6} [0-9]{1,3}:[0-9]{1,3}:[0-9]{1,3} GMT"
            .prop_map(String::into_bytes),
        "[0-9]{1,6}-[0-9]{1,3}-[0-9]{1,3}T[0-9]{1,3}:[0-9]{1,3}:[0-9]{1,3}(\\.[0-9]{0,12})?(Z|[+-][0-9]{2}:[0-9]{2})"
            .prop_map(String::into_bytes),
        "\\PC{0,40}".prop_map(String::into_bytes),
    ]
}

fn headers() -> impl Strategy<Value = HeaderMap> {
    let name = prop_oneof![proptest::sample::select(header_names()), "[a-z-]{1,40}",];
    proptest::collection::vec((name, header_value()), 0..12).prop_map(|pairs| {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            if let (Ok(n), Ok(v)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_bytes(&value),
            ) {
                map.append(n, v);
            }
        }
        map
    })
}

#[test]
fn parsers_never_panic_on_rate_limit_headers() {
    runner()
        .run(&(headers(), any_now()), |(h, now)| {
            let snapshot = ratelimit::parse(&h, now);
            let _ = snapshot.exhausted_reset();
            let _ = ratelimit::parse_retry_after(&h, now);
            Ok(())
        })
        .unwrap();
}

#[test]
fn parsers_never_panic_on_durations_and_hints() {
    let text = prop_oneof![
        "\\PC{0,60}",
        "([0-9]{0,40}(\\.[0-9]{0,40})?(h|m|s|ms|us|µs|μs|ns|\\.)?){0,8}",
        "\\PC{0,20}(try again in|Try Again In) [0-9.µμhmsnu]{0,30}\\PC{0,10}",
    ];
    runner()
        .run(&text, |s| {
            let _ = ratelimit::parse_go_duration(&s);
            let _ = ratelimit::parse_try_again_hint(&s);
            Ok(())
        })
        .unwrap();
}

/// Error bodies: arbitrary bytes, and JSON in both providers' error shapes with
/// arbitrary fields.
fn error_body() -> impl Strategy<Value = Vec<u8>> {
    let s = || "\\PC{0,40}";
    let kind = prop_oneof![
        Just("rate_limit_error".to_string()),
        Just("overloaded_error".to_string()),
        Just("insufficient_quota".to_string()),
        Just("request_too_large".to_string()),
        Just("api_error".to_string()),
        "[a-z_]{0,20}",
    ];
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..200),
        (kind.clone(), s(), any::<bool>()).prop_map(|(k, m, nested)| {
            let body = if nested {
                json!({"type": "error", "error": {"type": k, "message": m, "details": {"error_code": k}}})
            } else {
                json!({"error": {"type": k, "code": k, "message": m, "param": null}})
            };
            body.to_string().into_bytes()
        }),
        (kind, s(), 0usize..200).prop_map(|(k, m, cut)| {
            let text = json!({"error": {"type": k, "message": m}}).to_string();
            text.as_bytes()[..cut.min(text.len())].to_vec()
        }),
    ]
}

#[test]
fn parsers_never_panic_on_error_bodies() {
    let status = prop_oneof![
        0u16..1000,
        proptest::sample::select(
            &[400u16, 401, 402, 403, 404, 408, 409, 413, 422, 429, 500, 503, 529][..]
        )
    ];
    runner()
        .run(
            &(status, headers(), error_body(), any_now()),
            |(status, h, body, now)| {
                let e = classify::classify(status, &h, &body, now);
                let _ = (e.to_string(), format!("{e:?}"), e.retry_after(), e.status());
                let e = classify::classify_stream_error(&body, now);
                let _ = (e.to_string(), e.is_retryable());
                Ok(())
            },
        )
        .unwrap();
}

/// One SSE event (`event` name, `data`): either arbitrary text, or one of the events
/// either wire sends with arbitrary fields, possibly cut short.
fn sse_event() -> impl Strategy<Value = (String, String)> {
    let n = || prop_oneof![0u64..100_000, any::<u64>()];
    let idx = || prop_oneof![0u64..4, any::<u64>()];
    let s = || "\\PC{0,12}";
    let block_type = proptest::sample::select(
        &["text", "tool_use", "thinking", "redacted_thinking", "other"][..],
    );
    let delta_type = proptest::sample::select(
        &[
            "text_delta",
            "input_json_delta",
            "thinking_delta",
            "signature_delta",
        ][..],
    );
    let anthropic = prop_oneof![
        (s(), s(), n(), n(), n(), n()).prop_map(|(id, model, a, b, c, d)| json!({
            "type": "message_start",
            "message": {"id": id, "model": model, "usage": {"input_tokens": a, "output_tokens": b,
                "cache_read_input_tokens": c, "cache_creation_input_tokens": d}}})),
        (idx(), block_type, s(), s()).prop_map(|(i, t, text, name)| json!({
            "type": "content_block_start", "index": i,
            "content_block": {"type": t, "text": text, "id": name, "name": name,
                "thinking": text, "signature": name, "data": text}})),
        (idx(), delta_type, s()).prop_map(|(i, t, text)| json!({
            "type": "content_block_delta", "index": i,
            "delta": {"type": t, "text": text, "partial_json": text, "thinking": text,
                "signature": text}})),
        idx().prop_map(|i| json!({"type": "content_block_stop", "index": i})),
        (s(), n(), n()).prop_map(|(r, a, b)| json!({
            "type": "message_delta", "delta": {"stop_reason": r, "stop_sequence": null},
            "usage": {"output_tokens": a, "input_tokens": b}})),
        Just(json!({"type": "message_stop"})),
        (s(), s()).prop_map(|(k, m)| json!({"type": "error", "error": {"type": k, "message": m}})),
    ];
    let openai = (
        s(),
        idx(),
        proptest::option::of(s()),
        proptest::option::of(s()),
        proptest::option::of((idx(), s(), s(), s())),
        proptest::option::of(s()),
        proptest::option::of((n(), n(), n())),
    )
        .prop_map(|(id, choice, content, refusal, call, finish, usage)| {
            let mut delta = json!({"content": content, "refusal": refusal});
            if let Some((i, cid, name, args)) = call {
                delta["tool_calls"] =
                    json!([{"index": i, "id": cid, "function": {"name": name, "arguments": args}}]);
            }
            let mut chunk = json!({"id": id, "model": "gpt-4o", "choices": [
                {"index": choice, "delta": delta, "finish_reason": finish}]});
            if let Some((p, c, cached)) = usage {
                chunk["usage"] = json!({"prompt_tokens": p, "completion_tokens": c,
                    "prompt_tokens_details": {"cached_tokens": cached}});
            }
            chunk
        });
    let item_type = || {
        proptest::sample::select(&["message", "function_call", "reasoning", "web_search_call"][..])
    };
    let item = move || {
        (item_type(), s(), s(), s()).prop_map(|(t, id, name, text)| json!({
            "type": t, "id": id, "call_id": id, "name": name, "arguments": text,
            "summary": [{"type": "summary_text", "text": text}], "encrypted_content": text,
            "content": [{"type": "output_text", "text": text}, {"type": "refusal", "refusal": name}]}))
    };
    let status = || proptest::sample::select(&["completed", "incomplete", "failed", "x"][..]);
    let responses = prop_oneof![
        (s(), s()).prop_map(|(id, model)| json!({"type": "response.created",
            "response": {"id": id, "model": model, "status": "in_progress", "output": []}})),
        (
            proptest::sample::select(
                &["response.output_item.added", "response.output_item.done"][..]
            ),
            idx(),
            item()
        )
            .prop_map(|(t, i, item)| json!({"type": t, "output_index": i, "item": item})),
        (
            proptest::sample::select(
                &[
                    "response.output_text.delta",
                    "response.function_call_arguments.delta",
                    "response.refusal.delta"
                ][..]
            ),
            idx(),
            s()
        )
            .prop_map(|(t, i, d)| json!({"type": t, "output_index": i, "delta": d})),
        (
            proptest::sample::select(&["response.completed", "response.incomplete"][..]),
            status(),
            proptest::collection::vec(item(), 0..3),
            n(),
            n(),
            n(),
            n()
        )
            .prop_map(
                |(t, st, output, a, b, c, d)| json!({"type": t, "response": {
                "id": "r", "status": st, "output": output,
                "incomplete_details": {"reason": "max_output_tokens"},
                "usage": {"input_tokens": a, "output_tokens": b,
                    "input_tokens_details": {"cached_tokens": c},
                    "output_tokens_details": {"reasoning_tokens": d}}}})
            ),
        (s(), s()).prop_map(|(code, m)| json!({"type": "response.failed",
            "response": {"status": "failed", "error": {"code": code, "message": m}}})),
        (s(), s()).prop_map(|(code, m)| json!({"type": "error", "code": code, "message": m})),
    ];
    let name = prop_oneof![
        proptest::sample::select(
            &[
                "message",
                "message_start",
                "content_block_start",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop",
                "ping",
                "error",
            ][..]
        )
        .prop_map(str::to_string),
        "\\PC{0,12}",
    ];
    let data = prop_oneof![
        3 => (prop_oneof![anthropic, openai, responses], any::<Option<usize>>()).prop_map(|(v, cut): (Value, _)| {
            let text = v.to_string();
            match cut {
                // Cut at a char boundary at or before `c`.
                Some(c) => {
                    let mut c = c % (text.len() + 1);
                    while !text.is_char_boundary(c) {
                        c -= 1;
                    }
                    text[..c].to_string()
                }
                None => text,
            }
        }),
        1 => Just("[DONE]".to_string()),
        1 => "\\PC{0,60}",
    ];
    (name, data)
}

fn decoders() -> Vec<Box<dyn StreamDecoder>> {
    vec![
        Box::new(AnthropicStream::new("claude-sonnet-4-5")),
        // Structured output: the tool named "" (an empty generated name) becomes text.
        Box::new(AnthropicStream::new("claude-sonnet-4-5").structured_output("")),
        Box::new(OpenAiStream::new("gpt-4o")),
        Box::new(ResponsesStream::new("o4-mini")),
    ]
}

/// Decoded counts are clamped, so the broker's plain sums of them cannot overflow.
fn check_usage(u: &crate::types::Usage) {
    let _ = u.input_tokens
        + u.cache_creation_input_tokens
        + u.cache_read_input_tokens
        + u.output_tokens;
}

fn check_finished(events: &[StreamEvent]) {
    for ev in events {
        match ev {
            StreamEvent::Finished { completion, .. } => check_usage(&completion.usage),
            StreamEvent::Started { usage, .. } => check_usage(usage),
            _ => {}
        }
    }
}

#[test]
fn parsers_never_panic_on_sse_events_fed_to_any_decoder() {
    let events = proptest::collection::vec(sse_event(), 0..24);
    runner()
        .run(&(events, any_now()), |(events, now)| {
            for mut decoder in decoders() {
                let mut out = Vec::new();
                for (event, data) in &events {
                    // Keep feeding after `Done` and errors too: a decoder must hold up.
                    let _ = decoder.on_event(SseEvent { event, data, now }, &mut out);
                    check_usage(&decoder.partial_usage());
                }
                let _ = decoder.on_eof(&mut out);
                check_finished(&out);
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn parsers_never_panic_on_sse_bodies_cut_into_arbitrary_chunks() {
    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        panic!("no runtime");
    };
    let piece = prop_oneof![
        4 => sse_event().prop_map(|(e, d)| format!("event: {e}\ndata: {d}\n\n").into_bytes()),
        1 => proptest::collection::vec(any::<u8>(), 0..40),
        1 => proptest::sample::select(&[":\n", "\n", "\r\n", "data:", "retry: x\n", "id: 1\n"][..])
            .prop_map(|s| s.as_bytes().to_vec()),
    ];
    let body = (
        proptest::collection::vec(piece, 0..16),
        proptest::collection::vec(any::<usize>(), 0..12),
        any::<bool>(),
    );
    runner()
        .run(&body, |(pieces, cuts, fail_at_end)| {
            let bytes: Vec<u8> = pieces.concat();
            let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
            cuts.push(bytes.len());
            cuts.sort_unstable();
            let mut chunks: Vec<Result<Bytes, TransportError>> = Vec::new();
            let mut start = 0;
            for c in cuts {
                chunks.push(Ok(Bytes::copy_from_slice(&bytes[start..c])));
                start = c;
            }
            if fail_at_end {
                chunks.push(Err(TransportError::Connection("reset".into())));
            }
            for decoder in decoders() {
                let body = futures_util::stream::iter(chunks.clone()).boxed();
                let stream = ProviderStream::new(decoder, body, RateLimitSnapshot::default());
                let items: Vec<_> = rt.block_on(stream.collect());
                for item in &items {
                    match item {
                        Ok(ev) => check_finished(std::slice::from_ref(ev)),
                        Err(f) => {
                            let _ = f.error.to_string();
                            check_usage(&f.error.partial_usage());
                        }
                    }
                }
            }
            Ok(())
        })
        .unwrap();
}

/// Found by the properties above: a usage report of `u64::MAX` tokens overflowed
/// `Usage::total_input` (a panic in debug builds, in the broker too).
#[test]
fn huge_usage_counts_are_clamped_when_decoded() {
    let now = UNIX_EPOCH;
    let mut out = Vec::new();
    let mut a = AnthropicStream::new("claude-sonnet-4-5");
    let start = json!({"type": "message_start", "message": {"id": "m", "model": "claude-sonnet-4-5",
        "usage": {"input_tokens": u64::MAX, "output_tokens": 1,
                  "cache_read_input_tokens": u64::MAX, "cache_creation_input_tokens": u64::MAX}}});
    a.on_event(
        SseEvent {
            event: "message_start",
            data: &start.to_string(),
            now,
        },
        &mut out,
    )
    .unwrap();
    let u = a.partial_usage();
    assert_eq!(u.input_tokens, crate::types::Usage::MAX_REPORTED);
    assert_eq!(u.total_input(), 3 * crate::types::Usage::MAX_REPORTED);

    let mut o = OpenAiStream::new("gpt-4o");
    let chunk = json!({"id": "c", "model": "gpt-4o", "choices": [],
        "usage": {"prompt_tokens": u64::MAX, "completion_tokens": u64::MAX,
                  "prompt_tokens_details": {"cached_tokens": u64::MAX}}});
    o.on_event(
        SseEvent {
            event: "message",
            data: &chunk.to_string(),
            now,
        },
        &mut out,
    )
    .unwrap();
    o.on_event(
        SseEvent {
            event: "message",
            data: "[DONE]",
            now,
        },
        &mut out,
    )
    .unwrap();
    let Some(StreamEvent::Finished { completion, .. }) = out.last() else {
        panic!("{out:?}");
    };
    assert_eq!(completion.usage.input_tokens, 0);
    assert_eq!(
        completion.usage.cache_read_input_tokens,
        crate::types::Usage::MAX_REPORTED
    );
    assert_eq!(
        completion.usage.output_tokens,
        crate::types::Usage::MAX_REPORTED
    );
}
