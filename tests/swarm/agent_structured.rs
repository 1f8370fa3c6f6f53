//! Typed structured output on the simulator over loopback HTTP: `ask_json` returns a
//! parsed struct on both wires (OpenAI `response_format` json_schema; Anthropic native
//! `output_config.format` on current models, a forced tool whose call the decoder turns
//! into the JSON text on older ones), and a reply that does not fit
//! the type is the typed error `AgentError::Unfit`, holding the raw text and serde's
//! message. The simulator's `schema_violation_rate = 1` makes every schema-bound reply
//! leave out a required field.

use crate::common;

use common::run_alone;
use quotaswarm_sim::loopback;

use quotaswarm::agent::{Agent, AgentError, AgentResult, Ask, Ctx};
use quotaswarm::swarm::SwarmReport;
use quotaswarm::Config;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A claim checked, as the model answers it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
struct Check {
    /// The claim, restated.
    claim: String,
    /// Whether it holds.
    holds: bool,
    /// How sure, 0 to 100.
    confidence: u8,
    /// Where to read more.
    sources: Vec<Source>,
    /// How likely it is to hold up.
    verdict: Verdict,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
struct Source {
    title: String,
    year: i32,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
enum Verdict {
    True,
    False,
    Unclear,
}

type Outcome = Result<Check, AgentError>;

/// Asks one typed question with its `Ask` and returns the outcome.
struct Checker(Ask);

impl Agent<Outcome> for Checker {
    type Msg = ();
    async fn on_start(&mut self, ctx: &mut Ctx<(), Outcome>) -> AgentResult {
        let claim = "Check the claim: token buckets allow bursts.";
        let got = ctx.ask_json::<Check>(&self.0, claim).await;
        ctx.finish_with(got);
        Ok(())
    }
}

async fn check(
    target: &'static str,
    violation_rate: f64,
) -> (SwarmReport, Result<Check, AgentError>) {
    let text = format!("[sim]\nlatency_ms = 1\nschema_violation_rate = {violation_rate}\n");
    let config =
        Config::from_toml_str_over_previous_defaults(&text, "agent_structured test").unwrap();
    let checker = Checker(Ask::new(target).max_tokens(400));
    let mut report = run_alone(config, loopback(), "checker", checker, 60).await;
    let got = report.agents[0].take_output::<Outcome>();
    let got = got.unwrap_or_else(|| panic!("no outcome: {:?}", report.agents));
    (report, got)
}

fn fits(report: &SwarmReport, got: Result<Check, AgentError>) {
    let check = got.unwrap_or_else(|e| panic!("{e}"));
    assert!(!check.claim.is_empty());
    assert!(
        check.sources.iter().all(|s| !s.title.is_empty()),
        "{check:?}"
    );
    assert!(report.totals.is_clean(), "{:?}", report.agents);
    let sim = quotaswarm_sim::stats_of(report).unwrap();
    assert_eq!(sim.total.requests, 1);
    assert_eq!(sim.total.status(200), 1);
}

fn unfit(report: &SwarmReport, got: Result<Check, AgentError>) {
    let e = match got {
        Err(AgentError::Unfit(e)) => e,
        other => panic!("expected the typed error, got {other:?}"),
    };
    assert_eq!(e.schema, "Check");
    assert!(!e.text.is_empty());
    // The text is JSON, but not a `Check`: serde's message says what is wrong.
    assert!(
        serde_json::from_str::<serde_json::Value>(&e.text).is_ok(),
        "{}",
        e.text
    );
    assert!(
        e.message.contains("missing field") || e.message.contains("invalid type"),
        "{}",
        e.message
    );
    // The ask itself succeeded: the broker counts an answer, not an error.
    assert_eq!(report.agents[0].completions, 1);
    assert_eq!(report.agents[0].errors, 0);
}

/// On both wires: a reply that fits is the parsed struct, one that does not is the typed
/// error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn returns_a_parsed_struct_or_the_typed_error_on_anthropic_and_openai() {
    for model in ["sonnet", "gpt-4o-mini"] {
        let (r, got) = check(model, 0.0).await;
        fits(&r, got);
        let (r, got) = check(model, 1.0).await;
        unfit(&r, got);
    }
}
