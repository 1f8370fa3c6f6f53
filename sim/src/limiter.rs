//! The bucket set of one (key, model): admission and settlement, pure over `now`.
//!
//! Anthropic models have RPM, ITPM and OTPM buckets; OpenAI models RPM and TPM. A
//! request is admitted only if every bucket it touches can pay; then all are debited at
//! once. After generation the reservation is settled against the actual output.

use super::bucket::{Bucket, Shortfall};
use quotaswarm::config::Limits;
use std::time::Duration;
use tokio::time::Instant;

/// Which limit a figure or a denial is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dim {
    Requests,
    InputTokens,
    OutputTokens,
    /// OpenAI's combined TPM.
    Tokens,
}

/// What a request costs at admission.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cost {
    pub input: f64,
    /// Output tokens reserved now (max_tokens); 0 when output is charged afterwards.
    pub output_reserve: f64,
}

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Denial {
    pub dim: Dim,
    pub limit: f64,
    /// Tokens (or requests) this request asked for in that dimension.
    pub requested: f64,
    /// Already used in that dimension (capacity − level).
    pub used: f64,
    /// `None`: can never fit.
    pub wait: Option<Duration>,
}

/// One limit as reported in headers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Window {
    pub dim: Dim,
    pub limit: f64,
    /// May be negative.
    pub level: f64,
    pub reset: Duration,
}

#[derive(Debug, Clone)]
pub enum ModelBuckets {
    Split {
        rpm: Bucket,
        itpm: Bucket,
        otpm: Bucket,
    },
    Combined {
        rpm: Bucket,
        tpm: Bucket,
    },
}

impl ModelBuckets {
    pub fn new(limits: Limits, now: Instant) -> Self {
        Self::with_burst(limits, 60.0, now)
    }

    /// Buckets holding `burst_secs` of refill each.
    pub fn with_burst(limits: Limits, burst_secs: f64, now: Instant) -> Self {
        let b = |limit| Bucket::with_burst(limit, burst_secs, now);
        match limits {
            Limits::Split { rpm, itpm, otpm } => ModelBuckets::Split {
                rpm: b(rpm),
                itpm: b(itpm),
                otpm: b(otpm),
            },
            Limits::Combined { rpm, tpm } => ModelBuckets::Combined {
                rpm: b(rpm),
                tpm: b(tpm),
            },
        }
    }

    /// Applies new limits, keeping usage; a change of style starts afresh.
    pub fn set_limits(&mut self, limits: Limits, now: Instant) {
        match (self, limits) {
            (
                ModelBuckets::Split { rpm, itpm, otpm },
                Limits::Split {
                    rpm: r,
                    itpm: i,
                    otpm: o,
                },
            ) => {
                rpm.set_limit(r, now);
                itpm.set_limit(i, now);
                otpm.set_limit(o, now);
            }
            (ModelBuckets::Combined { rpm, tpm }, Limits::Combined { rpm: r, tpm: t }) => {
                rpm.set_limit(r, now);
                tpm.set_limit(t, now);
            }
            (me, l) => *me = ModelBuckets::new(l, now),
        }
    }

    fn buckets(&self) -> Vec<(Dim, &Bucket)> {
        match self {
            ModelBuckets::Split { rpm, itpm, otpm } => vec![
                (Dim::Requests, rpm),
                (Dim::InputTokens, itpm),
                (Dim::OutputTokens, otpm),
            ],
            ModelBuckets::Combined { rpm, tpm } => vec![(Dim::Requests, rpm), (Dim::Tokens, tpm)],
        }
    }

    /// The amount `cost` asks of each dimension.
    fn demand(&self, cost: Cost, dim: Dim) -> f64 {
        match dim {
            Dim::Requests => 1.0,
            Dim::InputTokens => cost.input,
            Dim::OutputTokens => cost.output_reserve,
            Dim::Tokens => cost.input + cost.output_reserve,
        }
    }

    /// Admits and debits `cost`, or says why not: a "never fits" denial first, else the
    /// dimension with the longest wait.
    pub fn admit(&mut self, cost: Cost, now: Instant) -> Result<(), Denial> {
        let mut worst: Option<Denial> = None;
        for (dim, bucket) in self.buckets() {
            let requested = self.demand(cost, dim);
            // OTPM charged afterwards: admission only needs the bucket to be non-empty.
            let verdict = if dim == Dim::OutputTokens && requested == 0.0 {
                bucket.check_not_empty(now)
            } else {
                bucket.check(requested, now)
            };
            let wait = match verdict {
                Ok(()) => continue,
                Err(Shortfall::Wait(d)) => Some(d),
                Err(Shortfall::NeverFits { .. }) => None,
            };
            let denial = Denial {
                dim,
                limit: bucket.limit(),
                requested,
                used: bucket.capacity() - bucket.level(now),
                wait,
            };
            worst = Some(match worst {
                None => denial,
                Some(w) => match (w.wait, denial.wait) {
                    (None, _) => w,
                    (_, None) => denial,
                    (Some(a), Some(b)) if b > a => denial,
                    _ => w,
                },
            });
        }
        if let Some(d) = worst {
            return Err(d);
        }
        match self {
            ModelBuckets::Split { rpm, itpm, otpm } => {
                rpm.take(1.0, now);
                itpm.take(cost.input, now);
                otpm.take(cost.output_reserve, now);
            }
            ModelBuckets::Combined { rpm, tpm } => {
                rpm.take(1.0, now);
                tpm.take(cost.input + cost.output_reserve, now);
            }
        }
        Ok(())
    }

    /// Charges one request without admission (the level may go negative): a refused
    /// OpenAI request still counts against RPM.
    pub fn charge_request(&mut self, now: Instant) {
        match self {
            ModelBuckets::Split { rpm, .. } | ModelBuckets::Combined { rpm, .. } => {
                rpm.take(1.0, now)
            }
        }
    }

    /// Replaces the output reservation with the actual output.
    pub fn settle(&mut self, reserved_output: f64, actual_output: f64, now: Instant) {
        let b = match self {
            ModelBuckets::Split { otpm, .. } => otpm,
            ModelBuckets::Combined { tpm, .. } => tpm,
        };
        b.give(reserved_output, now);
        b.take(actual_output, now);
    }

    /// Every limit's state at `now`, for headers.
    pub fn windows(&self, now: Instant) -> Vec<Window> {
        self.buckets()
            .into_iter()
            .map(|(dim, b)| Window {
                dim,
                limit: b.limit(),
                level: b.level(now),
                reset: b.time_to_full(now),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Now, and buckets of `limits` full at that moment.
    fn fresh(limits: Limits) -> (Instant, ModelBuckets) {
        let now = Instant::now();
        (now, ModelBuckets::new(limits, now))
    }

    /// 10 requests and 1,000 tokens a minute.
    fn combined() -> (Instant, ModelBuckets) {
        fresh(Limits::Combined {
            rpm: 10.0,
            tpm: 1000.0,
        })
    }

    fn cost(input: f64, output_reserve: f64) -> Cost {
        Cost {
            input,
            output_reserve,
        }
    }

    /// 60 requests, 600 input and 120 output tokens a minute.
    fn split() -> (Instant, ModelBuckets) {
        fresh(Limits::Split {
            rpm: 60.0,
            itpm: 600.0,
            otpm: 120.0,
        })
    }

    #[test]
    fn admits_and_debits_every_bucket() {
        let (t0, mut b) = split();
        let cost = cost(100.0, 20.0);
        assert_eq!(b.admit(cost, t0), Ok(()));
        let w = b.windows(t0);
        assert_eq!(w[0].level, 59.0);
        assert_eq!(w[1].level, 500.0);
        assert_eq!(w[2].level, 100.0);
    }

    #[test]
    fn denies_with_the_longest_wait_and_debits_nothing() {
        let (t0, mut b) = split();
        let big = cost(600.0, 0.0);
        assert_eq!(b.admit(big, t0), Ok(()));
        let d = b.admit(cost(100.0, 0.0), t0);
        let d = d.err();
        assert_eq!(d.map(|d| d.dim), Some(Dim::InputTokens));
        // 100 tokens at 10/s.
        assert_eq!(d.and_then(|d| d.wait), Some(Duration::from_secs(10)));
        assert_eq!(
            b.windows(t0)[0].level,
            59.0,
            "a denied request costs nothing"
        );
    }

    #[test]
    fn says_never_fits_for_a_request_above_capacity() {
        let (t0, mut b) = combined();
        let d = b.admit(cost(900.0, 200.0), t0);
        assert_eq!(
            d,
            Err(Denial {
                dim: Dim::Tokens,
                limit: 1000.0,
                requested: 1100.0,
                used: 0.0,
                wait: None
            })
        );
    }

    #[test]
    fn settles_reservation_to_actual_output() {
        let (t0, mut b) = combined();
        let cost = cost(100.0, 400.0);
        assert_eq!(b.admit(cost, t0), Ok(()));
        b.settle(400.0, 50.0, t0);
        assert_eq!(b.windows(t0)[1].level, 850.0);
    }
}
