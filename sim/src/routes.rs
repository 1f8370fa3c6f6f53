//! Which API a request is for, whatever address it came to: the vendors' own paths
//! (`/v1/...`) and the same wires served elsewhere, each with the key scheme it takes.
//!
//! | prefix | stands for | key |
//! |---|---|---|
//! | `/v1/...` | Anthropic, OpenAI, vLLM, Ollama | `x-api-key` (Anthropic), bearer (OpenAI); none when keyless |
//! | `/openai/v1/...` | Azure OpenAI v1 | `api-key` or bearer |
//! | `/openai/deployments/{deployment}/...?api-version=...` | classic Azure OpenAI: the deployment is the model | `api-key` or bearer |
//! | `/v1beta/openai/...` | Gemini's OpenAI-compatible endpoint | bearer |
//! | `/PREFIX/v1/...` | a gateway or proxy in front of a vendor | the vendor's |
//!
//! Each prefix is mapped onto the vendor path that follows it (`/openai/v1/chat/completions`
//! → `/v1/chat/completions`), so every wire's route is reachable behind each of them.
//! The credential is moved to the header the wire's handler reads, and a request without
//! any is served under one shared anonymous key when the simulator is keyless (its config
//! has a provider with `auth = "none"`: a local vLLM or Ollama server takes no key).
//!
//! Every request is also logged as a [`SeenRequest`] (path, query, which credential
//! headers came, the other headers, the body's parameters), so tests can check what a
//! client sent (`Simulator::requests`, `GET /_requests`).

use super::{json_response, lock, Simulator};
use quotaswarm::provider::{HttpRequest, HttpResponse};
use reqwest::header::HeaderValue;
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, VecDeque};

/// The key a keyless request is served under.
pub(crate) const ANONYMOUS_KEY: &str = "quotaswarm-sim-anonymous";

/// How many requests the log keeps (the oldest go first).
const LOG_LEN: usize = 256;

/// The headers that carry keys.
const CREDENTIALS: &[&str] = &["authorization", "x-api-key", "api-key"];

/// Body fields that hold the conversation, left out of [`SeenRequest::params`].
const CONTENT: &[&str] = &["messages", "system", "tools", "input"];

/// What one request looked like, as the simulator received it.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct SeenRequest {
    /// The path as sent, without the query (`/openai/deployments/d/chat/completions`).
    pub path: String,
    /// The query's parameters, decoded.
    pub query: BTreeMap<String, String>,
    /// Which credential headers came (`authorization`, `x-api-key`, `api-key`), sorted.
    pub auth: Vec<String>,
    /// The other headers (lower-case names; values of credential-like headers `***`).
    pub headers: BTreeMap<String, String>,
    /// The body's top-level fields but the conversation (`messages`, `system`, `tools`,
    /// `input`): `model`, `max_tokens`, sampling, and any `extra_body` fields.
    pub params: Map<String, Value>,
}

/// Which address a request came to.
enum Style {
    /// `/v1/...`: the vendors' own.
    Vendor,
    /// `/openai/v1/...`.
    AzureV1,
    /// `/openai/deployments/{deployment}/...`.
    AzureClassic { deployment: String },
    /// `/v1beta/openai/...`.
    Gemini,
}

/// `request` logged and mapped onto the vendor path its wire's handler serves, with its
/// credential where that handler reads it; or the answer when the address is wrong in a
/// way the vendor refuses before any handler (classic Azure without `api-version`).
pub(crate) fn normalise(
    sim: &Simulator,
    mut request: HttpRequest,
) -> Result<HttpRequest, Box<HttpResponse>> {
    let (path, query) = match request.path.split_once('?') {
        Some((p, q)) => (p.to_string(), q.to_string()),
        None => (request.path.clone(), String::new()),
    };
    let query = parse_query(&query);
    if !path.starts_with("/_") {
        log(sim, &path, &query, &request);
    }
    let (style, rest) = style_of(&path);
    if let Style::AzureClassic { .. } = style {
        if !query.contains_key("api-version") {
            return Err(Box::new(json_response(
                404,
                &json!({"error": {"code": "404", "message": "Resource not found"}}),
            )));
        }
    }
    request.path = rest;
    match &style {
        Style::AzureV1 | Style::AzureClassic { .. } => {
            if let Some(key) = request.headers.remove("api-key") {
                if !request.headers.contains_key("authorization") {
                    let bearer = format!("Bearer {}", key.to_str().unwrap_or_default());
                    if let Ok(v) = HeaderValue::from_str(&bearer) {
                        request.headers.insert("authorization", v);
                    }
                }
            }
        }
        Style::Vendor | Style::Gemini => {}
    }
    if let Style::AzureClassic { deployment } = &style {
        set_model(&mut request, deployment);
    }
    let keyless = !CREDENTIALS.iter().any(|h| request.headers.contains_key(*h));
    if keyless && sim.inner.keyless {
        let (name, value) = if request.path.starts_with("/v1/messages") {
            ("x-api-key", ANONYMOUS_KEY.to_string())
        } else {
            ("authorization", format!("Bearer {ANONYMOUS_KEY}"))
        };
        if let Ok(v) = HeaderValue::from_str(&value) {
            request.headers.insert(name, v);
        }
    }
    Ok(request)
}

/// The style of `path` and the vendor path it stands for.
fn style_of(path: &str) -> (Style, String) {
    if let Some(rest) = path.strip_prefix("/openai/v1/") {
        return (Style::AzureV1, format!("/v1/{rest}"));
    }
    if let Some(rest) = path.strip_prefix("/v1beta/openai/") {
        return (Style::Gemini, format!("/v1/{rest}"));
    }
    if let Some(rest) = path.strip_prefix("/openai/deployments/") {
        if let Some((deployment, tail)) = rest.split_once('/') {
            let deployment = decode(deployment);
            return (Style::AzureClassic { deployment }, format!("/v1/{tail}"));
        }
    }
    // A gateway or proxy's own prefix before the vendor path (`/anthropic/v1/messages`).
    match path.find("/v1/") {
        Some(i) if i > 0 => (Style::Vendor, path[i..].to_string()),
        _ => (Style::Vendor, path.to_string()),
    }
}

/// Classic Azure takes the model from the deployment in the path, not the body.
fn set_model(request: &mut HttpRequest, deployment: &str) {
    let Ok(Value::Object(mut body)) = serde_json::from_slice::<Value>(&request.body) else {
        return;
    };
    body.insert("model".into(), Value::String(deployment.to_string()));
    if let Ok(bytes) = serde_json::to_vec(&body) {
        request.body = bytes.into();
    }
}

fn log(sim: &Simulator, path: &str, query: &BTreeMap<String, String>, request: &HttpRequest) {
    let mut auth = Vec::new();
    let mut headers = BTreeMap::new();
    for (name, value) in &request.headers {
        let name = name.as_str();
        if CREDENTIALS.contains(&name) {
            auth.push(name.to_string());
        } else {
            let shown = if quotaswarm::types::is_secret_header(name) {
                "***"
            } else {
                value.to_str().unwrap_or("(not text)")
            };
            headers.insert(name.to_string(), shown.to_string());
        }
    }
    auth.sort();
    let params = match serde_json::from_slice::<Value>(&request.body) {
        Ok(Value::Object(body)) => body
            .into_iter()
            .filter(|(k, _)| !CONTENT.contains(&k.as_str()))
            .collect(),
        _ => Map::new(),
    };
    let mut seen = lock(&sim.inner.seen_requests);
    if seen.len() == LOG_LEN {
        seen.pop_front();
    }
    seen.push_back(SeenRequest {
        path: path.to_string(),
        query: query.clone(),
        auth,
        headers,
        params,
    });
}

/// The log as JSON, oldest first (`GET /_requests`).
pub(crate) fn log_response(seen: &VecDeque<SeenRequest>) -> HttpResponse {
    json_response(200, &serde_json::to_value(seen).unwrap_or_default())
}

fn parse_query(q: &str) -> BTreeMap<String, String> {
    form_urlencoded::parse(q.as_bytes()).into_owned().collect()
}

/// A path segment with its `%XX` escapes decoded.
fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_address_maps_onto_the_vendor_path() {
        let cases = [
            ("/v1/messages", "/v1/messages", None),
            ("/openai/v1/chat/completions", "/v1/chat/completions", None),
            ("/openai/v1/responses", "/v1/responses", None),
            (
                "/v1beta/openai/chat/completions",
                "/v1/chat/completions",
                None,
            ),
            (
                "/anthropic/v1/messages/count_tokens",
                "/v1/messages/count_tokens",
                None,
            ),
            (
                "/openai/deployments/gpt%204o/chat/completions",
                "/v1/chat/completions",
                Some("gpt 4o"),
            ),
        ];
        for (path, vendor, deployment) in cases {
            let (style, rest) = style_of(path);
            assert_eq!(rest, vendor, "{path}");
            let got = match style {
                Style::AzureClassic { deployment } => Some(deployment),
                _ => None,
            };
            assert_eq!(got.as_deref(), deployment, "{path}");
        }
    }
}
