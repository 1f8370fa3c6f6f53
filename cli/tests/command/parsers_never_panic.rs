//! Property tests: scenario parsing returns `Ok` or `Err` on any text, never panics; and
//! extreme numbers (NaN, ±inf, 1e300, negative, u64::MAX) in the scenario's numeric
//! fields and the numeric flags are errors or in-range values, never panics.
//!
//! 256 cases each by default; `PROPTEST_CASES=100000 cargo test --workspace
//! parsers_never_panic` for a long run.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use quotaswarm_cli::scenario::Scenario;

const DEMO: &str = include_str!("../../src/scenario/default.json");

/// A runner with a fixed seed: every run checks the same cases (`PROPTEST_CASES` widens
/// them).
fn runner(seed: u64) -> TestRunner {
    TestRunner::new(Config {
        rng_seed: proptest::test_runner::RngSeed::Fixed(seed),
        ..Config::default()
    })
}

/// The built-in demo scenario with a few random edits: a byte range cut out, text
/// spliced in, a value replaced.
fn mutated_demo() -> impl Strategy<Value = String> {
    let edit = (
        any::<usize>(),
        0usize..40,
        prop_oneof![
            1 => "\\PC{0,12}",
            8 => proptest::sample::select(
                &[
                    "-1",
                    "1e400",
                    "18446744073709551616",
                    "null",
                    "[]",
                    "{}",
                    "\"\"",
                    "4294967295"
                ][..]
            )
            .prop_map(str::to_string),
        ],
    );
    proptest::collection::vec(edit, 1..5).prop_map(|edits| {
        let mut text = DEMO.to_string();
        for (at, len, insert) in edits {
            let mut start = at % (text.len() + 1);
            while !text.is_char_boundary(start) {
                start -= 1;
            }
            let mut end = (start + len).min(text.len());
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.replace_range(start..end, &insert);
        }
        text
    })
}

#[test]
fn parsers_never_panic_on_scenario_json() {
    let text = prop_oneof![
        4 => mutated_demo(),
        1 => "\\PC{0,200}",
        1 => proptest::collection::vec(any::<u8>(), 0..200)
            .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
    ];
    let mut runner = runner(20_261_202);
    runner
        .run(&text, |text| {
            match Scenario::from_json_str(&text, "fuzz.json") {
                Ok(s) => drop(s),
                Err(e) => drop(e.to_string()),
            }
            Ok(())
        })
        .unwrap();
}

/// Extreme numbers, as JSON text: negative, zero, tiny, huge, past u32/u64, past f64.
const EXTREME_JSON: &[&str] = &[
    "-1",
    "0",
    "-0.0",
    "5e-324",
    "0.0001",
    "2592000",
    "2592000.5",
    "1e300",
    "-1e300",
    "1e400",
    "4294967295",
    "4294967296",
    "18446744073709551615",
    "18446744073709551616",
    "1.8446744073709552e19",
];

/// Every numeric field of a scenario, at the path it lives at.
const NUMERIC_FIELDS: &[&str] = &[
    "deadline_secs",
    "max_wait_secs",
    "reuse_secs",
    "copies",
    "rounds",
    "max_tokens",
    "trim",
    "turn_max_tokens",
];

/// Numbers as text: three times in four one of `listed`, else any `f64` (written by
/// `float`), `u64` or `i64`.
fn numbers(
    listed: &'static [&'static str],
    float: fn(f64) -> String,
) -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::sample::select(listed).prop_map(str::to_string),
        1 => any::<f64>().prop_map(float),
        1 => any::<u64>().prop_map(|v| v.to_string()),
        1 => any::<i64>().prop_map(|v| v.to_string()),
    ]
}

fn scenario_with(field: &str, value: &str, kind: &str) -> String {
    let mut top = String::new();
    let mut agent = String::new();
    let mut turn = String::new();
    match field {
        "deadline_secs" => top = format!("\"deadline_secs\": {value},"),
        "trim" => agent = format!("\"trim\": {{\"max_input_tokens\": {value}}},"),
        "turn_max_tokens" => turn = format!(", \"max_tokens\": {value}"),
        other => agent = format!("\"{other}\": {value},"),
    }
    let body = if kind == "scripted" {
        format!("\"turns\": [{{\"user\": \"hi\"{turn}}}]")
    } else {
        "\"kind\": \"critic_pair\", \"prompts\": [\"q\"]".to_string()
    };
    format!("{{{top} \"agents\": [{{\"name\": \"a\", \"model\": \"claude\", {agent} {body}}}]}}")
}

/// Property test: an extreme number in any numeric field of a scenario is an error
/// naming the field, or a scenario that builds (its durations and counts in range);
/// never a panic. Fixed seed, like the others.
#[test]
fn extreme_numbers_in_a_scenario_never_panic() {
    let values = numbers(EXTREME_JSON, |v| format!("{v:e}"));
    let case = (
        proptest::sample::select(NUMERIC_FIELDS),
        values,
        proptest::sample::select(&["scripted", "critic_pair"][..]),
    );
    let mut runner = runner(20_261_204);
    runner
        .run(&case, |(field, value, kind)| {
            let text = scenario_with(field, &value, kind);
            match Scenario::from_json_str(&text, "extreme.json") {
                Ok(s) => {
                    if let Some(d) = s.deadline {
                        prop_assert!(d.as_secs() <= 30 * 24 * 3600, "{text}");
                    }
                    for a in &s.agents {
                        let _ = a.ask();
                        prop_assert!(a.names().len() <= 2 * 10_000, "{text}");
                    }
                    // Checking it against a config (what `builder` does first): no panic
                    // either.
                    let _ = s.apply(&mut quotaswarm::Config::default());
                }
                Err(e) => drop(e.to_string()),
            }
            Ok(())
        })
        .unwrap();
}

/// Property test: extreme values for every numeric flag are refused by the parser (exit
/// 2, with a message) or parsed into range; never a panic.
#[test]
fn extreme_flag_values_never_panic() {
    use clap::Parser;
    use quotaswarm_cli::{Cli, Command};
    const FLAGS: &[&[&str]] = &[
        &["run", "--deadline-secs"],
        &["run", "--progress-secs"],
        &["run", "--agents"],
        &["run", "--agents", "2", "--turns"],
        &["top", "--interval-ms"],
        &["top", "--width"],
    ];
    let values = numbers(
        &[
            "NaN",
            "nan",
            "inf",
            "-inf",
            "infinity",
            "1e300",
            "-1e300",
            "-1",
            "0",
            "-0",
            "5e-324",
            "18446744073709551615",
            "18446744073709551616",
            "4294967296",
            "2592000",
            "2592001",
            "",
        ],
        |v| v.to_string(),
    );
    let case = (proptest::sample::select(FLAGS), values);
    let mut runner = runner(20_261_204);
    runner
        .run(&case, |(flag, value)| {
            let mut argv = vec!["quotaswarm"];
            argv.extend_from_slice(flag);
            argv.push(&value);
            match Cli::try_parse_from(&argv) {
                Ok(cli) => match cli.command {
                    Command::Run(args) => {
                        let most = std::time::Duration::from_secs(30 * 24 * 3600);
                        prop_assert!(args.progress_secs > std::time::Duration::ZERO);
                        prop_assert!(args.progress_secs <= most);
                        prop_assert!(args.deadline_secs.is_none_or(|d| !d.is_zero() && d <= most));
                        prop_assert!(args.agents.is_none_or(|n| (1..=10_000).contains(&n)));
                    }
                    Command::Top(args) => {
                        prop_assert!((100..=3_600_000).contains(&args.interval_ms));
                    }
                    Command::Sim { .. } | Command::Serve(_) => {}
                },
                Err(e) => drop(e.to_string()),
            }
            Ok(())
        })
        .unwrap();
}
