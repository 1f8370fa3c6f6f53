//! The scenario format: what parses, and errors that name the field and the line.

use quotaswarm::Config;
use quotaswarm_agents::Turn;
use quotaswarm_cli::scenario::{Kind, Scenario, ScenarioError};

fn parse(text: &str) -> Result<Scenario, ScenarioError> {
    Scenario::from_json_str(text, "test.json")
}

fn err(text: &str) -> String {
    parse(text).expect_err("should fail").to_string()
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
    let e = err("{\n \"agents\": [\n  {\"name\": \"a\", \"model\": \"haiku\",\n   \"turns\": [{\"user\": \"hi\", \"max_tokens\": -3}]}\n ]\n}");
    assert!(e.contains("line 4"), "{e}");
    assert!(e.contains("agents[0].turns[0].max_tokens"), "{e}");
}

#[test]
fn an_unknown_field_is_an_error_with_its_line() {
    let e = err("{\"agents\": [\n {\"name\": \"a\", \"model\": \"haiku\",\n  \"max_token\": 5, \"turns\": [{\"user\": \"hi\"}]}]}");
    assert!(e.contains("unknown field `max_token`"), "{e}");
    assert!(e.contains("line 3"), "{e}");
    assert!(e.contains("agents[0]"), "{e}");
}

#[test]
fn a_turn_without_user_or_oneshot_is_refused() {
    let e = err("{\"agents\": [\n {\"name\": \"a\", \"model\": \"haiku\",\n  \"turns\": [{\"assistant\": \"hi\"}]}\n]}");
    assert!(e.contains("agents[0].turns[0]: a turn needs `user`"), "{e}");
    assert!(e.contains("line 3"), "{e}");
}

#[test]
fn model_and_ladder_are_exclusive_and_one_is_needed() {
    let e = err("{\"agents\": [{\"name\": \"a\", \"turns\": [{\"user\": \"hi\"}]}]}");
    assert!(e.contains("exactly one of `model` and `ladder`"), "{e}");
}

#[test]
fn an_unknown_kind_lists_the_known_ones() {
    let e = err("{\"agents\": [{\"name\": \"a\", \"kind\": \"poet\", \"model\": \"haiku\"}]}");
    assert!(
        e.contains("unknown variant `poet`") && e.contains("critic_pair"),
        "{e}"
    );
    assert!(e.contains("agents[0].kind"), "{e}");
}

#[test]
fn an_unknown_model_names_the_agent_field_and_line() {
    let s = parse("{\"agents\": [\n {\"name\": \"a\", \"model\": \"haiku\", \"turns\": [{\"user\": \"x\"}]},\n {\"name\": \"b\", \"model\": \"gpt-9\", \"turns\": [{\"user\": \"x\"}]}\n]}").unwrap();
    let e = s.apply(&mut Config::default()).unwrap_err().to_string();
    assert!(e.contains("agents[1].model"), "{e}");
    assert!(e.contains("line 3"), "{e}");
    assert!(e.contains("gpt-9"), "{e}");
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
    let e = err("{\"agents\": [{\"name\": \"a\", \"model\": \"haiku\"}]}");
    assert!(
        e.contains("agent \"a\": kind \"scripted\" needs \"turns\""),
        "{e}"
    );
    let e = err(
        "{\"agents\": [{\"name\": \"p\", \"kind\": \"critic_pair\", \"model\": \"haiku\", \"prompts\": []}]}",
    );
    assert!(e.contains("kind \"critic_pair\" needs exactly one"), "{e}");
    let e = err("{\"agents\": [{\"name\": \"p\", \"kind\": \"persona\", \"model\": \"haiku\", \"turns\": [{\"user\": \"x\"}]}]}");
    assert!(e.contains("not \"persona\""), "{e}");
    assert!(!e.contains("Persona") && !e.contains("Scripted"), "{e}");
}

#[test]
fn a_missing_scenario_file_prints_its_os_error_once() {
    let e = Scenario::load(std::path::Path::new("/no/such/quotaswarm/scenario.json")).unwrap_err();
    // As the CLI prints errors: the whole chain.
    let printed = format!("{:#}", anyhow::Error::from(e));
    assert!(
        printed.starts_with("cannot read scenario file /no/such/quotaswarm/scenario.json: "),
        "{printed}"
    );
    assert_eq!(printed.matches("os error").count(), 1, "{printed}");
}

#[test]
fn durations_out_of_range_are_errors_naming_the_field_not_panics() {
    // Issue 19: `"max_wait_secs": 1e300` panicked in `Duration::from_secs_f64`.
    let e = err("{\"agents\": [\n {\"name\": \"a\", \"model\": \"haiku\", \"max_wait_secs\": 1e300,\n  \"turns\": [{\"user\": \"hi\"}]}]}");
    assert!(e.contains("agents[0]"), "{e}");
    assert!(
        e.contains("`max_wait_secs` must be a number of seconds from 0 to 2592000"),
        "{e}"
    );
    let e = err("{\"agents\": [{\"name\": \"a\", \"model\": \"haiku\", \"reuse_secs\": -1,\n  \"turns\": [{\"user\": \"hi\"}]}]}");
    assert!(e.contains("`reuse_secs` must be"), "{e}");
    let e = err("{\n\"deadline_secs\": 1e300,\n\"agents\": [{\"name\": \"a\", \"model\": \"haiku\", \"turns\": [{\"user\": \"hi\"}]}]}");
    assert!(e.contains("line 2"), "{e}");
    assert!(e.contains("deadline_secs"), "{e}");
    assert!(e.contains("above 0 and at most 2592000"), "{e}");
}

#[test]
fn a_zero_deadline_or_round_count_is_refused_not_read_as_none() {
    let e = err("{\"deadline_secs\": 0, \"agents\": [{\"name\": \"a\", \"model\": \"haiku\", \"turns\": [{\"user\": \"hi\"}]}]}");
    assert!(e.contains("leave it out for no deadline"), "{e}");
    let e = err("{\"agents\": [{\"name\": \"p\", \"kind\": \"critic_pair\", \"model\": \"haiku\", \"prompts\": [\"q\"], \"rounds\": 0}]}");
    assert!(e.contains("`rounds` must be at least 1"), "{e}");
}

#[test]
fn more_agents_than_the_limit_are_refused() {
    let e = err("{\"agents\": [{\"name\": \"a\", \"model\": \"haiku\", \"copies\": 4294967295, \"turns\": [{\"user\": \"hi\"}]}]}");
    assert!(e.contains("`copies` must be at most 10000"), "{e}");
    let s = parse("{\"agents\": [{\"name\": \"a\", \"model\": \"haiku\", \"copies\": 10000, \"turns\": [{\"user\": \"hi\"}]},\n {\"name\": \"b\", \"model\": \"haiku\", \"copies\": 2, \"turns\": [{\"user\": \"hi\"}]}]}").unwrap();
    let e = s.apply(&mut Config::default()).unwrap_err().to_string();
    assert!(e.contains("agents[1].copies"), "{e}");
    assert!(e.contains("more than 10000 agents"), "{e}");
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
    let e = s.apply(&mut Config::default()).unwrap_err().to_string();
    assert!(e.contains("agents[0].max_wait_secs"), "{e}");
    let mut s = Scenario::simple(1, 1, "claude");
    s.deadline = Some(std::time::Duration::MAX);
    let e = s.apply(&mut Config::default()).unwrap_err().to_string();
    assert!(e.contains("deadline_secs"), "{e}");
    let mut s = Scenario::simple(1, 1, "claude");
    s.agents[0].copies = u32::MAX;
    let e = s.apply(&mut Config::default()).unwrap_err().to_string();
    assert!(e.contains("more than 10000 agents"), "{e}");
}
