//! The shared quota's Lua script against a real Redis (127.0.0.1:6379, or the URL in
//! `QUOTASWARM_TEST_REDIS`), each test under a namespace of its own.
//!
//! Redis keeps real time, so buckets refill and pauses run down between two calls. Where
//! a figure depends on that, the test measures the time the calls took and allows
//! exactly what it could have changed, instead of a fixed slack a loaded machine could
//! exceed.

use crate::common;

use common::{namespace, redis_url};
use quotaswarm::quota::{BucketSpec, LaneKeys, RedisQuota, Verdict, WaitReason};
use std::time::{Duration, Instant};

fn quota(test: &str) -> RedisQuota {
    RedisQuota::new(&redis_url(), &namespace(test)).expect("redis url")
}

/// Requests, input and output buckets: 600/min each, one minute of capacity.
/// A quota of its own for `test`, and its lane `m` for key fingerprint `fp`.
fn quota_lane(test: &str) -> (RedisQuota, LaneKeys) {
    let q = quota(test);
    let lane = q.lane("fp", "m");
    (q, lane)
}

/// Asks `q` to admit `amounts` on `lane`; Redis must answer.
async fn admit(q: &RedisQuota, lane: &LaneKeys, b: &[BucketSpec], amounts: &[f64]) -> Verdict {
    q.admit(lane, b, amounts).await.expect("redis")
}

/// Two clients of one namespace of its own for `test`, and their lane `m`.
fn two_clients(test: &str) -> (RedisQuota, RedisQuota, LaneKeys) {
    let (a, lane) = quota_lane(test);
    let c = RedisQuota::new(&redis_url(), a.namespace()).expect("url");
    (a, c, lane)
}

/// A fresh lane for `test` with [`three`] buckets of `limit`, and the time just before
/// its first call: the admission of `amounts`, which must be admitted.
async fn lane_after(
    test: &str,
    limit: f64,
    amounts: &[f64],
) -> (RedisQuota, LaneKeys, Vec<BucketSpec>, Instant) {
    let (q, lane) = quota_lane(test);
    let b = three(limit);
    let t0 = Instant::now();
    admitted(&admit(&q, &lane, &b, amounts).await);
    (q, lane, b, t0)
}

fn spec(limit_per_min: f64, capacity: f64) -> BucketSpec {
    BucketSpec {
        limit_per_min,
        capacity,
    }
}

fn three(limit: f64) -> Vec<BucketSpec> {
    vec![spec(limit, limit); 3]
}

/// The wait of a `Wait` verdict for `reason`.
fn wait_for(v: Verdict, reason: WaitReason) -> Duration {
    match v {
        Verdict::Wait { wait, reason: r } if r == reason => wait,
        other => panic!("expected a wait for {reason:?}, got {other:?}"),
    }
}

fn admitted(v: &Verdict) -> &[f64] {
    match v {
        Verdict::Admitted { levels } => levels,
        other => panic!("expected admitted, got {other:?}"),
    }
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol
}

/// Seconds since `t` (an upper bound on the Redis time that passed between calls made
/// after `t`).
fn since(t: Instant) -> f64 {
    t.elapsed().as_secs_f64()
}

#[tokio::test]
async fn a_fresh_lane_is_full_and_an_admission_debits_every_bucket() {
    let (q, lane) = quota_lane("fresh");
    let b = three(600.0);
    let v = admit(&q, &lane, &b, &[1.0, 100.0, 50.0]).await;
    let l = admitted(&v);
    assert!(
        close(l[0], 599.0, 0.01) && close(l[1], 500.0, 0.01) && close(l[2], 550.0, 0.01),
        "{l:?}"
    );
}

#[tokio::test]
async fn buckets_refill_continuously_from_redis_time() {
    // 6000/min = 100/s.
    let (q, lane, b, t0) = lane_after("refill", 6000.0, &[0.0, 6000.0, 0.0]).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let levels = q.levels(&lane, &b).await.expect("redis");
    // ~50 refilled in 0.5 s: at least that (the sleep is at least that long), at most
    // what the time the calls took refills.
    let most = 100.0 * since(t0) + 1.0;
    assert!(
        levels[1] >= 49.0 && levels[1] <= most,
        "{levels:?} (at most {most})"
    );
}

#[tokio::test]
async fn a_denial_says_exactly_how_long_until_it_fits() {
    // 600/min = 10/s.
    let (q, lane, b, t0) = lane_after("notbefore", 600.0, &[1.0, 500.0, 0.0]).await;
    // 100 left; 300 needs 200 more at 10/s: 20 s, less what refilled between the calls.
    let v = admit(&q, &lane, &b, &[1.0, 300.0, 0.0]).await;
    let wait = wait_for(v, WaitReason::Buckets);
    let want = Duration::from_secs(20);
    let between = Duration::from_secs_f64(since(t0)) + Duration::from_millis(1);
    assert!(
        wait <= want && want - wait < between,
        "{wait:?} (calls took {between:?})"
    );
}

#[tokio::test]
async fn checks_all_three_buckets_before_debiting_any() {
    let (q, lane) = quota_lane("allornone");
    let b = vec![spec(60.0, 60.0), spec(6000.0, 6000.0), spec(100.0, 100.0)];
    admitted(&admit(&q, &lane, &b, &[1.0, 10.0, 95.0]).await);
    let t0 = Instant::now();
    let before = q.levels(&lane, &b).await.expect("redis");
    // Requests and input fit; output (about 5 left) does not: nothing is debited.
    wait_for(
        admit(&q, &lane, &b, &[1.0, 1000.0, 50.0]).await,
        WaitReason::Buckets,
    );
    let after = q.levels(&lane, &b).await.expect("redis");
    // Nothing debited: each bucket only refilled, by at most its rate times the time
    // the three calls took (1/s, 100/s, 100/60 per second).
    let took = since(t0);
    for (i, per_sec) in [1.0, 100.0, 100.0 / 60.0].into_iter().enumerate() {
        assert!(
            after[i] >= before[i] - 0.01 && after[i] <= before[i] + per_sec * took + 0.05,
            "bucket {i}: {before:?} {after:?} in {took} s"
        );
    }
    assert!(after[2] < 10.0, "{after:?}");
}

#[tokio::test]
async fn what_can_never_fit_is_refused_with_the_bucket_and_its_limit() {
    let (q, lane) = quota_lane("neverfits");
    let b = three(600.0);
    let v = admit(&q, &lane, &b, &[1.0, 10.0, 601.0]).await;
    assert_eq!(
        v,
        Verdict::NeverFits {
            bucket: 2,
            max: 600.0
        }
    );
    let levels = q.levels(&lane, &b).await.expect("redis");
    assert!(levels.iter().all(|l| close(*l, 600.0, 0.01)), "{levels:?}");
}

#[tokio::test]
async fn settle_refunds_overestimates_up_to_capacity_and_charges_underestimates() {
    let (q, lane, b, t0) = lane_after("settle", 60_000.0, &[1.0, 400.0, 500.0]).await;
    // Used 450 input (50 more than reserved) and 100 output (400 less).
    let l = q
        .settle(&lane, &b, &[0.0, -50.0, 400.0])
        .await
        .expect("redis");
    // Plus what refilled (1000/s) while the two calls took.
    let refill = 1000.0 * since(t0) + 0.5;
    assert!(l[1] >= 59_549.5 && l[1] <= 59_550.0 + refill, "{l:?}");
    assert!(l[2] >= 59_899.5 && l[2] <= 59_900.0 + refill, "{l:?}");
    // A refund never lifts a bucket over its capacity.
    let l = q
        .settle(&lane, &b, &[0.0, 0.0, 10_000.0])
        .await
        .expect("redis");
    assert!(close(l[2], 60_000.0, 0.01), "{l:?}");
}

#[tokio::test]
async fn two_clients_racing_for_the_last_capacity_get_it_once() {
    let (a, c, lane) = two_clients("race");
    // 6/min, capacity 10: ten admissions of one, and no eleventh unless the forty calls
    // take 10 s.
    let b = vec![spec(6.0, 10.0)];
    let race = |q: RedisQuota, lane| async move {
        let mut won = 0;
        for _ in 0..20 {
            if let Verdict::Admitted { .. } = admit(&q, &lane, &[spec(6.0, 10.0)], &[1.0]).await {
                won += 1;
            }
        }
        won
    };
    let (x, y) = tokio::join!(race(a.clone(), lane.clone()), race(c, lane.clone()));
    assert_eq!(x + y, 10, "{x} + {y}");
    let l = a.levels(&lane, &b).await.expect("redis");
    assert!(l[0] < 1.0, "{l:?}");
}

#[tokio::test]
async fn a_pause_set_by_one_client_holds_every_client_until_it_ends() {
    let (a, c, lane) = two_clients("pause");
    let b = three(600.0);
    let t0 = Instant::now();
    // A pause of 5 s, then a shorter one, which never shortens it: both times the other
    // client waits what is left of the 5 s, less only by the time the calls took.
    for pause in [5, 1] {
        a.pause(&lane, Duration::from_secs(pause))
            .await
            .expect("redis");
        let v = admit(&c, &lane, &b, &[1.0, 1.0, 1.0]).await;
        let wait = wait_for(v, WaitReason::Paused);
        let left = 5.0 - since(t0) - 0.001;
        assert!(
            wait.as_secs_f64() >= left && wait <= Duration::from_secs(5) && left > 1.0,
            "after a pause of {pause} s: {wait:?} (at least {left} s)"
        );
    }
}

#[tokio::test]
async fn a_servers_lower_remaining_is_learned_as_foreign_usage_by_everyone() {
    let (q, lane) = quota_lane("foreign");
    let b = three(6000.0); // 100/s
    let t0 = Instant::now();
    let l = q
        .observe(&lane, &b, &[None, Some(1000.0), None], &[0.0, 0.0, 0.0])
        .await
        .expect("redis");
    assert!(close(l[1], 1000.0, 1.0), "{l:?}");
    // The learned rate (5000 / 10 s = 500/s, capped at 95 % of 100/s) slows the refill
    // to 5/s: after 0.5 s about 2.5 more, not 50 (at most 5/s over the time taken).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let l = q.levels(&lane, &b).await.expect("redis");
    let most = 1001.0 + 5.0 * since(t0) + 0.5;
    assert!(l[1] < most, "{l:?} (under {most})");
}

#[tokio::test]
async fn the_process_heartbeat_counts_the_processes_present() {
    let q = quota("heartbeat");
    assert_eq!(q.heartbeat("a").await.expect("redis"), 1);
    assert_eq!(q.heartbeat("b").await.expect("redis"), 2);
    assert_eq!(q.heartbeat("a").await.expect("redis"), 2);
}

#[test]
fn the_fingerprint_hides_the_key_and_the_lane_keys_share_one_hash_tag() {
    let fp = quotaswarm::quota::key_fingerprint("sk-live-very-secret");
    assert!(!fp.contains("secret"));
    let keys = quotaswarm::quota::LaneKeys::new("ns", &fp, "claude-sonnet-4-5");
    let tag = format!("{{{fp}:claude-sonnet-4-5}}");
    for k in [
        &keys.buckets,
        &keys.pause,
        &keys.circuit,
        &keys.reuse(1, "07"),
    ] {
        assert!(k.starts_with("ns:") && k.contains(&tag), "{k}");
    }
}

#[tokio::test]
async fn a_circuit_opened_by_one_client_holds_the_others_for_the_cool_down() {
    let (a, c, lane) = two_clients("circuit");
    let t0 = Instant::now();
    a.open_circuit(&lane, Duration::from_secs(30))
        .await
        .expect("redis");
    let v = admit(&c, &lane, &three(600.0), &[1.0, 1.0, 1.0]).await;
    let wait = wait_for(v, WaitReason::CircuitOpen);
    // What is left of the 30 s cool-down.
    let left = 30.0 - since(t0) - 0.001;
    assert!(wait.as_secs_f64() >= left, "{wait:?} (at least {left} s)");
}

#[tokio::test]
async fn an_unreachable_server_is_an_error_not_a_hang() {
    // Port 9 (discard) on loopback: nothing listens there.
    let q = RedisQuota::new("redis://127.0.0.1:9/0", &namespace("down")).expect("url");
    let lane = q.lane("fp", "m");
    let started = std::time::Instant::now();
    let r = q.admit(&lane, &three(600.0), &[1.0, 1.0, 1.0]).await;
    assert!(
        matches!(r, Err(quotaswarm::quota::QuotaError::Unreachable(_))),
        "{r:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn a_batch_admits_in_order_until_one_does_not_fit() {
    let (q, lane) = quota_lane("batch");
    let b = three(600.0); // 10/s, capacity 600
    let costs = vec![
        vec![1.0, 300.0, 0.0],
        vec![1.0, 200.0, 0.0],
        vec![1.0, 200.0, 0.0], // 100 left: waits ~10 s
        vec![1.0, 10.0, 0.0],  // would fit, but queue order holds
    ];
    let r = q
        .admit_batch(&lane, &b, &costs, Duration::ZERO)
        .await
        .expect("redis");
    assert_eq!(r.admitted, 2);
    let then = r.then.expect("what comes after the admitted ones");
    let wait = wait_for(then, WaitReason::Buckets);
    assert!(
        wait <= Duration::from_secs(10) && wait > Duration::from_millis(9_900),
        "{wait:?}"
    );
    assert!(close(r.levels[1], 100.0, 0.5), "{:?}", r.levels);
    let never = q
        .admit_batch(&lane, &b, &[vec![1.0, 700.0, 0.0]], Duration::ZERO)
        .await
        .expect("redis");
    assert_eq!(never.admitted, 0);
    assert_eq!(
        never.then,
        Some(Verdict::NeverFits {
            bucket: 1,
            max: 600.0
        })
    );
}

#[tokio::test]
async fn new_limits_keep_what_was_spent_once_and_are_kept_for_every_process() {
    let (q, lane) = quota_lane("limits");
    let old = three(600.0);
    let t0 = Instant::now();
    admitted(&admit(&q, &lane, &old, &[0.0, 400.0, 0.0]).await);
    assert_eq!(
        q.learned_limits(&lane, 3).await.expect("redis"),
        vec![None; 3]
    );
    // Four times the limits: 400 spent of 2400.
    let new = three(2400.0);
    q.set_limits(&lane, &old, &new, &[None, None, None])
        .await
        .expect("redis");
    let levels = q.levels(&lane, &new).await.expect("redis");
    // Refill since t0 at most 40/s (the new rate) on top of 2000.
    let slack = 40.0 * since(t0) + 0.01;
    assert!(close(levels[1], 2000.0, slack), "{levels:?}");
    assert_eq!(
        q.learned_limits(&lane, 3).await.expect("redis"),
        vec![Some(2400.0); 3]
    );
    // Another process telling the same change moves nothing again; a `remaining` lower
    // than the level caps it.
    q.set_limits(&lane, &old, &new, &[Some(100.0), None, None])
        .await
        .expect("redis");
    let again = q.levels(&lane, &new).await.expect("redis");
    assert!(
        close(again[1], 2000.0, 40.0 * since(t0) + 0.01),
        "{again:?}"
    );
    assert!(again[0] <= 100.0 + 40.0 * since(t0), "{again:?}");
}
