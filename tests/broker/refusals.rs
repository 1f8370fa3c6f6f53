//! Requests that can never be sent are refused at once, and the message says which part
//! is too large (the input estimate, or the `max_tokens` output reservation), with the
//! numbers, and what to change.

use quotaswarm::broker::{self, Broker, InvalidRequest, StartOptions};
use quotaswarm::{BrokerError, CompletionRequest, Config};

async fn start() -> Broker {
    let mut config = Config::previous_defaults();
    config.use_embedded_sim();
    let sim = quotaswarm_sim::Simulator::new(&config);
    let endpoints = quotaswarm::swarm::endpoints(&config, Some(sim.transport())).unwrap();
    broker::start(config, endpoints, StartOptions::default())
        .await
        .unwrap()
}

/// Sends `req` to a fresh broker over the default config: it must be refused with an
/// error for which `expected` holds; returns the error's message.
async fn refused_as(req: CompletionRequest, expected: impl Fn(&BrokerError) -> bool) -> String {
    let b = start().await;
    let e = b.handle.complete(req).await.unwrap_err();
    b.stop();
    let text = e.to_string();
    println!("{text}");
    assert!(expected(&e), "{e:?}");
    text
}

/// "Hello there." to `target`, allowed `max_tokens`.
fn hello(target: &str, max_tokens: u32) -> CompletionRequest {
    CompletionRequest::prompt(target, "Hello there.").max_tokens(max_tokens)
}

#[tokio::test(start_paused = true)]
async fn max_tokens_over_the_output_limit_says_to_lower_max_tokens() {
    let text = refused_as(hello("sonnet", 100_000), |e| {
        matches!(
            e,
            BrokerError::NeverFits {
                bucket: "output_tokens",
                need: 100_000,
                max: 8_000,
                max_tokens: 100_000,
                ..
            }
        )
    })
    .await;
    assert!(text.contains("max_tokens 100000"), "{text}");
    assert!(text.contains("8000 tokens per minute"), "{text}");
    assert!(text.contains("lower max_tokens"), "{text}");
    assert!(!text.contains("trim the history"), "{text}");

    // OpenAI-style combined limit: max_tokens alone is over the 30,000 TPM.
    let text = refused_as(hello("gpt-4o", 100_000), |_| true).await;
    assert!(
        text.contains("max_tokens alone is too large: lower max_tokens"),
        "{text}"
    );

    // Down a ladder, every rung says the same.
    let text = refused_as(
        hello("claude", 100_000),
        |e| matches!(e, BrokerError::AllRungsFailed(r) if r.len() == 3),
    )
    .await;
    assert_eq!(text.matches("lower max_tokens").count(), 3, "{text}");
    assert!(!text.contains("trim the history"), "{text}");
}

#[tokio::test(start_paused = true)]
async fn max_tokens_over_the_context_window_is_not_reported_as_input() {
    // max_tokens alone over every rung's context window is refused in the caller's task,
    // before any estimate: the message names max_tokens, not an input size.
    let text = refused_as(hello("sonnet", 300_000), |e| {
        matches!(
            e,
            BrokerError::InvalidRequest(InvalidRequest::MaxTokensTooLarge {
                max_tokens: 300_000,
                limit: 200_000,
            })
        )
    })
    .await;
    assert!(!text.contains("about 300"), "{text}");
    assert!(!text.contains("input tokens"), "{text}");
    assert!(
        text.contains("max_tokens 300000 exceeds the context window")
            && text.contains("lower max_tokens"),
        "{text}"
    );

    // With a trim policy the same request is refused the same way (no trimming helps).
    let req = hello("sonnet", 300_000).trim(4_000);
    let text = refused_as(req, |e| {
        matches!(
            e,
            BrokerError::InvalidRequest(InvalidRequest::MaxTokensTooLarge {
                max_tokens: 300_000,
                ..
            })
        )
    })
    .await;
    assert!(
        text.contains("lower max_tokens") && !text.contains("cannot trim"),
        "{text}"
    );
}

#[tokio::test(start_paused = true)]
async fn an_input_over_the_input_limit_says_to_trim_the_history() {
    let req = CompletionRequest::prompt("sonnet", "word ".repeat(40_000)).max_tokens(100);
    let text = refused_as(req, |e| {
        matches!(
            e,
            BrokerError::NeverFits {
                bucket: "input_tokens",
                ..
            }
        )
    })
    .await;
    assert!(text.contains("trim the history"), "{text}");
    assert!(!text.contains("lower max_tokens"), "{text}");
}
