//! Thinking as the current Claude models take it, against the simulator over loopback
//! HTTP (which accepts and refuses each kind as the real models do, by generation):
//!
//! - adaptive thinking with an effort through the bookkeeper's tool loop on a model
//!   whose preset refuses budget thinking (`claude-opus-5-5`): every tool turn replays
//!   its signed thinking block and the simulator refuses none;
//! - budget thinking on that model is refused in the caller's task, naming `thinking`:
//!   the simulator sees no request;
//! - structured output is native (`output_config.format`, which the simulator checks
//!   and answers with JSON following the schema) on a model that has it, with thinking
//!   on, and a forced tool on one that does not (asserted on the bodies sent).

use crate::common;

use common::{assistant_turns_start_with_signed_thinking, run_alone, serve_sim};
use futures_util::future::BoxFuture;
use quotaswarm::agent::{Agent, AgentResult, Ask, Ctx};
use quotaswarm::broker::{BrokerError, InvalidRequest};
use quotaswarm::config::{Param, Wire};
use quotaswarm::provider::{self, Endpoint, HttpRequest, HttpResponse, HttpTransport};
use quotaswarm::provider::{Transport, TransportError};
use quotaswarm::types::{OutputSchema, ReasoningEffort};
use quotaswarm::{ApiKey, CompletionRequest, Config};
use quotaswarm_agents::bookkeeper::Ledger;
use quotaswarm_agents::Bookkeeper;
use quotaswarm_sim::loopback;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One Claude model per kind of thinking: `adaptive` takes only adaptive thinking and
/// refuses a forced tool (Claude 5.5), `native` takes both kinds and native structured
/// output (Claude 4.6), `legacy` takes budget thinking and structured output only as a
/// forced tool (Claude 4).
const MODELS: &str = r#"
[models.adaptive]
provider = "anthropic"
model = "claude-opus-5-5"
rpm = 50
itpm = 30000
otpm = 8000

[models.native]
provider = "anthropic"
model = "claude-sonnet-4-6"
rpm = 50
itpm = 30000
otpm = 8000

[models.legacy]
provider = "anthropic"
model = "claude-sonnet-4-20250514"
rpm = 50
itpm = 30000
otpm = 8000
"#;

const TASK: &str = "Expenses: rent 1200, food 430.50, travel 210. Add them up, note the \
     total under \"total\", read it back and report it.";

/// The simulator calls a tool on every fresh turn until three results are in.
fn config() -> Config {
    let text = format!("[sim]\nlatency_ms = 1\ntool_call_rate = 1.0\ntool_steps = 3\n{MODELS}");
    Config::from_toml_str_over_defaults(&text, "agent_thinking test").expect("test config")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adaptive_thinking_runs_a_tool_loop_on_a_model_that_refuses_budget_thinking() {
    adaptive_tool_loop(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adaptive_thinking_runs_a_streamed_tool_loop_too() {
    adaptive_tool_loop(true).await;
}

/// The bookkeeper's three tool turns with adaptive thinking at high effort, `streamed`
/// or not: every assistant turn starts with a signed thinking block, replayed in the
/// next request and accepted.
async fn adaptive_tool_loop(streamed: bool) {
    let ask = Ask::new("adaptive")
        .max_tokens(2000)
        .adaptive_thinking()
        .reasoning_effort(ReasoningEffort::High);
    let agent = Bookkeeper::new(ask, TASK).streamed(streamed);
    let mut r = run_alone(config(), loopback(), "bookkeeper", agent, 60).await;
    let ledger = r.agents[0].take_output::<Ledger>();
    let run = ledger
        .unwrap_or_else(|| panic!("no tool run: {:?}", r.agents))
        .run;
    assert!(r.totals.is_clean(), "{:?}", r.agents);
    assert_eq!(run.tool_turns, 3, "{run:#?}");
    assert!(!run.text().is_empty(), "a final answer in words");
    assistant_turns_start_with_signed_thinking(&run.transcript.messages, 4);
    let sim = quotaswarm_sim::stats_of(&r).expect("simulator stats");
    println!(
        "adaptive tool loop (streamed: {streamed}): {} requests, {} streams, statuses {:?}",
        sim.total.requests, sim.total.streams, sim.total.statuses
    );
    assert_eq!(sim.total.requests, 4);
    assert_eq!(sim.total.streams, if streamed { 4 } else { 0 });
    assert_eq!(sim.total.status(200), 4, "{:?}", sim.total.statuses);
}

/// Asks once and keeps what the broker said.
struct Once(Ask);

impl Agent<Result<String, String>> for Once {
    type Msg = ();
    async fn on_start(&mut self, ctx: &mut Ctx<(), Result<String, String>>) -> AgentResult {
        let got = match ctx.ask(&self.0, "Think it over: is 91 prime?").await {
            Ok(c) => Ok(c.text()),
            Err(BrokerError::InvalidRequest(InvalidRequest::UnsupportedParameter {
                param: Param::Thinking,
                reason,
                ..
            })) => Err(format!("refused thinking: {reason}")),
            Err(e) => Err(format!("other error: {e}")),
        };
        ctx.finish_with(got);
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn budget_thinking_is_refused_before_sending_where_the_model_refuses_it() {
    let ask = Ask::new("adaptive").max_tokens(4096).thinking(1024);
    let mut r = run_alone(config(), loopback(), "once", Once(ask), 60).await;
    let got = r.agents[0].take_output::<Result<String, String>>();
    let e = got.expect("an outcome").expect_err("refused");
    println!("{e}");
    assert!(e.starts_with("refused thinking:"), "{e}");
    assert!(e.contains("\"enabled\" is not accepted"), "{e}");
    let sim = quotaswarm_sim::stats_of(&r).expect("simulator stats");
    println!(
        "budget thinking: simulator saw {} requests",
        sim.total.requests
    );
    assert_eq!(sim.total.requests, 0, "nothing was sent");
    // The same request with adaptive thinking goes through.
    let ask = Ask::new("adaptive").max_tokens(4096).adaptive_thinking();
    let mut r = run_alone(config(), loopback(), "once", Once(ask), 60).await;
    let got = r.agents[0].take_output::<Result<String, String>>();
    assert!(got.expect("an outcome").is_ok());
    assert_eq!(quotaswarm_sim::stats_of(&r).unwrap().total.status(200), 1);
}

/// Real HTTP to the simulator, keeping every request body sent.
#[derive(Clone)]
struct Recording {
    inner: Arc<HttpTransport>,
    bodies: Arc<Mutex<Vec<Value>>>,
}

impl Transport for Recording {
    fn send(&self, request: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        if let Ok(v) = serde_json::from_slice(&request.body) {
            self.bodies.lock().unwrap().push(v);
        }
        self.inner.send(request)
    }
}

fn person() -> OutputSchema {
    OutputSchema::new(
        "person",
        json!({"type": "object",
               "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
               "required": ["name", "age"]}),
    )
}

/// The reply's text parses as JSON with the schema's required fields.
fn fits_person(text: &str) {
    let v: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert!(v["name"].is_string() && v["age"].is_i64(), "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn structured_output_is_native_where_the_model_has_it_and_a_forced_tool_elsewhere() {
    let server = serve_sim(MODELS).await;
    let rec = Recording {
        inner: Arc::new(
            HttpTransport::new(&format!("http://{}", server.addr), Duration::from_secs(10))
                .unwrap(),
        ),
        bodies: Arc::default(),
    };
    let ep = Endpoint {
        name: "anthropic".into(),
        provider: provider::for_wire(Wire::Anthropic),
        transport: Arc::new(rec.clone()),
        key: Some(ApiKey::new("k1")),
    };
    let req = CompletionRequest::prompt("x", "Extract the person: Ada, 36.")
        .response_format(person())
        .max_tokens(2000);

    // Native, with adaptive thinking on: no tool, no forced choice.
    let native = ep
        .complete("claude-sonnet-4-6", &req.clone().adaptive_thinking())
        .await
        .unwrap_or_else(|e| panic!("{:?}", e.error));
    fits_person(&native.completion.text());
    // And on the newest generation, which refuses forcing a tool.
    let newest = ep.complete("claude-opus-5-5", &req).await.unwrap();
    fits_person(&newest.completion.text());
    // The forced tool where structured output is not native.
    let forced = ep.complete("claude-sonnet-4-20250514", &req).await.unwrap();
    fits_person(&forced.completion.text());

    let bodies = rec.bodies.lock().unwrap().clone();
    assert_eq!(bodies.len(), 3);
    for b in &bodies[..2] {
        assert_eq!(b["output_config"]["format"]["type"], "json_schema", "{b}");
        assert_eq!(b["output_config"]["format"]["schema"], person().schema);
        assert!(
            b.get("tools").is_none() && b.get("tool_choice").is_none(),
            "{b}"
        );
    }
    assert_eq!(bodies[0]["thinking"], json!({"type": "adaptive"}));
    assert!(bodies[2].get("output_config").is_none(), "{}", bodies[2]);
    assert_eq!(
        bodies[2]["tool_choice"],
        json!({"type": "tool", "name": "person"})
    );
    let stats = server.sim.stats();
    println!("structured output: statuses {:?}", stats.total.statuses);
    assert_eq!(stats.total.status(200), 3);
    server.shutdown().await.unwrap();
}
