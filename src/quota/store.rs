//! [`RedisQuota`]: the Redis side of the shared quota — one Lua script (`script.lua`)
//! that refills from Redis's own clock and debits every bucket of a lane or none, plus
//! the process heartbeat and the shared reuse cache. Each call is one round trip.

use super::{LaneKeys, QuotaError, Verdict, WaitReason};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Script, Value};
use std::sync::Arc;
use std::time::Duration;

/// The script every lane operation runs (see its header for the protocol).
const SCRIPT: &str = include_str!("script.lua");

/// How long one Redis call may take before the store counts as unreachable. Long
/// enough for a loaded machine's scheduling hiccups (a false alarm costs a stretch of
/// local-share admission), short against a model call.
pub const OP_TIMEOUT: Duration = Duration::from_millis(500);

/// How long the first contact (connecting, loading the script, the first heartbeat) may
/// take before the store counts as unreachable.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// How long a process counts as present after its last heartbeat.
pub const PROCESS_TTL: Duration = Duration::from_secs(15);

/// The answer to [`RedisQuota::admit_batch`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Batch {
    /// How many of the costs, from the first, were admitted (and debited).
    pub admitted: usize,
    /// What stopped the rest: the next cost's [`Verdict::Wait`] or
    /// [`Verdict::NeverFits`]; `None` when all were admitted.
    pub then: Option<Verdict>,
    /// Each bucket's level after.
    pub levels: Vec<f64>,
}

/// One bucket of a lane as the script sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BucketSpec {
    /// The limit per minute (a request over it can never fit).
    pub limit_per_min: f64,
    /// The most the bucket holds (the burst window's share of the limit).
    pub capacity: f64,
}

/// A client of the shared quota in Redis. Cheap to clone (one multiplexed connection,
/// reconnected on failure by the `redis` crate's connection manager).
#[derive(Clone)]
pub struct RedisQuota {
    conn: ConnectionManager,
    script: Arc<Script>,
    namespace: String,
}

impl std::fmt::Debug for RedisQuota {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisQuota")
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

impl RedisQuota {
    /// A client of the Redis at `url` (`redis://HOST:PORT/DB`) for keys under
    /// `namespace`. Connects lazily: an unreachable server is not an error here, but each
    /// call then fails with [`QuotaError::Unreachable`] until it answers.
    pub fn new(url: &str, namespace: &str) -> Result<Self, QuotaError> {
        let client = redis::Client::open(url).map_err(|e| QuotaError::BadUrl {
            url: url.to_string(),
            message: e.to_string(),
        })?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(OP_TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let conn = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(|e| QuotaError::unreachable(&e))?;
        Ok(RedisQuota {
            conn,
            script: Arc::new(Script::new(SCRIPT)),
            namespace: namespace.to_string(),
        })
    }

    /// The namespace every key starts with.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The keys of the lane of (key `fingerprint`, wire `model`).
    pub fn lane(&self, fingerprint: &str, model: &str) -> LaneKeys {
        LaneKeys::new(&self.namespace, fingerprint, model)
    }

    /// Checks every bucket of `lane` and debits `cost` (one amount per bucket, in the
    /// order of `buckets`) from all of them, or from none.
    pub async fn admit(
        &self,
        lane: &LaneKeys,
        buckets: &[BucketSpec],
        cost: &[f64],
    ) -> Result<Verdict, QuotaError> {
        let reply = self.run(lane, "admit", buckets, cost, &[], 0.0).await?;
        parse(&reply)
    }

    /// [`RedisQuota::admit`] giving up `server_lag` of refill on the first debit of a
    /// full bucket, as the broker's own buckets do (the server starts charging later).
    pub async fn admit_with_lag(
        &self,
        lane: &LaneKeys,
        buckets: &[BucketSpec],
        cost: &[f64],
        server_lag: Duration,
    ) -> Result<Verdict, QuotaError> {
        let reply = self
            .run(lane, "admit", buckets, cost, &[], server_lag.as_secs_f64())
            .await?;
        parse(&reply)
    }

    /// Admits `costs` in order, each against every bucket all-or-nothing, until one does
    /// not fit: one round trip for a lane's ready queue head and the jobs behind it.
    pub async fn admit_batch(
        &self,
        lane: &LaneKeys,
        buckets: &[BucketSpec],
        costs: &[Vec<f64>],
        server_lag: Duration,
    ) -> Result<Batch, QuotaError> {
        let mut inv = self.invocation(lane, "batch", buckets.len(), server_lag.as_secs_f64());
        for b in buckets {
            inv.arg(b.limit_per_min).arg(b.capacity).arg(0.0).arg(0.0);
        }
        inv.arg(costs.len());
        for cost in costs {
            for i in 0..buckets.len() {
                inv.arg(cost.get(i).copied().unwrap_or(0.0));
            }
        }
        let mut conn = self.conn.clone();
        let reply = inv
            .invoke_async::<Value>(&mut conn)
            .await
            .map_err(|e| QuotaError::unreachable(&e))?;
        parse_batch(&reply)
    }

    /// Corrects a reservation: `delta` per bucket is reserved − actual (> 0 refunds, at
    /// most up to capacity; < 0 charges). Returns the levels after.
    pub async fn settle(
        &self,
        lane: &LaneKeys,
        buckets: &[BucketSpec],
        delta: &[f64],
    ) -> Result<Vec<f64>, QuotaError> {
        let reply = self.run(lane, "settle", buckets, delta, &[], 0.0).await?;
        levels(&reply)
    }

    /// The levels now (after refill), debiting nothing.
    pub async fn levels(
        &self,
        lane: &LaneKeys,
        buckets: &[BucketSpec],
    ) -> Result<Vec<f64>, QuotaError> {
        let zero = vec![0.0; buckets.len()];
        let reply = self.run(lane, "peek", buckets, &zero, &[], 0.0).await?;
        levels(&reply)
    }

    /// Compares the server's `remaining` (per bucket; `None` where not reported) with
    /// the shared level: a shortfall beyond `slack` is usage by someone outside the
    /// store, learned as a rate every process's refill then leaves room for.
    pub async fn observe(
        &self,
        lane: &LaneKeys,
        buckets: &[BucketSpec],
        remaining: &[Option<f64>],
        slack: &[f64],
    ) -> Result<Vec<f64>, QuotaError> {
        let amounts: Vec<f64> = remaining.iter().map(|r| r.unwrap_or(-1.0)).collect();
        let reply = self
            .run(lane, "observe", buckets, &amounts, slack, 0.0)
            .await?;
        levels(&reply)
    }

    /// A 429 despite admission: counts what the refused request reserved as others'
    /// usage (the shared refill drops, and recovers as responses show room).
    pub async fn penalize(
        &self,
        lane: &LaneKeys,
        buckets: &[BucketSpec],
        reserved: &[f64],
    ) -> Result<(), QuotaError> {
        self.run(lane, "penalize", buckets, reserved, &[], 0.0)
            .await
            .map(|_| ())
    }

    /// The lane's limits change from `old` to `new` (the server's figures; `remaining`
    /// per bucket is what its response said is left, `None` where it said nothing). The
    /// store keeps the new limits for the other processes ([`RedisQuota::learned_limits`])
    /// and, unless it already holds them (another process told it first), moves each
    /// level by the change of capacity, so what was spent stays spent, and no higher
    /// than `remaining`.
    pub async fn set_limits(
        &self,
        lane: &LaneKeys,
        old: &[BucketSpec],
        new: &[BucketSpec],
        remaining: &[Option<f64>],
    ) -> Result<(), QuotaError> {
        let mut inv = self.invocation(lane, "limits", old.len(), 0.0);
        for (i, b) in old.iter().enumerate() {
            let n = new.get(i).copied().unwrap_or(*b);
            inv.arg(b.limit_per_min)
                .arg(b.capacity)
                .arg(n.limit_per_min)
                .arg(n.capacity);
        }
        for i in 0..old.len() {
            inv.arg(remaining.get(i).copied().flatten().unwrap_or(-1.0));
        }
        let mut conn = self.conn.clone();
        inv.invoke_async::<Value>(&mut conn)
            .await
            .map(|_| ())
            .map_err(|e| QuotaError::unreachable(&e))
    }

    /// The limits per minute the store holds for the lane's `n` buckets, as some process
    /// learned them from the server (`None` for a bucket none has).
    pub async fn learned_limits(
        &self,
        lane: &LaneKeys,
        n: usize,
    ) -> Result<Vec<Option<f64>>, QuotaError> {
        let mut cmd = redis::cmd("HMGET");
        cmd.arg(&lane.buckets);
        for i in 1..=n {
            cmd.arg(format!("L{i}"));
        }
        let mut conn = self.conn.clone();
        let raw: Vec<Option<String>> = cmd
            .query_async(&mut conn)
            .await
            .map_err(|e| QuotaError::unreachable(&e))?;
        Ok(raw
            .into_iter()
            .map(|v| {
                v.and_then(|t| t.parse::<f64>().ok())
                    .filter(|f| f.is_finite())
            })
            .collect())
    }

    /// Pauses the lane in every process for `for_` (a 429's retry-after): admissions
    /// answer [`WaitReason::Paused`] until then. Never shortens a longer pause.
    pub async fn pause(&self, lane: &LaneKeys, for_: Duration) -> Result<(), QuotaError> {
        self.mark(lane, "pause", for_).await
    }

    /// Opens the lane's circuit in every process for `for_`: admissions answer
    /// [`WaitReason::CircuitOpen`] until then.
    pub async fn open_circuit(&self, lane: &LaneKeys, for_: Duration) -> Result<(), QuotaError> {
        self.mark(lane, "circuit", for_).await
    }

    async fn mark(&self, lane: &LaneKeys, op: &str, for_: Duration) -> Result<(), QuotaError> {
        let ms = for_.as_millis().max(1) as u64;
        let mut conn = self.conn.clone();
        self.script
            .key(&lane.buckets)
            .key(&lane.pause)
            .key(&lane.circuit)
            .arg(op)
            .arg(ms)
            .invoke_async::<Value>(&mut conn)
            .await
            .map(|_| ())
            .map_err(|e| QuotaError::unreachable(&e))
    }

    /// Records `process` as present and returns how many processes were seen in the
    /// namespace within [`PROCESS_TTL`] (this one included).
    pub async fn heartbeat(&self, process: &str) -> Result<usize, QuotaError> {
        let key = format!("{}:processes", self.namespace);
        let mut conn = self.conn.clone();
        let (secs, micros): (u64, u64) = redis::cmd("TIME")
            .query_async(&mut conn)
            .await
            .map_err(|e| QuotaError::unreachable(&e))?;
        let now = secs as f64 + micros as f64 / 1e6;
        let (_, _, _, n): (i64, i64, i64, usize) = redis::pipe()
            .atomic()
            .zadd(&key, process, now)
            .zrembyscore(&key, "-inf", now - PROCESS_TTL.as_secs_f64())
            .expire(&key, (PROCESS_TTL.as_secs() * 4) as i64)
            .zcard(&key)
            .query_async(&mut conn)
            .await
            .map_err(|e| QuotaError::unreachable(&e))?;
        Ok(n.max(1))
    }

    /// Loads the script into Redis's cache (later calls send only its hash).
    pub async fn load_script(&self) -> Result<(), QuotaError> {
        let mut conn = self.conn.clone();
        self.script
            .prepare_invoke()
            .load_async(&mut conn)
            .await
            .map(|_| ())
            .map_err(|e| QuotaError::unreachable(&e))
    }

    /// Answers `PING`.
    pub async fn ping(&self) -> Result<(), QuotaError> {
        let mut conn = self.conn.clone();
        redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .map(|_| ())
            .map_err(|e| QuotaError::unreachable(&e))
    }

    /// The reused completion stored under request key `key` (hex, of key encoding
    /// `version`) in the lane, if any (JSON text).
    pub async fn reuse_get(
        &self,
        lane: &LaneKeys,
        version: u8,
        key: &str,
    ) -> Result<Option<String>, QuotaError> {
        let mut conn = self.conn.clone();
        redis::cmd("GET")
            .arg(lane.reuse(version, key))
            .query_async(&mut conn)
            .await
            .map_err(|e| QuotaError::unreachable(&e))
    }

    /// Stores `json` under request key `key` (hex, of key encoding `version`) in the
    /// lane for `ttl`.
    pub async fn reuse_put(
        &self,
        lane: &LaneKeys,
        version: u8,
        key: &str,
        json: &str,
        ttl: Duration,
    ) -> Result<(), QuotaError> {
        let mut conn = self.conn.clone();
        redis::cmd("SET")
            .arg(lane.reuse(version, key))
            .arg(json)
            .arg("PX")
            .arg(ttl.as_millis().max(1) as u64)
            .query_async::<Value>(&mut conn)
            .await
            .map(|_| ())
            .map_err(|e| QuotaError::unreachable(&e))
    }

    /// The script's call for `op` on `lane`'s keys with `n` buckets and a server lag of
    /// `lag_secs`; the per-bucket arguments follow.
    fn invocation(
        &self,
        lane: &LaneKeys,
        op: &str,
        n: usize,
        lag_secs: f64,
    ) -> redis::ScriptInvocation<'_> {
        let mut inv = self.script.prepare_invoke();
        inv.key(&lane.buckets)
            .key(&lane.pause)
            .key(&lane.circuit)
            .arg(op)
            .arg(n)
            .arg(lag_secs);
        inv
    }

    async fn run(
        &self,
        lane: &LaneKeys,
        op: &str,
        buckets: &[BucketSpec],
        amounts: &[f64],
        slack: &[f64],
        lag_secs: f64,
    ) -> Result<Value, QuotaError> {
        let mut inv = self.invocation(lane, op, buckets.len(), lag_secs);
        for (i, b) in buckets.iter().enumerate() {
            inv.arg(b.limit_per_min)
                .arg(b.capacity)
                .arg(amounts.get(i).copied().unwrap_or(0.0))
                .arg(slack.get(i).copied().unwrap_or(0.0));
        }
        let mut conn = self.conn.clone();
        inv.invoke_async::<Value>(&mut conn)
            .await
            .map_err(|e| QuotaError::unreachable(&e))
    }
}

fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(*i),
        Value::BulkString(b) => std::str::from_utf8(b).ok()?.parse().ok(),
        _ => None,
    }
}

fn float(v: &Value) -> Option<f64> {
    match v {
        Value::Int(i) => Some(*i as f64),
        Value::BulkString(b) => std::str::from_utf8(b).ok()?.parse().ok(),
        Value::SimpleString(s) => s.parse().ok(),
        _ => None,
    }
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => String::from_utf8(b.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        _ => None,
    }
}

fn bad_reply(v: &Value) -> QuotaError {
    QuotaError::Protocol(format!("unexpected script reply {v:?}"))
}

fn levels(v: &Value) -> Result<Vec<f64>, QuotaError> {
    let Value::Array(items) = v else {
        return Err(bad_reply(v));
    };
    items
        .iter()
        .skip(1)
        .map(|x| float(x).ok_or_else(|| bad_reply(v)))
        .collect()
}

fn parse_batch(v: &Value) -> Result<Batch, QuotaError> {
    let Value::Array(items) = v else {
        return Err(bad_reply(v));
    };
    let num = |i: usize| items.get(i).and_then(int).ok_or_else(|| bad_reply(v));
    let admitted = num(0)?.max(0) as usize;
    let then = match num(1)? {
        0 => None,
        1 => Some(Verdict::Wait {
            wait: Duration::from_micros(num(2)?.max(0) as u64),
            reason: match items.get(3).and_then(text).as_deref() {
                Some("paused") => WaitReason::Paused,
                Some("circuit") => WaitReason::CircuitOpen,
                _ => WaitReason::Buckets,
            },
        }),
        2 => Some(Verdict::NeverFits {
            bucket: (num(2)?.max(1) - 1) as usize,
            max: items.get(3).and_then(float).ok_or_else(|| bad_reply(v))?,
        }),
        _ => return Err(bad_reply(v)),
    };
    let levels = items
        .iter()
        .skip(4)
        .map(|x| float(x).ok_or_else(|| bad_reply(v)))
        .collect::<Result<_, _>>()?;
    Ok(Batch {
        admitted,
        then,
        levels,
    })
}

fn parse(v: &Value) -> Result<Verdict, QuotaError> {
    let Value::Array(items) = v else {
        return Err(bad_reply(v));
    };
    match items.first().and_then(int) {
        Some(0) => Ok(Verdict::Admitted { levels: levels(v)? }),
        Some(1) => {
            let us = items.get(1).and_then(int).ok_or_else(|| bad_reply(v))?;
            let reason = match items.get(2).and_then(text).as_deref() {
                Some("paused") => WaitReason::Paused,
                Some("circuit") => WaitReason::CircuitOpen,
                _ => WaitReason::Buckets,
            };
            Ok(Verdict::Wait {
                wait: Duration::from_micros(us.max(0) as u64),
                reason,
            })
        }
        Some(2) => {
            let bucket = items.get(1).and_then(int).ok_or_else(|| bad_reply(v))?;
            let max = items.get(2).and_then(float).ok_or_else(|| bad_reply(v))?;
            Ok(Verdict::NeverFits {
                bucket: (bucket.max(1) - 1) as usize,
                max,
            })
        }
        _ => Err(bad_reply(v)),
    }
}
