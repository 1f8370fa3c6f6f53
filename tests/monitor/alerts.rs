//! The broker's alerts end to end, in paused time against the embedded simulator (the
//! real simulator called in-process, so minutes of traffic take no real minutes): a 429
//! storm injected into the simulator raises the 429-spike alert within 10 s, in `Stats`,
//! in the `/metrics` text and at the alert sink (the webhook's seam; the webhook's own
//! HTTP is tested over loopback in the library), and it clears within a minute after
//! the storm; a steady 0.1 % 429 rate raises nothing.

use crate::common;

use common::*;
use quotaswarm::broker::{self, AlertChanges, AlertKind, AlertSink, BrokerHandle, StartOptions};
use quotaswarm::config::{Fault, FaultKind};
use quotaswarm::monitor::render_prometheus;
use quotaswarm::CompletionRequest;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Default)]
struct Recorder(Mutex<Vec<AlertChanges>>);

impl AlertSink for Recorder {
    fn changed(&self, changes: &AlertChanges) {
        self.0.lock().unwrap().push(changes.clone());
    }
}

impl Recorder {
    fn count(&self, kind: AlertKind, raised: bool) -> usize {
        self.0
            .lock()
            .unwrap()
            .iter()
            .flat_map(|c| if raised { &c.raised } else { &c.cleared })
            .filter(|a| a.kind == kind)
            .count()
    }
}

/// Five distinct requests a second (no merging, no reuse) until `stop`.
fn drive(h: BrokerHandle, stop: Arc<AtomicBool>) {
    tokio::spawn(async move {
        let mut i = 0u64;
        while !stop.load(Ordering::Relaxed) {
            let h = h.clone();
            tokio::spawn(async move {
                let req = CompletionRequest::prompt("m", format!("task {i}: say something"))
                    .max_tokens(20);
                let _ = h.complete(req).await;
            });
            i += 1;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
}

fn spike_active(stats: &quotaswarm::Stats) -> bool {
    stats
        .alerts
        .iter()
        .any(|a| a.kind == AlertKind::RateLimitedSpike && a.lane.as_deref() == Some("m"))
}

const METRIC: &str = "quotaswarm_alert_active{kind=\"rate_limited_spike\",lane=\"m\"} 1";

#[tokio::test(start_paused = true)]
async fn a_429_storm_raises_the_spike_alert_which_clears_after_it_and_a_steady_trickle_raises_nothing(
) {
    let config = one_model_config("[sim]\nlatency_ms = 20\nseed = 7\n");
    let sim = quotaswarm_sim::Simulator::new(&config);
    let eps = endpoints_over(
        &config,
        Arc::new(quotaswarm_sim::EmbeddedTransport { sim: sim.clone() }),
    );
    let rec = Arc::new(Recorder::default());
    let b = broker::start(config, eps, StartOptions::default().alert_sink(rec.clone()))
        .await
        .unwrap();
    let steady = vec![Fault::new(FaultKind::Status(429), 0.001)];
    sim.set_faults(steady.clone());
    let stop = Arc::new(AtomicBool::new(false));
    drive(b.handle.clone(), stop.clone());

    // Ten minutes at 0.1 %: no alert at any second.
    for s in 0..600 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let stats = b.handle.stats().await.unwrap();
        assert!(stats.alerts.is_empty(), "at {s}s: {:?}", stats.alerts);
    }
    let calm = b.handle.stats().await.unwrap();
    println!(
        "steady: {} attempts, {} 429s ({:.2}%)",
        calm.lanes[0].requests,
        calm.rate_limited,
        calm.rate_limited_share * 100.0
    );
    assert!(calm.rate_limited > 0, "the trickle produced no 429 at all");
    assert!(rec.0.lock().unwrap().is_empty());

    // The storm: half the attempts refused with 429.
    sim.set_faults(vec![Fault::new(FaultKind::Status(429), 0.5)]);
    let mut raised_after = None;
    for s in 1..=10 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let stats = b.handle.stats().await.unwrap();
        if spike_active(&stats) {
            assert!(render_prometheus(&stats).contains(METRIC));
            raised_after = Some(s);
            break;
        }
    }
    let raised_after = raised_after.expect("no 429-spike alert within 10 s of the storm");
    println!("raised after {raised_after}s");
    for _ in raised_after..30 {
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let during = b.handle.stats().await.unwrap();
    assert!(spike_active(&during), "{:?}", during.alerts);
    assert_eq!(rec.count(AlertKind::RateLimitedSpike, true), 1);

    // The storm ends: cleared within a minute, once, and gone from /metrics.
    sim.set_faults(steady);
    let mut cleared_after = None;
    for s in 1..=60 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let stats = b.handle.stats().await.unwrap();
        if !spike_active(&stats) {
            assert!(!render_prometheus(&stats).contains(METRIC));
            cleared_after = Some(s);
            break;
        }
    }
    let cleared_after = cleared_after.expect("the 429-spike alert outlived the storm by a minute");
    println!("cleared after {cleared_after}s");
    assert_eq!(rec.count(AlertKind::RateLimitedSpike, false), 1);
    assert_eq!(rec.count(AlertKind::RateLimitedSpike, true), 1);
    stop.store(true, Ordering::Relaxed);
    b.stop();
}
