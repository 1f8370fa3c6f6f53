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
    assert_eq!(sonnet.model, "claude-sonnet-5-5");
    assert_eq!(
        sonnet.limits,
        Limits::Split {
            rpm: 50.0,
            itpm: 30000.0,
            otpm: 8000.0
        }
    );
    assert_eq!(c.model("sol").unwrap().model, "gpt-6.2-sol");
    assert!(matches!(
        c.model("luna").unwrap().limits,
        Limits::Combined { tpm, .. } if tpm == 200000.0
    ));
    assert_eq!(Config::default().models.len(), 5);
}

#[test]
fn a_non_positive_limit_names_file_line_and_path() {
    let e = err("[models.sonnet]\nprovider = \"anthropic\"\nrpm = 5\nitpm = 0\notpm = 10\n");
    assert_eq!(
        e,
        "config test.toml, line 4: models.sonnet.itpm must be > 0"
    );
}

#[test]
fn an_unknown_field_is_rejected_with_its_name() {
    let e =
        err("[models.sonnet]\nprovider = \"anthropic\"\nrpm = 5\nitpm = 10\notpm = 10\nitmp = 3\n");
    assert!(e.contains("itmp"), "{e}");
    assert!(e.starts_with("config test.toml, line 6: "), "{e}");
}

#[test]
fn an_unknown_key_names_its_full_path() {
    let e =
        err("[models.sonnet]\nprovider = \"anthropic\"\nrpm = 5\nitpm = 10\notpm = 10\nitmp = 3\n");
    assert!(
        e.starts_with("config test.toml, line 6: models.sonnet.itmp: unknown field `itmp`"),
        "{e}"
    );
    let e = err("[broker]\nmax_atempts = 3\n");
    assert!(
        e.contains("line 2: broker.max_atempts: unknown field"),
        "{e}"
    );
    let e = err("colour = 1\n");
    assert!(e.contains("colour: unknown field `colour`"), "{e}");
    // A mistyped value names its path too.
    let e = err("[models.sonnet]\nprovider = \"anthropic\"\nrpm = \"five\"\n");
    assert!(e.contains("models.sonnet.rpm: invalid type"), "{e}");
}

#[test]
fn an_unknown_provider_or_ladder_rung_names_its_path() {
    let e = err("[models.x]\nprovider = \"nope\"\nrpm = 5\ntpm = 10\n");
    assert_eq!(
        e,
        "config test.toml, line 2: models.x.provider names unknown provider \"nope\""
    );
    let e = err("[ladders]\nl = [\"sonnet\", \"ghost\"]\n");
    assert_eq!(
        e,
        "config test.toml, line 2: ladders.l[1] names unknown model \"ghost\""
    );
}

#[test]
fn mixed_limit_styles_are_rejected() {
    let e = err("[models.x]\nprovider = \"openai\"\nrpm = 5\ntpm = 10\nitpm = 4\n");
    assert!(
        e.starts_with("config test.toml, line 1: models.x sets tpm together with itpm/otpm"),
        "{e}"
    );
}

#[test]
fn a_bad_fault_and_bad_kind_are_rejected() {
    let e = err("[[sim.faults]]\nstatus = 404\nrate = 0.5\n");
    assert_eq!(
        e,
        "config test.toml, line 2: sim.faults[0].status must be 500, 502, 503, 504 or 529, not 404"
    );
    let e = err("[providers.p]\nkind = \"grpc\"\n");
    assert!(
        e.starts_with("config test.toml, line 2: providers.p.kind must be"),
        "{e}"
    );
}

#[test]
fn a_new_model_joins_the_defaults_and_its_wire_name_defaults_to_the_table_name() {
    let c = Config::from_toml_str_over_defaults(
        "[models.fast]\nprovider = \"openai\"\nrpm = 60\ntpm = 6000\n[ladders]\nl = [\"fast\"]\n[broker]\nmax_attempts = 2\n",
        "t",
    )
    .unwrap();
    assert_eq!(
        c.models.len(),
        6,
        "the five built-in models and the new one"
    );
    assert_eq!(c.model("fast").unwrap().model, "fast");
    assert_eq!(c.model("fast").unwrap().context_window, 200_000);
    assert_eq!(c.broker.max_attempts, 2);
    assert_eq!(
        c.broker.max_in_flight,
        BrokerConfig::default().max_in_flight
    );
    assert!(c.ladders.contains_key("l"));
    assert!(c.ladders.contains_key("claude"));
}

#[test]
fn a_ladder_of_the_same_name_replaces_the_default_rungs() {
    let c = Config::from_toml_str_over_defaults("[ladders]\nclaude = [\"haiku\"]\n", "t").unwrap();
    assert_eq!(c.rungs("claude").unwrap(), vec!["haiku"]);
    assert_eq!(c.rungs("gpt").unwrap(), vec!["sol", "luna"]);
}

#[test]
fn switching_a_default_model_to_combined_limits_drops_its_split_ones() {
    let c = Config::from_toml_str_over_defaults("[models.sonnet]\ntpm = 40000\n", "t").unwrap();
    assert_eq!(
        c.model("sonnet").unwrap().limits,
        Limits::Combined {
            rpm: 50.0,
            tpm: 40000.0
        }
    );
}

#[test]
fn a_required_setting_left_out_points_at_its_table() {
    let e = err("[broker]\nmax_attempts = 3\n\n[models.new]\nrpm = 5\nitpm = 10\notpm = 10\n");
    assert_eq!(
        e,
        "config test.toml, line 4: models.new.provider is required"
    );
    let e = err("[providers.p]\nbase_url = \"http://localhost:1\"\n");
    assert!(
        e.starts_with("config test.toml, line 1: providers.p.kind is required"),
        "{e}"
    );
}

#[test]
fn a_syntax_error_names_file_and_line() {
    let e = err("[broker]\nmax_attempts = 3\ncoalesce = maybe\n");
    assert!(e.starts_with("config test.toml, line 3: "), "{e}");
    let e = err("[broker]\nmax_attempts = \"three\"\n");
    assert!(e.starts_with("config test.toml, line 2: "), "{e}");
    assert!(!e.contains('\n'), "one line: {e}");
}

#[test]
fn replace_defaults_false_still_overlays() {
    let c = Config::from_toml_str_over_defaults("replace_defaults = false\n", "t").unwrap();
    assert_eq!(c.models.len(), 5);
}

#[test]
fn a_model_without_prices_is_a_warning_and_has_no_prices() {
    let c = Config::from_toml_str_over_defaults(
        "[models.free]\nprovider = \"anthropic\"\nrpm = 5\nitpm = 10\notpm = 10\ninput_price = 1.0\n",
        "t",
    )
    .unwrap();
    assert_eq!(c.model("free").unwrap().prices, None);
    assert_eq!(
        c.warnings,
        vec!["config t, line 1: models.free has no output_price: its cost is unknown (reported as \"cost unknown\", counted as $0 in the totals)"]
    );
    assert_eq!(
        c.model("free").unwrap().cost(&crate::types::Usage {
            input_tokens: 5,
            ..Default::default()
        }),
        0.0
    );
    assert!(Config::default().warnings.is_empty());
}

#[test]
fn sim_limits_are_keyed_by_wire_model() {
    let c = Config::from_toml_str_over_defaults("[sim.limits.sonnet]\nitpm = 100\n", "t").unwrap();
    assert_eq!(
        c.sim.limits.get("claude-sonnet-5-5"),
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
        "config test.toml, line 3: sim.faults[0].after_tokens applies only with mid_stream = true"
    );
    let e = err("[[sim.faults]]\nstatus = 529\nmid_stream = true\nrate = 1.0\n");
    assert!(
        e.ends_with(": sim.faults[0] needs exactly one of status, slow_ms or mid_stream"),
        "{e}"
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

#[test]
fn durations_too_large_for_a_duration_are_errors_not_panics() {
    let e = err("[broker]\nburst_secs = 1e300\n");
    assert!(e.contains("broker.burst_secs is too large"), "{e}");
    let e = err("[models.sonnet]\nburst_secs = 1e300\n");
    assert!(e.contains("models.sonnet.burst_secs is too large"), "{e}");
    let e = err("[broker]\nbackoff_cap_secs = 1e300\n");
    assert!(e.contains("is too large"), "{e}");
    let e = err("[sim]\nlatency_ms = 1e300\n");
    assert!(e.contains("sim.latency_ms is too large"), "{e}");
}

#[test]
fn default_models_are_current_and_carry_their_cache_minimums_and_presets() {
    let c = Config::default();
    let wire = |m: &str| c.model(m).unwrap().model.clone();
    assert_eq!(
        [wire("opus"), wire("sonnet"), wire("haiku")],
        ["claude-opus-5-5", "claude-sonnet-5-5", "claude-haiku-5-5"]
    );
    let sonnet = c.model("sonnet").unwrap();
    assert!(sonnet.auto_cache);
    assert_eq!(sonnet.min_cache_tokens, 1024);
    assert_eq!(c.model("opus").unwrap().min_cache_tokens, 1024);
    assert_eq!(sonnet.cache_ttl, crate::types::CacheTtl::FiveMinutes);
    assert!(!sonnet.cache_reads_count);
    assert_eq!(sonnet.params.preset, "claude-5-1");
    assert_eq!(
        sonnet.params.exclusive,
        vec![(Param::Temperature, Param::TopP)]
    );
    assert_eq!(sonnet.on_unsupported, OnUnsupported::Refuse);
    let gpt = c.model("sol").unwrap();
    assert!(!gpt.auto_cache, "OpenAI caches without breakpoints");
    assert_eq!(gpt.params.preset, "gpt-6-astra");
    assert_eq!(gpt.params.max_stop, Some(4));
}

#[test]
fn an_openai_reasoning_model_gets_the_reasoning_preset_by_its_name() {
    let c = Config::from_toml_str_over_defaults(
        "[models.o4-mini]\nprovider = \"openai\"\nrpm = 500\ntpm = 200000\non_unsupported = \"drop\"\n",
        "test.toml",
    )
    .unwrap();
    let m = c.model("o4-mini").unwrap();
    assert_eq!(m.params.preset, "openai-reasoning");
    assert!(m.params.unsupported.contains(&Param::Stop));
    assert_eq!(m.on_unsupported, OnUnsupported::Drop);
}

#[test]
fn cache_and_parameter_settings_are_checked_with_their_path() {
    let e = err("[models.sonnet]\ncache_ttl = \"2h\"\n");
    assert_eq!(
        e,
        "config test.toml, line 2: models.sonnet.cache_ttl must be \"5m\" or \"1h\", not \"2h\""
    );
    let e = err("[models.sonnet]\non_unsupported = \"ignore\"\n");
    assert!(
        e.contains("models.sonnet.on_unsupported must be \"refuse\" or \"drop\""),
        "{e}"
    );
    let e = err("[models.sonnet]\nparams = \"claude-9\"\n");
    assert!(
        e.contains("models.sonnet.params names unknown preset \"claude-9\""),
        "{e}"
    );
    let e = err("[param_presets.mine]\nunsupported = [\"temprature\"]\n");
    assert!(
        e.contains("param_presets.mine.unsupported names unknown parameter \"temprature\""),
        "{e}"
    );
    let e = err("[param_presets.mine]\nonly_default = [\"stop\"]\n");
    assert!(e.contains("can only name temperature and top_p"), "{e}");
}

#[test]
fn sim_realism_switches_have_real_api_defaults_and_are_validated() {
    let d = Config::default().sim;
    assert_eq!(d.burst_secs, 10.0);
    assert!(d.tool_calls && d.prompt_caching && d.thinking && d.strict_validation);
    assert!(d.charge_refused_requests && !d.spend_cap);
    assert_eq!((d.tool_call_rate, d.tool_steps), (0.5, 2));
    assert_eq!(d.schema_violation_rate, 0.0);
    assert_eq!(d.max_body_bytes, 32 * 1024 * 1024);
    let c = Config::from_toml_str_over_defaults(
        "[sim]\ntool_calls = false\ntool_call_rate = 1\ntool_steps = 4\n\
         schema_violation_rate = 0.25\nprompt_caching = false\nthinking = false\n\
         strict_validation = false\ncharge_refused_requests = false\nmax_body_bytes = 1000\n\
         spend_cap = true\nspend_cap_keys = [\"k\"]\n[sim.cache_min_tokens]\nhaiku = 2048\n",
        "t",
    )
    .unwrap();
    let s = c.sim;
    assert!(!s.tool_calls && !s.prompt_caching && !s.thinking && !s.strict_validation);
    assert!(!s.charge_refused_requests && s.spend_cap);
    assert_eq!((s.tool_call_rate, s.tool_steps), (1.0, 4));
    assert_eq!((s.schema_violation_rate, s.max_body_bytes), (0.25, 1000));
    assert_eq!(s.spend_cap_keys, vec!["k".to_string()]);
    assert_eq!(s.cache_min_tokens.get("claude-haiku-5-5"), Some(&2048));
    assert!(err("[sim]\ntool_call_rate = 1.5\n")
        .ends_with("sim.tool_call_rate must be between 0 and 1"));
    assert!(err("[sim]\nschema_violation_rate = -1\n")
        .ends_with("sim.schema_violation_rate must be between 0 and 1"));
    assert!(err("[sim]\nmax_body_bytes = 0\n").ends_with("sim.max_body_bytes must be > 0"));
    assert!(err("[sim.cache_min_tokens]\nnope = 1\n")
        .ends_with("sim.cache_min_tokens.nope names unknown model"));
}

#[test]
fn stream_idle_timeout_defaults_to_60_s_and_must_be_positive() {
    let c = Config::from_toml_str_over_defaults(
        "[providers.anthropic]\nkind = \"anthropic\"\nstream_idle_timeout_secs = 2.5\n",
        "test.toml",
    )
    .unwrap();
    let p = &c.providers["anthropic"];
    assert_eq!(p.stream_idle_timeout, Duration::from_millis(2500));
    assert_eq!(
        c.providers["openai"].stream_idle_timeout,
        Duration::from_secs(60)
    );
    let e = err("[providers.anthropic]\nkind = \"anthropic\"\nstream_idle_timeout_secs = 0\n");
    assert!(
        e.ends_with("providers.anthropic.stream_idle_timeout_secs must be > 0"),
        "{e}"
    );
}

#[test]
fn one_hour_cache_writes_cost_twice_the_input_price_unless_configured() {
    let c = Config::from_toml_str_over_defaults(
        "[models.sonnet]\ninput_price = 3.0\noutput_price = 15.0\ncache_write_price = 3.75\n\
         cache_read_price = 0.3\n\
         [models.haiku]\ninput_price = 1.0\noutput_price = 5.0\ncache_write_price = 1.25\n\
         cache_write_1h_price = 2.5\n",
        "t",
    )
    .unwrap();
    let usage = crate::types::Usage {
        input_tokens: 0,
        output_tokens: 0,
        cache_creation_input_tokens: 1_000_000,
        cache_read_input_tokens: 0,
        cache_creation_1h_input_tokens: 400_000,
        ..Default::default()
    };
    // 600,000 at the 5-minute write price (1.25x) and 400,000 at the 1-hour one (2x).
    let sonnet = c.model("sonnet").unwrap();
    assert!((sonnet.cost(&usage) - (0.6 * 3.75 + 0.4 * 6.0)).abs() < 1e-9);
    let haiku = c.model("haiku").unwrap();
    assert!((haiku.cost(&usage) - (0.6 * 1.25 + 0.4 * 2.5)).abs() < 1e-9);
    // Savings count the 1-hour surcharge at its own price.
    let p = sonnet.prices.unwrap();
    let saved = p.cache_savings(1_000_000, 1_000_000, 400_000);
    assert!(
        (saved - (2.7 - 0.6 * 0.75 - 0.4 * 3.0)).abs() < 1e-9,
        "{saved}"
    );
    assert!(err("[models.sonnet]\ncache_write_1h_price = -1\n")
        .contains("models.sonnet.cache_write_1h_price"));
}

#[test]
fn otlp_is_off_without_its_table_and_its_errors_name_file_line_and_path() {
    assert_eq!(Config::default().otlp, None);
    let c = Config::from_toml_str_over_defaults(
        "[otlp]\nendpoint = \"http://collector:4318\"\nsample_ratio = 0.25\n",
        "test.toml",
    )
    .unwrap();
    let otlp = c.otlp.unwrap();
    assert_eq!(otlp.traces_url(), "http://collector:4318/v1/traces");
    assert_eq!(otlp.sample_ratio, 0.25);
    assert_eq!(
        err("[otlp]\nendpoint = \"http://c:4318\"\nsample_ratio = 2\n"),
        "config test.toml, line 3: otlp.sample_ratio must be between 0 and 1"
    );
    let e = err("[otlp]\nendpont = \"http://c:4318\"\n");
    assert!(
        e.starts_with("config test.toml, line 2: otlp.endpont: unknown field"),
        "{e}"
    );
}

#[test]
fn a_model_learns_its_limits_by_default_and_limits_config_pins_them() {
    let c =
        Config::from_toml_str_over_defaults("[models.sonnet]\nlimits = \"config\"\n", "t").unwrap();
    assert_eq!(c.model("sonnet").unwrap().limit_policy, LimitPolicy::Pinned);
    assert_eq!(c.model("haiku").unwrap().limit_policy, LimitPolicy::Learn);
    let e = err("[models.sonnet]\nlimits = \"tier-4\"\n");
    assert_eq!(
        e,
        "config test.toml, line 2: models.sonnet.limits must be \"server\" or \"config\", not \"tier-4\""
    );
}

#[test]
fn reasoning_tokens_are_priced_as_output_and_web_searches_per_thousand() {
    let c = Config::from_toml_str_over_defaults(
        "[models.o4-mini]
provider = \"openai\"
tpm = 100000
rpm = 100
         input_price = 1.1
output_price = 4.4
cache_read_price = 0.275
         [models.haiku]
web_search_price = 5.0
input_price = 1.0
[models.sonnet]
input_price = 3.0
",
        "t",
    )
    .unwrap();
    // An OpenAI reply: 2,006 prompt tokens of which 1,920 cached, 300 completion tokens
    // of which 256 reasoning (decoded so by the OpenAI wire).
    let reply = crate::types::Usage {
        input_tokens: 86,
        cache_read_input_tokens: 1920,
        output_tokens: 300,
        reasoning_tokens: 256,
        ..Default::default()
    };
    let by_hand = (86.0 * 1.1 + 1920.0 * 0.275 + 300.0 * 4.4) / 1e6;
    assert!((c.model("o4-mini").unwrap().cost(&reply) - by_hand).abs() < 1e-12);
    let searched = crate::types::Usage {
        input_tokens: 1_000_000,
        web_search_requests: 3,
        ..Default::default()
    };
    // Sonnet: $3 of input and three searches at the default $10 per 1,000.
    assert!((c.model("sonnet").unwrap().cost(&searched) - 3.03).abs() < 1e-9);
    assert!((c.model("haiku").unwrap().cost(&searched) - 1.015).abs() < 1e-9);
    assert!(
        err("[models.sonnet]\nweb_search_price = -1\n").contains("models.sonnet.web_search_price")
    );
}

#[test]
fn wire_responses_on_an_openai_provider_selects_the_responses_wire_and_its_preset() {
    let c = Config::from_toml_str_over_defaults(
        "[providers.oai-r]\nkind = \"openai\"\nwire = \"responses\"\n\
         [providers.sim-r]\nkind = \"sim\"\nwire = \"responses\"\n\
         [models.mini-r]\nprovider = \"oai-r\"\nmodel = \"gpt-4o-mini\"\nrpm = 500\ntpm = 200000\n\
         [models.o4-r]\nprovider = \"oai-r\"\nmodel = \"o4-mini\"\nrpm = 500\ntpm = 200000\n",
        "test.toml",
    )
    .unwrap();
    let p = &c.providers["oai-r"];
    assert_eq!((p.wire, p.transport), (Wire::Responses, Transport::Http));
    assert_eq!(p.base_url, "https://api.openai.com");
    let s = &c.providers["sim-r"];
    assert_eq!(
        (s.wire, s.transport),
        (Wire::Responses, Transport::Embedded)
    );
    assert_eq!(
        c.providers["openai"].wire,
        Wire::OpenAi,
        "chat stays the default"
    );
    let mini = c.model("mini-r").unwrap();
    assert_eq!(mini.params.preset, "openai-responses");
    assert!(mini.params.unsupported.contains(&Param::Stop));
    assert_eq!(c.model("o4-r").unwrap().params.preset, "openai-reasoning");

    let e = err("[providers.x]\nkind = \"openai\"\nwire = \"anthropic\"\n");
    assert!(
        e.contains("providers.x.wire must be \"openai\" or \"responses\""),
        "{e}"
    );
    let e = err("[providers.x]\nkind = \"anthropic\"\nwire = \"responses\"\n");
    assert!(
        e.contains("providers.x.wire is only for kind = \"openai\" or \"sim\""),
        "{e}"
    );
}

#[test]
fn a_model_without_limits_discovers_them_and_cannot_pin_none() {
    let c = Config::from_toml_str_over_defaults(
        "[models.new]\nprovider = \"anthropic\"\n[models.mini]\nprovider = \"openai\"\n",
        "t",
    )
    .unwrap();
    let new = c.model("new").unwrap();
    assert_eq!(new.limit_policy, LimitPolicy::Discover);
    assert!(matches!(new.limits, Limits::Split { rpm, .. } if rpm == UNKNOWN_LIMIT));
    let mini = c.model("mini").unwrap();
    assert!(matches!(mini.limits, Limits::Combined { tpm, .. } if tpm == UNKNOWN_LIMIT));
    let e = err("[models.new]\nprovider = \"anthropic\"\nlimits = \"config\"\n");
    assert!(e.contains("models.new.limits is \"config\""), "{e}");
    // Some limits but not all is still an error.
    let e = err("[models.new]\nprovider = \"anthropic\"\nrpm = 5\n");
    assert!(e.contains("models.new.itpm is required"), "{e}");
}

#[test]
fn max_tokens_field_names_the_chat_cap_field_and_is_checked_with_its_path() {
    let c = Config::from_toml_str_over_defaults(
        "[providers.local]\nkind = \"openai\"\nbase_url = \"http://localhost:11434\"\n\
         auth = \"none\"\nmax_tokens_field = \"max_tokens\"\n",
        "t",
    )
    .unwrap();
    assert_eq!(
        c.providers["local"].max_tokens_field,
        Some(MaxTokensField::MaxTokens)
    );
    assert_eq!(c.providers["openai"].max_tokens_field, None, "by family");
    let e = err("[providers.local]\nkind = \"openai\"\nmax_tokens_field = \"num_predict\"\n");
    assert!(
        e.contains("providers.local.max_tokens_field must be \"max_tokens\" or \"max_completion_tokens\", not \"num_predict\""),
        "{e}"
    );
    for table in [
        "kind = \"openai\"\nwire = \"responses\"",
        "kind = \"anthropic\"",
    ] {
        let e = err(&format!(
            "[providers.x]\n{table}\nmax_tokens_field = \"max_tokens\"\n"
        ));
        assert!(
            e.contains("providers.x.max_tokens_field is only for the Chat Completions wire"),
            "{e}"
        );
    }
}

/// The previous defaults overlay the current ones: the 4.x and gpt-4o models under the
/// same names, the ladders as they were, the current `sol` and `luna` kept.
#[test]
fn the_previous_defaults_name_the_4_x_and_gpt_4o_models() {
    let c = Config::previous_defaults();
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    let wire = |m: &str| c.model(m).unwrap().model.clone();
    assert_eq!(
        [wire("opus"), wire("sonnet"), wire("haiku"), wire("gpt-4o")],
        [
            "claude-opus-4-6",
            "claude-sonnet-4-6",
            "claude-haiku-4-5",
            "gpt-4o"
        ]
    );
    assert_eq!(c.model("sonnet").unwrap().params.preset, "claude-4-6");
    assert_eq!(c.model("sonnet").unwrap().min_cache_tokens, 2048);
    assert_eq!(c.rungs("gpt").unwrap(), vec!["gpt-4o", "gpt-4o-mini"]);
    assert_eq!(wire("luna"), "gpt-6-luna");
}
