use super::*;

fn err(text: &str) -> String {
    match Config::from_toml_str_over_defaults(text, "test.toml") {
        Ok(_) => panic!("expected an error for:\n{text}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn defaults_validate() {
    let c = Config::from_toml_str(DEFAULTS_TOML, "defaults").expect("defaults validate");
    assert_eq!(c.rungs("claude").unwrap(), vec!["opus", "sonnet", "haiku"]);
    let sonnet = c.model("sonnet").unwrap();
    assert_eq!(sonnet.model, "claude-sonnet-4-5");
    assert_eq!(
        sonnet.limits,
        Limits::Split {
            rpm: 50.0,
            itpm: 30000.0,
            otpm: 8000.0
        }
    );
    assert_eq!(c.model("gpt-4o").unwrap().model, "gpt-4o");
    assert!(matches!(
        c.model("gpt-4o-mini").unwrap().limits,
        Limits::Combined { tpm, .. } if tpm == 200000.0
    ));
    assert_eq!(Config::default().models.len(), 5);
}

#[test]
fn a_non_positive_limit_names_its_path() {
    let e = err("[models.sonnet]\nprovider = \"anthropic\"\nrpm = 5\nitpm = 0\notpm = 10\n");
    assert_eq!(e, "models.sonnet.itpm must be > 0");
}

#[test]
fn an_unknown_field_is_rejected_with_its_name() {
    let e =
        err("[models.sonnet]\nprovider = \"anthropic\"\nrpm = 5\nitpm = 10\notpm = 10\nitmp = 3\n");
    assert!(e.contains("itmp"), "{e}");
    assert!(e.contains("test.toml"), "{e}");
}

#[test]
fn an_unknown_provider_or_ladder_rung_names_its_path() {
    let e = err("[models.x]\nprovider = \"nope\"\nrpm = 5\ntpm = 10\n");
    assert_eq!(e, "models.x.provider names unknown provider \"nope\"");
    let e = err("[ladders]\nl = [\"sonnet\", \"ghost\"]\n");
    assert_eq!(e, "ladders.l[1] names unknown model \"ghost\"");
}

#[test]
fn mixed_limit_styles_are_rejected() {
    let e = err("[models.x]\nprovider = \"openai\"\nrpm = 5\ntpm = 10\nitpm = 4\n");
    assert!(
        e.starts_with("models.x sets tpm together with itpm/otpm"),
        "{e}"
    );
}

#[test]
fn a_bad_fault_and_bad_kind_are_rejected() {
    let e = err("[[sim.faults]]\nstatus = 404\nrate = 0.5\n");
    assert_eq!(
        e,
        "sim.faults[0].status must be 500, 502, 503, 504 or 529, not 404"
    );
    let e = err("[providers.p]\nkind = \"grpc\"\n");
    assert!(e.starts_with("providers.p.kind must be"), "{e}");
}

#[test]
fn a_file_overrides_defaults_and_model_name_defaults_to_table_name() {
    let c = Config::from_toml_str_over_defaults(
        "[models.fast]\nprovider = \"openai\"\nrpm = 60\ntpm = 6000\n[ladders]\nl = [\"fast\"]\n[broker]\nmax_attempts = 2\n",
        "t",
    )
    .unwrap();
    assert_eq!(c.models.len(), 1);
    assert_eq!(c.model("fast").unwrap().model, "fast");
    assert_eq!(c.broker.max_attempts, 2);
    assert!(c.ladders.contains_key("l"));
    assert!(!c.ladders.contains_key("claude"));
}

#[test]
fn sim_limits_are_keyed_by_wire_model() {
    let c = Config::from_toml_str_over_defaults("[sim.limits.sonnet]\nitpm = 100\n", "t").unwrap();
    assert_eq!(
        c.sim.limits.get("claude-sonnet-4-5"),
        Some(&Limits::Split {
            rpm: 50.0,
            itpm: 100.0,
            otpm: 8000.0
        })
    );
}

#[test]
fn a_mid_stream_fault_parses_and_misplaced_fields_name_their_path() {
    let c = Config::from_toml_str_over_defaults(
        "[[sim.faults]]\nmid_stream = true\nafter_tokens = 5\nrate = 1.0\n",
        "t",
    )
    .unwrap();
    assert_eq!(
        c.sim.faults[0].kind,
        FaultKind::MidStream { after_tokens: 5 }
    );
    let c =
        Config::from_toml_str_over_defaults("[[sim.faults]]\nmid_stream = true\nrate = 0.5\n", "t")
            .unwrap();
    assert_eq!(
        c.sim.faults[0].kind,
        FaultKind::MidStream { after_tokens: 0 }
    );
    let e = err("[[sim.faults]]\nstatus = 529\nafter_tokens = 3\nrate = 1.0\n");
    assert_eq!(
        e,
        "sim.faults[0].after_tokens applies only with mid_stream = true"
    );
    let e = err("[[sim.faults]]\nstatus = 529\nmid_stream = true\nrate = 1.0\n");
    assert_eq!(
        e,
        "sim.faults[0] needs exactly one of status, slow_ms or mid_stream"
    );
    let e = err("[[sim.faults]]\nmid_strem = true\nrate = 1.0\n");
    assert!(e.contains("mid_strem"), "{e}");
}

#[test]
fn the_estimator_cache_size_is_configurable_and_must_be_positive() {
    let c =
        Config::from_toml_str_over_defaults("[broker]\nestimator_cache_entries = 500\n", "t.toml")
            .unwrap();
    assert_eq!(c.broker.estimator_cache_entries, 500);
    assert!(
        err("[broker]\nestimator_cache_entries = 0\n").contains("broker.estimator_cache_entries")
    );
}
