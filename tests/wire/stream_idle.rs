//! Streams are bounded by silence, not by length: over real loopback HTTP, a stream that
//! lasts longer than the request timeout but keeps sending completes, and one that goes
//! silent ends with a timeout once the idle timeout passes.
//!
//! The long stream comes from our simulator (one token every 300 ms); the silent one
//! from a few lines of raw tokio TCP in this file, because the simulator has no way to
//! stall a stream on purpose. Real time is unavoidable with real sockets; the timeouts
//! are 1 s (request) and 2 s (idle) and each test takes under 3 s.

use futures_util::StreamExt;
use quotaswarm::config::Wire;
use quotaswarm::provider::{self, Endpoint, HttpTransport, ProviderError, StreamEvent};
use quotaswarm::{ApiKey, CompletionRequest, Config};
use quotaswarm_sim::{serve, Simulator};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const REQUEST_TIMEOUT: Duration = Duration::from_secs(1);
const IDLE_TIMEOUT: Duration = Duration::from_secs(2);

fn sse(event: &str, data: &str) -> String {
    format!("event: {event}\ndata: {data}\n\n")
}

fn start() -> String {
    sse(
        "message_start",
        r#"{"type":"message_start","message":{"id":"msg_idle","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":5,"output_tokens":1}}}"#,
    ) + &sse(
        "content_block_start",
        r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
    )
}

fn delta(text: &str) -> String {
    sse(
        "content_block_delta",
        &format!(
            r#"{{"type":"content_block_delta","index":0,"delta":{{"type":"text_delta","text":"{text}"}}}}"#
        ),
    )
}

fn end() -> String {
    sse(
        "content_block_stop",
        r#"{"type":"content_block_stop","index":0}"#,
    ) + &sse(
        "message_delta",
        r#"{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":6}}"#,
    ) + &sse("message_stop", r#"{"type":"message_stop"}"#)
}

/// A one-connection server: reads the request, answers `200` with an SSE body whose
/// pieces are written `gap` apart, then holds the connection open for `linger` (a
/// silent server) before closing it.
async fn server(pieces: Vec<String>, gap: Duration, linger: Duration) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        let mut request = Vec::new();
        let mut buf = [0u8; 4096];
        // Headers, then the body by its content-length.
        loop {
            let n = sock.read(&mut buf).await.unwrap();
            request.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&request).to_string();
            if let Some(end) = text.find("\r\n\r\n") {
                let length = text[..end]
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("content-length")
                            .then(|| v.trim().parse::<usize>().ok())?
                    })
                    .unwrap_or(0);
                if request.len() >= end + 4 + length || n == 0 {
                    break;
                }
            }
        }
        let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\
                    connection: close\r\n\r\n";
        sock.write_all(head.as_bytes()).await.unwrap();
        for piece in pieces {
            if sock.write_all(piece.as_bytes()).await.is_err() {
                return;
            }
            let _ = sock.flush().await;
            tokio::time::sleep(gap).await;
        }
        tokio::time::sleep(linger).await;
    });
    format!("http://{addr}")
}

fn endpoint(base: &str) -> Endpoint {
    endpoint_for(base, Wire::Anthropic)
}

fn endpoint_for(base: &str, wire: Wire) -> Endpoint {
    Endpoint {
        name: "idle".into(),
        provider: provider::for_wire(wire),
        transport: Arc::new(
            HttpTransport::new(base, REQUEST_TIMEOUT)
                .unwrap()
                .stream_idle_timeout(IDLE_TIMEOUT),
        ),
        key: Some(ApiKey::new("sk-idle-test")),
    }
}

fn request() -> CompletionRequest {
    CompletionRequest::prompt("x", "Take your time.").max_tokens(50)
}

#[tokio::test]
async fn a_stream_longer_than_the_request_timeout_completes_while_it_keeps_sending() {
    // 1.8 s of output, a piece every 300 ms: longer than the 1 s request timeout.
    let mut pieces = vec![start()];
    pieces.extend(["a", "b", "c", "d", "e"].map(delta));
    pieces.push(end());
    let base = server(pieces, Duration::from_millis(300), Duration::ZERO).await;
    let began = Instant::now();
    let s = endpoint(&base)
        .stream("claude-sonnet-4-5", &request())
        .await;
    let completion = s.unwrap().into_completion().await.unwrap();
    assert!(began.elapsed() > REQUEST_TIMEOUT, "{:?}", began.elapsed());
    assert_eq!(completion.text(), "abcde");
    assert_eq!(completion.usage.output_tokens, 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_simulated_stream_longer_than_the_request_timeout_completes_on_both_wires() {
    let mut config = Config::previous_defaults();
    config.sim.latency = Duration::from_millis(1);
    config.sim.per_token = Duration::from_millis(300);
    let server = serve(Simulator::new(&config), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let base = format!("http://{}", server.addr);
    // Five tokens (the simulator's shortest reply), 300 ms apart: 1.5 s per stream.
    let request = CompletionRequest::prompt("x", "Slowly.").max_tokens(5);
    let began = Instant::now();
    let streamed = |wire, model| {
        let ep = endpoint_for(&base, wire);
        let request = &request;
        async move {
            ep.stream(model, request)
                .await
                .unwrap()
                .into_completion()
                .await
        }
    };
    let (a, o) = tokio::join!(
        streamed(Wire::Anthropic, "claude-sonnet-4-6"),
        streamed(Wire::OpenAi, "gpt-4o-mini"),
    );
    for (wire, c) in [("anthropic", a), ("openai", o)] {
        let c = c.unwrap_or_else(|f| panic!("{wire}: {:?}", f.error));
        assert_eq!(c.usage.output_tokens, 5, "{wire}");
    }
    assert!(began.elapsed() > REQUEST_TIMEOUT, "{:?}", began.elapsed());
}

#[tokio::test]
async fn a_silent_stream_times_out_after_the_idle_timeout() {
    // Silent for a minute: a stream that waited for the server to close would take it.
    let base = server(
        vec![start(), delta("a")],
        Duration::ZERO,
        Duration::from_secs(60),
    )
    .await;
    let began = Instant::now();
    let mut s = endpoint(&base)
        .stream("claude-sonnet-4-5", &request())
        .await
        .unwrap();
    let mut deltas = 0;
    let failure = loop {
        match s.next().await.expect("the stream fails, it does not end") {
            Ok(StreamEvent::TextDelta { .. }) => deltas += 1,
            Ok(_) => {}
            Err(f) => break f,
        }
    };
    let waited = began.elapsed();
    assert_eq!(deltas, 1);
    assert!(failure.error.is_mid_stream());
    assert!(
        matches!(failure.error.underlying(), ProviderError::Timeout),
        "{:?}",
        failure.error
    );
    // The upper bound leaves a loaded machine room and is still far below the minute.
    assert!(
        waited >= IDLE_TIMEOUT && waited < IDLE_TIMEOUT + Duration::from_secs(10),
        "{waited:?}"
    );
}

#[tokio::test]
async fn a_non_streamed_call_is_still_bounded_by_the_request_timeout() {
    // A slow body (30 pieces 300 ms apart: 9 s), asked for whole: the 1 s total bound
    // applies, long before the body ends.
    let mut pieces = vec![start()];
    pieces.extend((0..30).map(|i| delta(&i.to_string())));
    let base = server(pieces, Duration::from_millis(300), Duration::ZERO).await;
    let began = Instant::now();
    let failure = endpoint(&base)
        .complete("claude-sonnet-4-5", &request())
        .await
        .unwrap_err();
    assert!(
        matches!(failure.error, ProviderError::Timeout),
        "{failure:?}"
    );
    // Far below the body's 9 s, with room for a loaded machine.
    assert!(
        began.elapsed() < Duration::from_secs(6),
        "{:?}",
        began.elapsed()
    );
}
