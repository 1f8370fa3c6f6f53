//! What a request carries beyond the wire format: extra HTTP headers ([`ExtraHeaders`],
//! e.g. `anthropic-beta`) and JSON fields merged into the body (`extra_body`), set per
//! model in the config and per request with [`CompletionRequest::header`] and
//! [`CompletionRequest::extra_body`].
//!
//! Header values that carry credentials ([`is_secret_header`]) never show: `Debug` and
//! `Serialize` print `***` in their place.

use super::CompletionRequest;
use serde::{Deserialize, Serialize, Serializer};
use std::collections::BTreeMap;
use std::fmt;

/// HTTP headers added to a request, by lower-case name. Later layers win: the provider's
/// (`[providers.X] headers`), then the model's (`[models.X] headers`), then the
/// request's own.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(from = "BTreeMap<String, String>")]
pub struct ExtraHeaders(BTreeMap<String, String>);

impl ExtraHeaders {
    /// No headers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets header `name` (case-insensitive; kept lower-case) to `value`.
    pub fn insert(&mut self, name: impl AsRef<str>, value: impl Into<String>) {
        self.0
            .insert(name.as_ref().to_ascii_lowercase(), value.into());
    }

    /// The value of header `name` (case-insensitive).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(&name.to_ascii_lowercase()).map(String::as_str)
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `(name, value)` pairs, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// These headers over `base`: where both name a header, this one's value wins.
    pub fn over(&self, base: &ExtraHeaders) -> ExtraHeaders {
        let mut out = base.clone();
        out.0
            .extend(self.0.iter().map(|(k, v)| (k.clone(), v.clone())));
        out
    }
}

impl From<BTreeMap<String, String>> for ExtraHeaders {
    fn from(map: BTreeMap<String, String>) -> Self {
        let mut h = ExtraHeaders::new();
        for (k, v) in map {
            h.insert(k, v);
        }
        h
    }
}

/// Whether header `name` carries a credential, so its value is hidden from `Debug`,
/// `Serialize` and logs and marked sensitive on the wire: `authorization`, `api-key`,
/// `x-api-key`, cookies, and any name with `key`, `token`, `secret` or `auth` in it.
pub fn is_secret_header(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n == "cookie"
        || ["key", "token", "secret", "auth", "password"]
            .iter()
            .any(|w| n.contains(w))
}

/// The value to show for header `name`: itself, or `***` for a credential.
fn shown<'a>(name: &str, value: &'a str) -> &'a str {
    if is_secret_header(name) {
        "***"
    } else {
        value
    }
}

impl fmt::Debug for ExtraHeaders {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|(k, v)| (k, shown(k, v))))
            .finish()
    }
}

impl Serialize for ExtraHeaders {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(k, v)| (k, shown(k, v))))
    }
}

impl CompletionRequest {
    /// Adds HTTP header `name: value` to this request (e.g. `anthropic-beta`), over the
    /// provider's and the model's headers. The wire's own headers (content type, the key)
    /// cannot be replaced: such a request is refused before it is sent.
    pub fn header(mut self, name: impl AsRef<str>, value: impl Into<String>) -> Self {
        self.options.headers.insert(name, value);
        self
    }

    /// Merges the fields of JSON object `fields` into the request body at the top level,
    /// over what the wire sets and over the model's `extra_body` (e.g. vLLM's
    /// `{"top_k": 20}`). Anything but an object is ignored; `model`, `messages` and
    /// `stream` cannot be set this way (the request is refused before it is sent).
    pub fn extra_body(mut self, fields: serde_json::Value) -> Self {
        if let serde_json::Value::Object(map) = fields {
            let body = self.options.extra_body.get_or_insert_with(Default::default);
            body.extend(map);
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_values_never_show() {
        let mut h = ExtraHeaders::new();
        h.insert("Api-Key", "s3cret-value");
        h.insert("anthropic-beta", "files-api-2025-04-14");
        let debug = format!("{h:?}");
        let json = serde_json::to_string(&h).expect("serializes");
        for shown in [debug, json] {
            assert!(!shown.contains("s3cret"), "{shown}");
            assert!(shown.contains("files-api-2025-04-14"), "{shown}");
        }
        assert_eq!(h.get("API-KEY"), Some("s3cret-value"));
    }

    #[test]
    fn later_layers_win() {
        let mut model = ExtraHeaders::new();
        model.insert("anthropic-beta", "a");
        model.insert("x-team", "t");
        let mut req = ExtraHeaders::new();
        req.insert("Anthropic-Beta", "b");
        let merged = req.over(&model);
        assert_eq!(merged.get("anthropic-beta"), Some("b"));
        assert_eq!(merged.get("x-team"), Some("t"));
    }
}
