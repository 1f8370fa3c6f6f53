//! A lane's circuit breaker, pure: consecutive model failures (5xx, 529, timeouts) past a
//! threshold open the circuit for a cool-down; then one probe decides whether it closes.

use serde::{Deserialize, Serialize};
use std::time::Duration;
use tokio::time::Instant;

/// The state of a lane's circuit breaker, as reported in [`LaneStats`](super::LaneStats)
/// (serialised `closed`, `open`, `half_open`).
///
/// After `circuit_threshold` consecutive failures of the model (5xx, 529, timeouts,
/// connection errors; not 429s or bad requests) the circuit opens for
/// `circuit_cooldown` (`[broker]` in the config), during which the lane sends nothing and
/// ladder requests fall through to the next rung. Then one probe is let through: its
/// success closes the circuit, its failure opens it again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CircuitState {
    /// Requests flow normally.
    Closed,
    /// Cooling down after repeated failures: nothing is sent to this lane.
    Open,
    /// The cool-down is over and one probe request is (or may be) in flight.
    HalfOpen,
}

#[derive(Debug, Clone)]
pub(crate) struct Circuit {
    threshold: u32,
    cooldown: Duration,
    failures: u32,
    open_until: Option<Instant>,
    probe_in_flight: bool,
    /// Times it has opened.
    pub(crate) opened: u64,
}

/// A change worth logging.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transition {
    Opened,
    HalfOpened,
    Closed,
}

impl Circuit {
    pub(crate) fn new(threshold: u32, cooldown: Duration) -> Self {
        Circuit {
            threshold: threshold.max(1),
            cooldown,
            failures: 0,
            open_until: None,
            probe_in_flight: false,
            opened: 0,
        }
    }

    pub(crate) fn state(&self, now: Instant) -> CircuitState {
        match self.open_until {
            None => CircuitState::Closed,
            Some(t) if now < t => CircuitState::Open,
            Some(_) => CircuitState::HalfOpen,
        }
    }

    /// When an open circuit lets its probe through.
    pub(crate) fn open_until(&self) -> Option<Instant> {
        self.open_until
    }

    /// Whether a request may be sent now (a half-open circuit lets one probe through).
    pub(crate) fn may_send(&self, now: Instant) -> bool {
        match self.state(now) {
            CircuitState::Closed => true,
            CircuitState::Open => false,
            CircuitState::HalfOpen => !self.probe_in_flight,
        }
    }

    /// Records a send; returns `HalfOpened` when it is the probe.
    pub(crate) fn on_send(&mut self, now: Instant) -> Option<Transition> {
        if self.state(now) == CircuitState::HalfOpen && !self.probe_in_flight {
            self.probe_in_flight = true;
            return Some(Transition::HalfOpened);
        }
        None
    }

    pub(crate) fn on_success(&mut self) -> Option<Transition> {
        self.failures = 0;
        self.probe_in_flight = false;
        self.open_until.take().map(|_| Transition::Closed)
    }

    /// A failure of the model (not of the caller's request).
    pub(crate) fn on_failure(&mut self, now: Instant) -> Option<Transition> {
        self.failures += 1;
        let probing = self.probe_in_flight;
        self.probe_in_flight = false;
        if probing || (self.open_until.is_none() && self.failures >= self.threshold) {
            self.open_until = Some(super::time::after(now, self.cooldown));
            self.opened += 1;
            return Some(Transition::Opened);
        }
        None
    }

    /// Another process sharing the quota store opened this lane's circuit until `until`:
    /// open it here too (never shortening a longer opening).
    pub(crate) fn open_shared(&mut self, until: Instant) {
        if self.open_until.is_none_or(|t| t < until) {
            self.open_until = Some(until);
            self.opened += 1;
        }
    }

    /// The model cannot serve anything (unknown or retired): opens at once, whatever the
    /// count, for a cool-down; after it one probe finds out whether it is back.
    pub(crate) fn trip(&mut self, now: Instant) -> Option<Transition> {
        self.failures = self.failures.max(self.threshold);
        self.probe_in_flight = false;
        let was_open = self.state(now) == CircuitState::Open;
        self.open_until = Some(super::time::after(now, self.cooldown));
        if was_open {
            return None;
        }
        self.opened += 1;
        Some(Transition::Opened)
    }

    /// Any other outcome (e.g. a 400): ends a probe without deciding.
    pub(crate) fn on_neutral(&mut self) {
        self.probe_in_flight = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_threshold_consecutive_failures_and_closes_after_a_good_probe() {
        let t0 = Instant::now();
        let mut c = Circuit::new(3, Duration::from_secs(10));
        assert_eq!(c.on_failure(t0), None);
        assert_eq!(c.on_failure(t0), None);
        assert_eq!(c.on_failure(t0), Some(Transition::Opened));
        assert!(!c.may_send(t0 + Duration::from_secs(9)));
        let later = t0 + Duration::from_secs(10);
        assert!(c.may_send(later));
        assert_eq!(c.on_send(later), Some(Transition::HalfOpened));
        assert!(!c.may_send(later), "only one probe at a time");
        assert_eq!(c.on_success(), Some(Transition::Closed));
        assert_eq!(c.state(later), CircuitState::Closed);
    }

    #[test]
    fn a_failed_probe_reopens_for_another_cooldown() {
        let t0 = Instant::now();
        let mut c = Circuit::new(1, Duration::from_secs(5));
        c.on_failure(t0);
        let t1 = t0 + Duration::from_secs(5);
        c.on_send(t1);
        assert_eq!(c.on_failure(t1), Some(Transition::Opened));
        assert_eq!(c.state(t1 + Duration::from_secs(4)), CircuitState::Open);
        assert_eq!(c.opened, 2);
    }

    #[test]
    fn a_trip_opens_at_once_and_a_good_probe_closes_it() {
        let t0 = Instant::now();
        let mut c = Circuit::new(5, Duration::from_secs(30));
        assert_eq!(c.trip(t0), Some(Transition::Opened));
        assert_eq!(c.state(t0), CircuitState::Open);
        assert_eq!(c.trip(t0), None, "already open");
        let later = t0 + Duration::from_secs(30);
        assert_eq!(c.on_send(later), Some(Transition::HalfOpened));
        assert_eq!(c.on_success(), Some(Transition::Closed));
        assert_eq!(c.opened, 1);
    }

    #[test]
    fn a_success_resets_the_count() {
        let t0 = Instant::now();
        let mut c = Circuit::new(2, Duration::from_secs(5));
        c.on_failure(t0);
        c.on_success();
        assert_eq!(c.on_failure(t0), None);
    }
}
