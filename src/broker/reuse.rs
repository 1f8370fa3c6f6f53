//! The reuse window: an identical request (same canonical key) within `reuse` of a
//! completion is answered from it, without a provider call — in this process, and
//! through Redis across processes when the shared quota store is on.
//!
//! Coalescing merges identical requests *in flight*; agents also repeat the same
//! context-checking request seconds apart, which coalescing cannot see. The window is
//! off by default and set by `[broker] reuse_secs`, `[models.X] reuse_secs` (the
//! request's first rung decides), or per request ([`RequestOptions::reuse`]).
//!
//! It runs in the caller's task (`BrokerHandle::complete`), so the broker actor never
//! waits on Redis: a look-up before sending, a store after the answer. Redis entries
//! carry their wall-clock time, so the window is the asking request's, whoever stored
//! it. The request key (`key.rs`) is SHA-256 over a versioned encoding, the same in every
//! build; its version is part of the Redis key, so two encodings never share entries.
//!
//! [`RequestOptions::reuse`]: crate::types::RequestOptions::reuse

use super::job::Prepared;
use super::key::{RequestKey, KEY_VERSION};
use crate::config::Config;
use crate::quota::{LaneKeys, RedisQuota, OP_TIMEOUT};
use crate::types::Completion;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::time::Instant;

/// Most completions kept in process; past it, expired entries are dropped, then the
/// oldest.
const MAX_ENTRIES: usize = 10_000;

/// The longest window kept in process (what a request may ask for is clamped to it).
const MAX_WINDOW: Duration = Duration::from_secs(3600);

/// The reuse cache of one broker (shared by its handles).
pub(crate) struct ReuseCache {
    local: Mutex<HashMap<RequestKey, (Instant, Completion)>>,
    /// Redis and the lane keys by config model name, with the shared store on.
    shared: Option<(RedisQuota, HashMap<String, LaneKeys>)>,
    pub(crate) hits: AtomicU64,
    pub(crate) tokens_saved: AtomicU64,
    /// Dollars saved, in micro-dollars (an atomic integer).
    usd_saved_micros: AtomicU64,
}

#[derive(Serialize, Deserialize)]
struct Stored {
    /// Unix milliseconds when it was answered.
    at_ms: u64,
    completion: Completion,
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl ReuseCache {
    pub(crate) fn new(shared: Option<(RedisQuota, HashMap<String, LaneKeys>)>) -> Self {
        ReuseCache {
            local: Mutex::new(HashMap::new()),
            shared,
            hits: AtomicU64::new(0),
            tokens_saved: AtomicU64::new(0),
            usd_saved_micros: AtomicU64::new(0),
        }
    }

    pub(crate) fn usd_saved(&self) -> f64 {
        self.usd_saved_micros.load(Ordering::Acquire) as f64 / 1e6
    }

    /// The window for `p`: its own, or its first rung's model's; zero when off.
    pub(crate) fn window(config: &Config, p: &Prepared) -> Duration {
        Self::window_for(
            config,
            &p.request,
            p.rungs.first().map(|r| r.model.as_str()),
        )
    }

    /// The window of `req` whose first rung is model `first`: what [`ReuseCache::window`]
    /// gives for it once prepared.
    pub(crate) fn window_for(
        config: &Config,
        req: &crate::types::CompletionRequest,
        first: Option<&str>,
    ) -> Duration {
        let model = first.and_then(|name| config.model(name));
        req.options
            .reuse
            .or(model.map(|m| m.reuse))
            .unwrap_or(Duration::ZERO)
            .min(MAX_WINDOW)
    }

    /// A completion for `p` answered within `window`, marked reused and counted.
    pub(crate) async fn lookup(
        &self,
        config: &Config,
        p: &Prepared,
        window: Duration,
    ) -> Option<Completion> {
        let now = Instant::now();
        let local = {
            let map = self.local.lock().unwrap_or_else(|e| e.into_inner());
            map.get(&p.key)
                .filter(|(at, _)| now.saturating_duration_since(*at) <= window)
                .map(|(_, c)| c.clone())
        };
        let found = match local {
            Some(c) => Some(c),
            None => self.lookup_shared(p, window).await,
        }?;
        self.count(config, &found);
        let mut c = found;
        c.reused = true;
        Some(c)
    }

    async fn lookup_shared(&self, p: &Prepared, window: Duration) -> Option<Completion> {
        let (redis, lanes) = self.shared.as_ref()?;
        let keys = lanes.get(&p.rungs.first()?.model)?;
        let json = tokio::time::timeout(
            OP_TIMEOUT,
            redis.reuse_get(keys, KEY_VERSION, &p.key.to_string()),
        )
        .await
        .ok()?
        .ok()??;
        let stored: Stored = serde_json::from_str(&json).ok()?;
        let age = unix_ms().saturating_sub(stored.at_ms);
        if u128::from(age) > window.as_millis() {
            return None;
        }
        // Keep it here too, aged as it is.
        let at = Instant::now()
            .checked_sub(Duration::from_millis(age))
            .unwrap_or_else(Instant::now);
        self.insert(p.key, at, stored.completion.clone());
        Some(stored.completion)
    }

    fn count(&self, config: &Config, c: &Completion) {
        self.hits.fetch_add(1, Ordering::AcqRel);
        let tokens = c.usage.total_input().saturating_add(c.usage.output_tokens);
        self.tokens_saved.fetch_add(tokens, Ordering::AcqRel);
        let usd = config.model(&c.model).map_or(0.0, |m| m.cost(&c.usage));
        self.usd_saved_micros
            .fetch_add((usd * 1e6).round() as u64, Ordering::AcqRel);
    }

    fn insert(&self, key: RequestKey, at: Instant, c: Completion) {
        let mut map = self.local.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_ENTRIES {
            let now = Instant::now();
            map.retain(|_, (t, _)| now.saturating_duration_since(*t) <= MAX_WINDOW);
            if map.len() >= MAX_ENTRIES {
                if let Some(oldest) = map.iter().min_by_key(|(_, (t, _))| *t).map(|(k, _)| *k) {
                    map.remove(&oldest);
                }
            }
        }
        map.insert(key, (at, c));
    }

    /// Keeps `c`, the answer to the request of canonical key `key` (whose first rung is
    /// `first_model`), for requests within their window (in process, and
    /// in Redis for `window`, written from a task of its own).
    pub(crate) fn store(
        &self,
        key: RequestKey,
        first_model: &str,
        c: &Completion,
        window: Duration,
    ) {
        self.insert(key, Instant::now(), c.clone());
        let Some((redis, lanes)) = &self.shared else {
            return;
        };
        let Some(keys) = lanes.get(first_model).cloned() else {
            return;
        };
        let Ok(json) = serde_json::to_string(&Stored {
            at_ms: unix_ms(),
            completion: c.clone(),
        }) else {
            return;
        };
        let redis = redis.clone();
        tokio::spawn(async move {
            let _ = tokio::time::timeout(
                OP_TIMEOUT,
                redis.reuse_put(&keys, KEY_VERSION, &key.to_string(), &json, window),
            )
            .await;
        });
    }
}
