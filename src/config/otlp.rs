//! `[otlp]`: where the per-completion spans go over OpenTelemetry's OTLP/HTTP (protobuf),
//! to Jaeger, Tempo, Langfuse or any collector. The table's presence turns the export on
//! (in a build with the `otlp` feature; `monitor::otlp` does the exporting). Its raw
//! table lives here too, so the section stays in one file.

use super::problem::{duration, positive, share, Problem};
use crate::secret::ApiKey;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// `[otlp]` as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOtlp {
    pub endpoint: Option<String>,
    pub service_name: Option<String>,
    pub sample_ratio: Option<f64>,
    pub timeout_secs: Option<f64>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub headers_env: BTreeMap<String, String>,
}

/// The default collector address: OTLP/HTTP's standard port on this machine (a local
/// OpenTelemetry Collector, or Jaeger's all-in-one).
pub const DEFAULT_OTLP_ENDPOINT: &str = "http://127.0.0.1:4318";

/// The validated `[otlp]` table: where spans are exported and how.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct OtlpConfig {
    /// The collector's base URL (default [`DEFAULT_OTLP_ENDPOINT`]): spans are POSTed to
    /// `{endpoint}/v1/traces`, unless the URL already ends with `/v1/traces`.
    pub endpoint: String,
    /// The `service.name` resource attribute (default `quotaswarm`).
    pub service_name: String,
    /// Share of completions traced, 0 to 1 (default 1: every one).
    pub sample_ratio: f64,
    /// How long one export request may take (default 10 s).
    pub timeout: Duration,
    /// Headers sent with every export (authentication, tenant): from `headers`, values
    /// as written, and from `headers_env`, values read from the named environment
    /// variables when the config is loaded. The values are secrets: `Debug` prints `***`.
    pub headers: BTreeMap<String, ApiKey>,
}

impl OtlpConfig {
    /// An export to `endpoint` with every other setting at its default.
    pub fn new(endpoint: impl Into<String>) -> Self {
        OtlpConfig {
            endpoint: endpoint.into(),
            service_name: "quotaswarm".into(),
            sample_ratio: 1.0,
            timeout: Duration::from_secs(10),
            headers: BTreeMap::new(),
        }
    }

    /// The URL spans are POSTed to.
    pub fn traces_url(&self) -> String {
        let base = self.endpoint.trim_end_matches('/');
        if base.ends_with("/v1/traces") {
            base.to_string()
        } else {
            format!("{base}/v1/traces")
        }
    }
}

impl Default for OtlpConfig {
    fn default() -> Self {
        OtlpConfig::new(DEFAULT_OTLP_ENDPOINT)
    }
}

/// A header name as HTTP allows it (a token: letters, digits and `!#$%&'*+-.^_|~`).
fn header_name(path: &str, name: &str) -> Result<(), Problem> {
    let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    if !name.is_empty() && name.chars().all(token) {
        Ok(())
    } else {
        Err(Problem::new(path, "is not a valid HTTP header name"))
    }
}

/// A header value: visible ASCII and spaces, no line breaks. The message never shows the
/// value, which is a secret.
fn header_value(path: &str, value: &str) -> Result<(), Problem> {
    if value
        .chars()
        .all(|c| c == ' ' || c == '\t' || c.is_ascii_graphic())
    {
        Ok(())
    } else {
        Err(Problem::new(
            path,
            "must be printable ASCII on one line (its value is not shown)",
        ))
    }
}

pub(super) fn otlp(raw: Option<RawOtlp>) -> Result<Option<OtlpConfig>, Problem> {
    let Some(o) = raw else {
        return Ok(None);
    };
    let d = OtlpConfig::default();
    let endpoint = match o.endpoint {
        Some(u) if u.starts_with("http://") || u.starts_with("https://") => u,
        Some(u) => {
            return Err(Problem::new(
                "otlp.endpoint",
                format!("must start with http:// or https://, not {u:?}"),
            ))
        }
        None => d.endpoint,
    };
    let service_name = match o.service_name {
        Some(s) if s.trim().is_empty() => {
            return Err(Problem::new("otlp.service_name", "must not be empty"))
        }
        Some(s) => s,
        None => d.service_name,
    };
    let timeout = match o.timeout_secs {
        Some(v) => duration("otlp.timeout_secs", positive("otlp.timeout_secs", v)?)?,
        None => d.timeout,
    };
    let mut headers = BTreeMap::new();
    for (name, value) in o.headers {
        let path = format!("otlp.headers.{name}");
        header_name(&path, &name)?;
        header_value(&path, &value)?;
        headers.insert(name, ApiKey::new(value));
    }
    for (name, var) in o.headers_env {
        let path = format!("otlp.headers_env.{name}");
        header_name(&path, &name)?;
        if headers.contains_key(&name) {
            return Err(Problem::new(path, "is also set in otlp.headers"));
        }
        let Some(value) = ApiKey::from_env(&var) else {
            return Err(Problem::new(
                path,
                format!("names environment variable {var:?}, which is not set"),
            ));
        };
        header_value(&path, value.expose())?;
        headers.insert(name, value);
    }
    Ok(Some(OtlpConfig {
        endpoint,
        service_name,
        sample_ratio: share("otlp.sample_ratio", o.sample_ratio, d.sample_ratio)?,
        timeout,
        headers,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> RawOtlp {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn absent_is_off_and_empty_takes_the_defaults() {
        assert_eq!(otlp(None).unwrap(), None);
        let c = otlp(Some(raw(""))).unwrap().unwrap();
        assert_eq!(c, OtlpConfig::default());
        assert_eq!(c.traces_url(), "http://127.0.0.1:4318/v1/traces");
    }

    #[test]
    fn the_traces_path_is_added_once() {
        for (endpoint, url) in [
            ("http://h:4318/", "http://h:4318/v1/traces"),
            (
                "https://cloud.langfuse.com/api/public/otel",
                "https://cloud.langfuse.com/api/public/otel/v1/traces",
            ),
            ("http://h:4318/v1/traces", "http://h:4318/v1/traces"),
        ] {
            assert_eq!(OtlpConfig::new(endpoint).traces_url(), url);
        }
    }

    #[test]
    fn bad_values_name_their_path_and_never_show_a_secret() {
        for (text, path) in [
            ("endpoint = \"127.0.0.1:4318\"", "otlp.endpoint"),
            ("sample_ratio = 1.5", "otlp.sample_ratio"),
            ("timeout_secs = 0", "otlp.timeout_secs"),
            ("service_name = \" \"", "otlp.service_name"),
            (
                "headers = { \"bad name\" = \"x\" }",
                "otlp.headers.bad name",
            ),
            (
                "headers = { Authorization = \"Basic s3cr3t\\n\" }",
                "otlp.headers.Authorization",
            ),
            (
                "headers_env = { Authorization = \"QUOTASWARM_TEST_UNSET_VAR\" }",
                "otlp.headers_env.Authorization",
            ),
        ] {
            let p = otlp(Some(raw(text))).unwrap_err();
            assert_eq!(p.path, path, "{text}");
            assert!(!p.problem.contains("s3cr3t"), "{}", p.problem);
        }
    }

    #[test]
    fn header_values_are_kept_secret() {
        let c = otlp(Some(raw("headers = { Authorization = \"Basic s3cr3t\" }")))
            .unwrap()
            .unwrap();
        assert_eq!(c.headers["Authorization"].expose(), "Basic s3cr3t");
        assert!(!format!("{c:?}").contains("s3cr3t"));
    }
}
