//! `Bookkeeper`: an agent with two local tools, a calculator and a notes store, that
//! works a multi-step task through the tool loop (`ctx.run_tools`, see
//! [`Asker::run_tools`]): the model asks for a sum, a note, a look-up; the agent runs
//! each call itself and sends the results back until the model answers in words.
//!
//! Both tools take typed input (`Calc`, `NoteOp`) whose JSON Schema is derived with
//! schemars ([`Toolbox::typed_tool`]). A bad call (a division by zero, a note that is
//! not there) goes back to the model as an `is_error` result it can recover from; it
//! does not fail the agent.
//!
//! It returns a [`Ledger`] (the tool loop's outcome), found in its report:
//! `report.output::<Ledger>("bookkeeper")`.
//!
//! [`Asker::run_tools`]: quotaswarm::agent::Asker::run_tools

use quotaswarm::agent::{Agent, AgentResult, Ask, Ctx, ToolFailure, ToolOutput, ToolRun, Toolbox};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// The calculator's input.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct Calc {
    /// The operation.
    pub op: Op,
    /// The left operand.
    pub a: f64,
    /// The right operand.
    pub b: f64,
}

/// What the calculator does.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    /// `a + b`.
    Add,
    /// `a - b`.
    Subtract,
    /// `a × b`.
    Multiply,
    /// `a / b` (a zero `b` is a failed call).
    Divide,
}

/// The notes store's input.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct NoteOp {
    /// `write` stores `value` under `key`; `read` returns it.
    pub action: NoteAction,
    /// The note's name.
    pub key: String,
    /// What to write (ignored by `read`).
    pub value: Option<String>,
}

/// What the notes store does.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum NoteAction {
    /// Store `value` under `key`.
    Write,
    /// Return the note under `key` (a missing one is a failed call).
    Read,
}

/// The notes, shared by the agent and its tool.
pub type Notes = Arc<Mutex<BTreeMap<String, String>>>;

/// What a bookkeeper returns (its output, in its report).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ledger {
    /// The tool loop's outcome (final answer, transcript, steps, usage).
    pub run: ToolRun,
    /// The text received as it streamed (when streaming).
    pub streamed: String,
}

/// Works `task` with the calculator and the notes store (see the module doc).
pub struct Bookkeeper {
    /// How each step is asked (target, `max_tokens`, thinking, broker options).
    pub ask: Ask,
    /// The task, sent as the first user turn.
    pub task: String,
    /// Stream each step (the text is collected into the ledger as it arrives).
    pub stream: bool,
    /// At most this many model calls.
    pub max_steps: usize,
    /// The notes store the `notes` tool reads and writes.
    pub notes: Notes,
}

/// The system prompt: what the tools are for.
pub const SYSTEM: &str = "You are a bookkeeper. Do arithmetic only with the calculator tool \
     and keep every result in the notes tool, then answer with the figures you found.";

impl Bookkeeper {
    /// A bookkeeper for `task`, not streamed, at most 8 steps. Extended thinking is
    /// the `ask`'s (`Ask::thinking`; its budget must stay under `max_tokens`).
    pub fn new(ask: Ask, task: impl Into<String>) -> Self {
        Bookkeeper {
            ask,
            task: task.into(),
            stream: false,
            max_steps: 8,
            notes: Notes::default(),
        }
    }

    /// Streams each step.
    pub fn streamed(mut self, on: bool) -> Self {
        self.stream = on;
        self
    }

    /// The calculator and the notes store.
    pub fn toolbox(&self) -> Toolbox {
        let notes = self.notes.clone();
        Toolbox::new()
            .typed_tool(
                "calculator",
                "Does one arithmetic operation on two numbers.",
                |c: Calc| async move { calculate(&c).map(|x| ToolOutput::text(x.to_string())) },
            )
            .typed_tool(
                "notes",
                "Writes a note under a key, or reads one back.",
                move |op: NoteOp| {
                    let notes = notes.clone();
                    async move { note(&notes, op) }
                },
            )
            .max_steps(self.max_steps)
    }
}

/// One calculator call.
pub fn calculate(c: &Calc) -> Result<f64, ToolFailure> {
    match c.op {
        Op::Add => Ok(c.a + c.b),
        Op::Subtract => Ok(c.a - c.b),
        Op::Multiply => Ok(c.a * c.b),
        Op::Divide if c.b == 0.0 => Err(ToolFailure::new("division by zero")),
        Op::Divide => Ok(c.a / c.b),
    }
}

/// One notes call.
fn note(notes: &Notes, op: NoteOp) -> Result<ToolOutput, ToolFailure> {
    let mut notes = notes.lock().unwrap_or_else(|p| p.into_inner());
    match op.action {
        NoteAction::Write => {
            let value = op.value.unwrap_or_default();
            notes.insert(op.key.clone(), value);
            Ok(ToolOutput::text(format!("noted under {}", op.key)))
        }
        NoteAction::Read => notes.get(&op.key).map(ToolOutput::text).ok_or_else(|| {
            let keys: Vec<&str> = notes.keys().map(String::as_str).collect();
            ToolFailure::new(format!(
                "no note under {:?}; the notes are: [{}]",
                op.key,
                keys.join(", ")
            ))
        }),
    }
}

impl Agent<Ledger> for Bookkeeper {
    type Msg = ();

    async fn on_start(&mut self, ctx: &mut Ctx<(), Ledger>) -> AgentResult {
        let tools = self.toolbox();
        let req = self.ask.clone().system(SYSTEM).user(self.task.clone());
        let mut streamed = String::new();
        let run = if self.stream {
            let on_text = |text: &str| streamed.push_str(text);
            ctx.stream_tools(&tools, req, on_text).await?
        } else {
            ctx.run_tools(&tools, req).await?
        };
        tracing::debug!(
            agent = ctx.name(),
            steps = run.steps,
            tool_calls = run.tool_calls,
            "bookkeeping done"
        );
        ctx.finish_with(Ledger { run, streamed });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_calculator_refuses_to_divide_by_zero() {
        let c = Calc {
            op: Op::Divide,
            a: 1.0,
            b: 0.0,
        };
        assert_eq!(calculate(&c).unwrap_err().message(), "division by zero");
        let c = Calc {
            op: Op::Multiply,
            a: 3.0,
            b: 4.0,
        };
        assert_eq!(calculate(&c).unwrap(), 12.0);
    }

    #[test]
    fn a_missing_note_names_the_notes_there_are() {
        let notes = Notes::default();
        let write = NoteOp {
            action: NoteAction::Write,
            key: "total".into(),
            value: Some("42".into()),
        };
        note(&notes, write).unwrap();
        let read = NoteOp {
            action: NoteAction::Read,
            key: "total".into(),
            value: None,
        };
        assert_eq!(note(&notes, read).unwrap(), ToolOutput::text("42"));
        let missing = NoteOp {
            action: NoteAction::Read,
            key: "sum".into(),
            value: None,
        };
        let e = note(&notes, missing).unwrap_err();
        assert_eq!(e.message(), "no note under \"sum\"; the notes are: [total]");
    }
}
