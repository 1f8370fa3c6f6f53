//! One continuously refilled token bucket: pure, synchronous, `now` passed in.
//!
//! Capacity is one minute's limit by default (`sim.burst_secs` can shorten it, as providers
//! may enforce per-minute limits over shorter intervals) and it refills at `limit / 60` per
//! second, the algorithm both vendors document. An amount larger than a short burst's
//! capacity but within the minute's limit is admitted when the bucket is full, leaving a
//! debt. The level may go below zero when actual usage is
//! settled after admission (Anthropic OTPM in `actual` mode); it then refills from there.

use std::time::Duration;
use tokio::time::Instant;

/// Why an amount cannot be taken now.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Shortfall {
    /// Enough capacity will exist after this long.
    Wait(Duration),
    /// The amount exceeds the bucket's capacity: it can never fit.
    NeverFits { capacity: f64 },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Bucket {
    /// Per minute.
    limit: f64,
    /// Seconds of refill the bucket holds.
    burst_secs: f64,
    capacity: f64,
    /// Tokens per second.
    rate: f64,
    level: f64,
    updated: Instant,
}

impl Bucket {
    /// A full bucket for a per-minute `limit`.
    pub fn per_minute(limit: f64, now: Instant) -> Self {
        Self::with_burst(limit, 60.0, now)
    }

    /// A full bucket holding `burst_secs` of refill (at most one minute's limit).
    pub fn with_burst(limit: f64, burst_secs: f64, now: Instant) -> Self {
        let capacity = Self::capacity_for(limit, burst_secs);
        Bucket {
            limit,
            burst_secs,
            capacity,
            rate: limit / 60.0,
            level: capacity,
            updated: now,
        }
    }

    fn capacity_for(limit: f64, burst_secs: f64) -> f64 {
        // max/min rather than clamp: clamp panics on a NaN bound.
        (limit * burst_secs.clamp(0.0, 60.0) / 60.0)
            .max(limit.min(1.0))
            .min(limit)
    }

    pub fn capacity(&self) -> f64 {
        self.capacity
    }

    /// The per-minute limit (what headers report).
    pub fn limit(&self) -> f64 {
        self.limit
    }

    /// The level at `now` (may be negative), without changing the bucket.
    pub fn level(&self, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        (self.level + elapsed * self.rate).min(self.capacity)
    }

    fn sync(&mut self, now: Instant) {
        if now > self.updated {
            self.level = self.level(now);
            self.updated = now;
        }
    }

    /// How long until `amount` is available, or `Ok(ZERO)` if it is now.
    pub fn time_until(&self, amount: f64, now: Instant) -> Result<Duration, Shortfall> {
        if amount > self.limit {
            return Err(Shortfall::NeverFits {
                capacity: self.limit,
            });
        }
        let missing = amount.min(self.capacity) - self.level(now);
        if missing <= 0.0 {
            return Ok(Duration::ZERO);
        }
        Ok(self.secs_for(missing))
    }

    /// Like [`Bucket::time_until`] but as a denial: `Ok(())` when `amount` fits now.
    pub fn check(&self, amount: f64, now: Instant) -> Result<(), Shortfall> {
        match self.time_until(amount, now)? {
            d if d.is_zero() => Ok(()),
            d => Err(Shortfall::Wait(d)),
        }
    }

    /// Requires the level to be positive (some capacity left), whatever the cost.
    pub fn check_not_empty(&self, now: Instant) -> Result<(), Shortfall> {
        let level = self.level(now);
        if level > 0.0 {
            return Ok(());
        }
        // Wait until the level is strictly positive: a hair above zero.
        Err(Shortfall::Wait(self.secs_for(-level + self.rate * 0.001)))
    }

    /// Debits `amount` (the level may go negative).
    pub fn take(&mut self, amount: f64, now: Instant) {
        self.sync(now);
        self.level -= amount;
    }

    /// Credits `amount` back, never above capacity.
    pub fn give(&mut self, amount: f64, now: Instant) {
        self.sync(now);
        self.level = (self.level + amount).min(self.capacity);
    }

    /// Time until the bucket is full again.
    pub fn time_to_full(&self, now: Instant) -> Duration {
        let missing = self.capacity - self.level(now);
        if missing <= 0.0 {
            Duration::ZERO
        } else {
            self.secs_for(missing)
        }
    }

    /// Changes the per-minute limit, keeping the tokens already used.
    pub fn set_limit(&mut self, limit: f64, now: Instant) {
        self.sync(now);
        let used = self.capacity - self.level;
        self.limit = limit;
        self.capacity = Self::capacity_for(limit, self.burst_secs);
        self.rate = limit / 60.0;
        self.level = self.capacity - used;
    }

    fn secs_for(&self, amount: f64) -> Duration {
        if self.rate <= 0.0 {
            return Duration::MAX;
        }
        Duration::try_from_secs_f64(amount / self.rate).unwrap_or(Duration::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(start: Instant, secs: f64) -> Instant {
        start + Duration::from_secs_f64(secs)
    }

    /// Now, and a bucket of `limit` a minute, full at that moment.
    fn per_minute(limit: f64) -> (Instant, Bucket) {
        let now = Instant::now();
        (now, Bucket::per_minute(limit, now))
    }

    /// [`per_minute`] with `taken` already taken at that moment.
    fn taken(limit: f64, taken: f64) -> (Instant, Bucket) {
        let (now, mut b) = per_minute(limit);
        b.take(taken, now);
        (now, b)
    }

    #[test]
    fn a_short_burst_holds_less_and_admits_a_larger_amount_when_full() {
        let t0 = Instant::now();
        let mut b = Bucket::with_burst(600.0, 2.0, t0);
        assert_eq!(b.capacity(), 20.0);
        assert_eq!(b.check(100.0, t0), Ok(()));
        b.take(100.0, t0);
        // level -80: 20 more need 100 tokens at 10/s.
        assert_eq!(b.time_until(20.0, t0), Ok(Duration::from_secs(10)));
        assert!(matches!(
            b.check(601.0, t0),
            Err(Shortfall::NeverFits { .. })
        ));
    }

    #[test]
    fn starts_full() {
        let (t0, b) = per_minute(600.0);
        assert_eq!(b.level(t0), 600.0);
        assert_eq!(b.time_to_full(t0), Duration::ZERO);
    }

    #[test]
    fn refills_at_limit_per_sixty_seconds() {
        let (t0, b) = taken(600.0, 600.0);
        assert!((b.level(at(t0, 1.0)) - 10.0).abs() < 1e-9);
        assert!((b.level(at(t0, 30.0)) - 300.0).abs() < 1e-9);
        assert_eq!(b.level(at(t0, 120.0)), 600.0, "never above capacity");
    }

    #[test]
    fn reports_time_until_capacity() {
        let (t0, b) = taken(60.0, 60.0);
        assert_eq!(b.time_until(5.0, t0), Ok(Duration::from_secs(5)));
        assert_eq!(b.time_until(5.0, at(t0, 5.0)), Ok(Duration::ZERO));
        assert_eq!(
            b.check(1.0, t0),
            Err(Shortfall::Wait(Duration::from_secs(1)))
        );
        assert_eq!(b.time_to_full(t0), Duration::from_secs(60));
    }

    #[test]
    fn rejects_amounts_above_capacity_as_never_fitting() {
        let (t0, b) = per_minute(100.0);
        assert_eq!(
            b.check(101.0, t0),
            Err(Shortfall::NeverFits { capacity: 100.0 })
        );
    }

    #[test]
    fn may_go_negative_and_refills_from_there() {
        let (t0, b) = taken(60.0, 90.0);
        assert_eq!(b.level(t0), -30.0);
        assert!(b.check_not_empty(t0).is_err());
        assert!(b.check_not_empty(at(t0, 31.0)).is_ok());
    }

    #[test]
    fn give_refunds_without_exceeding_capacity() {
        let (t0, mut b) = taken(60.0, 10.0);
        b.give(50.0, t0);
        assert_eq!(b.level(t0), 60.0);
    }

    #[test]
    fn set_limit_keeps_usage() {
        let (t0, mut b) = taken(60.0, 20.0);
        b.set_limit(120.0, t0);
        assert_eq!(b.level(t0), 100.0);
        assert_eq!(b.capacity(), 120.0);
    }
}
