//! Property test: whatever options a request carries (a `max_wait` of `Duration::MAX`,
//! NaN or infinite sampling parameters, floors past the ladder, `max_tokens` of 0 or
//! `u32::MAX`, empty or blank content, absurd trim budgets), a live broker answers it
//! (a completion or a typed error, never `BrokerStopped`, never a hang) and still answers
//! a normal request afterwards.
//!
//! One broker (paused time, scripted transport) takes every case in turn. 64 cases by
//! default; for a longer run:
//!
//! ```text
//! PROPTEST_CASES=5000 cargo test -p quotaswarm --test broker props
//! ```

use crate::common;

use common::*;
use proptest::prelude::*;
use proptest::test_runner::{Config as RunnerConfig, TestCaseError, TestRunner};
use quotaswarm::broker::{self, BrokerError, StartOptions};
use quotaswarm::config::{Config, Transport as TransportKind};
use quotaswarm::types::TrimPolicy;
use quotaswarm::{CompletionRequest, ContentBlock, Message, Role};
use std::sync::Arc;
use std::time::Duration;

fn ask(target: &str, text: &str) -> CompletionRequest {
    CompletionRequest::prompt(target, text)
}

fn config() -> Config {
    let text = "[providers.anthropic]\nkind = \"sim\"\nwire = \"anthropic\"\n\
         [models.m1]\nprovider = \"anthropic\"\nmodel = \"claude-opus-4-5\"\nrpm = 1000\nitpm = 100000\notpm = 100000\n\
         [models.m2]\nprovider = \"anthropic\"\nmodel = \"claude-haiku-4-5\"\nrpm = 2\nitpm = 5000\notpm = 2000\n\
         [ladders]\nl = [\"m1\", \"m2\"]\nr = [\"m2\", \"m1\"]\n\
         [broker]\nbackoff_base_secs = 0.1\n";
    let mut c = Config::from_toml_str(text, "test").expect("test config");
    for p in c.providers.values_mut() {
        p.transport = TransportKind::Embedded;
    }
    c
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(64)
}

// Each hostile value is drawn about one time in ten or less, so that most cases are
// close enough to valid to reach the broker and its queues.

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        1 => Just(String::new()),
        1 => Just("  \n\t ".to_string()),
        10 => (0u32..1000).prop_map(|i| format!("What is a token bucket? ({i})")),
        10 => proptest::collection::vec(any::<char>(), 0..40)
            .prop_map(|cs| format!("q {}", String::from_iter(cs))),
    ]
}

fn message() -> impl Strategy<Value = Message> {
    let content = prop_oneof![
        1 => Just(Vec::new()),
        30 => proptest::collection::vec(text().prop_map(ContentBlock::text), 1..3),
    ];
    (any::<bool>(), content).prop_map(|(user, content)| Message {
        role: if user { Role::User } else { Role::Assistant },
        content,
    })
}

fn sampling() -> impl Strategy<Value = Option<f32>> {
    prop_oneof![
        24 => Just(None),
        16 => (0.0f32..1.0).prop_map(Some),
        1 => Just(Some(f32::NAN)),
        1 => Just(Some(f32::INFINITY)),
        1 => Just(Some(f32::NEG_INFINITY)),
        1 => (-3.0f32..3.0).prop_map(Some),
        1 => any::<f32>().prop_map(Some),
    ]
}

fn max_wait() -> impl Strategy<Value = Option<Duration>> {
    // Hostile here means huge, which is valid: drawn often.
    prop_oneof![
        Just(None),
        Just(Some(Duration::MAX)),
        Just(Some(Duration::ZERO)),
        (0u64..120).prop_map(|s| Some(Duration::from_secs(s))),
        any::<u64>().prop_map(|n| Some(Duration::from_nanos(n))),
        any::<u64>().prop_map(|s| Some(Duration::from_secs(s))),
    ]
}

fn request() -> impl Strategy<Value = (CompletionRequest, bool)> {
    let target = prop_oneof![
        5 => Just("m1"),
        5 => Just("m2"),
        5 => Just("l"),
        5 => Just("r"),
        1 => Just("nope"),
    ];
    let messages = prop_oneof![
        1 => Just(Vec::new()),
        20 => proptest::collection::vec(message(), 1..3),
    ];
    let max_tokens = prop_oneof![
        1 => Just(0u32),
        1 => Just(u32::MAX),
        1 => 150_000u32..250_000,
        30 => 1u32..1500,
    ];
    let floor = prop_oneof![
        16 => Just(None),
        8 => Just(Some(0)),
        4 => Just(Some(1)),
        1 => (2usize..4).prop_map(Some),
        1 => Just(Some(usize::MAX)),
    ];
    let trim = prop_oneof![
        3 => Just(None),
        1 => (prop_oneof![Just(0u64), Just(1), 10u64..5000, Just(u64::MAX)], any::<bool>())
            .prop_map(|(n, summarize)| {
                let mut t = TrimPolicy::new(n);
                t.summarize = summarize;
                Some(t)
            }),
    ];
    (
        target,
        messages,
        max_tokens,
        sampling(),
        sampling(),
        max_wait(),
        floor,
        trim,
        any::<bool>(),
        any::<bool>(),
        proptest::option::of(text()),
    )
        .prop_map(
            |(
                target,
                messages,
                max_tokens,
                temperature,
                top_p,
                wait,
                floor,
                trim,
                coalesce,
                stream,
                system,
            )| {
                let mut r = CompletionRequest::new(target).messages(messages);
                r.max_tokens = max_tokens;
                r.temperature = temperature;
                r.top_p = top_p;
                r.system = system
                    .map(|s| vec![ContentBlock::text(s)])
                    .unwrap_or_default();
                r.options.max_wait = wait;
                r.options.floor = floor;
                r.options.trim = trim;
                r.options.coalesce = coalesce;
                (r, stream)
            },
        )
}

#[test]
fn any_request_options_get_a_reply_and_the_broker_keeps_answering() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("runtime");
    let b = rt.block_on(async {
        let config = config();
        let sim = quotaswarm_sim::Simulator::new(&config);
        let eps = endpoints_over(&config, Arc::new(quotaswarm_sim::EmbeddedTransport { sim }));
        broker::start(config, eps, StartOptions::default())
            .await
            .expect("start the broker")
    });
    let h = b.handle.clone();
    let tally = std::cell::RefCell::new(std::collections::BTreeMap::<String, u32>::new());
    let mut runner = TestRunner::new(RunnerConfig {
        cases: cases(),
        failure_persistence: None,
        // The same cases on every run: CI is deterministic (PROPTEST_CASES widens it).
        rng_seed: proptest::test_runner::RngSeed::Fixed(20_261_202),
        ..RunnerConfig::default()
    });
    let result = runner.run(&request(), |(req, stream)| {
        let shown = format!("{req:?} (stream: {stream})");
        let (reply, after) = rt.block_on(async {
            let hour = Duration::from_secs(3600);
            let reply = tokio::time::timeout(hour, async {
                if stream {
                    match h.stream(req).await {
                        Ok(s) => s.collect_completion().await,
                        Err(e) => Err(e),
                    }
                } else {
                    h.complete(req).await
                }
            })
            .await;
            let after =
                tokio::time::timeout(hour, h.complete(ask("m1", "a normal question"))).await;
            (reply, after)
        });
        let Ok(reply) = reply else {
            return Err(TestCaseError::fail(format!(
                "no reply within an hour: {shown}"
            )));
        };
        let kind = match &reply {
            Ok(c) => format!("ok on {}", c.model),
            // The variant, and for InvalidRequest the reason: `InvalidRequest(TopP`.
            Err(e) => format!("{e:?}")
                .chars()
                .take_while(|c| c.is_ascii_alphabetic() || *c == '(')
                .collect::<String>()
                .trim_end_matches('(')
                .to_string(),
        };
        *tally.borrow_mut().entry(kind).or_default() += 1;
        prop_assert!(
            !matches!(reply, Err(BrokerError::BrokerStopped)),
            "the broker stopped: {}",
            shown
        );
        prop_assert!(
            matches!(after, Ok(Ok(_))),
            "the broker no longer answers a normal request after {}: {:?}",
            shown,
            after
        );
        Ok(())
    });
    // Shown with `-- --nocapture`: how many cases reached the broker and how they ended.
    println!("outcomes: {:?}", tally.borrow());
    if let Err(e) = result {
        panic!("{e}");
    }
}
