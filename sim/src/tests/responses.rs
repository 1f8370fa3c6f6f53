//! `POST /v1/responses`: answers, rate limits (the same headers and 429 bodies as Chat
//! Completions, from the same buckets), tool calls and their outputs, structured output,
//! reasoning items and their replay, and the named event stream.

use super::*;

const O4: &str = "o4-mini";

fn responses(body: &Value) -> HttpRequest {
    request(
        "/v1/responses",
        &[("authorization", "Bearer sk-test")],
        body.to_string().as_bytes(),
    )
}

fn ask(model: &str, max: u64) -> Value {
    json!({"model": model, "max_output_tokens": max, "instructions": "Be brief.",
           "input": "Hello there", "store": false})
}

/// A simulator that also serves `o4-mini` (a reasoning model) on the OpenAI side.
fn with_o4(f: impl FnOnce(&mut Config)) -> Simulator {
    sim_with(|c| {
        let text =
            "[models.o4]\nprovider = \"openai\"\nmodel = \"o4-mini\"\nrpm = 500\ntpm = 200000\n";
        let extra = Config::from_toml_str_over_defaults(text, "test").unwrap();
        c.models.extend(extra.models);
        f(c);
    })
}

#[tokio::test(start_paused = true)]
async fn answers_with_a_message_item_and_chat_completions_rate_limits() {
    let sim = limited(GPT, combined(100.0, 600.0));
    let first = sim.handle(responses(&ask(GPT, 50))).await;
    assert_eq!(first.status, 200, "{}", body(&first));
    let b = body(&first);
    assert_eq!(b["object"], "response");
    // 50 tokens may cut the reply: then it says so.
    match b["status"].as_str() {
        Some("completed") => assert!(b["incomplete_details"].is_null()),
        Some("incomplete") => assert_eq!(b["incomplete_details"]["reason"], "max_output_tokens"),
        other => panic!("status {other:?}"),
    }
    assert!(b["id"].as_str().unwrap().starts_with("resp_"));
    assert_eq!(b["output"][0]["type"], "message");
    assert!(!b["output"][0]["content"][0]["text"]
        .as_str()
        .unwrap()
        .is_empty());
    let (input, output) = (
        b["usage"]["input_tokens"].as_u64().unwrap(),
        b["usage"]["output_tokens"].as_u64().unwrap(),
    );
    assert_eq!(b["usage"]["input_tokens_details"]["cached_tokens"], 0);
    assert_eq!(b["usage"]["output_tokens_details"]["reasoning_tokens"], 0);
    assert!(header(&first, "x-request-id").starts_with("req_"));
    assert_eq!(
        header(&first, "x-ratelimit-remaining-tokens"),
        (600 - input - output).to_string()
    );
    // The same buckets as Chat Completions: asking for the rest is a TPM 429.
    let r = sim.handle(responses(&ask(GPT, 600 - input))).await;
    assert_eq!(r.status, 429);
    let e = openai_error(&r);
    assert_eq!(
        (e["type"].as_str(), e["code"].as_str()),
        (Some("tokens"), Some("rate_limit_exceeded"))
    );
    assert!(!header(&r, "retry-after").is_empty());
    assert!(!header(&r, "x-ratelimit-reset-tokens").is_empty());
}

#[tokio::test(start_paused = true)]
async fn calls_a_function_and_refuses_an_output_without_its_call() {
    let sim = sim_with(|c| c.sim.tool_call_rate = 1.0);
    let tools = json!([{"type": "function", "name": "lookup", "strict": false,
        "parameters": {"type": "object", "properties": {"q": {"type": "string"}},
                       "required": ["q"]}}]);
    let mut req = ask(GPT, 200);
    req["tools"] = tools.clone();
    let r = body(&sim.handle(responses(&req)).await);
    let call = &r["output"][0];
    assert_eq!(call["type"], "function_call", "{r}");
    assert_eq!(call["name"], "lookup");
    let args: Value = serde_json::from_str(call["arguments"].as_str().unwrap()).unwrap();
    assert!(args["q"].is_string());
    // The loop goes on with the call and its output, and ends in words.
    let next = json!({"model": GPT, "tools": tools, "store": false, "input": [
        {"role": "user", "content": "Hello there"}, call,
        {"type": "function_call_output", "call_id": call["call_id"], "output": "found"}]});
    let r = sim.handle(responses(&next)).await;
    assert_eq!(r.status, 200, "{}", body(&r));
    let stray = json!({"model": GPT, "input": [
        {"type": "function_call_output", "call_id": "call_nope", "output": "x"}]});
    let r = sim.handle(responses(&stray)).await;
    assert_eq!(r.status, 400);
    assert!(openai_error(&r)["message"]
        .as_str()
        .unwrap()
        .contains("call_nope"));
}

#[tokio::test(start_paused = true)]
async fn fills_a_json_schema_text_format() {
    let sim = sim_with(|_| {});
    let mut req = ask(GPT, 300);
    req["text"] = json!({"format": {"type": "json_schema", "name": "person", "strict": true,
        "schema": {"type": "object", "properties": {"name": {"type": "string"},
                   "age": {"type": "integer"}}, "required": ["name", "age"],
                   "additionalProperties": false}}});
    let b = body(&sim.handle(responses(&req)).await);
    let text = b["output"][0]["content"][0]["text"].as_str().unwrap();
    let v: Value = serde_json::from_str(text).unwrap();
    assert!(v["name"].is_string() && v["age"].is_i64(), "{v}");
}

#[tokio::test(start_paused = true)]
async fn reasoning_items_carry_encrypted_content_that_must_come_back_unchanged() {
    let sim = with_o4(|_| {});
    let mut req = ask(O4, 4000);
    req["include"] = json!(["reasoning.encrypted_content"]);
    req["reasoning"] = json!({"effort": "low", "summary": "auto"});
    let b = body(&sim.handle(responses(&req)).await);
    let item = b["output"][0].clone();
    assert_eq!(item["type"], "reasoning", "{b}");
    assert!(item["summary"][0]["text"].is_string());
    let reasoning = b["usage"]["output_tokens_details"]["reasoning_tokens"]
        .as_u64()
        .unwrap();
    assert!((64..128).contains(&reasoning), "{reasoning}");
    let replay = |item: Value| {
        json!({"model": O4, "store": false, "input": [
            {"role": "user", "content": "Hello there"}, item,
            {"role": "user", "content": "And then?"}]})
    };
    assert_eq!(
        sim.handle(responses(&replay(item.clone()))).await.status,
        200
    );
    let mut edited = item.clone();
    edited["encrypted_content"] = json!("gAAAA-forged");
    let r = sim.handle(responses(&replay(edited))).await;
    assert_eq!(r.status, 400);
    assert_eq!(openai_error(&r)["code"], "invalid_encrypted_content");
    let mut bare = item;
    bare.as_object_mut().unwrap().remove("encrypted_content");
    assert_eq!(sim.handle(responses(&replay(bare))).await.status, 404);
}

#[tokio::test(start_paused = true)]
async fn streams_named_events_in_sequence_ending_with_the_whole_response() {
    let sim = with_o4(|_| {});
    let mut req = ask(O4, 4000);
    req["stream"] = json!(true);
    req["include"] = json!(["reasoning.encrypted_content"]);
    let r = sim.handle(responses(&req)).await;
    assert_eq!(r.status, 200);
    assert!(header(&r, "content-type").starts_with("text/event-stream"));
    assert!(!header(&r, "x-ratelimit-remaining-requests").is_empty());
    let text = String::from_utf8(r.body.to_vec()).unwrap();
    let events: Vec<Value> = text
        .split("\n\n")
        .filter_map(|e| e.lines().find_map(|l| l.strip_prefix("data: ")))
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e["sequence_number"], i as u64, "{e}");
    }
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds[..3],
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added"
        ]
    );
    assert_eq!(kinds.last(), Some(&"response.completed"));
    let said: String = events
        .iter()
        .filter(|e| e["type"] == "response.output_text.delta")
        .map(|e| e["delta"].as_str().unwrap())
        .collect();
    let last = &events[events.len() - 1]["response"];
    assert_eq!(last["output"][0]["type"], "reasoning");
    assert!(last["output"][0]["encrypted_content"].is_string());
    assert_eq!(last["output"][1]["content"][0]["text"], said.as_str());
    let stats = sim.stats();
    assert_eq!((stats.total.requests, stats.total.streams), (1, 1));
}
