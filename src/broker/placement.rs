//! The pure placement policy of a ladder request: which rung it should wait on, given
//! what each rung projects at `now`.
//!
//! Each rung's projection says how long until its buckets, pause and circuit would let
//! the request go (`wait`), how long until one of its in-flight slots frees up (`busy`),
//! and how long a call there takes (`service`, the lane's observed latency). The request
//! is *projected to finish* at `max(wait, busy) + service`.
//!
//! Among the rungs whose `wait` is within the request's `max_wait`, the request goes where
//! it finishes first, after a handicap of `prefer` per step down the ladder: a request
//! leaves a higher rung only when a lower one finishes it more than `prefer` sooner per
//! step. `prefer = 0` is pure spill (the earliest finish); a very large `prefer` is the
//! first rung within `max_wait`, as before spill existed. When no rung is within
//! `max_wait`, the shortest wait wins, as it always has. Rungs below the floor, rungs
//! whose context or buckets the request can never fit, and rungs with an open circuit
//! (but the last, which waits for its probe) are never chosen.
//!
//! A queued request is re-placed only when another rung beats its current one by more
//! than [`REPLACE_MARGIN`], so that it does not hop between rungs on rounding.

use std::time::Duration;

/// How much sooner another rung must finish a queued request before it moves there.
pub(crate) const REPLACE_MARGIN: Duration = Duration::from_millis(100);

/// What one rung projects for a request at `now`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct RungView {
    /// Its index in the ladder (0 = the first rung).
    pub(crate) rung: usize,
    /// The request fits its context window and its buckets' one-minute limits.
    pub(crate) fits: bool,
    /// Its circuit is open (no sends until the probe).
    pub(crate) circuit_open: bool,
    /// Until its buckets, its pause after a 429 and its circuit would admit the request,
    /// behind the queue ahead of it.
    pub(crate) wait: Duration,
    /// Until an in-flight slot is free for it, behind the work ahead.
    pub(crate) busy: Duration,
    /// How long a call on it takes (observed; zero before the first).
    pub(crate) service: Duration,
}

impl RungView {
    /// When the request would be answered there, counted from `now`.
    pub(crate) fn finish(&self) -> Duration {
        self.wait.max(self.busy).saturating_add(self.service)
    }
}

/// What a placement is asked to respect.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Ask {
    /// The lowest rung allowed (the ladder's last rung, or the request's floor).
    pub(crate) floor: usize,
    /// The longest it may wait on one rung; `None`: no limit.
    pub(crate) max_wait: Option<Duration>,
    /// How much longer it waits for each step up the ladder.
    pub(crate) prefer: Duration,
}

/// The rung to place the request on (an index into the ladder, not into `views`), or
/// `None` if no rung can take it.
pub(crate) fn place(views: &[RungView], ask: &Ask) -> Option<usize> {
    best(views, ask).map(|(v, _)| v.rung)
}

/// Where a request queued on rung `current` should move to, if another rung now beats
/// its current one by more than [`REPLACE_MARGIN`]; `None` to stay.
pub(crate) fn replace(views: &[RungView], current: usize, ask: &Ask) -> Option<usize> {
    let (to, score) = best(views, ask)?;
    if to.rung == current {
        return None;
    }
    let here = views.iter().find(|v| v.rung == current && eligible(v, ask));
    let Some(here) = here else {
        return Some(to.rung); // its rung can no longer take it
    };
    let beats = match ask.max_wait {
        // Out of `max_wait` where it is, the shortest wait decides (as at admission).
        Some(m) if here.wait > m => return (to.wait < here.wait).then_some(to.rung),
        _ => score.saturating_add(REPLACE_MARGIN) < score_of(here, views, ask),
    };
    beats.then_some(to.rung)
}

/// The eligible rung with the best score and that score; ties go to the higher rung.
fn best<'a>(views: &'a [RungView], ask: &Ask) -> Option<(&'a RungView, Duration)> {
    let eligible = || views.iter().filter(|v| eligible(v, ask));
    let within = |v: &&RungView| ask.max_wait.is_none_or(|m| v.wait <= m);
    if eligible().any(|v| within(&v)) {
        eligible()
            .filter(within)
            .map(|v| (v, score_of(v, views, ask)))
            .min_by_key(|(v, s)| (*s, v.rung))
    } else {
        // Nothing within `max_wait`: the shortest wait, as before spill.
        eligible()
            .min_by_key(|v| (v.wait, v.rung))
            .map(|v| (v, score_of(v, views, ask)))
    }
}

fn eligible(v: &RungView, ask: &Ask) -> bool {
    v.rung <= ask.floor && v.fits && (!v.circuit_open || v.rung == ask.floor)
}

/// Projected finish plus the handicap of the steps below the first rung considered.
fn score_of(v: &RungView, views: &[RungView], ask: &Ask) -> Duration {
    let top = views.iter().map(|v| v.rung).min().unwrap_or(0);
    let steps = u32::try_from(v.rung.saturating_sub(top)).unwrap_or(u32::MAX);
    v.finish().saturating_add(ask.prefer.saturating_mul(steps))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use proptest::test_runner::TestRunner;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn view(rung: usize, wait: u64, service: u64) -> RungView {
        RungView {
            rung,
            fits: true,
            circuit_open: false,
            wait: ms(wait),
            busy: Duration::ZERO,
            service: ms(service),
        }
    }

    fn ask(floor: usize, prefer_ms: u64) -> Ask {
        Ask {
            floor,
            max_wait: Some(Duration::from_secs(10)),
            prefer: ms(prefer_ms),
        }
    }

    #[test]
    fn a_lower_rung_is_chosen_only_when_it_finishes_more_than_prefer_sooner() {
        let views = [view(0, 3_000, 500), view(1, 0, 500)];
        assert_eq!(place(&views, &ask(1, 0)), Some(1));
        assert_eq!(place(&views, &ask(1, 2_999)), Some(1));
        assert_eq!(place(&views, &ask(1, 3_000)), Some(0), "a tie stays up");
        assert_eq!(place(&views, &ask(0, 0)), Some(0), "the floor");
    }

    #[test]
    fn busy_slots_and_latency_count_toward_the_finish() {
        let mut views = [view(0, 0, 2_000), view(1, 0, 500)];
        assert_eq!(place(&views, &ask(1, 1_000)), Some(1), "slower by 1.5 s");
        views[1].busy = ms(1_200);
        assert_eq!(place(&views, &ask(1, 1_000)), Some(0));
    }

    #[test]
    fn with_no_rung_within_max_wait_the_shortest_wait_wins() {
        let views = [view(0, 30_000, 0), view(1, 20_000, 0), view(2, 25_000, 0)];
        assert_eq!(place(&views, &ask(2, 1_000_000)), Some(1));
    }

    #[test]
    fn a_queued_request_moves_only_for_a_clear_gain() {
        let views = [view(0, 2_000, 0), view(1, 1_950, 0)];
        assert_eq!(replace(&views, 0, &ask(1, 0)), None, "within the margin");
        let views = [view(0, 2_000, 0), view(1, 1_000, 0)];
        assert_eq!(replace(&views, 0, &ask(1, 0)), Some(1));
        assert_eq!(replace(&views, 1, &ask(1, 0)), None, "already there");
        let mut open = views;
        open[1].circuit_open = true;
        assert_eq!(replace(&open, 1, &ask(2, 0)), Some(0), "its rung closed");
    }

    fn arb_view(rung: usize) -> impl Strategy<Value = RungView> {
        (
            any::<bool>(),
            prop::bool::weighted(0.2),
            0u64..30_000,
            0u64..5_000,
            0u64..3_000,
        )
            .prop_map(move |(fits, circuit_open, wait, busy, service)| RungView {
                rung,
                fits: fits || rung == 0,
                circuit_open,
                wait: ms(wait),
                busy: ms(busy),
                service: ms(service),
            })
    }

    fn arb_case() -> impl Strategy<Value = (Vec<RungView>, Ask)> {
        (1usize..5)
            .prop_flat_map(|n| {
                let views: Vec<_> = (0..n).map(arb_view).collect();
                (views, 0..n, prop::option::of(0u64..20_000), 0u64..10_000)
            })
            .prop_map(|(views, floor, max_wait, prefer)| {
                let ask = Ask {
                    floor,
                    max_wait: max_wait.map(ms),
                    prefer: ms(prefer),
                };
                (views, ask)
            })
    }

    fn runner() -> TestRunner {
        TestRunner::new(crate::types::test_seed::config())
    }

    #[test]
    fn placement_properties() {
        runner()
            .run(&arb_case(), |(views, a)| {
                let Some(rung) = place(&views, &a) else {
                    // Nothing chosen only when nothing is eligible.
                    prop_assert!(views.iter().all(|v| !eligible(v, &a)));
                    return Ok(());
                };
                let v = views[rung];
                prop_assert!(rung <= a.floor, "below the floor");
                prop_assert!(v.fits, "a rung that can never take it");
                prop_assert!(!v.circuit_open || rung == a.floor, "an open circuit");

                let within: Vec<&RungView> = views
                    .iter()
                    .filter(|v| eligible(v, &a) && a.max_wait.is_none_or(|m| v.wait <= m))
                    .collect();
                // With prefer = ∞: the first eligible rung within max_wait.
                let inf = Ask {
                    prefer: Duration::MAX,
                    ..a
                };
                if let Some(first) = within.first() {
                    prop_assert_eq!(place(&views, &inf), Some(first.rung));
                    // With prefer = 0: the earliest projected finish.
                    let zero = Ask {
                        prefer: Duration::ZERO,
                        ..a
                    };
                    let min = within.iter().map(|v| v.finish()).min();
                    let chosen = place(&views, &zero).map(|r| views[r].finish());
                    prop_assert_eq!(chosen, min);
                } else {
                    let min = views
                        .iter()
                        .filter(|v| eligible(v, &a))
                        .map(|v| v.wait)
                        .min();
                    prop_assert_eq!(Some(v.wait), min, "the shortest wait");
                }
                // A queued request never moves to a rung worse than its own.
                for here in views.iter().filter(|v| eligible(v, &a)) {
                    if let Some(to) = replace(&views, here.rung, &a) {
                        prop_assert_eq!(Some(to), place(&views, &a));
                    }
                }
                Ok(())
            })
            .expect("placement properties");
    }
}
