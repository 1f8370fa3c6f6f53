//! Nothing a response carries is lost, over loopback HTTP against the simulator:
//!
//! - a web search reply (a `server_tool_use` block, its `web_search_tool_result`, a
//!   text block with `citations`) is decoded, joins the history and is sent back in the
//!   next request unchanged: the blocks' JSON objects equal, and the bytes of every block
//!   the runtime does not interpret (the server-tool blocks, each citation) found
//!   verbatim in the next request's body; streamed, the same blocks;
//! - a document with citations enabled is cited, and the citation travels back too;
//! - the tool loop continues a `pause_turn` (the simulator runs two searches per
//!   response, so three wanted searches pause once) and keeps the turn whole;
//! - an OpenAI reasoning model's `reasoning_tokens` are decoded and priced as output.

use crate::common;

use common::{run_alone, serve_sim};
use futures_util::future::BoxFuture;
use futures_util::StreamExt;
use quotaswarm::agent::{Agent, AgentResult, Ctx, ToolRun, Toolbox};
use quotaswarm::config::Wire;
use quotaswarm::provider::{
    self, Endpoint, HttpRequest, HttpResponse, HttpTransport, StreamEvent, Transport,
    TransportError,
};
use quotaswarm::types::{ContentBlock, Message, Role, Tool};
use quotaswarm::{ApiKey, CompletionRequest, Config};
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Real HTTP, keeping every request body and every whole response body.
struct Recorder {
    http: HttpTransport,
    seen: Mutex<Vec<(Vec<u8>, Vec<u8>)>>,
}

impl Transport for Recorder {
    fn send(&self, request: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        Box::pin(async move {
            let sent = request.body.to_vec();
            let response = self.http.send(request).await?;
            let got = response.body.to_vec();
            self.seen.lock().unwrap().push((sent, got));
            Ok(response)
        })
    }

    fn send_streaming(
        &self,
        request: HttpRequest,
    ) -> BoxFuture<'_, Result<provider::StreamingResponse, TransportError>> {
        self.http.send_streaming(request)
    }
}

fn endpoint(server: &quotaswarm_sim::SimServer, wire: Wire) -> (Endpoint, Arc<Recorder>) {
    let url = format!("http://{}", server.addr);
    let recorder = Arc::new(Recorder {
        http: HttpTransport::new(&url, Duration::from_secs(10)).unwrap(),
        seen: Mutex::new(Vec::new()),
    });
    let ep = Endpoint {
        name: "test".into(),
        provider: provider::for_wire(wire),
        transport: recorder.clone(),
        key: Some(ApiKey::new("k1")),
    };
    (ep, recorder)
}

const SONNET: &str = "claude-sonnet-4-6";

/// The simulator, and an Anthropic endpoint at it that records what it sends.
async fn anthropic() -> (quotaswarm_sim::SimServer, Endpoint, Arc<Recorder>) {
    let server = serve_sim("").await;
    let (ep, recorder) = endpoint(&server, Wire::Anthropic);
    (server, ep, recorder)
}

fn search_request(max_uses: u64) -> CompletionRequest {
    CompletionRequest::prompt("x", "When was Claude Shannon born?")
        .tool(Tool::server("web_search_20250305", "web_search").setting("max_uses", max_uses))
        .max_tokens(200)
}

/// The request after `reply`'s turn joined the history, with one more question.
fn next(req: &CompletionRequest, reply: &quotaswarm::Completion) -> CompletionRequest {
    req.clone()
        .message(reply.to_message())
        .user("And where did he die?")
}

/// The JSON text of `v` as serde_json writes a value (what the simulator sent).
fn text_of(v: &Value) -> String {
    serde_json::to_string(v).unwrap()
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// The blocks of `reply_body` the runtime keeps without interpreting them (server-tool
/// blocks, citations), as the simulator wrote them.
fn uninterpreted(reply_body: &[u8]) -> Vec<String> {
    let reply: Value = serde_json::from_slice(reply_body).unwrap();
    let mut out = Vec::new();
    for block in reply["content"].as_array().unwrap() {
        match block["type"].as_str().unwrap() {
            "text" => out.extend(
                block["citations"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(text_of),
            ),
            _ => out.push(text_of(block)),
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_citation_and_a_server_tool_block_survive_a_round_trip_byte_for_byte() {
    let (_server, ep, recorder) = anthropic().await;
    let req = search_request(1);
    let first = ep.complete(SONNET, &req).await.unwrap().completion;
    let kinds: Vec<Option<&str>> = first.content.iter().map(ContentBlock::raw_type).collect();
    assert_eq!(
        kinds,
        [
            Some("server_tool_use"),
            Some("web_search_tool_result"),
            None
        ]
    );
    assert!(
        matches!(&first.content[2], ContentBlock::Text { citations: Some(c), .. } if c.len() == 1),
        "{:?}",
        first.content[2]
    );
    assert_eq!(first.usage.web_search_requests, 1);

    ep.complete(SONNET, &next(&req, &first)).await.unwrap();
    let seen = recorder.seen.lock().unwrap().clone();
    let (reply_body, next_body) = (&seen[0].1, &seen[1].0);
    let reply: Value = serde_json::from_slice(reply_body).unwrap();
    let sent: Value = serde_json::from_slice(next_body).unwrap();
    // The whole assistant turn: the JSON objects the API sent, unchanged.
    assert_eq!(sent["messages"][1]["role"], "assistant");
    assert_eq!(sent["messages"][1]["content"], reply["content"]);
    // Byte for byte: each uninterpreted block (and citation) as the simulator wrote it.
    let kept = uninterpreted(reply_body);
    assert_eq!(kept.len(), 3, "two server-tool blocks and one citation");
    for block in &kept {
        assert!(contains(reply_body, block));
        assert!(contains(next_body, block), "not sent verbatim: {block}");
    }
    println!(
        "round trip: {} kept blocks, {} bytes, sent back verbatim",
        kept.len(),
        kept.iter().map(String::len).sum::<usize>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamed_search_reply_has_the_same_blocks_and_usage() {
    let (_server, ep, _) = anthropic().await;
    let req = search_request(1);
    let plain = ep.complete(SONNET, &req).await.unwrap().completion;
    let mut stream = ep.stream(SONNET, &req).await.unwrap();
    let mut streamed = None;
    while let Some(item) = stream.next().await {
        if let StreamEvent::Finished { completion, .. } = item.unwrap() {
            streamed = Some(completion);
        }
    }
    let streamed = streamed.expect("a finished stream");
    assert_eq!(streamed.content, plain.content);
    assert_eq!(streamed.usage.web_search_requests, 1);
    assert_eq!(streamed.usage.output_tokens, plain.usage.output_tokens);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_document_with_citations_is_cited_and_the_citation_goes_back() {
    let (_server, ep, recorder) = anthropic().await;
    let req = CompletionRequest::new("x")
        .message(Message {
            role: Role::User,
            content: vec![
                ContentBlock::text_document("Grass is green. The sky is blue.")
                    .titled("Colours")
                    .with_citations(),
                ContentBlock::text("What colour is grass?"),
            ],
        })
        .max_tokens(100);
    let first = ep.complete(SONNET, &req).await.unwrap().completion;
    let Some(ContentBlock::Text {
        citations: Some(c), ..
    }) = first.content.last()
    else {
        panic!("no cited text: {:?}", first.content)
    };
    assert_eq!(c[0]["type"], "char_location");
    assert_eq!(c[0]["cited_text"], "Grass is green.");
    assert_eq!(c[0]["document_title"], "Colours");
    ep.complete(SONNET, &next(&req, &first)).await.unwrap();
    let seen = recorder.seen.lock().unwrap().clone();
    let kept = uninterpreted(&seen[0].1);
    assert_eq!(kept.len(), 1);
    assert!(contains(&seen[1].0, &kept[0]));
}

/// Runs one web search tool loop (no local tools) and hands back the run.
struct Searcher {
    max_uses: u64,
}

impl Agent<ToolRun> for Searcher {
    type Msg = ();
    async fn on_start(&mut self, ctx: &mut Ctx<(), ToolRun>) -> AgentResult {
        let req = search_request(self.max_uses).target("sonnet");
        let run = ctx.run_tools(&Toolbox::new(), req).await?;
        ctx.finish_with(run);
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tool_loop_continues_a_paused_turn_over_http() {
    let config =
        Config::from_toml_str_over_previous_defaults("[sim]\nlatency_ms = 1\n", "blocks test")
            .unwrap();
    let backend = quotaswarm_sim::loopback();
    let mut report = run_alone(config, backend, "searcher", Searcher { max_uses: 3 }, 60).await;
    let run = report.agents[0]
        .take_output::<ToolRun>()
        .unwrap_or_else(|| panic!("no run: {:?}", report.agents));
    let sim = quotaswarm_sim::stats_of(&report).expect("simulator stats");
    assert_eq!(sim.total.status(200), sim.total.requests, "{:?}", sim.total);
    // Two searches, pause_turn, then the third and the cited answer.
    assert_eq!(run.steps, 2, "{run:#?}");
    assert_eq!(run.tool_turns, 0);
    assert_eq!(run.usage.web_search_requests, 3);
    let m = &run.transcript.messages;
    assert_eq!(m.len(), 2, "the question and one assistant turn");
    let kinds: Vec<&str> = m[1]
        .content
        .iter()
        .map(|b| b.raw_type().unwrap_or("text"))
        .collect();
    assert_eq!(
        kinds,
        [
            "server_tool_use",
            "web_search_tool_result",
            "server_tool_use",
            "web_search_tool_result",
            "server_tool_use",
            "web_search_tool_result",
            "text"
        ]
    );
    assert!(!run.text().is_empty());
    println!(
        "pause_turn continued: {} steps, {} searches, {} blocks in the turn",
        run.steps,
        run.usage.web_search_requests,
        m[1].content.len()
    );
}

/// A PDF, a text document and an image by URL in one user turn.
fn documents_request() -> CompletionRequest {
    CompletionRequest::new("x")
        .system("You read documents.")
        .message(Message {
            role: Role::User,
            content: vec![
                ContentBlock::pdf_base64("JVBERi0xLjQKJcfsj6IKNSAwIG9iago=").titled("report.pdf"),
                ContentBlock::text_document("Grass is green."),
                ContentBlock::image_url("https://example.com/cat.png"),
                ContentBlock::text("Summarise them."),
            ],
        })
        .max_tokens(60)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documents_and_images_by_url_are_answered_on_both_wires() {
    let server = serve_sim("").await;
    let req = documents_request();
    for (wire, model, part) in [
        (Wire::Anthropic, SONNET, "document"),
        (Wire::OpenAi, "gpt-4o-mini", "file"),
    ] {
        let (ep, recorder) = endpoint(&server, wire);
        let c = ep.complete(model, &req).await.unwrap().completion;
        assert!(!c.text().is_empty(), "{wire:?}");
        let sent: Value = serde_json::from_slice(&recorder.seen.lock().unwrap()[0].0).unwrap();
        let turn = sent["messages"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(turn["content"][0]["type"], part, "{wire:?}: {turn}");
        if wire == Wire::OpenAi {
            // The system prompt is a shared prefix: the request carries its cache key.
            assert!(sent["prompt_cache_key"]
                .as_str()
                .unwrap()
                .starts_with("qs-"));
        }
    }
}
