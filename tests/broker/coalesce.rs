//! Coalescing over real loopback HTTP: identical in-flight requests from 50 agents become
//! one provider call.

use crate::common;

use common::swarm_over_loopback;
use futures_util::future::join_all;
use quotaswarm::swarm::Swarm;
use quotaswarm::{CompletionRequest, Config};
use quotaswarm_sim::SimServer;

async fn setup() -> (Swarm, SimServer) {
    let mut config = Config::previous_defaults();
    // Tier-1 sonnet allows 50 requests a minute; these tests send 50 at once.
    for m in config.models.values_mut() {
        m.limits = m.limits.scaled(100.0);
    }
    swarm_over_loopback(config, "coalesce-test").await
}

fn question() -> CompletionRequest {
    CompletionRequest::prompt("sonnet", "What is the shared context for today's research?")
        .system("You are a careful researcher.")
        .max_tokens(64)
        .temperature(0.0)
}

async fn stop(swarm: Swarm, server: SimServer) {
    swarm.shutdown().await;
    let _ = server.shutdown().await;
}

/// Sends `requests` at once: every one is answered and sent on its own, one call each,
/// none merged.
async fn each_sent_none_merged(requests: Vec<CompletionRequest>) {
    let (swarm, server) = setup().await;
    let h = swarm.handle();
    let n = requests.len() as u64;
    let replies = join_all(requests.into_iter().map(|q| h.complete(q))).await;
    assert!(replies.iter().all(|r| r.is_ok()));
    assert_eq!(server.sim.stats().total.requests, n);
    assert_eq!(h.stats().await.unwrap().merged, 0);
    stop(swarm, server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coalesces_50_identical_inflight_requests_into_one_call() {
    let (swarm, server) = setup().await;
    let h = swarm.handle();
    // The simulator holds its reply until all 50 have reached the broker, so the merge
    // does not depend on how fast this machine sends them.
    server.sim.hold();
    let calls: Vec<_> = (0..50)
        .map(|_| {
            let h = h.clone();
            tokio::spawn(async move { h.complete(question()).await })
        })
        .collect();
    while h.stats().await.unwrap().merged < 49 {
        tokio::task::yield_now().await;
    }
    server.sim.release();
    let replies: Vec<_> = join_all(calls)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    let first = replies[0].as_ref().unwrap().clone();
    assert!(
        replies.iter().all(|r| r.as_ref().ok() == Some(&first)),
        "all 50 get the same completion"
    );
    let sim = server.sim.stats();
    assert_eq!(sim.total.requests, 1, "the simulator saw one request");
    let stats = h.stats().await.unwrap();
    assert_eq!(stats.merged, 49);
    assert!(stats.merged_tokens_saved > 0 && stats.merged_usd_saved > 0.0);
    println!(
        "merged {} requests, saving {} tokens and ${:.5}",
        stats.merged, stats.merged_tokens_saved, stats.merged_usd_saved
    );
    stop(swarm, server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_coalescing_off_every_request_is_sent() {
    let mut q = question();
    q.options.coalesce = false;
    each_sent_none_merged(vec![q; 50]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_differing_only_in_temperature_are_not_merged() {
    let requests = (0..10).map(|i| question().temperature(i as f32 / 10.0));
    each_sent_none_merged(requests.collect()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiter_that_gives_up_does_not_disturb_the_others() {
    let (swarm, server) = setup().await;
    let h = swarm.handle();
    let quitter = {
        let h = h.clone();
        tokio::spawn(async move { h.complete(question()).await })
    };
    let stayers: Vec<_> = (0..5).map(|_| h.complete(question())).collect();
    tokio::task::yield_now().await;
    quitter.abort();
    let replies = join_all(stayers).await;
    assert!(replies.iter().all(|r| r.is_ok()), "{replies:?}");
    stop(swarm, server).await;
}
