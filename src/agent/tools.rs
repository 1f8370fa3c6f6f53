//! Local tools for the tool loop: [`LocalTool`] (a tool the agent runs itself),
//! [`ToolOutput`] and [`ToolFailure`] (what one call gives back) and [`Toolbox`] (the
//! tools of a loop, its step limit, and the code that answers a reply's tool calls).
//!
//! A tool is declared three ways: a type implementing [`LocalTool`]; an async closure
//! over the raw JSON input with its [`Tool`] definition ([`Toolbox::tool_fn`]); or an
//! async closure over a typed input whose schema is derived with schemars
//! ([`Toolbox::typed_tool`]).
//!
//! A call never fails the loop: a [`ToolFailure`], an unknown tool name, input that does
//! not fit a typed tool and a panicking tool all become `tool_result` blocks with
//! `is_error: true`, which the model reads and can recover from.

use super::schema::{derived_schema, strict_schema};
use crate::types::{Completion, ContentBlock, Tool};
use futures_util::future::{join_all, BoxFuture};
use futures_util::FutureExt;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

/// Model calls a tool loop makes at most, unless [`Toolbox::max_steps`] says otherwise.
pub const DEFAULT_MAX_STEPS: usize = 10;

/// What a tool result says when the tool returned nothing: the APIs refuse empty text
/// blocks.
const NO_OUTPUT: &str = "(no output)";

/// A tool the agent runs locally when the model calls it.
///
/// ```
/// use quotaswarm::agent::{LocalTool, ToolFailure, ToolOutput};
/// use quotaswarm::types::Tool;
/// use serde_json::{json, Value};
///
/// struct Clock;
///
/// impl LocalTool for Clock {
///     fn tool(&self) -> Tool {
///         Tool::new("clock", json!({"type": "object", "properties": {}}))
///             .description("The current UTC time.")
///     }
///
///     async fn call(&self, _input: Value) -> Result<ToolOutput, ToolFailure> {
///         Ok(ToolOutput::text("12:00"))
///     }
/// }
/// ```
pub trait LocalTool: Send + Sync + 'static {
    /// The tool as the model sees it: its name, description and input schema.
    fn tool(&self) -> Tool;

    /// Runs one call with the model's input. A failure is sent back to the model as a
    /// `tool_result` with `is_error: true`; it does not end the loop.
    fn call(&self, input: Value) -> impl Future<Output = Result<ToolOutput, ToolFailure>> + Send;
}

/// What a tool call returns: the content of its `tool_result` (text and image blocks).
#[derive(Debug, Clone, PartialEq)]
pub struct ToolOutput {
    /// The result's blocks.
    pub content: Vec<ContentBlock>,
}

impl ToolOutput {
    /// One text block.
    pub fn text(text: impl Into<String>) -> Self {
        ToolOutput {
            content: vec![ContentBlock::text(text)],
        }
    }

    /// A value as JSON text.
    pub fn json(value: &impl serde::Serialize) -> Result<Self, ToolFailure> {
        Ok(ToolOutput::text(serde_json::to_string(value)?))
    }

    /// These blocks (text and images).
    pub fn blocks(content: Vec<ContentBlock>) -> Self {
        ToolOutput { content }
    }

    /// The blocks as sent: empty text blocks dropped (the APIs refuse them), and a
    /// placeholder when nothing is left.
    fn into_content(self) -> Vec<ContentBlock> {
        let mut content: Vec<ContentBlock> = self
            .content
            .into_iter()
            .filter(|b| b.as_text().is_none_or(|t| !t.is_empty()))
            .collect();
        if content.is_empty() {
            content.push(ContentBlock::text(NO_OUTPUT));
        }
        content
    }
}

impl From<String> for ToolOutput {
    fn from(text: String) -> Self {
        ToolOutput::text(text)
    }
}

impl From<&str> for ToolOutput {
    fn from(text: &str) -> Self {
        ToolOutput::text(text)
    }
}

impl From<Value> for ToolOutput {
    fn from(value: Value) -> Self {
        ToolOutput::text(value.to_string())
    }
}

/// A tool call that failed: its message goes back to the model as an `is_error` result,
/// so write it for the model ("no note under `k`; notes: a, b").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ToolFailure {
    message: String,
}

impl ToolFailure {
    /// A failure with this message.
    pub fn new(message: impl Into<String>) -> Self {
        ToolFailure {
            message: message.into(),
        }
    }

    /// The message the model reads.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl From<String> for ToolFailure {
    fn from(message: String) -> Self {
        ToolFailure::new(message)
    }
}

impl From<&str> for ToolFailure {
    fn from(message: &str) -> Self {
        ToolFailure::new(message)
    }
}

/// Input that does not parse: `?` on `serde_json::from_value` in a tool.
impl From<serde_json::Error> for ToolFailure {
    fn from(e: serde_json::Error) -> Self {
        ToolFailure::new(format!("the input does not fit the tool's schema: {e}"))
    }
}

/// A [`LocalTool`] with its future boxed, so different tools fit in one list.
trait ErasedTool: Send + Sync {
    fn call_boxed(&self, input: Value) -> BoxFuture<'_, Result<ToolOutput, ToolFailure>>;
}

impl<T: LocalTool> ErasedTool for T {
    fn call_boxed(&self, input: Value) -> BoxFuture<'_, Result<ToolOutput, ToolFailure>> {
        Box::pin(self.call(input))
    }
}

/// A tool declared as a closure over the raw input.
struct FnTool<F> {
    tool: Tool,
    f: F,
}

impl<F, Fut> LocalTool for FnTool<F>
where
    F: Fn(Value) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<ToolOutput, ToolFailure>> + Send + 'static,
{
    fn tool(&self) -> Tool {
        self.tool.clone()
    }

    fn call(&self, input: Value) -> impl Future<Output = Result<ToolOutput, ToolFailure>> + Send {
        (self.f)(input)
    }
}

/// A tool declared as a closure over a typed input.
struct TypedTool<I, F> {
    tool: Tool,
    f: F,
    _input: std::marker::PhantomData<fn(I)>,
}

impl<I, F, Fut> LocalTool for TypedTool<I, F>
where
    I: DeserializeOwned + Send + 'static,
    F: Fn(I) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<ToolOutput, ToolFailure>> + Send + 'static,
{
    fn tool(&self) -> Tool {
        self.tool.clone()
    }

    fn call(&self, input: Value) -> impl Future<Output = Result<ToolOutput, ToolFailure>> + Send {
        let parsed = serde_json::from_value::<I>(input).map(&self.f);
        async move { parsed?.await }
    }
}

#[derive(Clone)]
struct Entry {
    /// The definition, read once when the tool was added.
    def: Tool,
    run: Arc<dyn ErasedTool>,
}

/// The tools of a tool loop, and how it runs them. Cheap to clone.
///
/// ```
/// use quotaswarm::agent::{Toolbox, ToolOutput};
/// use quotaswarm::types::Tool;
/// use serde_json::json;
///
/// #[derive(serde::Deserialize, schemars::JsonSchema)]
/// struct Add {
///     a: f64,
///     b: f64,
/// }
///
/// let tools = Toolbox::new()
///     .typed_tool("add", "Adds two numbers.", |i: Add| async move {
///         Ok(ToolOutput::text((i.a + i.b).to_string()))
///     })
///     .tool_fn(
///         Tool::new("echo", json!({"type": "object", "properties": {"s": {"type": "string"}}})),
///         |input| async move { Ok(ToolOutput::text(input["s"].to_string())) },
///     )
///     .max_steps(6);
/// assert_eq!(tools.names(), ["add", "echo"]);
/// ```
#[derive(Clone)]
pub struct Toolbox {
    tools: Vec<Entry>,
    max_steps: usize,
    concurrent: bool,
}

impl Default for Toolbox {
    fn default() -> Self {
        Toolbox::new()
    }
}

impl fmt::Debug for Toolbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Toolbox")
            .field("tools", &self.names())
            .field("max_steps", &self.max_steps)
            .field("concurrent", &self.concurrent)
            .finish()
    }
}

impl Toolbox {
    /// No tools yet; at most [`DEFAULT_MAX_STEPS`] model calls; the calls of one reply
    /// run concurrently.
    pub fn new() -> Self {
        Toolbox {
            tools: Vec::new(),
            max_steps: DEFAULT_MAX_STEPS,
            concurrent: true,
        }
    }

    /// Adds a tool (replacing one of the same name).
    pub fn tool(mut self, tool: impl LocalTool) -> Self {
        let def = tool.tool();
        self.tools.retain(|e| e.def.name != def.name);
        self.tools.push(Entry {
            def,
            run: Arc::new(tool),
        });
        self
    }

    /// Adds a tool defined by `tool` and run by `f` on the raw JSON input.
    pub fn tool_fn<F, Fut>(self, tool: Tool, f: F) -> Self
    where
        F: Fn(Value) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<ToolOutput, ToolFailure>> + Send + 'static,
    {
        self.tool(FnTool { tool, f })
    }

    /// Adds a tool whose input is an `I`: its schema is derived with schemars and
    /// adapted to strict mode (see [`ReplySchema`](super::ReplySchema)); input that does
    /// not deserialize into `I` is answered with an `is_error` result without calling
    /// `f`. The tool is marked `strict` when its schema allows it. `I` should be a
    /// struct: the APIs take tool input as a JSON object.
    pub fn typed_tool<I, F, Fut>(self, name: &str, description: &str, f: F) -> Self
    where
        I: DeserializeOwned + JsonSchema + Send + 'static,
        F: Fn(I) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<ToolOutput, ToolFailure>> + Send + 'static,
    {
        let adapted = strict_schema(derived_schema::<I>());
        // A wrapped root would need unwrapping on every call: keep the derived schema.
        let tool = if adapted.wrapped {
            Tool::new(name, derived_schema::<I>())
        } else {
            Tool::new(name, adapted.schema).strict(adapted.strict)
        };
        self.tool(TypedTool {
            tool: tool.description(description),
            f,
            _input: std::marker::PhantomData,
        })
    }

    /// At most `n` model calls per loop (at least 1); a model still asking for tools
    /// after them ends the loop with [`StepLimit`](super::StepLimit).
    pub fn max_steps(mut self, n: usize) -> Self {
        self.max_steps = n.max(1);
        self
    }

    /// Run the calls of one reply concurrently (the default) or one after another.
    /// Either way their results are sent in the order of the calls.
    pub fn concurrent(mut self, on: bool) -> Self {
        self.concurrent = on;
        self
    }

    /// The step limit (model calls per loop).
    pub fn step_limit(&self) -> usize {
        self.max_steps
    }

    /// The tools' names, in the order they were added.
    pub fn names(&self) -> Vec<&str> {
        self.tools.iter().map(|e| e.def.name.as_str()).collect()
    }

    /// The tools' definitions, as a request carries them.
    pub fn definitions(&self) -> impl Iterator<Item = &Tool> {
        self.tools.iter().map(|e| &e.def)
    }

    /// Runs one call: the tool's output, or why it failed (an unknown name, a failure
    /// or a panic of the tool).
    pub async fn call(&self, name: &str, input: Value) -> Result<ToolOutput, ToolFailure> {
        let Some(entry) = self.tools.iter().find(|e| e.def.name == name) else {
            return Err(ToolFailure::new(format!(
                "there is no tool named {name:?}; the tools are: {}",
                self.names().join(", ")
            )));
        };
        AssertUnwindSafe(entry.run.call_boxed(input))
            .catch_unwind()
            .await
            .unwrap_or_else(|_| Err(ToolFailure::new(format!("the tool {name} panicked"))))
    }

    /// Answers every tool call of `reply`: one `tool_result` block per call, in the
    /// order of the calls (failures as `is_error` results).
    pub async fn answer(&self, reply: &Completion) -> Vec<ContentBlock> {
        let calls: Vec<(&str, &str, &Value)> = reply.tool_uses().collect();
        let outputs = if self.concurrent {
            join_all(
                calls
                    .iter()
                    .map(|(_, name, input)| self.call(name, (*input).clone())),
            )
            .await
        } else {
            let mut outputs = Vec::with_capacity(calls.len());
            for (_, name, input) in &calls {
                outputs.push(self.call(name, (*input).clone()).await);
            }
            outputs
        };
        calls
            .iter()
            .zip(outputs)
            .map(|((id, _, _), output)| {
                let (content, is_error) = match output {
                    Ok(out) => (out.into_content(), false),
                    Err(failure) => (vec![ContentBlock::text(failure.message)], true),
                };
                ContentBlock::ToolResult {
                    tool_use_id: (*id).to_string(),
                    content,
                    is_error,
                    cache_control: None,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{StopReason, Usage};
    use serde_json::json;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn calls(uses: &[(&str, &str, Value)]) -> Completion {
        let content = uses
            .iter()
            .map(|(id, name, input)| ContentBlock::ToolUse {
                id: id.to_string(),
                name: name.to_string(),
                input: input.clone(),
            })
            .collect();
        crate::types::test_reply::reply(content, StopReason::ToolUse, Usage::default())
    }

    #[derive(serde::Deserialize, JsonSchema)]
    struct Pair {
        a: i64,
        b: i64,
    }

    fn toolbox() -> Toolbox {
        Toolbox::new()
            .typed_tool("add", "Adds.", |p: Pair| async move {
                Ok(ToolOutput::text((p.a + p.b).to_string()))
            })
            .tool_fn(Tool::new("fail", json!({"type": "object"})), |_| async {
                Err(ToolFailure::new("always fails"))
            })
            .tool_fn(Tool::new("silent", json!({"type": "object"})), |_| async {
                Ok(ToolOutput::text(""))
            })
            .tool_fn(Tool::new("boom", json!({"type": "object"})), |_| async {
                panic!("tool bug")
            })
    }

    fn result(block: &ContentBlock) -> (&str, String, bool) {
        match block {
            ContentBlock::ToolResult {
                tool_use_id,
                is_error,
                ..
            } => (tool_use_id.as_str(), block.tool_result_text(), *is_error),
            other => panic!("not a tool result: {other:?}"),
        }
    }

    #[tokio::test]
    async fn answers_every_call_in_order_with_failures_as_error_results() {
        let reply = calls(&[
            ("t1", "add", json!({"a": 2, "b": 3})),
            ("t2", "fail", json!({})),
            ("t3", "nope", json!({})),
            ("t4", "add", json!({"a": "x"})),
            ("t5", "silent", json!({})),
            ("t6", "boom", json!({})),
        ]);
        let blocks = toolbox().answer(&reply).await;
        let got: Vec<_> = blocks.iter().map(result).collect();
        assert_eq!(got[0], ("t1", "5".into(), false));
        assert_eq!(got[1], ("t2", "always fails".into(), true));
        assert_eq!(got[2].0, "t3");
        assert!(
            got[2].1.contains("no tool named \"nope\"") && got[2].2,
            "{:?}",
            got[2]
        );
        assert!(got[2].1.contains("add, fail, silent, boom"), "{:?}", got[2]);
        assert!(
            got[3].1.starts_with("the input does not fit") && got[3].2,
            "{:?}",
            got[3]
        );
        assert_eq!(got[4], ("t5", NO_OUTPUT.into(), false));
        assert_eq!(got[5], ("t6", "the tool boom panicked".into(), true));
    }

    #[tokio::test]
    async fn concurrent_and_sequential_runs_give_the_same_results() {
        let reply = calls(&[
            ("t1", "add", json!({"a": 1, "b": 1})),
            ("t2", "add", json!({"a": 2, "b": 2})),
        ]);
        let a = toolbox().answer(&reply).await;
        let b = toolbox().concurrent(false).answer(&reply).await;
        assert_eq!(a, b);
    }

    #[test]
    fn a_typed_tools_schema_is_strict() {
        let t = toolbox();
        let add = t.definitions().next().unwrap();
        assert_eq!(add.strict, Some(true));
        assert_eq!(add.input_schema["additionalProperties"], false);
        assert_eq!(add.input_schema["required"], json!(["a", "b"]));
        assert_eq!(add.description.as_deref(), Some("Adds."));
    }

    #[test]
    fn a_tool_of_the_same_name_replaces_the_first() {
        let t = toolbox().tool_fn(Tool::new("add", json!({"type": "object"})), |_| async {
            Ok("replaced".into())
        });
        assert_eq!(t.names(), ["fail", "silent", "boom", "add"]);
    }

    #[test]
    fn the_step_limit_is_at_least_one() {
        assert_eq!(Toolbox::new().max_steps(0).step_limit(), 1);
        assert_eq!(Toolbox::new().step_limit(), DEFAULT_MAX_STEPS);
    }

    struct Counter(AtomicUsize);

    impl LocalTool for Counter {
        fn tool(&self) -> Tool {
            Tool::new("count", json!({"type": "object", "properties": {}}))
        }

        async fn call(&self, _input: Value) -> Result<ToolOutput, ToolFailure> {
            let n = self.0.fetch_add(1, Ordering::SeqCst) + 1;
            ToolOutput::json(&json!({ "count": n }))
        }
    }

    #[tokio::test]
    async fn a_local_tool_type_keeps_its_state_across_calls() {
        let t = Toolbox::new().tool(Counter(AtomicUsize::new(0)));
        t.call("count", json!({})).await.unwrap();
        let out = t.call("count", json!({})).await.unwrap();
        assert_eq!(out, ToolOutput::text(r#"{"count":2}"#));
    }
}
