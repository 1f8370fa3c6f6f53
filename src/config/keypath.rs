//! The user's file parsed into [`RawConfig`] with the full path of a mistake: serde
//! alone says ``unknown field `itmp` `` — which of the tables had it is left to the
//! line number — so the parse runs through `serde_path_to_error`, and the message names
//! `models.sonnet.itmp`.

use super::raw::RawConfig;

/// What went wrong: the message with its path, and the span the parser gave.
pub(super) struct KeyError {
    pub(super) message: String,
    pub(super) span: Option<std::ops::Range<usize>>,
}

pub(super) fn parse(text: &str) -> Result<RawConfig, KeyError> {
    let plain = |e: toml::de::Error| KeyError {
        message: e.message().trim_end().to_string(),
        span: e.span(),
    };
    let de = toml::Deserializer::parse(text).map_err(plain)?;
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let message = inner.message().trim_end();
        KeyError {
            message: with_path(&path, message),
            span: inner.span(),
        }
    })
}

/// `unknown field `itmp`, expected ...` under `models.sonnet` becomes
/// `models.sonnet.itmp: unknown field `itmp`, expected ...`; other messages get the path
/// of the value they are about.
fn with_path(path: &str, message: &str) -> String {
    let unknown = message
        .strip_prefix("unknown field `")
        .and_then(|rest| rest.split('`').next());
    let full = match (unknown, path) {
        (Some(key), "" | ".") => key.to_string(),
        (Some(key), p) if !p.ends_with(key) => format!("{p}.{key}"),
        (_, "" | ".") => return message.to_string(),
        (_, p) => p.to_string(),
    };
    format!("{full}: {message}")
}
