//! Sliding windows in fixed memory, for the statistics of a broker that runs for weeks.
//!
//! A [`Ring`] divides time into slots of one width (a second, a minute) and keeps the
//! last `n` of them; moving to a new slot clears the slots skipped over, so a gap longer
//! than the whole ring clears it. [`Windowed`] pairs a ring of 60 one-second slots (the
//! last minute) with one of 60 one-minute slots (the last hour); [`WindowedHistogram`]
//! keeps one histogram per minute and merges the last few for percentiles. Memory is
//! fixed at construction and does not grow with uptime or load.
//!
//! Everything is pure: each call takes `now`, and the first call fixes the origin from
//! which slots are numbered.

use hdrhistogram::Histogram;
use std::ops::AddAssign;
use std::time::Duration;
use tokio::time::Instant;

/// What a ring slot holds: something that can be emptied for reuse.
pub(crate) trait Slot {
    /// Empties the slot (its memory is kept).
    fn clear(&mut self);
}

impl Slot for u64 {
    fn clear(&mut self) {
        *self = 0;
    }
}

impl Slot for f64 {
    fn clear(&mut self) {
        *self = 0.0;
    }
}

impl Slot for Histogram<u64> {
    fn clear(&mut self) {
        self.reset();
    }
}

/// The last `n` slots of `width` each.
#[derive(Debug, Clone)]
pub(crate) struct Ring<T> {
    width: Duration,
    slots: Vec<T>,
    /// Instant of slot 0, fixed by the first write.
    origin: Option<Instant>,
    /// Absolute number of the newest slot written to (slots count from `origin`).
    newest: u64,
}

impl<T: Slot> Ring<T> {
    /// A ring of `slots.len()` slots (at least one) of `width` each.
    pub(crate) fn new(width: Duration, mut slots: Vec<T>, empty: impl FnOnce() -> T) -> Self {
        if slots.is_empty() {
            slots.push(empty());
        }
        Ring {
            width: width.max(Duration::from_nanos(1)),
            slots,
            origin: None,
            newest: 0,
        }
    }

    fn index(&self, origin: Instant, now: Instant) -> u64 {
        let n = now.saturating_duration_since(origin).as_nanos() / self.width.as_nanos();
        u64::try_from(n).unwrap_or(u64::MAX)
    }

    fn len(&self) -> u64 {
        self.slots.len() as u64
    }

    /// The slot for `now`, after clearing the slots passed since the last write. A `now`
    /// earlier than the last write counts in the newest slot.
    pub(crate) fn slot_mut(&mut self, now: Instant) -> &mut T {
        let origin = *self.origin.get_or_insert(now);
        let at = self.index(origin, now);
        if at > self.newest {
            let passed = at - self.newest;
            if passed >= self.len() {
                self.slots.iter_mut().for_each(Slot::clear);
            } else {
                for i in self.newest + 1..=at {
                    let n = self.len();
                    self.slots[(i % n) as usize].clear();
                }
            }
            self.newest = at;
        }
        let n = self.len();
        &mut self.slots[(self.newest % n) as usize]
    }

    /// The slots that cover `window` up to `now`: the current slot and the ones before
    /// it, `window / width` slots in all (rounded up, at most the ring's length), left
    /// out when they were never written or have been reused.
    pub(crate) fn recent(&self, now: Instant, window: Duration) -> impl Iterator<Item = &T> {
        let n = self.len();
        let (lo, hi) = match self.origin {
            None => (1, 0),
            Some(origin) => {
                let at = self.index(origin, now);
                let k = u64::try_from(window.as_nanos().div_ceil(self.width.as_nanos()))
                    .unwrap_or(u64::MAX)
                    .clamp(1, n);
                let lo = (at + 1).saturating_sub(k);
                let oldest_kept = (self.newest + 1).saturating_sub(n);
                (lo.max(oldest_kept), at.min(self.newest))
            }
        };
        (lo..=hi).map(move |i| &self.slots[(i % n) as usize])
    }
}

/// A quantity counted over the last minute (60 one-second slots) and the last hour (60
/// one-minute slots: the hour figure covers between 59 and 60 whole minutes).
#[derive(Debug, Clone)]
pub(crate) struct Windowed<T> {
    seconds: Ring<T>,
    minutes: Ring<T>,
}

/// One minute.
pub(crate) const MINUTE: Duration = Duration::from_secs(60);
/// One hour.
pub(crate) const HOUR: Duration = Duration::from_secs(3600);

impl<T: Slot + Copy + Default + AddAssign> Windowed<T> {
    /// Nothing counted yet.
    pub(crate) fn new() -> Self {
        Windowed {
            seconds: Ring::new(Duration::from_secs(1), vec![T::default(); 60], T::default),
            minutes: Ring::new(MINUTE, vec![T::default(); 60], T::default),
        }
    }

    /// Counts `v` at `now`.
    pub(crate) fn add(&mut self, now: Instant, v: T) {
        *self.seconds.slot_mut(now) += v;
        *self.minutes.slot_mut(now) += v;
    }

    fn sum<'a>(slots: impl Iterator<Item = &'a T>) -> T
    where
        T: 'a,
    {
        let mut total = T::default();
        for v in slots {
            total += *v;
        }
        total
    }

    /// The total of the last minute.
    pub(crate) fn last_minute(&self, now: Instant) -> T {
        Self::sum(self.seconds.recent(now, MINUTE))
    }

    /// The total of the last hour.
    pub(crate) fn last_hour(&self, now: Instant) -> T {
        Self::sum(self.minutes.recent(now, HOUR))
    }
}

/// How far back wait percentiles look: the current minute and the four before it.
pub(crate) const RECENT_WAITS: Duration = Duration::from_secs(5 * 60);

/// A histogram of durations (ms) over [`RECENT_WAITS`]: one histogram per minute, merged
/// on demand, so one bad burst leaves the percentiles once it is five minutes old.
#[derive(Debug, Clone)]
pub(crate) struct WindowedHistogram {
    minutes: Ring<Histogram<u64>>,
}

impl WindowedHistogram {
    /// Empty; `empty` makes one per-minute histogram.
    pub(crate) fn new(empty: fn() -> Histogram<u64>) -> Self {
        let slots = (RECENT_WAITS.as_secs() / 60) as usize;
        WindowedHistogram {
            minutes: Ring::new(MINUTE, (0..slots).map(|_| empty()).collect(), empty),
        }
    }

    /// Records `d` (whole milliseconds, clamped to 1 ms ..= 1 h) at `now`.
    pub(crate) fn record(&mut self, now: Instant, d: Duration) {
        let ms = u64::try_from(d.as_millis())
            .unwrap_or(u64::MAX)
            .clamp(1, 3_600_000);
        let _ = self.minutes.slot_mut(now).record(ms);
    }

    /// Adds the last [`RECENT_WAITS`] into `into`.
    pub(crate) fn merge_into(&self, now: Instant, into: &mut Histogram<u64>) {
        for h in self.minutes.recent(now, RECENT_WAITS) {
            let _ = into.add(h);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    /// Now, and a window holding each `(seconds after now, value)` of `events`.
    fn window<T: Slot + Copy + Default + AddAssign>(
        events: impl IntoIterator<Item = (u64, T)>,
    ) -> (Instant, Windowed<T>) {
        let t0 = Instant::now();
        let mut c = Windowed::new();
        for (s, v) in events {
            c.add(t0 + secs(s), v);
        }
        (t0, c)
    }

    #[test]
    fn counts_events_in_the_last_minute() {
        let (t0, c) = window([(0, 1u64), (30, 2), (59, 3)]);
        assert_eq!(c.last_minute(t0 + secs(59)), 6);
        assert_eq!(
            c.last_minute(t0 + secs(61)),
            5,
            "the first event is over a minute old"
        );
        assert_eq!(c.last_minute(t0 + secs(90)), 3);
        assert_eq!(c.last_minute(t0 + secs(120)), 0);
        assert_eq!(
            c.last_hour(t0 + secs(120)),
            6,
            "the hour still holds them all"
        );
    }

    #[test]
    fn forgets_events_older_than_an_hour() {
        let (t0, c) = window([(0, 1u64), (1800, 1)]);
        assert_eq!(c.last_hour(t0 + secs(3599)), 2);
        assert_eq!(c.last_hour(t0 + secs(3601)), 1);
        assert_eq!(c.last_hour(t0 + secs(5401)), 0);
    }

    #[test]
    fn gaps_longer_than_the_window_clear_it() {
        let (t0, mut c) = window((0..60).map(|s| (s, 1u64)));
        assert_eq!(c.last_minute(t0 + secs(59)), 60);
        // Three hours later, on the same slot positions: the old counts are gone.
        let later = t0 + secs(3 * 3600);
        c.add(later, 1);
        assert_eq!(c.last_minute(later), 1);
        assert_eq!(c.last_hour(later), 1);
    }

    #[test]
    fn partial_gaps_clear_only_the_slots_passed() {
        let (t0, c) = window([(0, 0.5), (10, 0.25), (65, 1.0)]);
        assert_eq!(c.last_minute(t0 + secs(65)), 1.25);
        assert_eq!(c.last_hour(t0 + secs(65)), 1.75);
    }

    #[test]
    fn an_empty_window_reads_zero() {
        let c = Windowed::<u64>::new();
        let now = Instant::now();
        assert_eq!(c.last_minute(now), 0);
        assert_eq!(c.last_hour(now), 0);
    }

    #[test]
    fn memory_stays_fixed_whatever_the_uptime() {
        let t0 = Instant::now();
        let mut c = Windowed::<u64>::new();
        let mut h = WindowedHistogram::new(|| Histogram::new(2).unwrap());
        let sizes = |c: &Windowed<u64>, h: &WindowedHistogram| {
            (
                c.seconds.slots.len(),
                c.minutes.slots.len(),
                h.minutes.slots.len(),
            )
        };
        let before = sizes(&c, &h);
        for i in 0..20_000u64 {
            let now = t0 + Duration::from_millis(i * 997);
            c.add(now, 1);
            h.record(now, Duration::from_millis(i % 5000));
        }
        assert_eq!(sizes(&c, &h), before);
        assert_eq!(before, (60, 60, 5));
    }

    fn p95(h: &WindowedHistogram, now: Instant) -> u64 {
        let mut all = Histogram::<u64>::new(2).unwrap();
        all.auto(true);
        h.merge_into(now, &mut all);
        if all.is_empty() {
            0
        } else {
            all.value_at_quantile(0.95)
        }
    }

    #[test]
    fn wait_percentiles_recover_once_a_burst_leaves_the_window() {
        let t0 = Instant::now();
        let mut h = WindowedHistogram::new(|| Histogram::new(2).unwrap());
        for _ in 0..100 {
            h.record(t0, secs(20));
        }
        assert!(p95(&h, t0 + secs(60)) >= 19_000);
        let later = t0 + RECENT_WAITS + secs(60);
        for _ in 0..100 {
            h.record(later, Duration::from_millis(100));
        }
        assert!(p95(&h, later) <= 101, "{}", p95(&h, later));
    }
}
