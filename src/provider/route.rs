//! Reaching any endpoint: a provider's path, query, key scheme and headers from the
//! config ([`Routed`], a [`Provider`] around a wire), and each request's own headers and
//! `extra_body` ([`with_request_extras`], applied by [`Endpoint`] to whatever a provider
//! encoded).
//!
//! Layers, later winning: the wire's headers (`anthropic-version`), the provider's
//! `headers`, the model's (merged into the request by the broker), the request's. The
//! key's header, the content type and the body fields the broker owns (`model`,
//! `messages`, `stream`) cannot be replaced by any of them.

use super::*;
use crate::config::{Auth, MaxTokensField, ProviderConfig, RESERVED_BODY_FIELDS, RESERVED_HEADERS};
use crate::types::{is_secret_header, ExtraHeaders};
use reqwest::header::{HeaderName, HeaderValue};

/// Where and how one provider's requests go, beyond its wire's defaults.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Route {
    /// The path replacing the wire's (`{model}`: the wire model), or `None`.
    pub path: Option<String>,
    /// How the key is sent.
    pub auth: Auth,
    /// Query parameters of every request.
    pub query: Vec<(String, String)>,
    /// Headers of every request (under the request's own).
    pub headers: ExtraHeaders,
    /// Chat Completions: the body field of the output cap; `None`: the wire's choice.
    pub max_tokens_field: Option<MaxTokensField>,
}

impl Route {
    /// The route `p` describes.
    pub fn of(p: &ProviderConfig) -> Route {
        Route {
            path: p.path.clone(),
            auth: p.auth,
            query: p.query.clone(),
            headers: p.headers.clone(),
            max_tokens_field: p.max_tokens_field,
        }
    }

    /// The wire's own route: its path, its key scheme, nothing added.
    pub fn for_wire(wire: Wire) -> Route {
        Route {
            path: None,
            auth: Auth::for_wire(wire),
            query: Vec::new(),
            headers: ExtraHeaders::new(),
            max_tokens_field: None,
        }
    }

    /// Whether this route changes nothing the wire does.
    fn is_wire_default(&self, wire: Wire) -> bool {
        *self == Route::for_wire(wire)
    }

    /// Rewrites `http` (encoded with no key) for this route: `path` (plus `suffix`, for
    /// a sub-resource such as `/count_tokens`) and query, the key in its header, the
    /// provider's headers where the request sets none of its own.
    fn apply(
        &self,
        mut http: HttpRequest,
        model: &str,
        suffix: &str,
        key: Option<&ApiKey>,
        req: &CompletionRequest,
    ) -> Encoded {
        if let Some(path) = &self.path {
            let segment = percent_encoding::utf8_percent_encode(model, SEGMENT).to_string();
            http.path = format!("{}{suffix}", path.replace("{model}", &segment));
        }
        if !self.query.is_empty() {
            let query = form_urlencoded::Serializer::new(String::new())
                .extend_pairs(&self.query)
                .finish();
            let sep = if http.path.contains('?') { '&' } else { '?' };
            http.path = format!("{}{sep}{query}", http.path);
        }
        if let (Some(name), Some(key)) = (self.auth.header(), key) {
            let value = match self.auth {
                Auth::Bearer => format!("Bearer {}", key.expose()),
                _ => key.expose().to_string(),
            };
            http.headers.insert(name, sensitive(&value, "the API key")?);
        }
        for (name, value) in self.headers.iter() {
            if req.options.headers.get(name).is_none() {
                insert(&mut http, name, value)?;
            }
        }
        Ok(http)
    }
}

/// A wire format reached through a [`Route`]: it encodes with the wire, then moves the
/// request to the route's path, query, key header and headers. Decoding is the wire's.
pub struct Routed {
    inner: Arc<dyn Provider>,
    route: Route,
}

impl Routed {
    /// `inner` through `route`; `inner` itself when the route changes nothing.
    pub fn wrap(inner: Arc<dyn Provider>, route: Route) -> Arc<dyn Provider> {
        if route.is_wire_default(inner.wire()) {
            return inner;
        }
        Arc::new(Routed { inner, route })
    }
}

impl Provider for Routed {
    fn wire(&self) -> Wire {
        self.inner.wire()
    }

    fn encode_attempt(&self, a: Attempt<'_>) -> Encoded {
        let field = self.route.max_tokens_field.or(a.max_tokens_field);
        let inner = Attempt {
            key: None,
            max_tokens_field: field,
            ..a
        };
        let http = self.inner.encode_attempt(inner)?;
        self.route.apply(http, a.model, "", a.key, a.req)
    }

    fn encode_count_tokens(&self, a: Attempt<'_>) -> Option<Encoded> {
        let http = match self.inner.encode_count_tokens(Attempt { key: None, ..a })? {
            Ok(h) => h,
            Err(e) => return Some(Err(e)),
        };
        Some(
            self.route
                .apply(http, a.model, "/count_tokens", a.key, a.req),
        )
    }

    fn decode(&self, response: HttpResponse, now: SystemTime) -> Decoded {
        self.inner.decode(response, now)
    }

    fn stream_decoder(&self, model: &str) -> Box<dyn StreamDecoder> {
        self.inner.stream_decoder(model)
    }

    fn decode_for(&self, req: &CompletionRequest, res: HttpResponse, now: SystemTime) -> Decoded {
        self.inner.decode_for(req, res, now)
    }

    fn stream_decoder_for(&self, model: &str, req: &CompletionRequest) -> Box<dyn StreamDecoder> {
        self.inner.stream_decoder_for(model, req)
    }
}

/// `http` with `req`'s own headers and, when `body` is true, its `extra_body` merged
/// into the JSON body at the top level. Refused (not sent) when they would replace what
/// the wire owns: the content type, the key's header, `model`, `messages`, `stream`.
pub(crate) fn with_request_extras(
    mut http: HttpRequest,
    req: &CompletionRequest,
    body: bool,
) -> Encoded {
    for (name, value) in req.options.headers.iter() {
        let owned = RESERVED_HEADERS.contains(&name)
            || ["authorization", "x-api-key", "api-key"].contains(&name)
                && http.headers.contains_key(name);
        if owned {
            return Err(refused(format!(
                "header {name} is set by the provider and cannot be replaced by a request"
            )));
        }
        insert(&mut http, name, value)?;
    }
    let Some(extra) = req.options.extra_body.as_ref().filter(|_| body) else {
        return Ok(http);
    };
    if let Some(k) = extra
        .keys()
        .find(|k| RESERVED_BODY_FIELDS.contains(&k.as_str()))
    {
        return Err(refused(format!(
            "extra_body field {k:?} is set by the broker and cannot be replaced"
        )));
    }
    let mut json: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&http.body)
            .map_err(|e| refused(format!("the encoded body is not a JSON object: {e}")))?;
    json.extend(extra.iter().map(|(k, v)| (k.clone(), v.clone())));
    http.body = serde_json::to_vec(&json)
        .map_err(|e| refused(format!("request could not be serialised: {e}")))?
        .into();
    Ok(http)
}

fn refused(message: String) -> ProviderError {
    ProviderError::BadRequest {
        message: format!("not sent: {message}"),
    }
}

/// Sets header `name` to `value` on `http`, marked sensitive when it carries a
/// credential. The value is never quoted in the error.
fn insert(http: &mut HttpRequest, name: &str, value: &str) -> Result<(), ProviderError> {
    let name = HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| refused(format!("{name:?} is not a valid HTTP header name")))?;
    let mut v = HeaderValue::from_str(value).map_err(|_| {
        refused(format!(
            "the value of header {name} has characters not allowed in an HTTP header"
        ))
    })?;
    v.set_sensitive(is_secret_header(name.as_str()));
    http.headers.insert(name, v);
    Ok(())
}

/// `value` as a header value marked sensitive; `what` names it in the error.
fn sensitive(value: &str, what: &str) -> Result<HeaderValue, ProviderError> {
    let mut v = HeaderValue::from_str(value).map_err(|_| {
        refused(format!(
            "{what} contains characters not allowed in an HTTP header"
        ))
    })?;
    v.set_sensitive(true);
    Ok(v)
}

/// What a model name escapes in a path segment: all but the unreserved characters.
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn azure_classic() -> Arc<dyn Provider> {
        let config = Config::from_toml_str_over_defaults(
            r#"
[providers.azure]
kind = "openai"
url = "https://res.openai.azure.com/openai/deployments/{model}/chat/completions"
auth = "api-key"
query = { api-version = "2024-10-21" }
headers = { x-ms-client-request-id = "abc" }
"#,
            "test",
        )
        .expect("valid");
        let p = &config.providers["azure"];
        Routed::wrap(for_wire(p.wire), Route::of(p))
    }

    #[test]
    fn a_route_moves_path_query_key_and_headers() {
        let key = ApiKey::new("sk-azure-secret");
        let req = CompletionRequest::prompt("m", "hi").header("x-ms-client-request-id", "mine");
        let http = azure_classic()
            .encode("my deploy", &req, Some(&key))
            .expect("encodes");
        assert_eq!(
            http.path,
            "/openai/deployments/my%20deploy/chat/completions?api-version=2024-10-21"
        );
        assert_eq!(http.headers["api-key"], "sk-azure-secret");
        assert!(http.headers["api-key"].is_sensitive());
        assert!(!http.headers.contains_key("authorization"));
        // The request's own header is left for the endpoint to set.
        assert!(!http.headers.contains_key("x-ms-client-request-id"));
        assert!(!format!("{http:?}").contains("secret"));
    }

    #[test]
    fn request_extras_merge_and_refuse_what_the_wire_owns() {
        let req = CompletionRequest::prompt("m", "hi")
            .header("anthropic-beta", "b1")
            .extra_body(serde_json::json!({"top_k": 20, "max_tokens": 9}));
        let http = for_wire(Wire::Anthropic)
            .encode("claude-x", &req, None)
            .expect("encodes");
        let http = with_request_extras(http, &req, true).expect("merges");
        let body: serde_json::Value = serde_json::from_slice(&http.body).expect("json");
        assert_eq!(body["top_k"], 20);
        assert_eq!(body["max_tokens"], 9);
        assert_eq!(body["model"], "claude-x");
        assert_eq!(http.headers["anthropic-beta"], "b1");
        for bad in [
            CompletionRequest::prompt("m", "hi").extra_body(serde_json::json!({"model": "x"})),
            CompletionRequest::prompt("m", "hi").header("content-type", "text/plain"),
        ] {
            let http = for_wire(Wire::OpenAi)
                .encode("gpt", &bad, None)
                .expect("encodes");
            assert!(matches!(
                with_request_extras(http, &bad, true),
                Err(ProviderError::BadRequest { .. })
            ));
        }
    }

    #[test]
    fn count_tokens_follows_a_custom_messages_path() {
        let route = Route {
            path: Some("/anthropic/v1/messages".into()),
            auth: Auth::Bearer,
            ..Route::for_wire(Wire::Anthropic)
        };
        let p = Routed::wrap(for_wire(Wire::Anthropic), route);
        let req = CompletionRequest::prompt("m", "hi");
        let key = ApiKey::new("k");
        let http = p
            .encode_count_tokens(Attempt::new("claude-x", &req, Some(&key), false))
            .expect("Anthropic counts")
            .expect("encodes");
        assert_eq!(http.path, "/anthropic/v1/messages/count_tokens");
        assert_eq!(http.headers["authorization"], "Bearer k");
        assert!(!http.headers.contains_key("x-api-key"));
        assert!(
            Routed::wrap(for_wire(Wire::OpenAi), Route::for_wire(Wire::OpenAi))
                .encode_count_tokens(Attempt::new("gpt", &req, None, false))
                .is_none()
        );
    }
}
