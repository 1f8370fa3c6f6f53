//! `[providers.NAME]`: wire, transport, base URL and timeouts.

use super::super::endpoint::Location;
use super::super::problem::{secs, Problem};
use super::super::raw::*;
use super::super::*;

pub(super) fn provider(name: &str, p: RawProvider) -> Result<ProviderConfig, Problem> {
    let path = format!("providers.{name}");
    let Some(kind) = p.kind.as_deref() else {
        return Err(Problem::new(
            format!("{path}.kind"),
            "is required (\"anthropic\", \"openai\" or \"sim\")",
        ));
    };
    let (wire, transport) = match kind {
        "anthropic" => (Wire::Anthropic, Transport::Http),
        "openai" => match p.wire.as_deref() {
            None | Some("openai") => (Wire::OpenAi, Transport::Http),
            Some("responses") => (Wire::Responses, Transport::Http),
            Some(other) => {
                return Err(Problem::new(
                    format!("{path}.wire"),
                    format!(
                        "must be \"openai\" or \"responses\" for kind = \"openai\", not {other:?}"
                    ),
                ))
            }
        },
        "sim" => {
            let w = p.wire.as_deref().unwrap_or("anthropic");
            (wire(&format!("{path}.wire"), w)?, Transport::Embedded)
        }
        other => {
            return Err(Problem::new(
                format!("{path}.kind"),
                format!("must be \"anthropic\", \"openai\" or \"sim\", not {other:?}"),
            ))
        }
    };
    if p.wire.is_some() && kind == "anthropic" {
        return Err(Problem::new(
            format!("{path}.wire"),
            "is only for kind = \"openai\" or \"sim\"",
        ));
    }
    let Location {
        base_url,
        path: request_path,
        mut query,
    } = location(&path, &p, wire)?;
    query.extend(p.query.into_iter().filter(|(k, _)| !k.is_empty()));
    let auth = match p.auth.as_deref() {
        Some(a) => Auth::parse(&format!("{path}.auth"), a)?,
        None => Auth::for_wire(wire),
    };
    let headers = super::super::endpoint::headers(&format!("{path}.headers"), p.headers, auth)?;
    let max_tokens_field = p
        .max_tokens_field
        .as_deref()
        .map(|f| {
            let at = format!("{path}.max_tokens_field");
            if wire != Wire::OpenAi {
                return Err(Problem::new(
                    at,
                    "is only for the Chat Completions wire (kind = \"openai\" without wire = \"responses\", whose cap is always max_output_tokens)",
                ));
            }
            MaxTokensField::parse(&at, f)
        })
        .transpose()?;
    let timeout = nonzero_secs(&path, "timeout_secs", p.timeout_secs, 600)?;
    let stream_idle_timeout = nonzero_secs(
        &path,
        "stream_idle_timeout_secs",
        p.stream_idle_timeout_secs,
        60,
    )?;
    Ok(ProviderConfig {
        name: name.to_string(),
        wire,
        transport,
        base_url,
        api_key_env: p.api_key_env,
        api_key: None,
        timeout,
        stream_idle_timeout,
        path: request_path,
        auth,
        query,
        headers,
        max_tokens_field,
    })
}

/// The base URL, the request path (`None`: the wire's) and the query of `url`, from
/// either `url` or `base_url` + `path`.
fn location(at: &str, p: &RawProvider, wire: Wire) -> Result<Location, Problem> {
    if let Some(url) = &p.url {
        for (field, set) in [
            ("base_url", p.base_url.is_some()),
            ("path", p.path.is_some()),
        ] {
            if set {
                return Err(Problem::new(
                    format!("{at}.{field}"),
                    "cannot be set with url (the url holds the whole address): keep one",
                ));
            }
        }
        return super::super::endpoint::split_url(&format!("{at}.url"), url);
    }
    let default_url = match wire {
        Wire::Anthropic => "https://api.anthropic.com",
        _ => "https://api.openai.com",
    };
    let base_url = p
        .base_url
        .clone()
        .unwrap_or_else(|| default_url.to_string());
    if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
        return Err(Problem::new(
            format!("{at}.base_url"),
            "must start with http:// or https://",
        ));
    }
    let path = p
        .path
        .as_deref()
        .map(|s| super::super::endpoint::request_path(&format!("{at}.path"), s))
        .transpose()?;
    let base_url = base_url.trim_end_matches('/');
    // With the wire's path, accept both `https://host` and `https://host/v1`: paths are
    // appended as `/v1/...`. A path of one's own is appended to the base URL as written.
    let base_url = match path {
        Some(_) => base_url,
        None => base_url.trim_end_matches("/v1"),
    };
    Ok(Location {
        base_url: base_url.to_string(),
        path,
        query: Vec::new(),
    })
}

fn wire(path: &str, s: &str) -> Result<Wire, Problem> {
    match s {
        "anthropic" => Ok(Wire::Anthropic),
        "openai" => Ok(Wire::OpenAi),
        "responses" => Ok(Wire::Responses),
        other => Err(Problem::new(
            path,
            format!("must be \"anthropic\", \"openai\" or \"responses\", not {other:?}"),
        )),
    }
}

/// `{path}.{field}` in seconds, `default` when unset; zero is refused (a timeout of
/// nothing would fail every request).
fn nonzero_secs(
    path: &str,
    field: &str,
    value: Option<f64>,
    default: u64,
) -> Result<Duration, Problem> {
    let at = format!("{path}.{field}");
    let d = secs(&at, value, Duration::from_secs(default))?;
    if d.is_zero() {
        return Err(Problem::new(at, "must be > 0"));
    }
    Ok(d)
}
