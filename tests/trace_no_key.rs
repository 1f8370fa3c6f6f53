//! No API key in stats, metrics or traces — and one GenAI span per completion. In its own
//! test binary: a thread-local tracing subscriber must not race other tests' callsites.

mod common;

use common::*;
use quotaswarm::broker::{self, StartOptions};
use quotaswarm::provider::{self, Endpoint};
use quotaswarm::{ApiKey, CompletionRequest};
use std::collections::HashMap;
use std::sync::Arc;

fn ok_with_usage(input: u64, output: u64) -> quotaswarm::provider::HttpResponse {
    let body = serde_json::json!({
        "id": "msg_x", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
        "content": [{"type": "text", "text": "ok"}], "stop_reason": "end_turn",
        "usage": {"input_tokens": input, "output_tokens": output}
    });
    response(200, &[], body)
}

#[tokio::test(start_paused = true)]
async fn no_api_key_appears_in_stats_metrics_or_traces() {
    const KEY: &str = "sk-ant-api03-VERY-SECRET-KEY-0123456789";
    let capture = Capture::default();
    let subscriber = capture.subscriber(tracing_subscriber::fmt::format::FmtSpan::CLOSE);
    let _guard = tracing::subscriber::set_default(subscriber);

    let script = Scripted::new(vec![
        anthropic_error(529, "overloaded_error", &[]),
        ok_with_usage(20, 5),
    ]);
    let config = quotaswarm::Config::from_toml_str(
        "[providers.anthropic]\nkind = \"anthropic\"\n[models.m]\nprovider = \"anthropic\"\nrpm = 60\nitpm = 6000\notpm = 6000\n",
        "test",
    )
    .unwrap();
    let mut eps = HashMap::new();
    eps.insert(
        "anthropic".to_string(),
        Endpoint {
            name: "anthropic".into(),
            provider: provider::for_wire(quotaswarm::config::Wire::Anthropic),
            transport: Arc::new(script.clone()),
            key: Some(ApiKey::new(KEY)),
        },
    );
    println!("{:?}", eps["anthropic"]);
    let b = broker::start(config, eps, StartOptions::default())
        .await
        .unwrap();
    b.handle
        .complete(CompletionRequest::prompt("m", "hello"))
        .await
        .unwrap();
    let stats = b.handle.stats().await.unwrap();
    let json = serde_json::to_string(&stats).unwrap();
    let metrics = quotaswarm::monitor::render_prometheus(&stats);
    let traced = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(
        traced.contains("gen_ai.completion"),
        "one span per completion is traced:\n{traced}"
    );
    assert!(traced.contains("gen_ai.usage.input_tokens"), "{traced}");
    for (what, text) in [("stats", &json), ("metrics", &metrics), ("trace", &traced)] {
        assert!(!text.contains("VERY-SECRET"), "the key leaked into {what}");
    }
}
