//! `ApiKey`: a secret whose `Debug` and `Display` print `***`.
//!
//! Keys are read from the environment variable a provider's config names, and only the
//! provider code that builds the request header ever calls [`ApiKey::expose`].

use std::fmt;

/// An API key. `Debug` prints `ApiKey(***)` and `Display` prints `***`, so a key can sit
/// in configs, endpoints and errors without leaking into logs.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// Wraps `key` as given (no trimming, no validation).
    pub fn new(key: impl Into<String>) -> Self {
        ApiKey(key.into())
    }

    /// The key itself, for the one place that puts it on the wire.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Reads the key from environment variable `var`, trimmed; `None` when unset,
    /// empty or not valid Unicode.
    pub fn from_env(var: &str) -> Option<Self> {
        std::env::var(var)
            .ok()
            .filter(|k| !k.trim().is_empty())
            .map(|k| ApiKey(k.trim().to_string()))
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(***)")
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_hide_the_key() {
        let k = ApiKey::new("sk-ant-secret-123");
        assert_eq!(format!("{k}"), "***");
        assert!(!format!("{k:?}").contains("secret"));
    }
}
