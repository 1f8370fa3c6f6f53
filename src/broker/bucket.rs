//! Token buckets, pure: every method takes `now`.
//!
//! A bucket holds up to `capacity` (the limit × burst window / 60 s) and refills
//! continuously at `limit / 60` per second. Its level may go negative: a request larger
//! than the capacity but within one minute's limit is admitted when the bucket is full
//! and leaves a debt, and settling a response that used more than was reserved charges
//! the difference. "Can never fit" means larger than a whole minute's limit.
//!
//! [`BucketSet`] checks every bucket before debiting any, so a request is admitted
//! against all of them or none.

use super::time::{after, secs_f64};
use super::window::{Ring, Slot};
use crate::config::Limits;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tokio::time::Instant;

/// Which bucket of a lane.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum BucketKind {
    Requests,
    InputTokens,
    OutputTokens,
    /// OpenAI-style combined input + output.
    Tokens,
}

impl BucketKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            BucketKind::Requests => "requests",
            BucketKind::InputTokens => "input_tokens",
            BucketKind::OutputTokens => "output_tokens",
            BucketKind::Tokens => "tokens",
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Bucket {
    pub(crate) kind: BucketKind,
    /// Per minute, as configured (never exceeded).
    limit: f64,
    capacity: f64,
    /// Units per second at full speed.
    rate: f64,
    /// What others sharing the key consume (units/s), learned from response headers.
    foreign_rate: f64,
    /// When the server's view was last compared with ours.
    synced_at: Option<Instant>,
    /// See [`SERVER_LAG`]; zero unless set with [`Bucket::with_server_lag`].
    server_lag: Duration,
    level: f64,
    at: Instant,
    /// Recent net consumption (debits positive, refunds negative) for the burn rate, a
    /// second a slot over the last [`BURN_WINDOW`]: fixed memory and a fixed-cost
    /// snapshot, whatever the request rate (one entry per debit grew with it).
    recent: Ring<Burn>,
}

/// One second of a bucket's net consumption.
#[derive(Debug, Clone, Copy, Default)]
struct Burn {
    net: f64,
    /// The first debit or refund of the second.
    first: Option<Instant>,
}

impl Slot for Burn {
    fn clear(&mut self) {
        *self = Burn::default();
    }
}

/// The burn rate's ring: one-second slots covering [`BURN_WINDOW`].
fn burn_ring() -> Ring<Burn> {
    let slots = BURN_WINDOW.as_secs().max(1) as usize;
    Ring::new(
        Duration::from_secs(1),
        vec![Burn::default(); slots],
        Burn::default,
    )
}

/// How much later than us the server may start charging a bucket that was full: the
/// request's transit and the server's own tokenizing. Its bucket leaves "full" that much
/// later than ours, so it has refilled that much less; we give up the difference once,
/// each time a full bucket is first debited.
pub(crate) const SERVER_LAG: Duration = Duration::from_millis(100);

/// Time constant over which the learned rate of others sharing the key fades.
pub(crate) const FOREIGN_FADE: Duration = Duration::from_secs(180);

/// Time constant of the integral control of others' usage (and of the 429 penalty).
pub(crate) const BURN_TAU: Duration = Duration::from_secs(10);

/// The window of the burn-rate moving average.
pub(crate) const BURN_WINDOW: Duration = Duration::from_secs(60);

/// The shortest span the burn rate is averaged over.
pub(crate) const BURN_MIN_SPAN: Duration = Duration::from_secs(5);

impl Bucket {
    pub(crate) fn new(kind: BucketKind, limit_per_min: f64, burst: Duration, now: Instant) -> Self {
        // A limit that is not a finite number ≥ 0 (possible only in a config built by
        // hand) admits nothing rather than poisoning the arithmetic with NaN.
        let limit_per_min = if limit_per_min.is_finite() {
            limit_per_min.max(0.0)
        } else {
            0.0
        };
        let rate = limit_per_min / 60.0;
        // At least one request's worth, at most one minute's (`min`/`max`, unlike
        // `clamp`, cannot panic).
        let capacity = (rate * burst.as_secs_f64())
            .max(1.0_f64.min(limit_per_min))
            .min(limit_per_min);
        Bucket {
            kind,
            limit: limit_per_min,
            capacity,
            rate,
            foreign_rate: 0.0,
            synced_at: None,
            server_lag: Duration::ZERO,
            level: capacity,
            at: now,
            recent: burn_ring(),
        }
    }

    /// Gives up `lag` of refill each time the full bucket is first debited.
    pub(crate) fn with_server_lag(mut self, lag: Duration) -> Self {
        self.server_lag = lag;
        self
    }

    pub(crate) fn limit(&self) -> f64 {
        self.limit
    }

    pub(crate) fn capacity(&self) -> f64 {
        self.capacity
    }

    /// Units per second available to us: the configured rate less what others sharing
    /// the key are seen to consume; never below 5 % of the configured rate.
    pub(crate) fn rate(&self) -> f64 {
        (self.rate - self.foreign_rate).max(self.rate * 0.05)
    }

    /// A 429 despite our admission: we over-estimated what is available by at least
    /// `amount`; count it as others' consumption (it fades like any other).
    pub(crate) fn penalize(&mut self, amount: f64, now: Instant) {
        self.sync(now);
        self.foreign_rate = (self.foreign_rate + amount / BURN_TAU.as_secs_f64())
            .min(self.rate * 0.95)
            .max(0.0);
    }

    pub(crate) fn level(&self, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        (self.level + elapsed * self.rate()).min(self.capacity)
    }

    fn sync(&mut self, now: Instant) {
        if now > self.at {
            self.level = self.level(now);
            self.at = now;
        }
    }

    /// What must be in the bucket to admit `amount`: the amount, or a full bucket for an
    /// amount larger than the capacity (it then leaves a debt).
    fn needed(&self, amount: f64) -> f64 {
        amount.min(self.capacity)
    }

    /// `None` when `amount` can never fit (over one minute's limit).
    pub(crate) fn wait_for(&self, amount: f64, now: Instant) -> Option<Duration> {
        if amount > self.limit {
            return None;
        }
        let short = self.needed(amount) - self.level(now);
        if short <= 1e-9 {
            return Some(Duration::ZERO);
        }
        Some(secs_f64(short / self.rate()))
    }

    pub(crate) fn debit(&mut self, amount: f64, now: Instant) {
        self.sync(now);
        if self.level >= self.capacity && amount > 0.0 {
            self.level -= self.rate * self.server_lag.as_secs_f64();
        }
        self.level -= amount;
        self.record_burn(amount, now);
    }

    /// Gives back `amount` (a refund), never above capacity.
    pub(crate) fn credit(&mut self, amount: f64, now: Instant) {
        self.sync(now);
        self.level = (self.level + amount).min(self.capacity);
        self.record_burn(-amount, now);
    }

    fn record_burn(&mut self, amount: f64, now: Instant) {
        let slot = self.recent.slot_mut(now);
        slot.net += amount;
        slot.first.get_or_insert(now);
    }

    /// Units consumed per second: the net consumption over the last [`BURN_WINDOW`] (to
    /// the second), divided by the span it covers (at least [`BURN_MIN_SPAN`], so a
    /// single burst does not read as a huge rate).
    pub(crate) fn burn_rate(&self, now: Instant) -> f64 {
        let mut first: Option<Instant> = None;
        let mut sum = 0.0;
        for slot in self.recent.recent(now, BURN_WINDOW) {
            if let Some(t) = slot.first {
                first = Some(first.map_or(t, |f| f.min(t)));
                sum += slot.net;
            }
        }
        let Some(first) = first else { return 0.0 };
        let span = now
            .saturating_duration_since(first)
            .max(BURN_MIN_SPAN)
            .as_secs_f64();
        (sum / span).max(0.0)
    }

    /// Seconds until the bucket runs dry at the current burn rate; `None` when it is not
    /// draining (burn at or below refill) or already empty.
    pub(crate) fn time_to_exhaustion(&self, now: Instant) -> Option<f64> {
        let net = self.burn_rate(now) - self.rate();
        let level = self.level(now);
        (net > 1e-9 && level > 0.0).then(|| level / net)
    }

    /// A new limit per minute: the capacity (the same `burst` of refill) and the refill
    /// follow it, and what was spent (capacity − level, a debt included) stays spent.
    /// Others' learned rate starts afresh: it was measured against the old limit.
    pub(crate) fn set_limit(&mut self, limit_per_min: f64, burst: Duration, now: Instant) {
        self.sync(now);
        let spent = self.capacity - self.level;
        let fresh = Bucket::new(self.kind, limit_per_min, burst, now);
        self.limit = fresh.limit;
        self.capacity = fresh.capacity;
        self.rate = fresh.rate;
        self.level = self.capacity - spent;
        self.foreign_rate = 0.0;
        self.synced_at = None;
    }

    /// Lowers the level to what the server says remains, if that is less.
    pub(crate) fn adopt_remaining(&mut self, remaining: f64, now: Instant) {
        self.sync(now);
        if remaining < self.level {
            self.level = remaining;
        }
    }

    /// Compares the server's `remaining` with our level. When the server reports less
    /// (by more than `slack`, its rounding), someone else is using the key: adopt the
    /// server's level and learn the others' rate, so our refill leaves room for them.
    /// When it reports as much as we think, the learned rate decays.
    pub(crate) fn observe_remaining(&mut self, remaining: f64, slack: f64, now: Instant) {
        self.sync(now);
        let dt = self
            .synced_at
            .map_or(0.0, |t| now.saturating_duration_since(t).as_secs_f64());
        let gap = self.level - remaining;
        if gap > slack {
            // Integral control: every unexplained shortfall raises the others' rate by
            // gap / τ, whatever the interval between responses.
            self.foreign_rate += gap / BURN_TAU.as_secs_f64();
            self.level = remaining;
        } else {
            // No shortfall: let the learned rate fade over a few minutes (others' usage
            // tends to persist, and every 429 it takes to relearn it is one too many).
            self.foreign_rate *= (-dt / FOREIGN_FADE.as_secs_f64()).exp();
        }
        self.foreign_rate = self.foreign_rate.min(self.rate * 0.95).max(0.0);
        self.synced_at = Some(now);
    }
}

/// What one attempt costs against a lane.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Cost {
    pub(crate) requests: f64,
    pub(crate) input_tokens: f64,
    pub(crate) output_tokens: f64,
}

impl Cost {
    pub(crate) fn request(input_tokens: f64, output_tokens: f64) -> Self {
        Cost {
            requests: 1.0,
            input_tokens,
            output_tokens,
        }
    }

    pub(crate) fn for_bucket(&self, kind: BucketKind) -> f64 {
        match kind {
            BucketKind::Requests => self.requests,
            BucketKind::InputTokens => self.input_tokens,
            BucketKind::OutputTokens => self.output_tokens,
            BucketKind::Tokens => self.input_tokens + self.output_tokens,
        }
    }
}

/// The answer to "may this go now?". Denials carry data.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Admission {
    Admitted,
    /// Not before this instant (the earliest at which every bucket holds enough).
    NotBefore(Instant),
    /// Larger than one minute's limit of `bucket`: waiting cannot help.
    NeverFits {
        bucket: BucketKind,
        need: f64,
        max: f64,
    },
}

/// The buckets of one lane.
#[derive(Debug, Clone)]
pub(crate) struct BucketSet {
    buckets: Vec<Bucket>,
}

impl BucketSet {
    pub(crate) fn new(limits: &Limits, burst: Duration, now: Instant) -> Self {
        let buckets = match *limits {
            Limits::Split { rpm, itpm, otpm } => vec![
                Bucket::new(BucketKind::Requests, rpm, burst, now),
                Bucket::new(BucketKind::InputTokens, itpm, burst, now),
                Bucket::new(BucketKind::OutputTokens, otpm, burst, now),
            ],
            Limits::Combined { rpm, tpm } => vec![
                Bucket::new(BucketKind::Requests, rpm, burst, now),
                Bucket::new(BucketKind::Tokens, tpm, burst, now),
            ],
        };
        BucketSet { buckets }
    }

    /// See [`Bucket::with_server_lag`].
    pub(crate) fn with_server_lag(mut self, lag: Duration) -> Self {
        self.buckets = self
            .buckets
            .into_iter()
            .map(|b| b.with_server_lag(lag))
            .collect();
        self
    }

    pub(crate) fn buckets(&self) -> &[Bucket] {
        &self.buckets
    }

    pub(crate) fn get_mut(&mut self, kind: BucketKind) -> Option<&mut Bucket> {
        self.buckets.iter_mut().find(|b| b.kind == kind)
    }

    /// Checks every bucket; debits nothing.
    pub(crate) fn check(&self, cost: &Cost, now: Instant) -> Admission {
        let mut wait = Duration::ZERO;
        for b in &self.buckets {
            let amount = cost.for_bucket(b.kind);
            match b.wait_for(amount, now) {
                None => {
                    return Admission::NeverFits {
                        bucket: b.kind,
                        need: amount,
                        max: b.limit,
                    }
                }
                Some(w) => wait = wait.max(w),
            }
        }
        if wait.is_zero() {
            Admission::Admitted
        } else {
            Admission::NotBefore(after(now, wait))
        }
    }

    /// Checks every bucket, then debits all of them if the cost fits now.
    pub(crate) fn try_admit(&mut self, cost: &Cost, now: Instant) -> Admission {
        let verdict = self.check(cost, now);
        if verdict == Admission::Admitted {
            self.debit(cost, now);
        }
        verdict
    }

    pub(crate) fn debit(&mut self, cost: &Cost, now: Instant) {
        for b in &mut self.buckets {
            b.debit(cost.for_bucket(b.kind), now);
        }
    }

    /// Corrects a reservation with what was really used: refunds what was over-reserved
    /// and charges what was under-reserved.
    pub(crate) fn settle(&mut self, reserved: &Cost, actual: &Cost, now: Instant) {
        for b in &mut self.buckets {
            let diff = cost_diff(reserved, actual, b.kind);
            if diff > 0.0 {
                b.credit(diff, now);
            } else if diff < 0.0 {
                b.debit(-diff, now);
            }
        }
    }

    /// The time `cost` would wait behind `ahead` (already queued) at the current rates.
    /// Whether `cost` fits every bucket's one-minute limit, so that it can be admitted
    /// some day: exactly when [`BucketSet::projected_wait`] is `Some`.
    pub(crate) fn fits_ever(&self, cost: &Cost) -> bool {
        !self
            .buckets
            .iter()
            .any(|b| cost.for_bucket(b.kind) > b.limit)
    }

    pub(crate) fn projected_wait(
        &self,
        ahead: &Cost,
        cost: &Cost,
        now: Instant,
    ) -> Option<Duration> {
        let mut wait = Duration::ZERO;
        for b in &self.buckets {
            let amount = cost.for_bucket(b.kind);
            if amount > b.limit {
                return None;
            }
            let need = ahead.for_bucket(b.kind) + b.needed(amount) - b.level(now);
            if need > 0.0 {
                wait = wait.max(secs_f64(need / b.rate()));
            }
        }
        Some(wait)
    }

    /// The same buckets with every limit scaled by `share` (0 < share ≤ 1), each level
    /// at most its share of what it was: a process's part of a quota shared with others.
    pub(crate) fn scaled(
        &self,
        limits: &Limits,
        burst: Duration,
        share: f64,
        now: Instant,
    ) -> Self {
        let scale = |x: f64| x * share;
        let limits = match *limits {
            Limits::Split { rpm, itpm, otpm } => Limits::Split {
                rpm: scale(rpm),
                itpm: scale(itpm),
                otpm: scale(otpm),
            },
            Limits::Combined { rpm, tpm } => Limits::Combined {
                rpm: scale(rpm),
                tpm: scale(tpm),
            },
        };
        let mut out = BucketSet::new(&limits, burst, now).with_server_lag(SERVER_LAG);
        for (new, old) in out.buckets.iter_mut().zip(&self.buckets) {
            new.level = new.capacity.min(old.level(now) * share);
        }
        out
    }

    /// Sets each bucket's limit to `limits`' × `share` (see [`Bucket::set_limit`]),
    /// where it differs.
    pub(crate) fn set_limits(
        &mut self,
        limits: &Limits,
        burst: Duration,
        share: f64,
        now: Instant,
    ) {
        let figures = super::learned_limits::as_vec(limits);
        for (b, limit) in self.buckets.iter_mut().zip(figures) {
            let limit = limit * share;
            if (b.limit - limit).abs() > 1e-9 {
                b.set_limit(limit, burst, now);
            }
        }
    }

    /// Sets each bucket's level (as a shared store reported it), in order.
    pub(crate) fn set_levels(&mut self, levels: &[f64], now: Instant) {
        for (b, l) in self.buckets.iter_mut().zip(levels) {
            b.sync(now);
            if l.is_finite() {
                b.level = l.min(b.capacity);
            }
        }
    }

    /// See [`Bucket::penalize`]: every bucket, by what `cost` reserved in it.
    pub(crate) fn penalize(&mut self, cost: &Cost, now: Instant) {
        for b in &mut self.buckets {
            let amount = cost.for_bucket(b.kind);
            b.penalize(amount, now);
        }
    }
}

fn cost_diff(reserved: &Cost, actual: &Cost, kind: BucketKind) -> f64 {
    reserved.for_bucket(kind) - actual.for_bucket(kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(rpm: f64, itpm: f64, otpm: f64) -> Limits {
        Limits::Split { rpm, itpm, otpm }
    }

    const MIN: Duration = Duration::from_secs(60);

    /// Now, and a bucket of `kind` and `limit` a minute holding a minute's worth.
    fn per_minute(kind: BucketKind, limit: f64) -> (Instant, Bucket) {
        let now = Instant::now();
        (now, Bucket::new(kind, limit, MIN, now))
    }

    /// `s` admits a request of `input` tokens reserving `output` at `now`, or not.
    fn admit(s: &mut BucketSet, input: f64, output: f64, now: Instant) -> Admission {
        s.try_admit(&Cost::request(input, output), now)
    }

    /// Whether `s` would admit a request of `input` tokens reserving `output` at `now`.
    fn check(s: &BucketSet, input: f64, output: f64, now: Instant) -> Admission {
        s.check(&Cost::request(input, output), now)
    }

    /// Now, and split buckets of these limits holding a minute's worth.
    fn split_set(rpm: f64, itpm: f64, otpm: f64) -> (Instant, BucketSet) {
        let now = Instant::now();
        (now, BucketSet::new(&split(rpm, itpm, otpm), MIN, now))
    }

    #[test]
    fn a_bucket_refills_continuously_up_to_capacity() {
        let (t0, mut b) = per_minute(BucketKind::InputTokens, 600.0);
        assert_eq!(b.level(t0), 600.0);
        b.debit(600.0, t0);
        assert_eq!(b.level(t0), 0.0);
        assert!((b.level(t0 + Duration::from_secs(6)) - 60.0).abs() < 1e-9);
        assert_eq!(b.level(t0 + Duration::from_secs(600)), 600.0);
    }

    #[test]
    fn the_first_debit_of_a_full_bucket_gives_up_the_servers_lag() {
        let t0 = Instant::now();
        let mut b = Bucket::new(BucketKind::InputTokens, 600.0, MIN, t0)
            .with_server_lag(Duration::from_millis(100));
        b.debit(100.0, t0);
        assert!((b.level(t0) - 499.0).abs() < 1e-9, "{}", b.level(t0));
        b.debit(100.0, t0);
        assert!(
            (b.level(t0) - 399.0).abs() < 1e-9,
            "only once while not full"
        );
    }

    #[test]
    fn capacity_is_the_burst_window_of_the_limit() {
        let t0 = Instant::now();
        let b = Bucket::new(BucketKind::InputTokens, 6000.0, Duration::from_secs(10), t0);
        assert_eq!(b.capacity(), 1000.0);
    }

    #[test]
    fn denial_says_the_exact_instant_it_fits() {
        let (t0, mut s) = split_set(60.0, 600.0, 600.0);
        assert_eq!(admit(&mut s, 500.0, 10.0, t0), Admission::Admitted);
        // 100 input tokens left; 300 more need 200 more tokens at 10/s = 20 s.
        assert_eq!(
            admit(&mut s, 300.0, 10.0, t0),
            Admission::NotBefore(t0 + Duration::from_secs(20))
        );
        assert_eq!(
            admit(&mut s, 300.0, 10.0, t0 + Duration::from_secs(20)),
            Admission::Admitted
        );
    }

    #[test]
    fn the_slowest_bucket_decides_the_wait() {
        let (t0, mut s) = split_set(60.0, 6000.0, 60.0);
        s.debit(&Cost::request(0.0, 60.0), t0);
        // Output is empty: 30 output tokens need 30 s at 1/s; input is plentiful.
        assert_eq!(
            check(&s, 10.0, 30.0, t0),
            Admission::NotBefore(t0 + Duration::from_secs(30))
        );
    }

    #[test]
    fn rejects_what_can_never_fit_with_the_maximum() {
        let (t0, s) = split_set(60.0, 600.0, 600.0);
        assert_eq!(
            check(&s, 601.0, 1.0, t0),
            Admission::NeverFits {
                bucket: BucketKind::InputTokens,
                need: 601.0,
                max: 600.0
            }
        );
    }

    #[test]
    fn checks_all_buckets_before_debiting_any() {
        let (t0, mut s) = split_set(60.0, 600.0, 10.0);
        let before: Vec<f64> = s.buckets().iter().map(|b| b.level(t0)).collect();
        assert!(matches!(
            admit(&mut s, 100.0, 11.0, t0),
            Admission::NeverFits { .. }
        ));
        let after: Vec<f64> = s.buckets().iter().map(|b| b.level(t0)).collect();
        assert_eq!(before, after);
    }

    #[test]
    fn a_request_over_the_burst_but_within_a_minute_goes_when_full_and_leaves_a_debt() {
        let t0 = Instant::now();
        // capacity 100 (10 s of 600/min), request of 300.
        let mut s = BucketSet::new(
            &Limits::Combined {
                rpm: 60.0,
                tpm: 600.0,
            },
            Duration::from_secs(10),
            t0,
        );
        assert_eq!(admit(&mut s, 300.0, 0.0, t0), Admission::Admitted);
        // level is -200; a 10-token request must wait until level >= 10: 21 s.
        assert_eq!(
            check(&s, 10.0, 0.0, t0),
            Admission::NotBefore(t0 + Duration::from_secs(21))
        );
    }

    #[test]
    fn settle_refunds_overestimates_and_charges_underestimates() {
        let (t0, mut s) = split_set(60.0, 1000.0, 1000.0);
        let reserved = Cost::request(400.0, 500.0);
        s.debit(&reserved, t0);
        s.settle(&reserved, &Cost::request(450.0, 100.0), t0);
        let levels: Vec<f64> = s.buckets().iter().map(|b| b.level(t0)).collect();
        assert_eq!(levels, vec![59.0, 550.0, 900.0]);
    }

    #[test]
    fn refunds_never_exceed_capacity() {
        let (t0, mut b) = per_minute(BucketKind::Tokens, 100.0);
        b.credit(50.0, t0);
        assert_eq!(b.level(t0), 100.0);
    }

    #[test]
    fn adopting_the_servers_lower_remaining_delays_admission() {
        let (t0, mut s) = split_set(60.0, 600.0, 600.0);
        if let Some(b) = s.get_mut(BucketKind::InputTokens) {
            b.adopt_remaining(0.0, t0);
        }
        assert_eq!(
            check(&s, 100.0, 1.0, t0),
            Admission::NotBefore(t0 + Duration::from_secs(10))
        );
    }

    #[test]
    fn a_429_penalty_lowers_the_refill_by_the_reserved_amount_over_tau() {
        let (t0, mut b) = per_minute(BucketKind::InputTokens, 600.0);
        b.penalize(50.0, t0);
        assert!((b.rate() - 5.0).abs() < 1e-9, "{}", b.rate());
    }

    #[test]
    fn time_to_exhaustion_matches_level_over_net_burn() {
        let t0 = Instant::now();
        // 600/min = 10/s refill, one minute of capacity; burn 20/s for 30 s.
        let mut b = Bucket::new(BucketKind::InputTokens, 600.0, MIN, t0);
        let mut now = t0;
        for _ in 0..300 {
            now += Duration::from_millis(100);
            b.debit(2.0, now);
        }
        let level = b.level(now);
        let predicted = level / (20.0 - 10.0);
        let tte = b.time_to_exhaustion(now).expect("draining");
        assert!(
            (tte - predicted).abs() / predicted < 0.10,
            "tte {tte} vs {predicted}"
        );
    }

    #[test]
    fn an_idle_or_slow_bucket_has_no_time_to_exhaustion() {
        let (t0, mut b) = per_minute(BucketKind::InputTokens, 600.0);
        assert_eq!(b.time_to_exhaustion(t0), None);
        let mut now = t0;
        for _ in 0..100 {
            now += Duration::from_secs(1);
            b.debit(5.0, now); // half the refill rate
        }
        assert_eq!(b.time_to_exhaustion(now), None);
    }

    #[test]
    fn a_local_share_scales_every_limit_and_level() {
        let (t0, mut s) = split_set(60.0, 600.0, 600.0);
        s.set_levels(&[30.0, 600.0, 100.0], t0);
        let half = s.scaled(&split(60.0, 600.0, 600.0), MIN, 0.5, t0);
        let limits: Vec<f64> = half.buckets().iter().map(|b| b.limit()).collect();
        let levels: Vec<f64> = half.buckets().iter().map(|b| b.level(t0)).collect();
        assert_eq!(limits, vec![30.0, 300.0, 300.0]);
        assert_eq!(levels, vec![15.0, 300.0, 50.0]);
    }

    #[test]
    fn a_new_limit_keeps_what_was_spent() {
        let t0 = Instant::now();
        // capacity 100 (10 s of 600/min); 70 spent.
        let mut s = BucketSet::new(&split(60.0, 600.0, 600.0), Duration::from_secs(10), t0);
        s.debit(&Cost::request(70.0, 0.0), t0);
        let burst = Duration::from_secs(10);
        s.set_limits(&split(60.0, 2400.0, 600.0), burst, 1.0, t0);
        let input = s.buckets()[1].clone();
        assert_eq!((input.limit(), input.capacity()), (2400.0, 400.0));
        assert!(
            (input.level(t0) - 330.0).abs() < 1e-9,
            "{}",
            input.level(t0)
        );
        assert!((input.rate() - 40.0).abs() < 1e-9);
        // Down to a quarter of the first: 70 spent of 25 is a debt of 45.
        s.set_limits(&split(60.0, 150.0, 600.0), burst, 1.0, t0);
        assert!((s.buckets()[1].level(t0) + 45.0).abs() < 1e-9);
        // A local share scales the limits too.
        s.set_limits(&split(60.0, 150.0, 600.0), burst, 0.5, t0);
        assert_eq!(s.buckets()[0].limit(), 30.0);
    }

    #[test]
    fn projected_wait_counts_the_queue_ahead() {
        let (t0, s) = split_set(600.0, 600.0, 600.0);
        let ahead = Cost::request(1000.0, 0.0);
        // 600 in the bucket, 1000 ahead + 200 = 600 short at 10/s.
        assert_eq!(
            s.projected_wait(&ahead, &Cost::request(200.0, 0.0), t0),
            Some(Duration::from_secs(60))
        );
    }

    #[test]
    fn fits_ever_is_exactly_when_there_is_a_projected_wait() {
        let (t0, s) = split_set(60.0, 600.0, 600.0);
        let ahead = Cost::request(5000.0, 5000.0);
        for (input, output) in [(1.0, 1.0), (600.0, 600.0), (601.0, 1.0), (1.0, 601.0)] {
            let cost = Cost::request(input, output);
            assert_eq!(
                s.fits_ever(&cost),
                s.projected_wait(&ahead, &cost, t0).is_some(),
                "{input} in, {output} out"
            );
        }
        assert!(s.fits_ever(&Cost::request(600.0, 600.0)));
        assert!(!s.fits_ever(&Cost::request(601.0, 1.0)));
    }

    #[test]
    fn the_burn_rate_covers_the_last_minute_only() {
        let (t0, mut b) = per_minute(BucketKind::InputTokens, 6000.0);
        b.debit(100.0, t0);
        b.debit(50.0, t0 + Duration::from_millis(500));
        let rate = b.burn_rate(t0 + Duration::from_secs(10));
        assert!((rate - 15.0).abs() < 1e-9, "{rate}");
        // Within five seconds of the first debit: averaged over five.
        assert!((b.burn_rate(t0 + Duration::from_secs(1)) - 30.0).abs() < 1e-9);
        assert_eq!(b.burn_rate(t0 + Duration::from_secs(61)), 0.0);
    }
}
