//! Anthropic prompt-cache breakpoints (`cache_control`).
//!
//! A breakpoint marks the end of a prefix (tools → system → messages, in that order) that
//! the provider may cache; up to 4 per request. A later request that repeats the prefix
//! exactly reads it from the cache: cache reads cost a tenth of the input price and do
//! not count against input tokens per minute. Writes cost 1.25× (5-minute TTL) or 2×
//! (1-hour TTL) the input price. Prefixes shorter than the model's minimum cacheable
//! length are silently not cached.

use serde::{Deserialize, Serialize};

/// How long a cached prefix lives after its last use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum CacheTtl {
    /// Five minutes (the API's default; writes cost 1.25× the input price).
    #[default]
    #[serde(rename = "5m")]
    FiveMinutes,
    /// One hour (writes cost 2× the input price).
    #[serde(rename = "1h")]
    OneHour,
}

/// A cache breakpoint: the wire's `{"type": "ephemeral", "ttl": "5m" | "1h"}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct CacheControl {
    /// The entry's lifetime.
    pub ttl: CacheTtl,
}

impl CacheControl {
    /// A five-minute breakpoint (the default TTL).
    pub fn ephemeral() -> Self {
        CacheControl {
            ttl: CacheTtl::FiveMinutes,
        }
    }

    /// A one-hour breakpoint.
    pub fn one_hour() -> Self {
        CacheControl {
            ttl: CacheTtl::OneHour,
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Wire {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ttl: Option<CacheTtl>,
}

impl Serialize for CacheControl {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // The default TTL is left out, as the official SDKs do.
        Wire {
            kind: "ephemeral".into(),
            ttl: (self.ttl != CacheTtl::FiveMinutes).then_some(self.ttl),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for CacheControl {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let w = Wire::deserialize(d)?;
        if w.kind != "ephemeral" {
            return Err(serde::de::Error::custom(format!(
                "cache_control type must be \"ephemeral\", not {:?}",
                w.kind
            )));
        }
        Ok(CacheControl {
            ttl: w.ttl.unwrap_or_default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_form() {
        let j = serde_json::to_string(&CacheControl::ephemeral()).unwrap();
        assert_eq!(j, r#"{"type":"ephemeral"}"#);
        let j = serde_json::to_string(&CacheControl::one_hour()).unwrap();
        assert_eq!(j, r#"{"type":"ephemeral","ttl":"1h"}"#);
        let c: CacheControl = serde_json::from_str(r#"{"type":"ephemeral","ttl":"1h"}"#).unwrap();
        assert_eq!(c, CacheControl::one_hour());
        assert!(serde_json::from_str::<CacheControl>(r#"{"type":"forever"}"#).is_err());
    }
}
