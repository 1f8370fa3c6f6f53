//! Injected faults, drawn from a seeded RNG so a run's fault sequence is reproducible.
//!
//! Every request that reaches admission draws once per fault that applies to its model,
//! in list order, hit or miss, so the sequence depends only on the seed and the order of
//! requests. The first status fault hit wins; slow faults add up.

use quotaswarm::config::{Fault, FaultKind};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::time::Duration;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Drawn {
    pub status: Option<u16>,
    pub slow: Duration,
    /// Fail a streamed response after this many output tokens.
    pub mid_stream: Option<u64>,
}

#[derive(Debug)]
pub struct Faults {
    list: Vec<Fault>,
    rng: StdRng,
}

impl Faults {
    pub fn new(list: Vec<Fault>, seed: u64) -> Self {
        Faults {
            list,
            rng: StdRng::seed_from_u64(seed),
        }
    }

    /// Replaces the faults; the RNG sequence carries on.
    pub fn set(&mut self, list: Vec<Fault>) {
        self.list = list;
    }

    pub fn draw(&mut self, model: &str) -> Drawn {
        let mut out = Drawn::default();
        for f in &self.list {
            if f.model.as_deref().is_some_and(|m| m != model) {
                continue;
            }
            let hit = self.rng.random::<f64>() < f.rate;
            match f.kind {
                FaultKind::Status(s) if hit && out.status.is_none() => out.status = Some(s),
                FaultKind::Slow(d) if hit => out.slow = out.slow.saturating_add(d),
                FaultKind::MidStream { after_tokens } if hit && out.mid_stream.is_none() => {
                    out.mid_stream = Some(after_tokens)
                }
                _ => {}
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fault(model: Option<&str>, kind: FaultKind, rate: f64) -> Fault {
        let f = Fault::new(kind, rate);
        match model {
            Some(m) => f.for_model(m),
            None => f,
        }
    }

    #[test]
    fn same_seed_same_sequence() {
        let list = vec![fault(None, FaultKind::Status(529), 0.5)];
        let mut a = Faults::new(list.clone(), 7);
        let mut b = Faults::new(list, 7);
        let sa: Vec<_> = (0..50).map(|_| a.draw("m")).collect();
        let sb: Vec<_> = (0..50).map(|_| b.draw("m")).collect();
        assert_eq!(sa, sb);
        assert!(sa.iter().any(|d| d.status.is_some()) && sa.iter().any(|d| d.status.is_none()));
    }

    #[test]
    fn applies_only_to_its_model() {
        let mut f = Faults::new(vec![fault(Some("a"), FaultKind::Status(500), 1.0)], 1);
        assert_eq!(f.draw("b").status, None);
        assert_eq!(f.draw("a").status, Some(500));
    }

    #[test]
    fn slow_faults_add_latency() {
        let mut f = Faults::new(
            vec![fault(
                None,
                FaultKind::Slow(Duration::from_millis(300)),
                1.0,
            )],
            1,
        );
        assert_eq!(f.draw("x").slow, Duration::from_millis(300));
    }
}
