//! Reaching any endpoint: how a provider sends its key ([`Auth`]), and the checks shared
//! by `[providers.X]` (`url`, `path`, `query`, `headers`) and `[models.X]` (`headers`,
//! `extra_body`): header names and values, the body fields the broker owns, a `url`
//! split into the base URL, path and query.

use super::problem::Problem;
use super::Wire;
use crate::types::ExtraHeaders;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// How a provider's key travels (`auth` in `[providers.X]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Auth {
    /// `Authorization: Bearer KEY` (OpenAI, Gemini, Azure OpenAI v1, most compatible
    /// servers).
    Bearer,
    /// `x-api-key: KEY` (Anthropic).
    XApiKey,
    /// `api-key: KEY` (Azure OpenAI).
    ApiKey,
    /// No key at all (a local vLLM or Ollama server). Such a provider is real: it is
    /// never sent to the simulator for want of a key.
    None,
}

impl Auth {
    /// The wire's own scheme: `x-api-key` for Anthropic, `bearer` for the others.
    pub fn for_wire(wire: Wire) -> Auth {
        match wire {
            Wire::Anthropic => Auth::XApiKey,
            _ => Auth::Bearer,
        }
    }

    /// The header that carries the key, if any.
    pub fn header(self) -> Option<&'static str> {
        match self {
            Auth::Bearer => Some("authorization"),
            Auth::XApiKey => Some("x-api-key"),
            Auth::ApiKey => Some("api-key"),
            Auth::None => None,
        }
    }

    /// The name used in config files.
    pub fn as_str(self) -> &'static str {
        match self {
            Auth::Bearer => "bearer",
            Auth::XApiKey => "x-api-key",
            Auth::ApiKey => "api-key",
            Auth::None => "none",
        }
    }

    /// `s` as written in a config file at `path`.
    pub(super) fn parse(path: &str, s: &str) -> Result<Auth, Problem> {
        [Auth::Bearer, Auth::XApiKey, Auth::ApiKey, Auth::None]
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| {
                Problem::new(
                    path,
                    format!(
                        "must be \"bearer\", \"x-api-key\", \"api-key\" or \"none\", not {s:?}"
                    ),
                )
            })
    }
}

/// The body field a Chat Completions request carries its output cap in
/// (`max_tokens_field` in `[providers.X]`). OpenAI reads `max_completion_tokens` (and
/// refuses the older `max_tokens` for reasoning models); servers that only know the
/// older field ignore the newer one and generate without a cap: Ollama's
/// OpenAI-compatible endpoint (<https://docs.ollama.com/api/openai-compatibility>,
/// which lists `max_tokens` only), vLLM releases before late 2024, llama.cpp's Python
/// server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum MaxTokensField {
    /// `max_tokens`, the field every OpenAI-compatible server knows.
    MaxTokens,
    /// `max_completion_tokens`, OpenAI's current field.
    MaxCompletionTokens,
}

impl MaxTokensField {
    /// The field's name in the body (and in config files).
    pub fn as_str(self) -> &'static str {
        match self {
            MaxTokensField::MaxTokens => "max_tokens",
            MaxTokensField::MaxCompletionTokens => "max_completion_tokens",
        }
    }

    /// `s` as written in a config file at `path`.
    pub(super) fn parse(path: &str, s: &str) -> Result<MaxTokensField, Problem> {
        [
            MaxTokensField::MaxTokens,
            MaxTokensField::MaxCompletionTokens,
        ]
        .into_iter()
        .find(|f| f.as_str() == s)
        .ok_or_else(|| {
            Problem::new(
                path,
                format!("must be \"max_tokens\" or \"max_completion_tokens\", not {s:?}"),
            )
        })
    }
}

/// Headers the transport or the wire sets, which no config or request may replace.
pub const RESERVED_HEADERS: &[&str] = &[
    "content-type",
    "content-length",
    "host",
    "transfer-encoding",
];

/// Body fields the broker sets, which no `extra_body` may replace.
pub const RESERVED_BODY_FIELDS: &[&str] = &["model", "messages", "stream"];

/// `headers` at `path` (`providers.x.headers`), checked: valid names and values, none the
/// transport sets, none carrying the key when `auth` sends it.
pub(super) fn headers(
    path: &str,
    raw: BTreeMap<String, String>,
    auth: Auth,
) -> Result<ExtraHeaders, Problem> {
    let mut out = ExtraHeaders::new();
    for (name, value) in raw {
        let at = format!("{path}.{name}");
        let lower = name.to_ascii_lowercase();
        if reqwest::header::HeaderName::from_bytes(lower.as_bytes()).is_err() {
            return Err(Problem::new(at, "is not a valid HTTP header name"));
        }
        if reqwest::header::HeaderValue::from_str(&value).is_err() {
            // The value is never echoed: it may be a credential.
            return Err(Problem::new(
                at,
                "has a value that is not valid in an HTTP header (control characters?)",
            ));
        }
        if RESERVED_HEADERS.contains(&lower.as_str()) {
            return Err(Problem::new(at, "is set by the transport"));
        }
        if auth.header() == Some(lower.as_str()) {
            return Err(Problem::new(
                at,
                format!(
                    "is set by auth = {:?} (the key from api_key_env): remove it here",
                    auth.as_str()
                ),
            ));
        }
        out.insert(lower, value);
    }
    Ok(out)
}

/// `extra_body` at `path`, checked: none of the fields the broker sets.
pub(super) fn extra_body(
    path: &str,
    raw: Option<Map<String, Value>>,
) -> Result<Option<Map<String, Value>>, Problem> {
    let Some(map) = raw else { return Ok(None) };
    if let Some(k) = map
        .keys()
        .find(|k| RESERVED_BODY_FIELDS.contains(&k.as_str()))
    {
        return Err(Problem::new(
            format!("{path}.{k}"),
            "is set by the broker and cannot be replaced",
        ));
    }
    Ok((!map.is_empty()).then_some(map))
}

/// A request path at `at`: starts with `/`, no query or fragment (they go in `query`),
/// and no placeholder but `{model}`.
pub(super) fn request_path(at: &str, path: &str) -> Result<String, Problem> {
    if !path.starts_with('/') {
        return Err(Problem::new(at, "must start with /"));
    }
    if path.contains(['?', '#']) {
        return Err(Problem::new(
            at,
            "must not hold a query or fragment: put parameters in `query`",
        ));
    }
    if path.replace("{model}", "").contains(['{', '}']) {
        return Err(Problem::new(
            at,
            "has a placeholder other than {model} (the wire model name)",
        ));
    }
    Ok(path.to_string())
}

/// Where a provider's requests go: its base URL, its own path (`None`: the wire's) and
/// query.
pub(super) struct Location {
    pub base_url: String,
    pub path: Option<String>,
    pub query: Vec<(String, String)>,
}

/// A full `url` at `at`, split into the origin (`https://host:port`), the path and the
/// query's pairs.
pub(super) fn split_url(at: &str, url: &str) -> Result<Location, Problem> {
    let Some(scheme_end) = url
        .strip_prefix("https://")
        .map(|_| 8)
        .or_else(|| url.strip_prefix("http://").map(|_| 7))
    else {
        return Err(Problem::new(at, "must start with http:// or https://"));
    };
    let (without_query, query) = match url.split_once('?') {
        Some((u, q)) => (u, q),
        None => (url, ""),
    };
    let path_start = without_query[scheme_end..]
        .find('/')
        .map_or(without_query.len(), |i| scheme_end + i);
    let origin = &without_query[..path_start];
    if origin.len() == scheme_end {
        return Err(Problem::new(at, "has no host"));
    }
    let path = request_path(at, &without_query[path_start..]).map_err(|_| {
        Problem::new(
            at,
            "needs a path after the host, with no {placeholders} but {model}",
        )
    })?;
    let pairs = form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    Ok(Location {
        base_url: origin.to_string(),
        path: Some(path),
        query: pairs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_splits_into_origin_path_and_query() {
        let Location {
            base_url: origin,
            path,
            query,
        } = split_url(
            "providers.azure.url",
            "https://res.openai.azure.com/openai/deployments/{model}/chat/completions?api-version=2024-10-21",
        )
        .expect("valid");
        assert_eq!(origin, "https://res.openai.azure.com");
        assert_eq!(
            path.as_deref(),
            Some("/openai/deployments/{model}/chat/completions")
        );
        assert_eq!(
            query,
            [("api-version".to_string(), "2024-10-21".to_string())]
        );
        assert!(split_url("u", "https://host").is_err());
        assert!(split_url("u", "ftp://host/x").is_err());
    }

    /// The error `toml` (over the defaults) loads with.
    fn error_of(toml: &str) -> String {
        match super::super::Config::from_toml_str_over_defaults(toml, "t.toml") {
            Ok(_) => panic!("expected an error for:\n{toml}"),
            Err(e) => e.to_string(),
        }
    }

    const AZURE: &str = "[providers.az]\nkind = \"openai\"\n";

    #[test]
    fn endpoint_mistakes_name_their_full_path() {
        let cases = [
            (
                "url = \"https://h/openai/x\"\npath = \"/y\"",
                "providers.az.path cannot be set with url",
            ),
            (
                "url = \"https://h/openai/x\"\nbase_url = \"https://h\"",
                "providers.az.base_url cannot be set with url",
            ),
            ("url = \"https://h\"", "providers.az.url needs a path"),
            ("auth = \"basic\"", "providers.az.auth must be \"bearer\", \"x-api-key\", \"api-key\" or \"none\", not \"basic\""),
            (
                "headers = { Authorization = \"Bearer x\" }",
                "providers.az.headers.Authorization is set by auth = \"bearer\"",
            ),
            (
                "auth = \"api-key\"\nheaders = { api-key = \"k\" }",
                "providers.az.headers.api-key is set by auth = \"api-key\"",
            ),
            (
                "headers = { content-type = \"text/plain\" }",
                "providers.az.headers.content-type is set by the transport",
            ),
            ("headers = { \"bad name\" = \"v\" }", "providers.az.headers.bad name is not a valid HTTP header name"),
            ("path = \"v1/chat\"", "providers.az.path must start with /"),
            ("path = \"/v1/chat?x=1\"", "providers.az.path must not hold a query"),
            ("path = \"/d/{deployment}/chat\"", "providers.az.path has a placeholder other than {model}"),
        ];
        for (lines, want) in cases {
            let e = error_of(&format!("{AZURE}{lines}\n"));
            assert!(e.contains(want), "{e}\n  wanted: {want}");
        }
        let model = "[models.sonnet]\nextra_body = { stream = true }\n";
        let e = error_of(model);
        assert!(
            e.contains("models.sonnet.extra_body.stream is set by the broker"),
            "{e}"
        );
        let model = "[models.sonnet]\nheaders = { x-api-key = \"k\" }\n";
        let e = error_of(model);
        assert!(
            e.contains("models.sonnet.headers.x-api-key is set by auth = \"x-api-key\""),
            "{e}"
        );
    }

    #[test]
    fn secret_header_values_never_show() {
        let toml = "[providers.gw]\nkind = \"openai\"\nauth = \"none\"\n\
                    headers = { x-gateway-token = \"tok-secret-123\", x-team = \"blue\" }\n";
        let c = super::super::Config::from_toml_str_over_defaults(toml, "t.toml").expect("valid");
        let debug = format!("{:?}", c.providers["gw"]);
        assert!(
            !debug.contains("tok-secret-123") && debug.contains("blue"),
            "{debug}"
        );
        let bad =
            "[providers.gw]\nkind = \"openai\"\nheaders = { x-token = \"tok-secret\\u0001\" }\n";
        let e = error_of(bad);
        assert!(
            !e.contains("tok-secret") && e.contains("providers.gw.headers.x-token"),
            "{e}"
        );
    }

    #[test]
    fn a_path_of_ones_own_keeps_the_base_url_whole() {
        let c = super::super::Config::from_toml_str_over_defaults(
            "[providers.g]\nkind = \"openai\"\nbase_url = \"https://h/v1\"\npath = \"/x\"\n",
            "t.toml",
        )
        .expect("valid");
        assert_eq!(c.providers["g"].base_url, "https://h/v1");
        assert_eq!(c.providers["g"].auth, Auth::Bearer);
    }
}
