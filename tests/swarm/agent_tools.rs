//! The tool loop on the simulator over loopback HTTP: the bookkeeper (two local tools,
//! a calculator and a notes store) completes its multi-step task on every wire,
//! streamed and not; with Anthropic extended thinking on, every tool turn replays its
//! signed thinking block and the simulator, which checks the signatures, refuses none.
//! On the OpenAI Responses wire the same task runs on a chat model and on a reasoning
//! model, whose reasoning items (with their encrypted content) are replayed and checked
//! alike.
//!
//! A cut that comes while a tool runs ends the loop at once (in-process simulator,
//! paused time).
//!
//! The simulator is set to call a tool on every fresh turn (`tool_call_rate = 1`) and
//! to go on calling tools until the conversation holds `tool_steps` results, so each run
//! makes `tool_steps` tool turns and then answers in words.

use crate::common;

use common::{assistant_turns_start_with_signed_thinking, run_alone};
use quotaswarm_sim::{embedded, loopback};

use quotaswarm::agent::{Agent, AgentResult, Ask, Ctx, ToolRun, Toolbox};
use quotaswarm::swarm::SwarmReport;
use quotaswarm::types::{ContentBlock, Role, Tool};
use quotaswarm::{CompletionRequest, Config};
use quotaswarm_agents::bookkeeper::Ledger;
use quotaswarm_agents::Bookkeeper;
use std::time::Duration;

const TASK: &str = "Expenses: rent 1200, food 430.50, travel 210. Add them up, note the \
     total under \"total\", read it back and report it.";

/// The tool turns the simulator asks for before it answers in words.
const TOOL_STEPS: usize = 3;

/// An OpenAI provider on the Responses wire, with a chat model and a reasoning model.
const RESPONSES: &str = "\
[providers.openai-responses]\nkind = \"openai\"\nwire = \"responses\"\napi_key_env = \"OPENAI_API_KEY\"\n\
[models.mini-responses]\nprovider = \"openai-responses\"\nmodel = \"gpt-4o-mini\"\nrpm = 500\ntpm = 200000\n\
[models.o4-responses]\nprovider = \"openai-responses\"\nmodel = \"o4-mini\"\nrpm = 500\ntpm = 200000\n";

fn config() -> Config {
    let text = format!(
        "[sim]\nlatency_ms = 1\ntool_call_rate = 1.0\ntool_steps = {TOOL_STEPS}\n{RESPONSES}"
    );
    Config::from_toml_str_over_previous_defaults(&text, "agent_tools test").expect("test config")
}

/// Runs one bookkeeper; returns the report and its output.
async fn run_ledger(agent: Bookkeeper) -> (SwarmReport, Ledger) {
    let mut report = run_alone(config(), loopback(), "bookkeeper", agent, 60).await;
    let ledger = report.agents[0].take_output::<Ledger>();
    let ledger = ledger.unwrap_or_else(|| panic!("no tool run: {:?}", report.agents));
    (report, ledger)
}

/// Runs one bookkeeper; returns the report and its tool loop's outcome.
async fn run(agent: Bookkeeper) -> (SwarmReport, ToolRun) {
    let (report, ledger) = run_ledger(agent).await;
    (report, ledger.run)
}

/// The assistant's turns of the loop's transcript.
fn assistant_turns(run: &ToolRun) -> Vec<&quotaswarm::types::Message> {
    run.transcript
        .messages
        .iter()
        .filter(|m| m.role == Role::Assistant)
        .collect()
}

/// Every request the simulator saw was answered 200: none refused, none limited.
fn none_refused(r: &SwarmReport) {
    let sim = quotaswarm_sim::stats_of(r).expect("simulator stats");
    assert_eq!(
        sim.total.status(200),
        sim.total.requests,
        "statuses: {:?}",
        sim.total.statuses
    );
}

/// The multi-step task is done: `TOOL_STEPS` turns of tool calls, each answered in
/// order, then a text answer; every step counted in the agent's report.
fn completed(r: &SwarmReport, run: &ToolRun) {
    assert!(r.totals.is_clean(), "{:?}", r.agents);
    none_refused(r);
    assert_eq!(run.tool_turns, TOOL_STEPS, "{run:#?}");
    assert_eq!(run.steps, TOOL_STEPS + 1);
    assert!(run.tool_calls >= TOOL_STEPS);
    assert_eq!(r.agents[0].completions, run.steps as u64);
    assert!(!run.text().is_empty(), "a final answer in words");
    assert!(run.usage.output_tokens > 0 && run.usage.total_input() > 0);

    let m = &run.transcript.messages;
    assert_eq!(
        m.len(),
        2 * TOOL_STEPS + 2,
        "user, then (assistant, results) × steps, answer"
    );
    for turn in 0..TOOL_STEPS {
        let (asked, answered) = (&m[1 + 2 * turn], &m[2 + 2 * turn]);
        assert_eq!(asked.role, Role::Assistant);
        assert_eq!(answered.role, Role::User);
        let calls: Vec<&str> = asked
            .content
            .iter()
            .filter_map(|b| match b {
                ContentBlock::ToolUse { id, name, .. } => {
                    assert!(["calculator", "notes"].contains(&name.as_str()), "{name}");
                    Some(id.as_str())
                }
                _ => None,
            })
            .collect();
        let results: Vec<&str> = answered
            .content
            .iter()
            .map(|b| match b {
                ContentBlock::ToolResult { tool_use_id, .. } => tool_use_id.as_str(),
                other => panic!("a user turn of tool results only: {other:?}"),
            })
            .collect();
        assert_eq!(calls, results, "one result per call, in order");
    }
    assert_eq!(m.last().map(|m| m.role), Some(Role::Assistant));
}

/// The bookkeeper's task on `model`, not streamed.
async fn completes(model: &str) {
    let (r, run) = run(Bookkeeper::new(Ask::new(model).max_tokens(400), TASK)).await;
    completed(&r, &run);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completes_a_multi_step_task_on_anthropic() {
    completes("sonnet").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completes_a_multi_step_task_on_openai() {
    completes("gpt-4o-mini").await;
}

/// The bookkeeper's task, streamed on `model`: every step a stream, the answer's text
/// arriving as deltas.
async fn completes_streamed(model: &str) {
    let agent = Bookkeeper::new(Ask::new(model).max_tokens(400), TASK).streamed(true);
    let (r, Ledger { run, streamed }) = run_ledger(agent).await;
    completed(&r, &run);
    assert_eq!(
        quotaswarm_sim::stats_of(&r).unwrap().total.streams,
        run.steps as u64
    );
    assert!(
        streamed.ends_with(&run.text()),
        "the answer's text arrived as deltas"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completes_a_multi_step_task_streamed_on_anthropic() {
    completes_streamed("sonnet").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completes_a_multi_step_task_streamed_on_openai() {
    completes_streamed("gpt-4o-mini").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completes_a_multi_step_task_on_responses() {
    completes("mini-responses").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completes_a_multi_step_task_streamed_on_responses() {
    completes_streamed("mini-responses").await;
}

/// A reasoning model on the Responses wire: each assistant turn starts with a reasoning
/// item carrying encrypted content, every later request replays them all, and the
/// simulator, which checks that content, refuses none. Streamed or not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reasoning_items_are_replayed_through_three_tool_turns_on_responses() {
    for streamed in [false, true] {
        let agent =
            Bookkeeper::new(Ask::new("o4-responses").max_tokens(4096), TASK).streamed(streamed);
        let (r, run) = run(agent).await;
        completed(&r, &run);
        let assistant_turns = assistant_turns(&run);
        assert_eq!(assistant_turns.len(), TOOL_STEPS + 1);
        for (i, turn) in assistant_turns.iter().enumerate() {
            assert!(
                matches!(
                    turn.content.first(),
                    Some(ContentBlock::Reasoning { id, encrypted_content: Some(e), .. })
                        if id.starts_with("rs_") && !e.is_empty()
                ),
                "assistant turn {i} starts with a reasoning item: {:?}",
                turn.content
            );
        }
        let sim = quotaswarm_sim::stats_of(&r).unwrap();
        assert_eq!(sim.total.requests, TOOL_STEPS as u64 + 1);
        println!(
            "responses reasoning loop (streamed: {streamed}): {} requests, {} input and {} output tokens",
            sim.total.requests, run.usage.input_tokens, run.usage.output_tokens
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thinking_blocks_are_replayed_through_three_tool_turns_and_accepted() {
    // The budget is part of max_tokens and must stay below it.
    let agent = Bookkeeper::new(Ask::new("sonnet").max_tokens(4096).thinking(1024), TASK);
    let (r, run) = run(agent).await;
    completed(&r, &run);
    assert_eq!(run.tool_turns, 3);
    assistant_turns_start_with_signed_thinking(&run.transcript.messages, 4);
    // Requests 2 to 4 each replayed the thinking of every tool turn before them, and
    // the simulator, which checks each signature, accepted them all.
    assert_eq!(quotaswarm_sim::stats_of(&r).unwrap().total.requests, 4);
    none_refused(&r);
}

/// Runs a tool loop whose only tool takes an hour.
struct Stuck;

impl Agent for Stuck {
    type Msg = ();
    async fn on_start(&mut self, ctx: &mut Ctx<()>) -> AgentResult {
        let tools = Toolbox::new().tool_fn(
            Tool::new(
                "slow",
                serde_json::json!({"type": "object", "properties": {}}),
            ),
            |_| async {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                Ok("done".into())
            },
        );
        let req = CompletionRequest::prompt("haiku", "Call the slow tool.").max_tokens(100);
        ctx.run_tools(&tools, req).await?;
        ctx.finish();
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn a_cut_ends_the_loop_while_a_tool_runs_without_a_kill() {
    let report = run_alone(config(), embedded(), "stuck", Stuck, 30).await;
    let a = &report.agents[0];
    assert!(a.cut.is_some(), "{a:?}");
    assert!(
        !a.killed,
        "the loop returned at the cut, before the grace period: {a:?}"
    );
    assert_eq!(
        a.completions, 1,
        "the tool call was asked for, then the cut came"
    );
}
