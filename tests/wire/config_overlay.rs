//! A config file as a user writes it: it overlays the built-in defaults setting by
//! setting, `replace_defaults = true` starts from nothing, errors name the file, the line
//! and the path, and a model without prices is a warning whose cost the report calls
//! unknown. The README's sample config is loaded as printed, so the two cannot drift.

use quotaswarm::broker::{self, StartOptions};
use quotaswarm::config::{Limits, Prices};
use quotaswarm::swarm::{report_table, SwarmReport, Totals};
use quotaswarm::{CompletionRequest, Config};
use quotaswarm_sim::Simulator;
use std::path::PathBuf;
use std::time::Duration;

/// Writes `text` to a fresh file named `name` and returns its path.
fn file(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "quotaswarm-config-overlay-{}-{name}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// The first ```toml block under `## Configuration` in the README, verbatim.
fn readme_sample() -> String {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let section = &readme[readme
        .find("\n## Configuration\n")
        .expect("a Configuration section")..];
    let start = section.find("```toml\n").expect("a toml block") + "```toml\n".len();
    let len = section[start..].find("\n```").expect("the block's end") + 1;
    section[start..start + len].to_string()
}

#[test]
fn the_readme_sample_config_loads_as_printed() {
    let sample = readme_sample();
    assert!(sample.contains("[models.sonnet]") && sample.contains("[ladders]"));
    let path = file("readme.toml", &sample);
    let c = Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    assert_eq!(c.rungs("claude").unwrap(), vec!["opus", "sonnet", "haiku"]);
    assert_eq!(
        c.model("sonnet").unwrap().limits,
        Limits::Split {
            rpm: 50.0,
            itpm: 30000.0,
            otpm: 8000.0
        }
    );
    assert!(c.sim.limits.contains_key("claude-sonnet-5-5"));
    assert_eq!(c.sim.faults.len(), 1);
}

#[test]
fn a_one_line_override_keeps_every_other_built_in_setting() {
    let defaults = Config::default();
    let c = Config::load(&file("one-line.toml", "[models.sonnet]\nitpm = 60000\n")).unwrap();
    let sonnet = c.model("sonnet").unwrap();
    let before = defaults.model("sonnet").unwrap();
    assert_eq!(
        sonnet.limits,
        Limits::Split {
            rpm: 50.0,
            itpm: 60000.0,
            otpm: 8000.0
        }
    );
    assert_eq!(sonnet.limits.rpm(), before.limits.rpm());
    assert_eq!(sonnet.provider, "anthropic");
    assert_eq!(sonnet.model, "claude-sonnet-5-5");
    assert_eq!(sonnet.context_window, 1_000_000);
    assert_eq!(sonnet.burst, before.burst);
    let prices = sonnet.prices.expect("sonnet keeps its prices");
    assert_eq!(
        (
            prices.input,
            prices.output,
            prices.cache_read,
            prices.cache_write
        ),
        (2.0, 10.0, 0.1, 2.5)
    );
    assert_eq!(Some(prices), before.prices);
    // Every other model, provider and ladder is still there, unchanged.
    assert_eq!(
        c.models.keys().collect::<Vec<_>>(),
        defaults.models.keys().collect::<Vec<_>>()
    );
    for name in ["opus", "haiku", "sol", "luna"] {
        let (m, d) = (c.model(name).unwrap(), defaults.model(name).unwrap());
        assert_eq!(
            (&m.provider, &m.model, m.limits, m.context_window, m.prices),
            (&d.provider, &d.model, d.limits, d.context_window, d.prices),
            "{name}"
        );
    }
    assert_eq!(c.ladders, defaults.ladders);
    assert_eq!(c.rungs("claude").unwrap(), vec!["opus", "sonnet", "haiku"]);
    assert_eq!(c.rungs("gpt").unwrap(), vec!["sol", "luna"]);
    assert_eq!(
        c.providers.keys().collect::<Vec<_>>(),
        vec!["anthropic", "openai"]
    );
    assert_eq!(
        c.providers["anthropic"].api_key_env.as_deref(),
        Some("ANTHROPIC_API_KEY")
    );
    assert_eq!(c.broker.max_attempts, defaults.broker.max_attempts);
    assert!(c.warnings.is_empty());
}

#[test]
fn broker_and_sim_tables_overlay_setting_by_setting() {
    let c = Config::from_toml_str_over_defaults(
        "[broker]\nmax_attempts = 2\n[sim]\nlatency_ms = 5\n",
        "t.toml",
    )
    .unwrap();
    let d = Config::default();
    assert_eq!(c.broker.max_attempts, 2);
    assert_eq!(c.broker.max_in_flight, d.broker.max_in_flight);
    assert_eq!(c.broker.backoff_base, d.broker.backoff_base);
    assert_eq!(c.sim.latency, Duration::from_millis(5));
    assert_eq!(c.sim.token_factor, d.sim.token_factor);
}

#[test]
fn replace_defaults_starts_from_nothing() {
    let c = Config::from_toml_str_over_defaults(
        "replace_defaults = true\n\
         [providers.p]\nkind = \"openai\"\n\
         [models.m]\nprovider = \"p\"\nrpm = 60\ntpm = 6000\ninput_price = 1.0\noutput_price = 2.0\n\
         [ladders]\nl = [\"m\"]\n",
        "alone.toml",
    )
    .unwrap();
    assert_eq!(c.providers.keys().collect::<Vec<_>>(), vec!["p"]);
    assert_eq!(c.models.keys().collect::<Vec<_>>(), vec!["m"]);
    assert_eq!(c.ladders.keys().collect::<Vec<_>>(), vec!["l"]);
    assert!(c.model("opus").is_none() && c.rungs("claude").is_none());
    let m = c.model("m").unwrap();
    assert_eq!(
        m.context_window, 200_000,
        "a setting's own default still applies"
    );
    let p: Prices = m.prices.unwrap();
    assert_eq!(
        (p.input, p.output, p.cache_read, p.cache_write),
        (1.0, 2.0, 0.1, 1.25)
    );
    // Nothing is inherited: a ladder of built-in models, or a model of the built-in
    // provider, must be given in full.
    let e = Config::from_toml_str_over_defaults(
        "replace_defaults = true\n[ladders]\nclaude = [\"opus\"]\n",
        "alone.toml",
    )
    .unwrap_err()
    .to_string();
    assert_eq!(
        e,
        "config alone.toml, line 3: ladders.claude[0] names unknown model \"opus\""
    );
    let e = Config::from_toml_str_over_defaults(
        "replace_defaults = true\n[models.sonnet]\nitpm = 60000\n",
        "alone.toml",
    )
    .unwrap_err()
    .to_string();
    assert_eq!(
        e,
        "config alone.toml, line 2: models.sonnet.provider is required"
    );
}

#[test]
fn a_validation_error_names_the_file_the_line_and_the_path() {
    let text = "# my limits\n\
                [broker]\n\
                max_attempts = 3\n\
                \n\
                [models.sonnet]\n\
                rpm = 50\n\
                itpm = 0\n";
    let path = file("my.toml", text);
    let e = Config::load(&path).unwrap_err().to_string();
    assert_eq!(
        e,
        format!(
            "config {}, line 7: models.sonnet.itpm must be > 0",
            path.display()
        )
    );
    // A parse error (here an unknown field) names them too, on one line.
    let path = file(
        "typo.toml",
        "[broker]\nmax_attempts = 3\n\n[models.sonnet]\nitmp = 5\n",
    );
    let e = Config::load(&path).unwrap_err().to_string();
    assert!(
        e.starts_with(&format!("config {}, line 5: ", path.display())),
        "{e}"
    );
    assert!(e.contains("itmp") && !e.contains('\n'), "{e}");
}

#[tokio::test(start_paused = true)]
async fn a_model_without_prices_warns_and_its_cost_is_reported_unknown() {
    let text = "[providers.anthropic]\nkind = \"sim\"\n\n\
                [models.free]\nprovider = \"anthropic\"\nmodel = \"claude-haiku-4-5\"\n\
                rpm = 600\nitpm = 100000\notpm = 100000\n\
                [sim]\nlatency_ms = 5\n";
    let config = Config::from_toml_str_over_defaults(text, "free.toml").unwrap();
    assert_eq!(config.warnings.len(), 1, "{:?}", config.warnings);
    assert!(
        config.warnings[0].starts_with(
            "config free.toml, line 4: models.free has no input_price or output_price"
        ),
        "{}",
        config.warnings[0]
    );
    assert!(config.model("free").unwrap().prices.is_none());

    let sim = Simulator::new(&config);
    let endpoints = quotaswarm::swarm::endpoints(&config, Some(sim.transport())).unwrap();
    let b = broker::start(config, endpoints, StartOptions::default())
        .await
        .unwrap();
    for target in ["free", "haiku"] {
        b.handle
            .complete(CompletionRequest::prompt(
                target,
                "What does a token bucket do?",
            ))
            .await
            .unwrap();
    }
    let stats = b.handle.stats().await.unwrap();
    let free = stats.lane("free").unwrap();
    assert!(!free.priced && free.cost_usd == 0.0 && free.output_tokens > 0);
    let haiku = stats.lane("haiku").unwrap();
    assert!(haiku.priced && haiku.cost_usd > 0.0);

    let totals = Totals::from_parts(&[], Some(&stats), Duration::ZERO, Duration::ZERO);
    assert_eq!(totals.cost_unknown_for, vec!["free"]);
    let report = SwarmReport {
        agents: Vec::new(),
        elapsed_secs: 0.0,
        makespan_secs: 0.0,
        timed_out: false,
        interrupted: false,
        totals,
        backends: Vec::new(),
        stats: Some(stats.clone()),
        sim: None,
    };
    let table = report_table(&report);
    println!("{table}");
    let line = |model: &str| {
        table
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{model} ")))
            .unwrap_or_else(|| panic!("no {model} line in\n{table}"))
            .to_string()
    };
    assert!(line("free").ends_with("cost unknown"), "{}", line("free"));
    assert!(!line("free").contains('$'), "{}", line("free"));
    assert!(
        line("haiku").ends_with(&format!("cost ${:.4}", haiku.cost_usd)),
        "{}",
        line("haiku")
    );
    assert!(
        table.contains("+ unknown for free (no prices)"),
        "the totals say part of the cost is unknown:\n{table}"
    );
    b.stop();
}
