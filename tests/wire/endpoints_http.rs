//! Any endpoint by config, over loopback HTTP against the simulator: the README's
//! config blocks for Azure OpenAI (v1 and classic), Gemini's OpenAI-compatible endpoint,
//! a local vLLM/Ollama server and an Anthropic beta header are loaded as printed, pointed
//! at `quotaswarm sim`'s server and asked through the broker; the simulator's request log
//! shows the path, the query and the key's header (and no other) each one sent. Then
//! what the blocks do not show: a keyless provider is never simulated, `extra_body` and
//! headers per request, and the simulator refusing what the vendors refuse.

use quotaswarm::swarm::{Backend, Swarm};
use quotaswarm::{ApiKey, CompletionRequest, Config};
use quotaswarm_sim::{SeenRequest, SimServer, Simulator};
use serde_json::json;
use std::collections::BTreeMap;
use std::net::SocketAddr;

/// The key the tests give providers that take one.
const KEY: &str = "sk-endpoint-test-secret";

/// The ```toml blocks under the README's "### Other endpoints" heading, verbatim.
fn readme_blocks() -> Vec<String> {
    let readme = include_str!("../../README.md");
    let start = readme
        .find("\n### Other endpoints")
        .expect("an Other endpoints section");
    let section = &readme[start..];
    let section = &section[..section[1..].find("\n## ").map_or(section.len(), |i| i + 1)];
    section
        .split("```toml\n")
        .skip(1)
        .map(|b| b[..b.find("```").expect("a closed block")].to_string())
        .collect()
}

/// The config of `block` over the defaults, with the simulator it describes served on
/// loopback and the block's providers pointed at it (paths, query and auth kept), each
/// with the test key unless it takes none. Returns the block's model name too.
async fn serve_block(block: &str) -> (Config, SimServer, String) {
    let mut config =
        Config::from_toml_str_over_defaults(block, "README").unwrap_or_else(|e| panic!("{e}"));
    let table: toml::Table = toml::from_str(block).expect("toml");
    let model = table["models"]
        .as_table()
        .and_then(|m| m.keys().next().cloned())
        .expect("the block names a model");
    let server = quotaswarm_sim::serve(
        Simulator::new(&config),
        SocketAddr::from(([127, 0, 0, 1], 0)),
    )
    .await
    .expect("simulator");
    let provider = config.models[&model].provider.clone();
    let p = config.providers.get_mut(&provider).expect("provider");
    p.point_at(&format!("http://{}", server.addr));
    p.api_key = Some(ApiKey::new(KEY));
    (config, server, model)
}

/// What the simulator saw of the latest request.
fn last_seen(server: &SimServer) -> SeenRequest {
    server
        .sim
        .requests()
        .pop()
        .expect("the simulator saw a request")
}

/// Asks `req` through a broker over `config`, as configured (no simulator of its own).
async fn ask(config: Config, req: CompletionRequest) -> quotaswarm::Completion {
    let swarm = Swarm::start(config, Backend::AsConfigured)
        .await
        .expect("swarm");
    let answer = swarm.handle().complete(req).await;
    swarm.shutdown().await;
    answer.unwrap_or_else(|e| panic!("{e}"))
}

/// The path, query, key headers and one header (name, value) each README block must send.
struct Expected {
    path: &'static str,
    query: &'static [(&'static str, &'static str)],
    auth: &'static [&'static str],
    header: Option<(&'static str, &'static str)>,
}

fn check(block: usize, seen: &SeenRequest, want: &Expected) {
    println!(
        "README block {block}: {} {:?} auth={:?} params={:?}",
        seen.path,
        seen.query,
        seen.auth,
        seen.params.keys().collect::<Vec<_>>()
    );
    assert_eq!(seen.path, want.path, "block {block}");
    let query: BTreeMap<String, String> = want
        .query
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    assert_eq!(seen.query, query, "block {block}");
    assert_eq!(
        seen.auth, want.auth,
        "block {block}: the key's header and no other"
    );
    if let Some((name, value)) = want.header {
        assert_eq!(
            seen.headers.get(name).map(String::as_str),
            Some(value),
            "block {block}"
        );
    }
    assert!(
        !format!("{seen:?}").contains(KEY),
        "the request log never holds a key"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_readme_endpoint_block_works_against_the_simulator() {
    let blocks = readme_blocks();
    let expected = [
        Expected {
            path: "/openai/v1/chat/completions",
            query: &[],
            auth: &["api-key"],
            header: None,
        },
        Expected {
            path: "/openai/deployments/gpt-4o-prod/chat/completions",
            query: &[("api-version", "2024-10-21")],
            auth: &["api-key"],
            header: None,
        },
        Expected {
            path: "/v1beta/openai/chat/completions",
            query: &[],
            auth: &["authorization"],
            header: None,
        },
        Expected {
            path: "/v1/chat/completions",
            query: &[],
            auth: &[],
            header: None,
        },
        Expected {
            path: "/v1/messages",
            query: &[],
            auth: &["x-api-key"],
            header: Some(("anthropic-beta", "context-1m-2025-08-07")),
        },
    ];
    assert_eq!(
        blocks.len(),
        expected.len(),
        "one expectation per README block"
    );
    for (i, (block, want)) in blocks.iter().zip(&expected).enumerate() {
        let (config, server, model) = serve_block(block).await;
        let extra_body = config.models[&model].extra_body.clone();
        let reply = ask(
            config,
            CompletionRequest::prompt(&model, "Say hi.").max_tokens(20),
        )
        .await;
        assert!(!reply.text().is_empty(), "block {i} answered");
        let seen = last_seen(&server);
        check(i, &seen, want);
        for (k, v) in extra_body.iter().flatten() {
            assert_eq!(
                seen.params.get(k),
                Some(v),
                "block {i}: extra_body {k} merged"
            );
        }
        server.shutdown().await.expect("shutdown");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keyless_provider_is_real_and_never_simulated() {
    let local = readme_blocks()
        .into_iter()
        .find(|b| b.contains("auth = \"none\""))
        .expect("the local server block");
    let (mut config, server, model) = serve_block(&local).await;
    // As a user runs it: no key anywhere, the simulator for whatever has none.
    config.providers.get_mut("local").expect("local").api_key = None;
    let url = config.providers["local"].base_url.clone();
    let swarm = Swarm::start(config, quotaswarm_sim::auto())
        .await
        .expect("swarm");
    let line = swarm
        .backends
        .iter()
        .find(|l| l.starts_with("local:"))
        .expect("a backend line for local")
        .clone();
    println!("{line}");
    assert!(line.contains(&url) && !line.contains("simulator"), "{line}");
    let reply = swarm
        .handle()
        .complete(CompletionRequest::prompt(&model, "Say hi.").max_tokens(20))
        .await;
    swarm.shutdown().await;
    assert!(!reply.expect("answered").text().is_empty());
    let seen = last_seen(&server);
    assert_eq!(seen.path, "/v1/chat/completions");
    assert!(
        seen.auth.is_empty(),
        "no key header at all: {:?}",
        seen.auth
    );
    assert_eq!(seen.params["top_k"], 20);
    // The block's `max_tokens_field`: the cap in the field such servers read.
    assert_eq!(seen.params["max_tokens"], 20, "{:?}", seen.params);
    assert!(!seen.params.contains_key("max_completion_tokens"));
    server.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_adds_its_own_headers_and_body_fields_over_the_models() {
    let blocks = readme_blocks();
    let beta = blocks
        .iter()
        .find(|b| b.contains("anthropic-beta"))
        .expect("the beta block");
    let (config, server, model) = serve_block(beta).await;
    let req = CompletionRequest::prompt(&model, "Say hi.")
        .max_tokens(20)
        .header(
            "anthropic-beta",
            "context-1m-2025-08-07,files-api-2025-04-14",
        )
        .extra_body(json!({"service_tier": "standard_only", "metadata": {"user_id": "team-7"}}));
    ask(config, req).await;
    let seen = last_seen(&server);
    assert_eq!(
        seen.headers["anthropic-beta"], "context-1m-2025-08-07,files-api-2025-04-14",
        "the request's header wins over the model's"
    );
    assert_eq!(seen.params["service_tier"], "standard_only");
    assert_eq!(seen.params["metadata"], json!({"user_id": "team-7"}));
    server.shutdown().await.expect("shutdown");

    // Streamed, through classic Azure's path and query.
    let (config, server, model) = serve_block(&blocks[1]).await;
    let swarm = Swarm::start(config, Backend::AsConfigured)
        .await
        .expect("swarm");
    let req = CompletionRequest::prompt(&model, "Say hi.")
        .max_tokens(20)
        .extra_body(json!({"seed": 7}));
    let stream = swarm.handle().stream(req).await.expect("stream");
    let completion = stream.collect_completion().await.expect("streamed");
    swarm.shutdown().await;
    assert!(!completion.text().is_empty());
    let seen = last_seen(&server);
    assert_eq!(
        seen.path,
        "/openai/deployments/gpt-4o-prod/chat/completions"
    );
    assert_eq!(seen.query["api-version"], "2024-10-21");
    assert_eq!(seen.params["seed"], 7);
    assert_eq!(seen.params["stream"], true);
    server.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulator_refuses_what_the_vendors_refuse() {
    let blocks = readme_blocks();
    let client = reqwest::Client::new();
    let (_, server, _) = serve_block(&blocks[1]).await;
    let base = format!("http://{}", server.addr);
    let body = json!({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 5});
    let post = |path: &str, header: (&'static str, String)| {
        client
            .post(format!("{base}{path}"))
            .header(header.0, header.1)
            .json(&body)
            .send()
    };
    let deployment = "/openai/deployments/gpt-4o-prod/chat/completions";
    let no_version = post(deployment, ("api-key", KEY.into()))
        .await
        .expect("answer");
    assert_eq!(no_version.status(), 404, "classic Azure needs api-version");
    let with_version = format!("{deployment}?api-version=2024-10-21");
    let ok = post(&with_version, ("api-key", KEY.into()))
        .await
        .expect("answer");
    assert_eq!(
        ok.status(),
        200,
        "the deployment is the model: no model in the body"
    );
    let keyless = post(&with_version, ("x-unrelated", "1".into()))
        .await
        .expect("answer");
    assert_eq!(
        keyless.status(),
        401,
        "no keyless provider in this config: a key is needed"
    );
    let wrong = post("/v1/chat/completions", ("api-key", KEY.into()))
        .await
        .expect("answer");
    assert_eq!(
        wrong.status(),
        401,
        "OpenAI takes a bearer token, not api-key"
    );
    server.shutdown().await.expect("shutdown");
}
