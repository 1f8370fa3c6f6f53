//! `POST /v1/messages` past the common checks: parameter rules, thinking, the spend cap,
//! faults, prompt caching, admission, and the reply (thinking, text, tool_use blocks;
//! web searches and citations, see `server_tools`).

use super::anthropic_reject::{fault, rate_limited, Reject};
use super::anthropic_request::{admit_common, max_tokens};
use super::cache;
use super::content::{self, Part};
use super::limiter::Cost;
use super::reply::{self, End};
use super::stream::{named_event, Plan};
use super::{schema, server_tools, thinking, tokens, tools, validate, Seen, Simulator};
use quotaswarm::config::OtpmMode;
use quotaswarm::provider::HttpRequest;
use serde_json::{json, Value};

/// What a successful create produced.
pub(super) enum Answer {
    Json(Value),
    Stream(Box<Plan>),
}

/// The fields whose values shape the answer.
const SHAPING: &[&str] = &[
    "model",
    "system",
    "messages",
    "max_tokens",
    "temperature",
    "top_p",
    "top_k",
    "stop_sequences",
    "tools",
    "tool_choice",
    "thinking",
    "output_config",
];

pub(super) async fn create(
    sim: &Simulator,
    request: &HttpRequest,
    seen: &mut Seen,
) -> Result<Answer, Reject> {
    let (body, context_window) = admit_common(sim, request, seen, false)?;
    let max_tokens = max_tokens(&body)?;
    let streamed = match body.get("stream") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(Reject::invalid("stream: Input should be a valid boolean")),
    };
    let (Some(key), Some(model)) = (seen.key.clone(), seen.model.clone()) else {
        return Err(Reject::invalid("model: Field required"));
    };
    let messages = body["messages"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    if sim.inner.strict {
        validate::anthropic_parameters(&model, &body).map_err(Reject::invalid)?;
        thinking::check_model_rules(&model, &body).map_err(Reject::invalid)?;
        let marks = cache::anthropic_marks(&body);
        if marks > cache::MAX_BREAKPOINTS {
            return Err(Reject::invalid(format!(
                "A maximum of {} blocks with cache_control may be provided. Found {marks}.",
                cache::MAX_BREAKPOINTS
            )));
        }
    }
    let format = thinking::output_config(&model, &body).map_err(Reject::invalid)?;
    let budget = if sim.inner.thinking {
        let budget = thinking::settings(&model, &body, max_tokens).map_err(Reject::invalid)?;
        if budget.is_some() {
            thinking::check_parameters(&body).map_err(Reject::invalid)?;
            thinking::check_replay(sim.inner.seed, messages).map_err(Reject::invalid)?;
        }
        budget
    } else {
        None
    };
    let input = tokens::anthropic_input(&body, sim.inner.token_factor);
    if input > context_window {
        return Err(Reject::invalid(format!(
            "prompt is too long: {input} tokens > {context_window} maximum"
        )));
    }
    if sim.spend_capped(&key) {
        return Err(Reject::spend_cap());
    }
    let drawn = sim.draw_fault(&model);
    if let Some(status) = drawn.status {
        return Err(fault(status));
    }
    let cached = if sim.inner.prompt_caching {
        sim.cache_anthropic(
            &key,
            &model,
            &cache::anthropic(&body, sim.inner.token_factor),
        )
    } else {
        cache::Outcome::default()
    };
    // Anthropic's ITPM counts input and cache writes, not cache reads: that is what
    // makes caching raise the effective throughput.
    let charged = input.saturating_sub(cached.read);
    let reserve = match sim.inner.otpm_mode {
        OtpmMode::Actual => 0.0,
        OtpmMode::MaxTokens => max_tokens as f64,
    };
    let cost = Cost {
        input: charged as f64,
        output_reserve: reserve,
    };
    sim.admit(&key, &model, cost)
        .map_err(|d| rate_limited(&d))?;
    seen.input = charged;
    seen.cache_read = cached.read;
    seen.cache_write = cached.write();

    let hash = reply::shaping_hash(&body, SHAPING);
    let (parts, end, searches) = answer(
        sim,
        &body,
        messages,
        hash,
        max_tokens,
        budget,
        format.as_ref(),
    );
    let output: u64 = parts.iter().map(Part::tokens).sum();
    let (stop_reason, stop_sequence) = match &end {
        _ if parts.iter().any(|p| matches!(p, Part::ToolUse { .. })) => ("tool_use", Value::Null),
        End::Paused => ("pause_turn", Value::Null),
        End::Natural => ("end_turn", Value::Null),
        End::MaxTokens => ("max_tokens", Value::Null),
        End::Stop(s) => ("stop_sequence", Value::String(s.clone())),
    };
    let usage_in = json!({
        "input_tokens": input.saturating_sub(cached.read + cached.write()),
        "cache_creation_input_tokens": cached.write(),
        "cache_read_input_tokens": cached.read,
        "cache_creation": {"ephemeral_5m_input_tokens": cached.write_5m,
                           "ephemeral_1h_input_tokens": cached.write_1h},
    });
    let id = format!("msg_{}", reply::hex_id(rand::random::<u64>(), 24));
    if streamed {
        let mut start_usage = usage_in.clone();
        start_usage["output_tokens"] = json!(1);
        let message = json!({
            "id": id, "type": "message", "role": "assistant", "model": model,
            "content": [], "stop_reason": null, "stop_sequence": null, "usage": start_usage});
        let mut final_usage = json!({"output_tokens": output});
        if let Some(s) = &searches {
            final_usage["server_tool_use"] = s.clone();
        }
        let frames = content::frames(message, &parts, stop_reason, &stop_sequence, final_usage);
        let fail = drawn.mid_stream.map(|after| {
            let error = json!({"type": "error",
                               "error": {"type": "overloaded_error", "message": "Overloaded"}});
            (after, named_event("error", &error).into())
        });
        // The response has begun: its cache writes are readable from now on.
        sim.cache_commit(&key, &model, &cached);
        return Ok(Answer::Stream(Box::new(Plan {
            key,
            model,
            input: charged,
            cache_read: cached.read,
            cache_write: cached.write(),
            reserve,
            output,
            head_delay: sim.inner.latency.saturating_add(drawn.slow),
            frames,
            fail,
            headers: Default::default(),
        })));
    }
    sim.generate_delay(output, drawn.slow).await;
    sim.settle(&key, &model, reserve, output as f64);
    sim.cache_commit(&key, &model, &cached);
    seen.output = output;

    let mut usage = usage_in;
    usage["output_tokens"] = json!(output);
    usage["service_tier"] = json!("standard");
    if let Some(s) = searches {
        usage["server_tool_use"] = s;
    }
    Ok(Answer::Json(json!({
        "id": id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": parts.iter().map(Part::json).collect::<Vec<_>>(),
        "stop_reason": stop_reason,
        "stop_sequence": stop_sequence,
        "usage": usage,
    })))
}

/// The reply's blocks: a signed thinking block when thinking is on, then web searches
/// and their cited answer when a web search tool is offered (with the usage's
/// `server_tool_use`), else a tool call (after a short preface when the choice was
/// `auto`), JSON following the native structured-output `format` schema, or a text
/// answer (citing documents that ask for citations).
fn answer(
    sim: &Simulator,
    body: &Value,
    messages: &[Value],
    hash: u64,
    max_tokens: u64,
    budget: Option<u64>,
    format: Option<&Value>,
) -> (Vec<Part>, End, Option<Value>) {
    let mut parts = Vec::new();
    let mut room = max_tokens;
    if let Some(budget) = budget {
        let words = (20 + hash % 60).min(budget);
        let t = thinking::text(hash, words);
        room = room.saturating_sub(t.output_tokens).max(1);
        parts.push(Part::Thinking {
            signature: thinking::sign(sim.inner.seed, &t.text),
            text: t.text,
            tokens: t.output_tokens,
        });
    }
    if let Some(search) = server_tools::web_search(body) {
        let r = reply::generate(hash, room, &[]);
        let s = server_tools::search(&search, messages, hash, r.text, r.output_tokens);
        parts.extend(s.parts);
        let end = if s.paused { End::Paused } else { r.end };
        return (parts, end, Some(json!({"web_search_requests": s.searches})));
    }
    let offered = tools::anthropic_tools(body);
    let choice = tools::anthropic_choice(body);
    let loop_results = tools::anthropic_loop_results(messages);
    let policy = sim.inner.tools;
    if let Some(i) = tools::decide(policy, &offered, &choice, loop_results, hash) {
        if !choice.forced() {
            let preface = reply::generate(hash, room.min(8), &[]);
            parts.push(Part::Text {
                text: preface.text,
                tokens: preface.output_tokens,
                citations: Vec::new(),
            });
        }
        let violate = choice.forced() && tools::violates(policy, hash);
        let call = tools::call(&offered[i], hash, violate);
        parts.push(Part::ToolUse {
            id: format!("toolu_{}", reply::hex_id(hash ^ 0x746f_6f6c_7573, 24)),
            name: call.name,
            input: call.input,
            tokens: call.tokens,
        });
        return (parts, End::Natural, None);
    }
    if let Some(schema) = format {
        let mut v = schema::generate(schema, hash);
        if tools::violates(policy, hash) {
            v = schema::violate(schema, v);
        }
        let text = v.to_string();
        parts.push(Part::Text {
            tokens: (tokens::cl100k().count_ordinary(&text) as u64).max(1),
            text,
            citations: Vec::new(),
        });
        return (parts, End::Natural, None);
    }
    let stops: Vec<String> = body
        .get("stop_sequences")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    let r = reply::generate(hash, room, &stops);
    parts.push(Part::Text {
        text: r.text,
        tokens: r.output_tokens,
        citations: server_tools::document_citations(messages),
    });
    (parts, r.end, None)
}
