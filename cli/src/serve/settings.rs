//! The gateway's own settings: the `[gateway]` table of the config file (clients and
//! their keys' hashes, limits, body size, drain deadline). The rest of the file is an
//! ordinary quotaswarm config (providers, models, ladders, broker, quota store).

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// `[gateway]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The largest request body accepted, in bytes (413 above it).
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    /// Requests admitted at once (waiting in the broker or in flight); more are shed
    /// with 529 / 503.
    #[serde(default = "default_max_queue")]
    pub max_queue: usize,
    /// How long SIGTERM waits for in-flight requests before exiting anyway.
    #[serde(default = "default_drain")]
    pub drain_secs: u64,
    /// Print one JSON line per request on stderr.
    #[serde(default)]
    pub access_log: bool,
    /// Clients by name. None: any key is accepted (loopback only).
    #[serde(default)]
    pub clients: BTreeMap<String, ClientSettings>,
}

/// `[gateway.clients.NAME]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientSettings {
    /// The SHA-256 of the client's key, in hex (`printf %s KEY | sha256sum`).
    pub key_sha256: String,
    /// Requests per minute.
    pub rpm: Option<f64>,
    /// Tokens (input estimate + output) per minute.
    pub tpm: Option<f64>,
    /// USD this client may spend over the gateway's life.
    pub budget_usd: Option<f64>,
}

fn default_max_body() -> usize {
    32 * 1024 * 1024
}
fn default_max_queue() -> usize {
    4096
}
fn default_drain() -> u64 {
    30
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            max_body_bytes: default_max_body(),
            max_queue: default_max_queue(),
            drain_secs: default_drain(),
            access_log: false,
            clients: BTreeMap::new(),
        }
    }
}

/// Why the config file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
    #[error(transparent)]
    Config(#[from] quotaswarm::config::ConfigError),
}

/// Reads `path`: the `[gateway]` table, and the rest as a quotaswarm config over the
/// built-in defaults.
pub fn load(path: &Path) -> Result<(quotaswarm::Config, Settings), SettingsError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| SettingsError::Read {
        path: shown.clone(),
        source,
    })?;
    let parse = |message: String| SettingsError::Parse {
        path: shown.clone(),
        message,
    };
    let mut table: toml::Table = toml::from_str(&text).map_err(|e| parse(e.to_string()))?;
    let settings = match table.remove("gateway") {
        Some(v) => v
            .try_into()
            .map_err(|e: toml::de::Error| parse(e.to_string()))?,
        None => Settings::default(),
    };
    for (name, c) in &settings.clients {
        let hex = c.key_sha256.trim();
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(parse(format!(
                "gateway.clients.{name}.key_sha256 must be 64 hex digits (the SHA-256 of the key, never the key)"
            )));
        }
    }
    // Without the gateway table the rest is an ordinary config (its own errors name the
    // file; their line numbers count from the re-written text when a [gateway] table
    // came first).
    let rest = if settings.clients.is_empty() && !text.contains("[gateway") {
        text
    } else {
        toml::to_string(&table).map_err(|e| parse(e.to_string()))?
    };
    let config = quotaswarm::Config::from_toml_str_over_defaults(&rest, &shown)?;
    Ok((config, settings))
}
