//! `quotaswarm run` with an `[otlp]` table in its config: the process exports the
//! broker's spans to the collector and sends the last ones before it exits, so a
//! receiver here holds one completion span per completion the report counts. (The
//! spans' contents are checked, decoded, by the library's `otlp_export` test; here the
//! receiver only counts the span name in the protobuf bodies it got.)

use std::sync::{Arc, Mutex};

const BIN: &str = env!("CARGO_BIN_EXE_quotaswarm");

/// How often `needle` occurs in `hay`.
fn occurrences(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len()).filter(|w| *w == needle).count()
}

#[tokio::test]
async fn run_exports_one_span_per_completion_and_flushes_before_exiting() {
    let bodies: Arc<Mutex<Vec<u8>>> = Arc::default();
    let sink = bodies.clone();
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |body: axum::body::Bytes| {
            sink.lock().unwrap().extend_from_slice(&body);
            async {}
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });

    let dir = std::env::temp_dir().join(format!("quotaswarm-run-otlp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("otlp.toml");
    std::fs::write(
        &config,
        format!("[otlp]\nendpoint = \"http://{addr}\"\nservice_name = \"cli-test\"\n"),
    )
    .unwrap();
    let out = tokio::process::Command::new(BIN)
        .args(["run", "--sim", "--agents", "3", "--turns", "2", "--json"])
        .arg("--config")
        .arg(&config)
        .env_remove("ANTHROPIC_API_KEY")
        .env_remove("OPENAI_API_KEY")
        .output()
        .await
        .expect("run quotaswarm");
    let _ = std::fs::remove_dir_all(&dir);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    let completions = v["completions"].as_u64().expect("completions");
    let bodies = bodies.lock().unwrap();
    let spans = occurrences(&bodies, b"gen_ai.completion") as u64;
    println!(
        "{completions} completions, {spans} completion spans in {} bytes of OTLP",
        bodies.len()
    );
    assert_eq!(completions, 6, "{v}");
    assert_eq!(
        spans, completions,
        "every span arrived before the process exited"
    );
    assert!(
        occurrences(&bodies, b"cli-test") > 0,
        "the service name is sent"
    );
}
