//! Property test: scenario parsing returns `Ok` or `Err` on any text, never panics.
//!
//! 256 cases by default; `PROPTEST_CASES=100000 cargo test --workspace
//! parsers_never_panic` for a long run.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use quotaswarm_cli::scenario::Scenario;

const DEMO: &str = include_str!("../src/scenario/default.json");

/// The built-in demo scenario with a few random edits: a byte range cut out, text
/// spliced in, a value replaced.
fn mutated_demo() -> impl Strategy<Value = String> {
    let edit = (
        any::<usize>(),
        0usize..40,
        prop_oneof![
            "\\PC{0,12}",
            Just("-1".to_string()),
            Just("1e400".to_string()),
            Just("18446744073709551616".to_string()),
            Just("null".to_string()),
            Just("[]".to_string()),
            Just("{}".to_string()),
            Just("\"\"".to_string()),
            Just("4294967295".to_string()),
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
    let mut runner = TestRunner::new(Config {
        // A fixed seed: every run checks the same cases (`PROPTEST_CASES` widens them).
        rng_seed: proptest::test_runner::RngSeed::Fixed(20_261_202),
        ..Config::default()
    });
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
