//! `[quota]`: where the quota lives — in this process (the default) or in Redis, shared
//! by every process that uses the same API key and namespace.

use super::problem::Problem;
use super::raw::RawQuota;

/// Where the broker keeps its buckets.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum QuotaStore {
    /// In this process only: today's behaviour, and right for one process per key.
    Memory,
    /// In Redis at this URL (`redis://HOST:PORT/DB`): every process with the same key
    /// and namespace shares one quota.
    Redis {
        /// The server's URL, `redis://HOST:PORT/DB` (or `rediss://` for TLS).
        url: String,
    },
}

/// The validated `[quota]` table.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct QuotaConfig {
    /// Where the buckets live (default [`QuotaStore::Memory`]).
    pub store: QuotaStore,
    /// Prefix of every Redis key (default `"quotaswarm"`); processes share a quota only
    /// within one namespace.
    pub namespace: String,
    /// The fraction of each limit this process uses on its own while Redis is
    /// unreachable. `None` (the default): an even split by the number of processes last
    /// seen sharing the namespace.
    pub local_share: Option<f64>,
    /// The processes this one assumes share the namespace until it has seen them
    /// (`expected_processes`, default 4): a process that cannot reach Redis at start
    /// admits with `1 / expected_processes` of each limit (unless `local_share` is set)
    /// rather than the whole of it.
    pub expected_processes: usize,
}

/// The Redis URL `[quota] redis_url` defaults to.
pub const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379/0";

impl Default for QuotaConfig {
    fn default() -> Self {
        QuotaConfig {
            store: QuotaStore::Memory,
            namespace: "quotaswarm".into(),
            local_share: None,
            expected_processes: 4,
        }
    }
}

impl QuotaConfig {
    /// The config for a Redis store at `url` (what `quotaswarm run --quota-store URL`
    /// sets), keeping the namespace and local share.
    pub fn redis(mut self, url: impl Into<String>) -> Self {
        self.store = QuotaStore::Redis { url: url.into() };
        self
    }
}

/// Checks a Redis URL's scheme (the client checks the rest when it connects).
pub(super) fn redis_url(path: &str, url: &str) -> Result<String, Problem> {
    if url.starts_with("redis://") || url.starts_with("rediss://") || url.starts_with("unix://") {
        Ok(url.to_string())
    } else {
        Err(Problem::new(
            path,
            format!("must start with redis://, rediss:// or unix://, not {url:?}"),
        ))
    }
}

pub(super) fn quota(q: RawQuota) -> Result<QuotaConfig, Problem> {
    let d = QuotaConfig::default();
    let url = q.redis_url.as_deref().unwrap_or(DEFAULT_REDIS_URL);
    let url = redis_url("quota.redis_url", url)?;
    let store = match q.store.as_deref() {
        None | Some("memory") => QuotaStore::Memory,
        Some("redis") => QuotaStore::Redis { url },
        Some(other) => {
            return Err(Problem::new(
                "quota.store",
                format!("must be \"memory\" or \"redis\", not {other:?}"),
            ))
        }
    };
    let namespace = q.namespace.unwrap_or(d.namespace);
    if namespace.is_empty()
        || namespace.contains(['{', '}'])
        || namespace.contains(char::is_whitespace)
    {
        return Err(Problem::new(
            "quota.namespace",
            "must be non-empty, without braces or spaces",
        ));
    }
    let local_share = match q.local_share {
        None => None,
        Some(s) if s.is_finite() && s > 0.0 && s <= 1.0 => Some(s),
        Some(_) => return Err(Problem::new("quota.local_share", "must be in (0, 1]")),
    };
    let expected_processes = q.expected_processes.unwrap_or(d.expected_processes);
    if expected_processes == 0 {
        return Err(Problem::new("quota.expected_processes", "must be >= 1"));
    }
    Ok(QuotaConfig {
        store,
        namespace,
        local_share,
        expected_processes,
    })
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, QuotaStore};

    const BASE: &str = "[providers.p]\nkind = \"sim\"\nwire = \"anthropic\"\n\
        [models.m]\nprovider = \"p\"\nrpm = 60\nitpm = 6000\notpm = 6000\n";

    #[test]
    fn the_quota_table_reads_as_the_issue_pins_it() {
        let text = format!(
            "{BASE}[quota]\nstore = \"redis\"\nredis_url = \"redis://127.0.0.1:6379/0\"\n\
             namespace = \"qs\"\nlocal_share = 0.5\n"
        );
        let c = Config::from_toml_str(&text, "t").expect("valid");
        assert_eq!(
            c.quota.store,
            QuotaStore::Redis {
                url: "redis://127.0.0.1:6379/0".into()
            }
        );
        assert_eq!(c.quota.namespace, "qs");
        assert_eq!(c.quota.local_share, Some(0.5));
    }

    #[test]
    fn the_default_store_is_memory() {
        let c = Config::from_toml_str(BASE, "t").expect("valid");
        assert_eq!(c.quota.store, QuotaStore::Memory);
        assert_eq!(c.quota.local_share, None);
        assert_eq!(c.quota.expected_processes, 4);
    }

    #[test]
    fn expected_processes_and_the_jitter_seed_are_read() {
        let text = format!("{BASE}[quota]\nexpected_processes = 3\n[broker]\njitter_seed = 7\n");
        let c = Config::from_toml_str(&text, "t").expect("valid");
        assert_eq!(c.quota.expected_processes, 3);
        assert_eq!(c.broker.jitter_seed, Some(7));
        let d = Config::from_toml_str(BASE, "t").expect("valid");
        assert_eq!(d.broker.jitter_seed, None);
    }

    #[test]
    fn reuse_secs_comes_from_the_model_then_the_broker_and_is_off_by_default() {
        let c = Config::from_toml_str(BASE, "t").expect("valid");
        assert_eq!(c.models["m"].reuse, std::time::Duration::ZERO);
        let text = format!(
            "{BASE}reuse_secs = 30\n[models.n]\nprovider = \"p\"\nrpm = 1\nitpm = 1\notpm = 1\n\
             [broker]\nreuse_secs = 5\n"
        );
        let c = Config::from_toml_str(&text, "t").expect("valid");
        assert_eq!(c.models["m"].reuse, std::time::Duration::from_secs(30));
        assert_eq!(c.models["n"].reuse, std::time::Duration::from_secs(5));
        assert_eq!(c.broker.reuse, std::time::Duration::from_secs(5));
    }

    #[test]
    fn bad_quota_settings_name_their_path() {
        for (bad, path) in [
            ("store = \"etcd\"", "quota.store"),
            ("local_share = 1.5", "quota.local_share"),
            ("redis_url = \"http://x\"", "quota.redis_url"),
            ("namespace = \"a{b}\"", "quota.namespace"),
            ("expected_processes = 0", "quota.expected_processes"),
        ] {
            let text = format!("{BASE}[quota]\n{bad}\n");
            let err = Config::from_toml_str(&text, "t")
                .expect_err(bad)
                .to_string();
            assert!(err.contains(path), "{err}");
        }
    }
}
