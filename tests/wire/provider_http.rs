//! Both providers over real loopback HTTP against the simulator: a completion each way,
//! and every failure class the broker depends on, with rate-limit headers parsed.

use crate::common;

use common::serve_sim;
use quotaswarm::config::{Fault, FaultKind, Limits};
use quotaswarm::provider::{self, Endpoint, HttpTransport, ProviderError};
use quotaswarm::{ApiKey, CompletionRequest};
use quotaswarm_sim::SimServer;
use std::sync::Arc;
use std::time::Duration;

fn endpoint(server: &SimServer, wire: quotaswarm::config::Wire, key: &str) -> Endpoint {
    let url = format!("http://{}", server.addr);
    Endpoint {
        name: "test".into(),
        provider: provider::for_wire(wire),
        transport: Arc::new(HttpTransport::new(&url, Duration::from_secs(10)).unwrap()),
        key: Some(ApiKey::new(key)),
    }
}

use quotaswarm::config::Wire::{Anthropic, OpenAi};

/// The provider error `req()` to `model` ends in, sent with `key`.
async fn error_of(
    server: &SimServer,
    wire: quotaswarm::config::Wire,
    key: &str,
    model: &str,
) -> ProviderError {
    let ep = endpoint(server, wire, key);
    ep.complete(model, &req()).await.unwrap_err().error
}

fn req() -> CompletionRequest {
    CompletionRequest::prompt("x", "Hello over HTTP")
        .system("Be brief.")
        .max_tokens(30)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_completion_each_way_with_rate_limit_headers_parsed() {
    let server = serve_sim("").await;
    let a = endpoint(&server, Anthropic, "k1")
        .complete("claude-sonnet-4-6", &req())
        .await
        .unwrap();
    assert!(!a.completion.text().is_empty());
    assert_eq!(a.completion.provider_model, "claude-sonnet-4-6");
    assert!(a.completion.usage.input_tokens > 0 && a.completion.usage.output_tokens > 0);
    let rl = &a.rate_limits;
    assert_eq!(rl.requests.unwrap().limit, Some(50));
    assert_eq!(rl.input_tokens.unwrap().limit, Some(30_000));
    assert_eq!(rl.output_tokens.unwrap().limit, Some(8_000));
    assert!(rl.tokens.is_some() && rl.request_id.is_some());
    assert!(rl.requests.unwrap().reset_in.is_some());

    let o = endpoint(&server, OpenAi, "k1")
        .complete("gpt-4o-mini", &req())
        .await
        .unwrap();
    assert!(!o.completion.text().is_empty());
    let rl = &o.rate_limits;
    assert_eq!(rl.requests.unwrap().limit, Some(500));
    assert_eq!(rl.tokens.unwrap().limit, Some(200_000));
    assert!(rl.tokens.unwrap().remaining.unwrap() < 200_000);
    assert!(rl.request_id.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_is_classified_with_its_retry_after_on_both_wires() {
    let server = serve_sim("").await;
    server.sim.set_limits(
        "claude-sonnet-4-6",
        Limits::Split {
            rpm: 1.0,
            itpm: 30_000.0,
            otpm: 8_000.0,
        },
    );
    server.sim.set_limits(
        "gpt-4o-mini",
        Limits::Combined {
            rpm: 1.0,
            tpm: 200_000.0,
        },
    );
    for (wire, model) in [(Anthropic, "claude-sonnet-4-6"), (OpenAi, "gpt-4o-mini")] {
        let ep = endpoint(&server, wire, "k2");
        ep.complete(model, &req()).await.unwrap();
        let f = ep.complete(model, &req()).await.unwrap_err();
        match &f.error {
            ProviderError::RateLimited {
                retry_after: Some(d),
                ..
            } => {
                assert!(
                    *d > Duration::from_secs(30) && *d <= Duration::from_secs(60),
                    "{d:?}"
                )
            }
            other => panic!("{model}: {other:?}"),
        }
        assert!(f.error.is_retryable());
        assert_eq!(
            f.rate_limits.requests.unwrap().remaining,
            Some(0),
            "{model}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_529_and_a_503_are_retryable() {
    let server = serve_sim("").await;
    server.sim.set_faults(vec![
        Fault::new(FaultKind::Status(529), 1.0).for_model("claude-sonnet-4-6"),
        Fault::new(FaultKind::Status(503), 1.0).for_model("gpt-4o-mini"),
    ]);
    for (wire, model, status) in [
        (Anthropic, "claude-sonnet-4-6", 529),
        (OpenAi, "gpt-4o-mini", 503),
    ] {
        let e = error_of(&server, wire, "k3", model).await;
        assert!(
            matches!(e, ProviderError::Overloaded { status: s, .. } if s == status),
            "{e:?}"
        );
        assert!(e.is_retryable());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_request_auth_and_not_found_are_final_on_both_wires() {
    let server = serve_sim("api_keys = [\"good\"]\n").await;
    let long = CompletionRequest::prompt("x", "word ".repeat(250_000)).max_tokens(30);
    for (wire, model) in [(Anthropic, "claude-sonnet-4-6"), (OpenAi, "gpt-4o-mini")] {
        let good = endpoint(&server, wire, "good");
        let e = good.complete(model, &long).await.unwrap_err().error;
        assert!(
            matches!(e, ProviderError::BadRequest { .. }),
            "{model} 400: {e:?}"
        );
        assert!(!e.is_retryable());
        let e = error_of(&server, wire, "bad", model).await;
        assert!(
            matches!(e, ProviderError::Auth { status: 401, .. }),
            "{model} 401: {e:?}"
        );
        assert!(!e.is_retryable());
        assert!(
            !e.to_string().contains("bad\""),
            "the key is not echoed: {e}"
        );
        let e = good
            .complete("no-such-model", &req())
            .await
            .unwrap_err()
            .error;
        assert!(
            matches!(e, ProviderError::NotFound { .. }),
            "{model} 404: {e:?}"
        );
        assert!(!e.is_retryable());
    }
}

/// What agents send: a tool loop's history (tool_use, tool_result with `is_error`),
/// tools with `strict`, a tool choice, parallel use off, cache breakpoints, and
/// structured output. Valid by the real APIs' rules, so a simulator as strict as they
/// are accepts it.
fn agent_request() -> CompletionRequest {
    use quotaswarm::types::{CacheControl, ContentBlock, Message, OutputSchema, Role, Tool};
    use serde_json::json;
    CompletionRequest::new("x")
        .system_cached("You look things up.", CacheControl::ephemeral())
        .user("Weather in Paris?")
        .message(Message {
            role: Role::Assistant,
            content: vec![ContentBlock::ToolUse {
                id: "toolu_01A".into(),
                name: "get_weather".into(),
                input: json!({"city": "Paris"}),
            }],
        })
        .message(Message {
            role: Role::User,
            content: vec![ContentBlock::tool_error("toolu_01A", "station offline")],
        })
        .tool(
            Tool::new(
                "get_weather",
                json!({"type": "object", "properties": {"city": {"type": "string"}},
                       "required": ["city"], "additionalProperties": false}),
            )
            .description("Current weather")
            .strict(true),
        )
        .parallel_tool_calls(false)
        .response_format(OutputSchema::new(
            "answer",
            json!({"type": "object", "properties": {"text": {"type": "string"}},
                   "required": ["text"], "additionalProperties": false}),
        ))
        .max_tokens(60)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_requests_with_tools_structured_output_and_thinking_are_accepted() {
    let server = serve_sim("").await;
    for (wire, model) in [(Anthropic, "claude-sonnet-4-6"), (OpenAi, "gpt-4o-mini")] {
        let ep = endpoint(&server, wire, "k-agent");
        let reply = ep.complete(model, &agent_request()).await;
        assert!(reply.is_ok(), "{wire:?}: {:?}", reply.unwrap_err().error);
        let streamed = ep.stream(model, &agent_request()).await.unwrap();
        let done = streamed.into_completion().await;
        assert!(
            done.is_ok(),
            "{wire:?} streamed: {:?}",
            done.unwrap_err().error
        );
    }
    // A fresh Anthropic request with thinking on (budget within max_tokens, no sampling
    // parameters), streamed and not.
    let thinking = CompletionRequest::prompt("x", "Think first.")
        .thinking(1024)
        .max_tokens(2048);
    let ep = endpoint(&server, Anthropic, "k-agent");
    let reply = ep.complete("claude-sonnet-4-6", &thinking).await;
    assert!(reply.is_ok(), "{:?}", reply.unwrap_err().error);
    let done = ep
        .stream("claude-sonnet-4-6", &thinking)
        .await
        .unwrap()
        .into_completion()
        .await;
    assert!(done.is_ok(), "{:?}", done.unwrap_err().error);
}
