//! The tool loop: ask, run the tools the reply calls, send their results back, and
//! repeat until the model answers without asking for a tool.
//!
//! Each step is one model call through the agent's [`Asker`] (so it is counted in the
//! agent's report, queued by the broker and cut with the agent). After a reply that
//! asks for tools (`stop_reason` [`StopReason::ToolUse`]) the loop appends:
//!
//! 1. the reply as the assistant's turn, whole ([`Completion::to_message`]): its
//!    thinking and redacted-thinking blocks stay first and unchanged, as the API
//!    requires when extended thinking is on;
//! 2. a user turn holding one `tool_result` per call, in the order of the calls
//!    (failures, unknown tools and panics as `is_error: true` results, see
//!    [`Toolbox::answer`]).
//!
//! A reply that stopped for [`StopReason::PauseTurn`] (Anthropic: a turn of server
//! tools — web search, code execution — paused by the API's own iteration limit) is
//! appended as it is, its server-tool blocks kept whole, and the request is sent again
//! ending with that assistant turn, which the API continues. The continuation's blocks
//! join the same assistant turn (the API reads consecutive assistant turns as one), so
//! the transcript holds the turn once, whole. Any other reply ends the loop. A
//! model still asking for tools after [`Toolbox::max_steps`] calls ends it with
//! [`StepLimit`]; a broker failure ends it with [`AgentError::Broker`], and so does a
//! cut of the agent while its tools run ([`BrokerError::Cancelled`], without waiting for
//! them).
//!
//! The loop itself (`drive`) is generic over how one step is asked (`Step`), so it is
//! tested with an in-process fake; [`Asker::run_tools`] asks plainly and
//! [`Asker::stream_tools`] streams each step, forwarding its text as it arrives.

use super::ask::History;
use super::asker::Asker;
use super::error::{AgentError, StepLimit};
use super::tools::Toolbox;
use crate::broker::{BrokerError, StreamItem};
use crate::provider::StreamEvent;
use crate::tokens::MessageCounts;
use crate::types::{Completion, CompletionRequest, ContentBlock, Message, Role, StopReason, Usage};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use std::future::Future;

/// How a tool loop ended: the final reply, the whole conversation and what it cost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ToolRun {
    /// The last reply: the model's answer once it stopped asking for tools.
    pub completion: Completion,
    /// The conversation: the request's system prompt and turns, then every assistant
    /// turn (thinking blocks included) and every user turn of tool results, ending with
    /// the final reply. Continue it with [`History::request`].
    pub transcript: History,
    /// Model calls made (the final one included).
    pub steps: usize,
    /// Replies that asked for tools (each answered with one turn of results).
    pub tool_turns: usize,
    /// Tool calls run, over all turns.
    pub tool_calls: usize,
    /// Usage summed over every step.
    pub usage: Usage,
}

impl ToolRun {
    /// The final reply's text.
    pub fn text(&self) -> String {
        self.completion.text()
    }
}

fn add_usage(sum: &mut Usage, u: &Usage) {
    sum.input_tokens = sum.input_tokens.saturating_add(u.input_tokens);
    sum.output_tokens = sum.output_tokens.saturating_add(u.output_tokens);
    sum.cache_creation_input_tokens = sum
        .cache_creation_input_tokens
        .saturating_add(u.cache_creation_input_tokens);
    sum.cache_read_input_tokens = sum
        .cache_read_input_tokens
        .saturating_add(u.cache_read_input_tokens);
    sum.cache_creation_1h_input_tokens = sum
        .cache_creation_1h_input_tokens
        .saturating_add(u.cache_creation_1h_input_tokens);
    sum.reasoning_tokens = sum.reasoning_tokens.saturating_add(u.reasoning_tokens);
    sum.web_search_requests = sum
        .web_search_requests
        .saturating_add(u.web_search_requests);
}

/// Appends `reply` to the conversation: to the last assistant turn when that turn was
/// paused (`paused`) and this reply continues it, as a new turn otherwise.
fn append_reply(messages: &mut Vec<Message>, reply: &Completion, paused: bool) {
    match messages.last_mut() {
        Some(last) if paused && last.role == Role::Assistant => {
            last.content.extend(reply.content.iter().cloned())
        }
        _ => messages.push(reply.to_message()),
    }
}

/// How the loop asks one step, and runs the tools of a reply.
pub(crate) trait Step {
    /// The reply to `req`.
    fn ask(
        &mut self,
        req: CompletionRequest,
    ) -> impl Future<Output = Result<Completion, BrokerError>> + Send;

    /// The `tool_result` blocks answering `reply`'s calls.
    fn run_tools<'a>(
        &'a self,
        tools: &'a Toolbox,
        reply: &'a Completion,
    ) -> impl Future<Output = Result<Vec<ContentBlock>, BrokerError>> + Send + 'a {
        async move { Ok(tools.answer(reply).await) }
    }
}

/// Runs `reply`'s tools unless the agent is cut first: then the loop ends at once with
/// [`BrokerError::Cancelled`] (dropping the tools' futures), instead of waiting for a
/// slow tool and being killed after the grace period.
async fn unless_cut(
    asker: &Asker,
    tools: &Toolbox,
    reply: &Completion,
) -> Result<Vec<ContentBlock>, BrokerError> {
    tokio::select! {
        biased;
        () = asker.cancelled() => Err(BrokerError::Cancelled),
        results = tools.answer(reply) => Ok(results),
    }
}

/// Each step asked plainly.
struct Plain<'a>(&'a Asker);

impl Step for Plain<'_> {
    fn ask(
        &mut self,
        req: CompletionRequest,
    ) -> impl Future<Output = Result<Completion, BrokerError>> + Send {
        self.0.complete(req)
    }

    fn run_tools<'a>(
        &'a self,
        tools: &'a Toolbox,
        reply: &'a Completion,
    ) -> impl Future<Output = Result<Vec<ContentBlock>, BrokerError>> + Send + 'a {
        unless_cut(self.0, tools, reply)
    }
}

/// Each step streamed, its text deltas handed to `on_text`.
struct Streamed<'a, F> {
    asker: &'a Asker,
    on_text: F,
}

impl<F: FnMut(&str) + Send> Step for Streamed<'_, F> {
    async fn ask(&mut self, req: CompletionRequest) -> Result<Completion, BrokerError> {
        let mut stream = self.asker.stream(req).await?;
        while let Some(item) = stream.next().await {
            match item? {
                StreamItem::Event(StreamEvent::TextDelta { text, .. }) => (self.on_text)(&text),
                StreamItem::Event(_) => {}
                StreamItem::Done(c) => return Ok(c),
            }
        }
        // The broker ends every stream with its completion or an error.
        Err(BrokerError::BrokerStopped)
    }

    fn run_tools<'a>(
        &'a self,
        tools: &'a Toolbox,
        reply: &'a Completion,
    ) -> impl Future<Output = Result<Vec<ContentBlock>, BrokerError>> + Send + 'a {
        unless_cut(self.asker, tools, reply)
    }
}

/// Runs the loop for `req` with `tools`, asking each step with `step`. The toolbox's
/// definitions join the request's own tools (a request tool of the same name wins).
pub(crate) async fn drive(
    tools: &Toolbox,
    mut req: CompletionRequest,
    step: &mut impl Step,
) -> Result<ToolRun, AgentError> {
    for def in tools.definitions() {
        if !req.tools.iter().any(|t| t.name == def.name) {
            req.tools.push(def.clone());
        }
    }
    let (mut steps, mut tool_turns, mut tool_calls) = (0, 0, 0);
    let mut usage = Usage::default();
    let mut paused = false;
    loop {
        let reply = step.ask(req.clone()).await?;
        steps += 1;
        add_usage(&mut usage, &reply.usage);
        let asks_for_tools =
            reply.stop_reason == StopReason::ToolUse && reply.tool_uses().next().is_some();
        let goes_on = asks_for_tools || reply.stop_reason == StopReason::PauseTurn;
        if goes_on && steps >= tools.step_limit() {
            let pending = reply.tool_uses().map(|(_, name, _)| name.to_string());
            return Err(StepLimit::new(tools.step_limit(), pending.collect()).into());
        }
        append_reply(&mut req.messages, &reply, paused);
        paused = reply.stop_reason == StopReason::PauseTurn;
        if !goes_on {
            let system = req.system_text();
            return Ok(ToolRun {
                completion: reply,
                transcript: History {
                    system: (!system.is_empty()).then_some(system),
                    messages: req.messages,
                    counts: req
                        .options
                        .counts
                        .as_ref()
                        .map(MessageCounts::share)
                        .unwrap_or_default(),
                },
                steps,
                tool_turns,
                tool_calls,
                usage,
            });
        }
        if asks_for_tools {
            let results = step.run_tools(tools, &reply).await?;
            tool_turns += 1;
            tool_calls += results.len();
            req.messages.push(Message {
                role: Role::User,
                content: results,
            });
        }
    }
}

impl Asker {
    /// Runs a tool loop: asks `req` with the toolbox's tools offered, runs locally the
    /// tools each reply calls, sends the results back (failures as `is_error` results)
    /// and repeats until the model answers without a tool call, at most
    /// [`Toolbox::max_steps`] model calls, each counted in the agent's report. Returns the final reply, the transcript, the
    /// number of steps and the usage summed over them (see [`ToolRun`]).
    ///
    /// Each reply joins the conversation whole, its thinking blocks first and unchanged
    /// (with extended thinking on, the API refuses a tool loop that drops or edits them);
    /// an Anthropic `pause_turn` reply is sent back as it is, to continue. A model still
    /// asking for tools at the limit is [`AgentError::StepLimit`]; a broker failure, or a
    /// cut of the agent (also while its tools run), is [`AgentError::Broker`].
    ///
    /// ```no_run
    /// use quotaswarm::agent::{Agent, AgentResult, Ctx, Toolbox, ToolOutput};
    /// use quotaswarm::CompletionRequest;
    ///
    /// #[derive(serde::Deserialize, schemars::JsonSchema)]
    /// struct Word {
    ///     word: String,
    /// }
    ///
    /// struct Counter;
    ///
    /// impl Agent for Counter {
    ///     type Msg = ();
    ///     async fn on_start(&mut self, ctx: &mut Ctx<()>) -> AgentResult {
    ///         let tools = Toolbox::new().typed_tool("length", "Letters in a word.", |w: Word| async move {
    ///             Ok(ToolOutput::text(w.word.chars().count().to_string()))
    ///         });
    ///         let req = CompletionRequest::prompt("claude", "How long is 'swarm'?").max_tokens(300);
    ///         let run = ctx.run_tools(&tools, req).await?;
    ///         println!("{} ({} steps)", run.text(), run.steps);
    ///         ctx.finish();
    ///         Ok(())
    ///     }
    /// }
    /// ```
    pub async fn run_tools(
        &self,
        tools: &Toolbox,
        req: CompletionRequest,
    ) -> Result<ToolRun, AgentError> {
        drive(tools, req, &mut Plain(self)).await
    }

    /// Like [`Asker::run_tools`], each step streamed: `on_text` receives the text of
    /// every step as it arrives (the final answer's and any text the model writes
    /// before its tool calls).
    pub async fn stream_tools(
        &self,
        tools: &Toolbox,
        req: CompletionRequest,
        on_text: impl FnMut(&str) + Send,
    ) -> Result<ToolRun, AgentError> {
        drive(
            tools,
            req,
            &mut Streamed {
                asker: self,
                on_text,
            },
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::ToolOutput;
    use crate::types::{ContentBlock, Tool};
    use serde_json::json;
    use std::collections::VecDeque;
    use std::sync::Mutex;

    /// Replies from a script, recording every request it was asked.
    struct Fake {
        replies: Mutex<VecDeque<Result<Completion, BrokerError>>>,
        seen: Mutex<Vec<CompletionRequest>>,
    }

    impl Fake {
        fn new(replies: Vec<Result<Completion, BrokerError>>) -> Self {
            Fake {
                replies: Mutex::new(replies.into()),
                seen: Mutex::new(Vec::new()),
            }
        }

        async fn answer(&self, req: CompletionRequest) -> Result<Completion, BrokerError> {
            self.seen.lock().unwrap().push(req);
            self.replies
                .lock()
                .unwrap()
                .pop_front()
                .unwrap_or(Err(BrokerError::BrokerStopped))
        }

        fn seen(&self) -> Vec<CompletionRequest> {
            self.seen.lock().unwrap().clone()
        }
    }

    impl Step for &Fake {
        fn ask(
            &mut self,
            req: CompletionRequest,
        ) -> impl Future<Output = Result<Completion, BrokerError>> + Send {
            let fake = *self;
            fake.answer(req)
        }
    }

    fn completion(content: Vec<ContentBlock>, stop: StopReason, out: u64) -> Completion {
        let usage = Usage {
            input_tokens: 10,
            output_tokens: out,
            cache_creation_input_tokens: 0,
            cache_read_input_tokens: 1,
            cache_creation_1h_input_tokens: 0,
            ..Default::default()
        };
        crate::types::test_reply::reply(content, stop, usage)
    }

    /// A final text reply (`end_turn`) of `out` output tokens.
    fn final_reply(text: &str, out: u64) -> Completion {
        completion(vec![ContentBlock::text(text)], StopReason::EndTurn, out)
    }

    fn thinking(n: usize) -> ContentBlock {
        ContentBlock::Thinking {
            thinking: format!("thought {n}"),
            signature: format!("sig{n}"),
        }
    }

    fn tool_use(id: &str, name: &str, input: serde_json::Value) -> ContentBlock {
        ContentBlock::ToolUse {
            id: id.into(),
            name: name.into(),
            input,
        }
    }

    fn tools() -> Toolbox {
        Toolbox::new()
            .tool_fn(
                Tool::new("double", json!({"type": "object"})),
                |i| async move {
                    let n = i["n"].as_i64().ok_or("n must be an integer")?;
                    Ok(ToolOutput::text((n * 2).to_string()))
                },
            )
            .tool_fn(Tool::new("noop", json!({"type": "object"})), |_| async {
                Ok("ok".into())
            })
    }

    fn req() -> CompletionRequest {
        CompletionRequest::prompt("m", "Double 2, then double that.")
            .system("Use the tools.")
            .max_tokens(2000)
    }

    #[tokio::test]
    async fn feeds_results_back_until_the_model_stops_asking() {
        let fake = Fake::new(vec![
            Ok(completion(
                vec![thinking(1), tool_use("t1", "double", json!({"n": 2}))],
                StopReason::ToolUse,
                5,
            )),
            Ok(completion(
                vec![
                    thinking(2),
                    tool_use("t2", "double", json!({"n": 4})),
                    tool_use("t3", "noop", json!({})),
                ],
                StopReason::ToolUse,
                6,
            )),
            Ok(final_reply("8", 7)),
        ]);
        let run = drive(&tools(), req(), &mut &fake).await.unwrap();
        assert_eq!(run.text(), "8");
        assert_eq!((run.steps, run.tool_turns, run.tool_calls), (3, 2, 3));
        assert_eq!(run.usage.output_tokens, 18);
        assert_eq!(run.usage.input_tokens, 30);
        assert_eq!(run.usage.cache_read_input_tokens, 3);
        assert_eq!(run.transcript.system.as_deref(), Some("Use the tools."));

        let m = &run.transcript.messages;
        let roles: Vec<Role> = m.iter().map(|m| m.role).collect();
        use Role::{Assistant as A, User as U};
        assert_eq!(roles, [U, A, U, A, U, A]);
        // Assistant turns are replayed whole, thinking first and unchanged.
        assert_eq!(m[1].content[0], thinking(1));
        assert_eq!(m[3].content[0], thinking(2));
        assert_eq!(m[2].content, vec![ContentBlock::tool_result("t1", "4")]);
        assert_eq!(
            m[4].content,
            vec![
                ContentBlock::tool_result("t2", "8"),
                ContentBlock::tool_result("t3", "ok")
            ]
        );

        let seen = fake.seen();
        assert_eq!(seen.len(), 3);
        // Every step offers the tools and carries the conversation so far.
        for (i, r) in seen.iter().enumerate() {
            let names: Vec<&str> = r.tools.iter().map(|t| t.name.as_str()).collect();
            assert_eq!(names, ["double", "noop"]);
            assert_eq!(r.messages.len(), 1 + 2 * i);
        }
        assert_eq!(seen[2].messages, m[..5]);
    }

    #[tokio::test]
    async fn a_failing_tool_is_an_error_result_not_the_loops_error() {
        let fake = Fake::new(vec![
            Ok(completion(
                vec![
                    tool_use("t1", "double", json!({"n": "two"})),
                    tool_use("t2", "ghost", json!({})),
                ],
                StopReason::ToolUse,
                1,
            )),
            Ok(final_reply("sorry", 1)),
        ]);
        let run = drive(&tools(), req(), &mut &fake).await.unwrap();
        let results = &run.transcript.messages[2].content;
        assert!(matches!(
            &results[0],
            ContentBlock::ToolResult { is_error: true, .. }
        ));
        assert_eq!(results[0].tool_result_text(), "n must be an integer");
        assert!(matches!(
            &results[1],
            ContentBlock::ToolResult { is_error: true, tool_use_id, .. } if tool_use_id == "t2"
        ));
    }

    #[tokio::test]
    async fn stops_at_the_step_limit_naming_it() {
        let asks = |n: usize| {
            (0..n)
                .map(|i| {
                    Ok(completion(
                        vec![tool_use(&format!("t{i}"), "noop", json!({}))],
                        StopReason::ToolUse,
                        1,
                    ))
                })
                .collect()
        };
        let fake = Fake::new(asks(5));
        let e = drive(&tools().max_steps(3), req(), &mut &fake)
            .await
            .unwrap_err();
        assert!(
            matches!(&e, AgentError::StepLimit(l) if l.limit == 3 && l.pending == ["noop"]),
            "{e:?}"
        );
        assert_eq!(fake.seen().len(), 3, "no call past the limit");
    }

    #[tokio::test]
    async fn a_broker_failure_ends_the_loop_with_it() {
        let fake = Fake::new(vec![
            Ok(completion(
                vec![tool_use("t1", "noop", json!({}))],
                StopReason::ToolUse,
                1,
            )),
            Err(BrokerError::UnknownTarget("m".into())),
        ]);
        let e = drive(&tools(), req(), &mut &fake).await.unwrap_err();
        assert!(
            matches!(e, AgentError::Broker(BrokerError::UnknownTarget(_))),
            "{e:?}"
        );
    }

    #[tokio::test]
    async fn a_paused_turn_is_sent_back_whole_to_continue_and_kept_as_one_turn() {
        let search: ContentBlock = serde_json::from_value(
            json!({"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search",
                   "input": {"query": "q"}}),
        )
        .unwrap();
        let result: ContentBlock = serde_json::from_value(
            json!({"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": []}),
        )
        .unwrap();
        let paused = vec![ContentBlock::text("part one"), search, result];
        let fake = Fake::new(vec![
            Ok(completion(paused.clone(), StopReason::PauseTurn, 1)),
            Ok(final_reply("done", 1)),
        ]);
        let run = drive(&tools(), req(), &mut &fake).await.unwrap();
        assert_eq!((run.steps, run.tool_turns), (2, 0));
        // The continuation request ends with the paused turn, its server blocks whole.
        let continued = fake.seen()[1].messages.last().unwrap().clone();
        assert_eq!(
            (continued.role, continued.content),
            (Role::Assistant, paused.clone())
        );
        // The transcript holds the turn once: the paused blocks, then the continuation.
        let m = &run.transcript.messages;
        assert_eq!(m.len(), 2);
        let mut whole = paused;
        whole.push(ContentBlock::text("done"));
        assert_eq!(m[1].content, whole);
        assert_eq!(run.text(), "done");
    }

    #[tokio::test]
    async fn a_reply_without_tool_calls_ends_at_once_and_request_tools_win() {
        let fake = Fake::new(vec![Ok(final_reply("no tools needed", 1))]);
        let own = Tool::new("noop", json!({"type": "object"})).description("the request's own");
        let run = drive(&tools(), req().tool(own.clone()), &mut &fake)
            .await
            .unwrap();
        assert_eq!((run.steps, run.tool_turns, run.tool_calls), (1, 0, 0));
        assert_eq!(run.transcript.len(), 2);
        let offered = &fake.seen()[0].tools;
        assert_eq!(offered.len(), 2);
        assert_eq!(offered[0], own);
    }
}
