//! The scenario format: what parses, and errors that name the field and the line.

use crate::common;

use quotaswarm::Config;
use quotaswarm_agents::Turn;
use quotaswarm_cli::scenario::{Kind, Scenario, ScenarioError};

fn parse(text: &str) -> Result<Scenario, ScenarioError> {
    Scenario::from_json_str(text, "test.json")
}

fn err(text: &str) -> String {
    parse(text).expect_err("should fail").to_string()
}

/// Asserts that `e` contains every one of `parts`.
fn says(e: &str, parts: &[&str]) {
    for part in parts {
        assert!(e.contains(part), "{part:?} missing from: {e}");
    }
}

/// Parsing `text` fails with an error that says every one of `parts`; returns it.
fn refused(text: &str, parts: &[&str]) -> String {
    let e = err(text);
    says(&e, parts);
    e
}

/// Applying `s` to the default config fails with an error that says every one of
/// `parts`.
fn refused_by_apply(s: &Scenario, parts: &[&str]) {
    let e = s.apply(&mut Config::default()).unwrap_err().to_string();
    says(&e, parts);
}

#[test]
fn parses_kinds_turns_and_options() {
    let s = parse(
        r#"{"agents": [
  {"name": "chat", "ladder": ["sonnet", "haiku"], "system": "Be brief.", "max_tokens": 200,
   "max_wait_secs": 2.5, "trim": {"max_input_tokens": 2000}, "coalesce": false, "copies": 2,
   "turns": [{"user": "Hello!", "assistant": "Hi."}, {"user": "More", "max_tokens": 30},
             {"oneshot": {"system": "Translate.", "user": "Good morning"}}]},
  {"name": "r", "kind": "researcher", "model": "claude", "context": "c", "prompts": ["q"]},
  {"name": "pair", "kind": "critic_pair", "model": "claude", "prompts": ["q"], "copies": 2}
]}"#,
    )
    .unwrap();
    let chat = &s.agents[0];
    assert_eq!(chat.kind, Kind::Scripted);
    assert_eq!(chat.names(), ["chat-1", "chat-2"]);
    assert!(!chat.coalesce);
    assert_eq!(chat.trim.as_ref().map(|t| t.max_input_tokens), Some(2000));
    assert_eq!(
        chat.turns[2],
        Turn::Oneshot {
            system: Some("Translate.".into()),
            user: "Good morning".into(),
            max_tokens: None
        }
    );
    assert_eq!(
        s.agents[2].names(),
        ["pair-1-a", "pair-1-b", "pair-2-a", "pair-2-b"]
    );
    let mut config = Config::default();
    s.apply(&mut config).unwrap();
    assert_eq!(
        config.rungs("chat.ladder"),
        Some(vec!["sonnet".into(), "haiku".into()])
    );
}

#[test]
fn the_built_in_demo_parses_and_fits_its_config() {
    let (s, mut config) = Scenario::builtin_demo().unwrap();
    s.apply(&mut config).unwrap();
}

#[test]
fn a_wrong_type_names_the_field_path_and_line() {
    refused("{\n \"agents\": [\n  {\"name\": \"a\", \"model\": \"haiku\",\n   \"turns\": [{\"user\": \"hi\", \"max_tokens\": -3}]}\n ]\n}", &["line 4", "agents[0].turns[0].max_tokens"]);
}

#[test]
fn an_unknown_field_is_an_error_with_its_line() {
    refused("{\"agents\": [\n {\"name\": \"a\", \"model\": \"haiku\",\n  \"max_token\": 5, \"turns\": [{\"user\": \"hi\"}]}]}", &["unknown field `max_token`", "line 3", "agents[0]"]);
}

#[test]
fn a_turn_without_user_or_oneshot_is_refused() {
    refused("{\"agents\": [\n {\"name\": \"a\", \"model\": \"haiku\",\n  \"turns\": [{\"assistant\": \"hi\"}]}\n]}", &["agents[0].turns[0]: a turn needs `user`", "line 3"]);
}

#[test]
fn model_and_ladder_are_exclusive_and_one_is_needed() {
    refused(
        "{\"agents\": [{\"name\": \"a\", \"turns\": [{\"user\": \"hi\"}]}]}",
        &["exactly one of `model` and `ladder`"],
    );
}

#[test]
fn an_unknown_kind_lists_the_known_ones() {
    refused(
        "{\"agents\": [{\"name\": \"a\", \"kind\": \"poet\", \"model\": \"haiku\"}]}",
        &["unknown variant `poet`", "critic_pair", "agents[0].kind"],
    );
}

#[test]
fn an_unknown_model_names_the_agent_field_and_line() {
    let s = parse("{\"agents\": [\n {\"name\": \"a\", \"model\": \"haiku\", \"turns\": [{\"user\": \"x\"}]},\n {\"name\": \"b\", \"model\": \"gpt-9\", \"turns\": [{\"user\": \"x\"}]}\n]}").unwrap();
    refused_by_apply(&s, &["agents[1].model", "line 3", "gpt-9"]);
}

#[test]
fn a_scenario_without_agents_is_refused() {
    let e = parse(r#"{"name": "nothing", "agents": []}"#).expect_err("should fail");
    assert!(matches!(e, ScenarioError::NoAgents { .. }));
    assert!(e.is_bad_input());
    assert_eq!(
        e.to_string(),
        "scenario test.json has no agents: `agents` is empty; give at least one"
    );
}

#[test]
fn a_kind_missing_its_inputs_is_named_as_the_file_spells_it() {
    refused(
        "{\"agents\": [{\"name\": \"a\", \"model\": \"haiku\"}]}",
        &["agent \"a\": kind \"scripted\" needs \"turns\""],
    );
    refused(
        "{\"agents\": [{\"name\": \"p\", \"kind\": \"critic_pair\", \"model\": \"haiku\", \"prompts\": []}]}",
        &["kind \"critic_pair\" needs exactly one"],
    );
    let e = refused("{\"agents\": [{\"name\": \"p\", \"kind\": \"persona\", \"model\": \"haiku\", \"turns\": [{\"user\": \"x\"}]}]}", &["not \"persona\""]);
    assert!(!e.contains("Persona") && !e.contains("Scripted"), "{e}");
}

#[test]
fn a_missing_scenario_file_prints_its_os_error_once() {
    let e = Scenario::load(std::path::Path::new("/no/such/quotaswarm/scenario.json")).unwrap_err();
    // As the CLI prints errors: the whole chain.
    let printed = format!("{:#}", anyhow::Error::from(e));
    common::starts_with_one_os_error(
        &printed,
        "cannot read scenario file /no/such/quotaswarm/scenario.json: ",
    );
}

#[test]
fn durations_out_of_range_are_errors_naming_the_field_not_panics() {
    // Issue 19: `"max_wait_secs": 1e300` panicked in `Duration::from_secs_f64`.
    refused("{\"agents\": [\n {\"name\": \"a\", \"model\": \"haiku\", \"max_wait_secs\": 1e300,\n  \"turns\": [{\"user\": \"hi\"}]}]}", &["agents[0]", "`max_wait_secs` must be a number of seconds from 0 to 2592000"]);
    refused("{\"agents\": [{\"name\": \"a\", \"model\": \"haiku\", \"reuse_secs\": -1,\n  \"turns\": [{\"user\": \"hi\"}]}]}", &["`reuse_secs` must be"]);
    refused("{\n\"deadline_secs\": 1e300,\n\"agents\": [{\"name\": \"a\", \"model\": \"haiku\", \"turns\": [{\"user\": \"hi\"}]}]}", &["line 2", "deadline_secs", "above 0 and at most 2592000"]);
}

#[test]
fn a_zero_deadline_or_round_count_is_refused_not_read_as_none() {
    refused("{\"deadline_secs\": 0, \"agents\": [{\"name\": \"a\", \"model\": \"haiku\", \"turns\": [{\"user\": \"hi\"}]}]}", &["leave it out for no deadline"]);
    refused("{\"agents\": [{\"name\": \"p\", \"kind\": \"critic_pair\", \"model\": \"haiku\", \"prompts\": [\"q\"], \"rounds\": 0}]}", &["`rounds` must be at least 1"]);
}

#[test]
fn more_agents_than_the_limit_are_refused() {
    refused("{\"agents\": [{\"name\": \"a\", \"model\": \"haiku\", \"copies\": 4294967295, \"turns\": [{\"user\": \"hi\"}]}]}", &["`copies` must be at most 10000"]);
    let s = parse("{\"agents\": [{\"name\": \"a\", \"model\": \"haiku\", \"copies\": 10000, \"turns\": [{\"user\": \"hi\"}]},\n {\"name\": \"b\", \"model\": \"haiku\", \"copies\": 2, \"turns\": [{\"user\": \"hi\"}]}]}").unwrap();
    refused_by_apply(&s, &["agents[1].copies", "more than 10000 agents"]);
}

#[test]
fn the_quick_swarm_gives_each_agent_its_own_prompts() {
    let s = Scenario::simple(3, 2, "claude");
    let names: Vec<String> = s.agents.iter().flat_map(|a| a.names()).collect();
    assert_eq!(names, ["agent-1", "agent-2", "agent-3"]);
    let mut prompts: Vec<String> = s
        .agents
        .iter()
        .flat_map(|a| a.turns.iter())
        .map(|t| match t {
            Turn::Chat { user, .. } | Turn::Oneshot { user, .. } => user.clone(),
        })
        .collect();
    assert_eq!(prompts.len(), 6);
    prompts.sort();
    prompts.dedup();
    assert_eq!(prompts.len(), 6, "no two requests identical: {prompts:?}");
    assert_eq!(
        Scenario::simple(1, 1, "claude").agents[0].names(),
        ["agent"]
    );
}

#[test]
fn a_scenario_built_in_code_with_huge_durations_is_refused_by_apply() {
    let mut s = Scenario::simple(1, 1, "claude");
    s.agents[0].max_wait = Some(std::time::Duration::MAX);
    refused_by_apply(&s, &["agents[0].max_wait_secs"]);
    let mut s = Scenario::simple(1, 1, "claude");
    s.deadline = Some(std::time::Duration::MAX);
    refused_by_apply(&s, &["deadline_secs"]);
    let mut s = Scenario::simple(1, 1, "claude");
    s.agents[0].copies = u32::MAX;
    refused_by_apply(&s, &["more than 10000 agents"]);
}
