//! Clients and their keys: who is asking (the SHA-256 of the key they present, compared
//! with the config's), and whether they are within their own requests and tokens per
//! minute and their budget. The provider keys never leave the gateway.

use super::errors::GatewayError;
use super::settings::ClientSettings;
use axum::http::HeaderMap;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The name a request is labelled with when no clients are configured.
pub const ANONYMOUS: &str = "anonymous";

/// A per-minute allowance refilled continuously, that may go negative (actual usage is
/// charged after the fact).
#[derive(Debug)]
struct Allowance {
    per_min: f64,
    level: f64,
    at: Instant,
}

impl Allowance {
    fn new(per_min: f64, now: Instant) -> Self {
        Allowance {
            per_min,
            level: per_min,
            at: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let dt = now.saturating_duration_since(self.at).as_secs_f64();
        self.level = (self.level + dt * self.per_min / 60.0).min(self.per_min);
        self.at = now;
    }

    /// How long until `need` is available (zero: now).
    fn wait_for(&mut self, need: f64, now: Instant) -> Duration {
        self.refill(now);
        let need = need.min(self.per_min);
        if self.level >= need {
            Duration::ZERO
        } else {
            Duration::from_secs_f64((need - self.level) * 60.0 / self.per_min)
        }
    }
}

#[derive(Debug)]
struct Account {
    rpm: Option<Allowance>,
    tpm: Option<Allowance>,
    budget: Option<f64>,
    spent: f64,
}

/// The configured clients, by the hex SHA-256 of their key.
pub struct Clients {
    by_hash: HashMap<String, String>,
    accounts: Mutex<HashMap<String, Account>>,
}

impl Clients {
    pub fn new(settings: &BTreeMap<String, ClientSettings>) -> Self {
        let now = Instant::now();
        let by_hash = settings
            .iter()
            .map(|(name, c)| (c.key_sha256.trim().to_ascii_lowercase(), name.clone()))
            .collect();
        let accounts = settings
            .iter()
            .map(|(name, c)| {
                let account = Account {
                    rpm: c.rpm.map(|r| Allowance::new(r, now)),
                    tpm: c.tpm.map(|t| Allowance::new(t, now)),
                    budget: c.budget_usd,
                    spent: 0.0,
                };
                (name.clone(), account)
            })
            .collect();
        Clients {
            by_hash,
            accounts: Mutex::new(accounts),
        }
    }

    /// Whether any client is configured (otherwise any key is accepted).
    pub fn open(&self) -> bool {
        self.by_hash.is_empty()
    }

    /// The client presenting the key in `headers` (`x-api-key`, or `authorization:
    /// Bearer …`).
    pub fn authenticate(&self, headers: &HeaderMap) -> Result<String, GatewayError> {
        if self.open() {
            return Ok(ANONYMOUS.to_string());
        }
        let key = presented_key(headers).ok_or(GatewayError::Unauthorized)?;
        let hash = hex(&Sha256::digest(key.as_bytes()));
        self.by_hash
            .get(&hash)
            .cloned()
            .ok_or(GatewayError::Unauthorized)
    }

    /// Admits one request of about `tokens` tokens for `client`, or says why not.
    pub fn admit(&self, client: &str, tokens: u64) -> Result<(), GatewayError> {
        let mut accounts = self.accounts.lock().unwrap_or_else(|p| p.into_inner());
        let Some(a) = accounts.get_mut(client) else {
            return Ok(());
        };
        if let Some(budget) = a.budget {
            if a.spent >= budget {
                return Err(GatewayError::BudgetSpent {
                    client: client.to_string(),
                    budget,
                });
            }
        }
        let now = Instant::now();
        for (limit, allowance, need) in [
            ("requests per minute", a.rpm.as_mut(), 1.0),
            ("tokens", a.tpm.as_mut(), tokens as f64),
        ] {
            if let Some(al) = allowance {
                let wait = al.wait_for(need, now);
                if !wait.is_zero() {
                    return Err(GatewayError::ClientRateLimited {
                        client: client.to_string(),
                        limit,
                        retry_after: wait,
                    });
                }
            }
        }
        if let Some(r) = a.rpm.as_mut() {
            r.level -= 1.0;
        }
        if let Some(t) = a.tpm.as_mut() {
            t.level -= tokens as f64;
        }
        Ok(())
    }

    /// Charges what a request really cost: `extra_tokens` beyond its admission estimate
    /// and `usd`.
    pub fn charge(&self, client: &str, extra_tokens: i64, usd: f64) {
        let mut accounts = self.accounts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(a) = accounts.get_mut(client) {
            a.spent += usd;
            if let Some(t) = a.tpm.as_mut() {
                t.level -= extra_tokens as f64;
            }
        }
    }
}

fn presented_key(headers: &HeaderMap) -> Option<String> {
    if let Some(k) = headers.get("x-api-key").and_then(|v| v.to_str().ok()) {
        return Some(k.trim().to_string());
    }
    let auth = headers.get("authorization")?.to_str().ok()?;
    auth.strip_prefix("Bearer ")
        .or_else(|| auth.strip_prefix("bearer "))
        .map(|k| k.trim().to_string())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clients(rpm: Option<f64>, budget: Option<f64>) -> Clients {
        let mut s = BTreeMap::new();
        s.insert(
            "alice".to_string(),
            ClientSettings {
                key_sha256: hex(&Sha256::digest(b"alice-key")),
                rpm,
                tpm: None,
                budget_usd: budget,
            },
        );
        Clients::new(&s)
    }

    fn with_key(h: &str, v: &str) -> HeaderMap {
        let mut m = HeaderMap::new();
        m.insert(
            axum::http::HeaderName::from_bytes(h.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
        m
    }

    #[test]
    fn a_client_is_known_by_the_hash_of_its_key_on_either_header() {
        let c = clients(None, None);
        assert_eq!(
            c.authenticate(&with_key("x-api-key", "alice-key")).unwrap(),
            "alice"
        );
        assert_eq!(
            c.authenticate(&with_key("authorization", "Bearer alice-key"))
                .unwrap(),
            "alice"
        );
        assert!(matches!(
            c.authenticate(&with_key("x-api-key", "mallory")),
            Err(GatewayError::Unauthorized)
        ));
        assert!(matches!(
            c.authenticate(&HeaderMap::new()),
            Err(GatewayError::Unauthorized)
        ));
    }

    #[test]
    fn a_client_over_its_rpm_is_told_when_to_retry() {
        let c = clients(Some(2.0), None);
        c.admit("alice", 10).unwrap();
        c.admit("alice", 10).unwrap();
        match c.admit("alice", 10) {
            Err(GatewayError::ClientRateLimited { retry_after, .. }) => {
                assert!(retry_after > Duration::from_secs(25), "{retry_after:?}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_spent_budget_refuses_further_requests() {
        let c = clients(None, Some(0.01));
        c.admit("alice", 10).unwrap();
        c.charge("alice", 0, 0.02);
        assert!(matches!(
            c.admit("alice", 10),
            Err(GatewayError::BudgetSpent { .. })
        ));
    }
}
