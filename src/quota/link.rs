//! The link between the broker actor and Redis: a task that takes the broker's calls
//! from an unbounded channel (sending never blocks the actor), runs each as its own
//! future on the one multiplexed connection, and reports back with a [`StoreEvent`] —
//! the verdict of every admission (a failure included, so no job is left waiting), and
//! `Down` / `Up` as the store's health changes.
//!
//! Health: any call that fails or outlasts [`OP_TIMEOUT`] marks the store down (once);
//! a reconnect task then pings with backoff (100 ms doubling to 2 s) until Redis
//! answers, and marks it up. A heartbeat every [`HEARTBEAT`] keeps this process in the
//! namespace's process set (the default local share divides by its size) and notices
//! an outage even when no request is flowing.

use super::{Batch, BucketSpec, LaneKeys, RedisQuota, CONNECT_TIMEOUT, OP_TIMEOUT};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

/// How often the process heartbeat runs.
pub(crate) const HEARTBEAT: Duration = Duration::from_secs(2);

/// The first and the longest pause between reconnection attempts.
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(2);

/// What the link knows of one lane.
#[derive(Debug, Clone)]
pub(crate) struct LaneSpec {
    pub(crate) keys: LaneKeys,
    pub(crate) buckets: Vec<BucketSpec>,
    pub(crate) server_lag: Duration,
}

/// A call from the broker. Amounts are per bucket, in the lane's bucket order.
#[derive(Debug)]
pub(crate) enum StoreCall {
    /// Admit `jobs` in order (the lane's ready queue from its head), each with its cost.
    Admit {
        lane: usize,
        jobs: Vec<u64>,
        costs: Vec<Vec<f64>>,
    },
    Settle {
        lane: usize,
        delta: Vec<f64>,
    },
    Observe {
        lane: usize,
        remaining: Vec<Option<f64>>,
        slack: Vec<f64>,
    },
    Penalize {
        lane: usize,
        reserved: Vec<f64>,
    },
    Pause {
        lane: usize,
        for_: Duration,
    },
    Circuit {
        lane: usize,
        for_: Duration,
    },
    /// The lane's limits changed to `buckets` (the server's figures, `remaining` what its
    /// response said is left): the link uses them from now on, and the store keeps them
    /// for the other processes (see `script.lua`, op `limits`).
    Limits {
        lane: usize,
        buckets: Vec<BucketSpec>,
        remaining: Vec<Option<f64>>,
    },
}

/// What the link reports to the broker.
#[derive(Debug)]
pub(crate) enum StoreEvent {
    /// The answer to `Admit` for `jobs`; `None` when the store failed to give one.
    Verdict {
        lane: usize,
        jobs: Vec<u64>,
        batch: Option<Batch>,
    },
    /// The limits the store holds for `lane` (per bucket, `None` where it has none),
    /// read at every heartbeat: another process may have learned them from the server.
    Limits {
        lane: usize,
        limits: Vec<Option<f64>>,
    },
    /// The store stopped answering.
    Down,
    /// The store answers again.
    Up,
}

/// Shared health figures (read by the broker's stats).
#[derive(Debug, Default)]
pub(crate) struct Health {
    pub(crate) up: AtomicBool,
    /// Processes seen in the namespace at the last heartbeat (0: never seen).
    pub(crate) processes: AtomicUsize,
    /// Times the store went down.
    pub(crate) outages: AtomicU64,
    /// Calls that failed in a row; the store counts as down from [`FAILURES_DOWN`].
    failures: AtomicU64,
}

/// Failed calls in a row that mark the store down: one slow answer on a loaded machine
/// is not an outage (each costs at most [`OP_TIMEOUT`]).
const FAILURES_DOWN: u64 = 2;

type Report = Arc<dyn Fn(StoreEvent) -> bool + Send + Sync>;

/// The broker's end of the link.
pub(crate) struct StoreLink {
    tx: mpsc::UnboundedSender<StoreCall>,
    pub(crate) health: Arc<Health>,
}

impl StoreLink {
    /// Starts the link task for `lanes` (indexed as the broker's lanes); `report`
    /// delivers events to the broker and returns false once it is gone.
    pub(crate) fn spawn(
        quota: RedisQuota,
        lanes: Vec<LaneSpec>,
        report: impl Fn(StoreEvent) -> bool + Send + Sync + 'static,
    ) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let health = Arc::new(Health {
            up: AtomicBool::new(true),
            ..Health::default()
        });
        let report: Report = Arc::new(report);
        let ctx = Arc::new(Ctx {
            quota,
            lanes: lanes.into_iter().map(|l| Mutex::new(Arc::new(l))).collect(),
            health: health.clone(),
            report,
            alive: tx.downgrade(),
            process: process_id(),
        });
        tokio::spawn(serve(rx, ctx.clone()));
        tokio::spawn(heartbeat(ctx));
        StoreLink { tx, health }
    }

    /// Sends `call` to the link (never blocks).
    pub(crate) fn call(&self, call: StoreCall) {
        let _ = self.tx.send(call);
    }

    /// Processes last seen sharing the namespace (at least 1).
    pub(crate) fn processes(&self) -> usize {
        self.processes_seen().unwrap_or(1)
    }

    /// Processes last seen sharing the namespace; `None` before the first heartbeat
    /// answered (Redis was down at start).
    pub(crate) fn processes_seen(&self) -> Option<usize> {
        match self.health.processes.load(Ordering::Acquire) {
            0 => None,
            n => Some(n),
        }
    }
}

struct Ctx {
    quota: RedisQuota,
    /// Each lane's spec; its limits change when the broker adopts the server's.
    lanes: Vec<Mutex<Arc<LaneSpec>>>,
    health: Arc<Health>,
    report: Report,
    /// Upgrades while the broker holds its end of the link.
    alive: mpsc::WeakUnboundedSender<StoreCall>,
    /// This process's name in the heartbeat set.
    process: String,
}

impl Ctx {
    /// Lane `lane`'s spec now.
    fn spec(&self, lane: usize) -> Option<Arc<LaneSpec>> {
        let slot = self.lanes.get(lane)?;
        let spec = match slot.lock() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        Some(spec)
    }

    /// Lane `lane`'s spec from now on.
    fn set_spec(&self, lane: usize, spec: Arc<LaneSpec>) {
        if let Some(slot) = self.lanes.get(lane) {
            match slot.lock() {
                Ok(mut g) => *g = spec,
                Err(poisoned) => *poisoned.into_inner() = spec,
            }
        }
    }

    /// A call succeeded.
    fn ok(&self) {
        self.health.failures.store(0, Ordering::Release);
    }

    /// A call failed: after [`FAILURES_DOWN`] in a row, the store is down.
    fn failed(self: &Arc<Self>, why: &str) {
        let n = self.health.failures.fetch_add(1, Ordering::AcqRel) + 1;
        if n >= FAILURES_DOWN {
            self.down(why);
        } else {
            tracing::debug!(error = %why, "quota store call failed");
        }
    }

    /// Marks the store down (once per outage) and starts reconnecting.
    fn down(self: &Arc<Self>, why: &str) {
        if self.health.up.swap(false, Ordering::AcqRel) {
            tracing::warn!(error = %why, "quota store unreachable: using the local share of each limit");
            self.health.outages.fetch_add(1, Ordering::AcqRel);
            (self.report)(StoreEvent::Down);
            tokio::spawn(reconnect(self.clone()));
        }
    }
}

async fn serve(mut rx: mpsc::UnboundedReceiver<StoreCall>, ctx: Arc<Ctx>) {
    // First contact, with a longer timeout: connect, load the script and count the
    // processes before the first admission (calls wait in the channel meanwhile), so a
    // slow start is not mistaken for an outage and the local share is known.
    let first = async {
        ctx.quota.load_script().await?;
        ctx.quota.heartbeat(&ctx.process).await
    };
    match tokio::time::timeout(CONNECT_TIMEOUT, first).await {
        Ok(Ok(n)) => ctx.health.processes.store(n, Ordering::Release),
        Ok(Err(e)) => ctx.down(&e.to_string()),
        Err(_) => ctx.down("first contact timed out"),
    }
    while let Some(call) = rx.recv().await {
        if let StoreCall::Limits {
            lane,
            buckets,
            remaining,
        } = call
        {
            // The store moves its levels by the change of capacity, computed against the
            // old limits: calls go on with those until it has (a call clamping the level
            // to the new capacity first would have it counted twice), then with the new
            // ones. The link takes them whatever the store's health.
            let Some(old) = ctx.spec(lane) else {
                continue;
            };
            let new = Arc::new(LaneSpec {
                buckets,
                ..LaneSpec::clone(&old)
            });
            let ctx = ctx.clone();
            tokio::spawn(async move {
                if ctx.health.up.load(Ordering::Acquire) {
                    relimit(&ctx, &old, &new, &remaining).await;
                }
                ctx.set_spec(lane, new);
            });
            continue;
        }
        let ctx = ctx.clone();
        tokio::spawn(async move { run(call, ctx).await });
    }
}

/// Tells the store lane `old`'s limits are now `new`'s.
async fn relimit(ctx: &Arc<Ctx>, old: &LaneSpec, new: &LaneSpec, remaining: &[Option<f64>]) {
    let call = ctx
        .quota
        .set_limits(&old.keys, &old.buckets, &new.buckets, remaining);
    match tokio::time::timeout(OP_TIMEOUT, call).await {
        Ok(Ok(())) => ctx.ok(),
        Ok(Err(e)) => ctx.failed(&e.to_string()),
        Err(_) => ctx.failed("call timed out"),
    }
}

async fn run(call: StoreCall, ctx: Arc<Ctx>) {
    let q = &ctx.quota;
    let spec = |lane: usize| ctx.spec(lane);
    match call {
        StoreCall::Admit { lane, jobs, costs } => {
            let mut verdict = None;
            if let Some(s) = spec(lane) {
                // One retry: a single slow answer is not an outage.
                for _ in 0..FAILURES_DOWN {
                    let r = tokio::time::timeout(
                        OP_TIMEOUT,
                        q.admit_batch(&s.keys, &s.buckets, &costs, s.server_lag),
                    )
                    .await;
                    match r {
                        Ok(Ok(v)) => {
                            ctx.ok();
                            verdict = Some(v);
                            break;
                        }
                        Ok(Err(e)) => ctx.failed(&e.to_string()),
                        Err(_) => ctx.failed("admission timed out"),
                    }
                    if !ctx.health.up.load(Ordering::Acquire) {
                        break;
                    }
                }
            }
            (ctx.report)(StoreEvent::Verdict {
                lane,
                jobs,
                batch: verdict,
            });
        }
        other => {
            let Some(s) = spec(lane_of(&other)) else {
                return;
            };
            let fut = async {
                match &other {
                    StoreCall::Settle { delta, .. } => {
                        q.settle(&s.keys, &s.buckets, delta).await.map(|_| ())
                    }
                    StoreCall::Observe {
                        remaining, slack, ..
                    } => q
                        .observe(&s.keys, &s.buckets, remaining, slack)
                        .await
                        .map(|_| ()),
                    StoreCall::Penalize { reserved, .. } => {
                        q.penalize(&s.keys, &s.buckets, reserved).await
                    }
                    StoreCall::Pause { for_, .. } => q.pause(&s.keys, *for_).await,
                    StoreCall::Circuit { for_, .. } => q.open_circuit(&s.keys, *for_).await,
                    StoreCall::Admit { .. } | StoreCall::Limits { .. } => Ok(()),
                }
            };
            match tokio::time::timeout(OP_TIMEOUT, fut).await {
                Ok(Ok(())) => ctx.ok(),
                Ok(Err(e)) => ctx.failed(&e.to_string()),
                Err(_) => ctx.failed("call timed out"),
            }
        }
    }
}

fn lane_of(call: &StoreCall) -> usize {
    match call {
        StoreCall::Admit { lane, .. }
        | StoreCall::Settle { lane, .. }
        | StoreCall::Observe { lane, .. }
        | StoreCall::Penalize { lane, .. }
        | StoreCall::Pause { lane, .. }
        | StoreCall::Circuit { lane, .. }
        | StoreCall::Limits { lane, .. } => *lane,
    }
}

/// This process's name in the heartbeat set.
fn process_id() -> String {
    format!("{}-{:016x}", std::process::id(), rand::random::<u64>())
}

async fn heartbeat(ctx: Arc<Ctx>) {
    let id = ctx.process.clone();
    // The first beat is part of the first contact (`serve`).
    tokio::time::sleep(HEARTBEAT).await;
    loop {
        if ctx.alive.upgrade().is_none() {
            return; // the broker is gone
        }
        if ctx.health.up.load(Ordering::Acquire) {
            match tokio::time::timeout(OP_TIMEOUT, ctx.quota.heartbeat(&id)).await {
                Ok(Ok(n)) => {
                    ctx.ok();
                    ctx.health.processes.store(n, Ordering::Release);
                    sync_limits(&ctx).await;
                }
                Ok(Err(e)) => ctx.failed(&e.to_string()),
                Err(_) => ctx.failed("heartbeat timed out"),
            }
        }
        tokio::time::sleep(HEARTBEAT).await;
    }
}

/// Reports the limits the store holds for each lane (learned by any process).
async fn sync_limits(ctx: &Arc<Ctx>) {
    for lane in 0..ctx.lanes.len() {
        let Some(s) = ctx.spec(lane) else { continue };
        let read = ctx.quota.learned_limits(&s.keys, s.buckets.len());
        if let Ok(Ok(limits)) = tokio::time::timeout(OP_TIMEOUT, read).await {
            if limits.iter().any(Option::is_some) {
                (ctx.report)(StoreEvent::Limits { lane, limits });
            }
        }
    }
}

async fn reconnect(ctx: Arc<Ctx>) {
    let mut pause = BACKOFF_MIN;
    loop {
        tokio::time::sleep(pause).await;
        if ctx.alive.upgrade().is_none() {
            return; // the broker is gone
        }
        if let Ok(Ok(())) = tokio::time::timeout(OP_TIMEOUT, ctx.quota.ping()).await {
            ctx.ok();
            ctx.health.up.store(true, Ordering::Release);
            tracing::info!("quota store answers again: shared admission resumes");
            (ctx.report)(StoreEvent::Up);
            return;
        }
        pause = (pause * 2).min(BACKOFF_MAX);
    }
}
