//! Fault soak: hundreds of agents loop requests through one broker for a long stretch of
//! virtual time against the in-process simulator with every fault at once — 529s,
//! 500/503s, mid-stream errors, attempts that time out, attempts that panic, callers that
//! give up half-way and requests with invalid options. It proves that:
//!
//! - every logical call ends exactly once (a completion, a typed error, or the caller
//!   dropping it), a stream's end item is its last, and no call outlives a generous
//!   virtual bound (no hang);
//! - at the end the broker's queues are empty, nothing is in flight, and it still
//!   answers a normal request;
//! - live heap (counted by this binary's global allocator) over the second half of the
//!   run stays within 10 % of its level at the half-way point.
//!
//! All in paused tokio time, seeded, so a run is reproducible. The default is CI-sized
//! (200 agents, 10 virtual minutes, several thousand calls). The long run (200 agents,
//! 65 virtual minutes, over 100,000 completions):
//!
//! ```text
//! QUOTASWARM_SOAK=long cargo test -p quotaswarm --test broker_soak -- --nocapture
//! ```
//!
//! (about 140,000 calls; some 6 minutes of real time in a debug build on two cores).

mod common;

use common::endpoints_over;
use futures_util::future::BoxFuture;
use futures_util::StreamExt;
use quotaswarm::broker::{self, BrokerError, StartOptions, StreamItem};
use quotaswarm::config::{Config, Transport as TransportKind};
use quotaswarm::provider::{
    HttpRequest, HttpResponse, StreamingResponse, Transport, TransportError,
};
use quotaswarm::{BrokerHandle, CompletionRequest};
use quotaswarm_sim::{EmbeddedTransport, Simulator};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicIsize, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

// ---- Live heap, counted ----------------------------------------------------------

/// The system allocator, counting the bytes currently allocated.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call goes straight to `System` with the caller's arguments; the counter
// only observes sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `System.alloc`; the caller upholds its contract.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `System.alloc_zeroed`.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator, i.e. from `System`, with `layout`.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as for `System.realloc`.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_add(
                new_size as isize - layout.size() as isize,
                Ordering::Relaxed,
            );
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn live_bytes() -> i64 {
    LIVE.load(Ordering::Relaxed) as i64
}

fn mib(bytes: i64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

// ---- The run's shape ---------------------------------------------------------------

struct Plan {
    agents: usize,
    run: Duration,
    /// Each agent waits up to this long (uniformly) between calls.
    max_think: Duration,
}

fn plan() -> Plan {
    match std::env::var("QUOTASWARM_SOAK").as_deref() {
        Ok("long") => Plan {
            agents: 200,
            run: Duration::from_secs(65 * 60),
            max_think: Duration::from_secs(10),
        },
        _ => Plan {
            agents: 200,
            run: Duration::from_secs(10 * 60),
            max_think: Duration::from_secs(40),
        },
    }
}

/// How long an attempt that times out hangs before its transport says so (a provider
/// `timeout_secs` of 30).
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);
/// Far beyond any legitimate call (4 attempts of at most 30 s plus backoffs): a call
/// still running after this is counted as hung.
const HUNG: Duration = Duration::from_secs(900);
const PANIC_MESSAGE: &str = "soak: an injected transport panic";

/// One provider, one roomy model `m`, and the simulator's status and mid-stream faults.
/// Streams are about a quarter of the calls, so a 4 % mid-stream fault is about 1 % of
/// all calls.
fn config() -> Config {
    let text = "[providers.anthropic]\nkind = \"sim\"\nwire = \"anthropic\"\n\
        [models.m]\nprovider = \"anthropic\"\nmodel = \"claude-sonnet-4-5\"\n\
        rpm = 20000\nitpm = 20000000\notpm = 10000000\n\
        [broker]\nmax_attempts = 4\nbackoff_base_secs = 0.5\nbackoff_cap_secs = 10\nmax_in_flight = 1000\n\
        [sim]\nseed = 11\nlatency_ms = 150\nper_token_ms = 2\n\
        [[sim.faults]]\nstatus = 529\nrate = 0.05\n\
        [[sim.faults]]\nstatus = 500\nrate = 0.01\n\
        [[sim.faults]]\nstatus = 503\nrate = 0.01\n\
        [[sim.faults]]\nmid_stream = true\nafter_tokens = 3\nrate = 0.04\n";
    let mut c = Config::from_toml_str(text, "soak").expect("soak config");
    for p in c.providers.values_mut() {
        p.transport = TransportKind::Embedded;
    }
    c
}

// ---- Attempts that time out or panic -----------------------------------------------

/// The embedded simulator, except that a seeded 1 % of attempts hang for
/// [`ATTEMPT_TIMEOUT`] and then fail with `TransportError::Timeout`, and a seeded 0.5 %
/// panic.
struct Chaos {
    inner: EmbeddedTransport,
    rng: Mutex<StdRng>,
    timeouts: AtomicU64,
    panics: AtomicU64,
}

enum Draw {
    Pass,
    Timeout,
    Panic,
}

impl Chaos {
    fn draw(&self) -> Draw {
        let x: f64 = self.rng.lock().unwrap_or_else(|p| p.into_inner()).random();
        if x < 0.005 {
            self.panics.fetch_add(1, Ordering::Relaxed);
            Draw::Panic
        } else if x < 0.015 {
            self.timeouts.fetch_add(1, Ordering::Relaxed);
            Draw::Timeout
        } else {
            Draw::Pass
        }
    }
}

impl Draw {
    /// The attempt as drawn: a panic, a timeout after the attempt timeout, or `pass`.
    async fn attempt<T, F>(self, pass: impl FnOnce() -> F) -> Result<T, TransportError>
    where
        F: std::future::Future<Output = Result<T, TransportError>>,
    {
        match self {
            Draw::Panic => panic!("{PANIC_MESSAGE}"),
            Draw::Timeout => {
                tokio::time::sleep(ATTEMPT_TIMEOUT).await;
                Err(TransportError::Timeout)
            }
            Draw::Pass => pass().await,
        }
    }
}

impl Transport for Chaos {
    fn send(&self, request: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        Box::pin(self.draw().attempt(|| self.inner.send(request)))
    }

    fn send_streaming(
        &self,
        request: HttpRequest,
    ) -> BoxFuture<'_, Result<StreamingResponse, TransportError>> {
        Box::pin(self.draw().attempt(|| self.inner.send_streaming(request)))
    }
}

/// Keeps the injected panics out of the output; any other panic prints as usual.
fn quiet_injected_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let injected = info
            .payload()
            .downcast_ref::<String>()
            .is_some_and(|s| s == PANIC_MESSAGE);
        if !injected {
            default(info);
        }
    }));
}

// ---- What each call came to ----------------------------------------------------------

#[derive(Default)]
struct Tally {
    calls: u64,
    completions: u64,
    streamed_completions: u64,
    /// Typed errors by kind (`Provider/Overloaded`, `InvalidRequest`, ...).
    errors: BTreeMap<String, u64>,
    invalid_sent: u64,
    dropped_by_caller: u64,
    hung: u64,
    /// Streams that gave more than one end item, or items after their end.
    double_endings: u64,
}

impl Tally {
    fn ended(&self) -> u64 {
        self.completions + self.errors.values().sum::<u64>() + self.dropped_by_caller
    }

    fn merge(&mut self, o: Tally) {
        self.calls += o.calls;
        self.completions += o.completions;
        self.streamed_completions += o.streamed_completions;
        for (k, v) in o.errors {
            *self.errors.entry(k).or_default() += v;
        }
        self.invalid_sent += o.invalid_sent;
        self.dropped_by_caller += o.dropped_by_caller;
        self.hung += o.hung;
        self.double_endings += o.double_endings;
    }

    fn error(&mut self, e: &BrokerError) {
        *self.errors.entry(kind(e)).or_default() += 1;
    }
}

/// The error's variant name, and the provider error's for `Provider`.
fn kind(e: &BrokerError) -> String {
    fn variant(debug: String) -> String {
        debug.chars().take_while(|c| c.is_alphanumeric()).collect()
    }
    match e {
        BrokerError::Provider { error, .. } => {
            format!("Provider/{}", variant(format!("{error:?}")))
        }
        BrokerError::AllRungsFailed(rungs) => format!(
            "AllRungsFailed/{}",
            rungs.last().map(|r| kind(&r.error)).unwrap_or_default()
        ),
        other => variant(format!("{other:?}")),
    }
}

enum Call {
    Plain,
    Streamed,
    Invalid,
    DroppedPlain(Duration),
    DroppedStream(usize),
}

fn draw_call(rng: &mut StdRng) -> Call {
    let x: f64 = rng.random();
    if x < 0.01 {
        Call::Invalid
    } else if x < 0.02 {
        Call::DroppedPlain(Duration::from_millis(rng.random_range(1..400)))
    } else if x < 0.03 {
        Call::DroppedStream(rng.random_range(1..4))
    } else if x < 0.27 {
        Call::Streamed
    } else {
        Call::Plain
    }
}

async fn one_call(h: &BrokerHandle, t: &mut Tally, rng: &mut StdRng, agent: usize, n: u64) {
    // A bounded set of prompts (so the estimator's cache reaches its steady state), some
    // shared between agents (so coalescing happens).
    let q = rng.random_range(0..40);
    let prompt = if q < 4 {
        format!("Shared question {q}: what does a token bucket do?")
    } else {
        format!("Agent {agent} asks question {q} about queues.")
    };
    let req = CompletionRequest::prompt("m", prompt).max_tokens(rng.random_range(8..64));
    t.calls += 1;
    match draw_call(rng) {
        Call::Plain => match h.complete(req).await {
            Ok(_) => t.completions += 1,
            Err(e) => t.error(&e),
        },
        Call::Invalid => {
            t.invalid_sent += 1;
            let bad = if n.is_multiple_of(2) {
                req.temperature(f32::NAN)
            } else {
                req.max_tokens(0)
            };
            match h.complete(bad).await {
                Ok(_) => t.completions += 1,
                Err(e) => t.error(&e),
            }
        }
        Call::DroppedPlain(after) => match tokio::time::timeout(after, h.complete(req)).await {
            Ok(Ok(_)) => t.completions += 1,
            Ok(Err(e)) => t.error(&e),
            Err(_) => t.dropped_by_caller += 1,
        },
        Call::Streamed => streamed(h, req, t, None).await,
        Call::DroppedStream(k) => streamed(h, req, t, Some(k)).await,
    }
}

/// Reads a stream to its end (or drops it after `drop_after` items) and checks that its
/// end item is its last.
async fn streamed(
    h: &BrokerHandle,
    req: CompletionRequest,
    t: &mut Tally,
    drop_after: Option<usize>,
) {
    let mut stream = match h.stream(req).await {
        Ok(s) => s,
        Err(e) => return t.error(&e),
    };
    let mut items = 0;
    loop {
        if drop_after.is_some_and(|k| items >= k) {
            t.dropped_by_caller += 1;
            return;
        }
        match stream.next().await {
            Some(Ok(StreamItem::Event(_))) => items += 1,
            Some(end) => {
                match end {
                    Ok(_) => {
                        t.completions += 1;
                        t.streamed_completions += 1;
                    }
                    Err(e) => t.error(&e),
                }
                if stream.next().await.is_some() {
                    t.double_endings += 1;
                }
                return;
            }
            None => {
                // Ended without an end item: counted, so the totals expose it.
                t.double_endings += 1;
                return;
            }
        }
    }
}

async fn agent(h: BrokerHandle, agent: usize, until: Instant, max_think: Duration) -> Tally {
    let mut rng = StdRng::seed_from_u64(0x50a4 ^ (agent as u64).wrapping_mul(0x9e37_79b9));
    let mut t = Tally::default();
    let mut n = 0;
    loop {
        let think = max_think.mul_f64(rng.random::<f64>());
        tokio::time::sleep(think).await;
        if Instant::now() >= until {
            return t;
        }
        n += 1;
        // A hung call has counted itself in `calls` but not as ended.
        if tokio::time::timeout(HUNG, one_call(&h, &mut t, &mut rng, agent, n))
            .await
            .is_err()
        {
            t.hung += 1;
        }
    }
}

// ---- The soak ------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn a_swarm_under_every_fault_ends_every_call_once_and_leaves_nothing_behind() {
    quiet_injected_panics();
    let plan = plan();
    let real_start = std::time::Instant::now();
    let config = config();
    let sim = Simulator::new(&config);
    let chaos = Arc::new(Chaos {
        inner: EmbeddedTransport { sim: sim.clone() },
        rng: Mutex::new(StdRng::seed_from_u64(23)),
        timeouts: AtomicU64::new(0),
        panics: AtomicU64::new(0),
    });
    let eps = endpoints_over(&config, chaos.clone());
    let b = broker::start(config, eps, StartOptions::default())
        .await
        .expect("start the broker");
    let h = b.handle.clone();

    let start = Instant::now();
    let until = start + plan.run;

    // Live heap every 15 virtual seconds.
    let samples: Arc<Mutex<Vec<(Duration, i64)>>> = Arc::default();
    let stop_sampling = Arc::new(AtomicBool::new(false));
    let sampler = tokio::spawn({
        let (samples, stop) = (samples.clone(), stop_sampling.clone());
        async move {
            let mut tick = tokio::time::interval(Duration::from_secs(15));
            while !stop.load(Ordering::Relaxed) {
                tick.tick().await;
                samples
                    .lock()
                    .unwrap()
                    .push((start.elapsed(), live_bytes()));
            }
        }
    });

    let agents: Vec<_> = (0..plan.agents)
        .map(|i| tokio::spawn(agent(h.clone(), i, until, plan.max_think)))
        .collect();
    let mut total = Tally::default();
    for a in agents {
        total.merge(a.await.expect("an agent task"));
    }
    let virtual_run = start.elapsed();
    stop_sampling.store(true, Ordering::Relaxed);

    // Attempts of dropped callers may still be running: let them report.
    let mut settled = None;
    for _ in 0..600 {
        let s = h.stats().await.expect("stats");
        if s.queue_depth == 0 && s.in_flight == 0 {
            settled = Some(s);
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let _ = sampler.await;
    let stats = settled.expect("queue_depth and in_flight back to 0");
    let normal = tokio::time::timeout(
        Duration::from_secs(120),
        h.complete(CompletionRequest::prompt("m", "Still there after the soak?").max_tokens(16)),
    )
    .await;
    let real = real_start.elapsed();
    let end_heap = live_bytes();

    // ---- Figures ----
    let samples = samples.lock().unwrap().clone();
    let half = plan.run / 2;
    let half_heap = samples
        .iter()
        .find(|(t, _)| *t >= half)
        .map(|s| s.1)
        .expect("a sample at half-way");
    let last_half: Vec<i64> = samples
        .iter()
        .filter(|(t, _)| *t >= half && *t <= plan.run)
        .map(|s| s.1)
        .collect();
    let (lo, hi) = (
        last_half.iter().copied().min().unwrap_or(half_heap),
        last_half.iter().copied().max().unwrap_or(half_heap),
    );
    let run_end_heap = last_half.last().copied().unwrap_or(half_heap);
    let sim_stats = sim.stats();
    println!(
        "soak: {} agents, {:.1} virtual min, {:.1} s real",
        plan.agents,
        virtual_run.as_secs_f64() / 60.0,
        real.as_secs_f64()
    );
    println!(
        "soak: {} calls: {} completions ({} streamed), {} errors, {} dropped by their caller, {} hung",
        total.calls,
        total.completions,
        total.streamed_completions,
        total.errors.values().sum::<u64>(),
        total.dropped_by_caller,
        total.hung
    );
    println!("soak: errors by kind: {:?}", total.errors);
    println!(
        "soak: injected: {} attempt timeouts, {} attempt panics, {} invalid requests; simulator: {} requests, {} 529, {} 500, {} 503, {} streams, {} mid-stream errors, {} cancelled streams",
        chaos.timeouts.load(Ordering::Relaxed),
        chaos.panics.load(Ordering::Relaxed),
        total.invalid_sent,
        sim_stats.total.requests,
        sim_stats.total.status(529),
        sim_stats.total.status(500),
        sim_stats.total.status(503),
        sim_stats.total.streams,
        sim_stats.total.stream_errors,
        sim_stats.total.cancelled_streams,
    );
    println!(
        "soak: broker: {} retries, {} merged, queue_depth {}, in_flight {}",
        stats.retries, stats.merged, stats.queue_depth, stats.in_flight
    );
    println!(
        "soak: live heap: {:.2} MiB at half-way, {:.2}..{:.2} MiB over the second half ({:+.1} %..{:+.1} %), {:.2} MiB at the run's end, {:.2} MiB after settling",
        mib(half_heap),
        mib(lo),
        mib(hi),
        (lo as f64 / half_heap as f64 - 1.0) * 100.0,
        (hi as f64 / half_heap as f64 - 1.0) * 100.0,
        mib(run_end_heap),
        mib(end_heap),
    );

    // ---- Assertions ----
    assert_eq!(total.hung, 0, "no call may outlive {HUNG:?}");
    assert_eq!(total.ended(), total.calls, "every call ended exactly once");
    assert_eq!(total.double_endings, 0, "a stream's end item is its last");
    assert_eq!(
        total.errors.get("InvalidRequest").copied().unwrap_or(0),
        total.invalid_sent,
        "every invalid request, and only those, refused as invalid"
    );
    assert!(
        !total.errors.contains_key("BrokerStopped"),
        "{:?}",
        total.errors
    );
    assert!(
        total.completions > total.calls * 8 / 10,
        "most calls complete"
    );
    assert!(chaos.panics.load(Ordering::Relaxed) > 0 && chaos.timeouts.load(Ordering::Relaxed) > 0);
    assert!(sim_stats.total.stream_errors > 0 && total.dropped_by_caller > 0);
    assert_eq!((stats.queue_depth, stats.in_flight), (0, 0));
    assert!(
        matches!(normal, Ok(Ok(_))),
        "the broker still answers: {normal:?}"
    );
    assert!(
        lo as f64 >= half_heap as f64 * 0.9 && hi as f64 <= half_heap as f64 * 1.1,
        "live heap over the second half within 10 % of half-way"
    );
    if std::env::var("QUOTASWARM_SOAK").as_deref() == Ok("long") {
        assert!(total.completions >= 100_000, "{}", total.completions);
        assert!(virtual_run >= Duration::from_secs(3600));
    }
    b.stop();
}
