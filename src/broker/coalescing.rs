//! Coalescing: identical requests (same canonical key, see `key.rs`) while one is queued
//! or in flight share its one call; every waiter gets the same reply. This file owns the
//! key index and the count of what merging saved.

use super::job::{Job, Prepared, Waiter};
use super::key::RequestKey;
use super::lane::Lane;
use crate::types::Usage;
use std::collections::HashMap;

#[derive(Debug, Default)]
pub(crate) struct Coalescing {
    /// Canonical key → the job in flight or queued for it.
    by_key: HashMap<RequestKey, u64>,
    /// Requests that joined another's call.
    pub(crate) merged: u64,
    /// Their estimated input plus `max_tokens`: what they would have reserved.
    pub(crate) merged_tokens_saved: u64,
    /// What those tokens would have cost, at the configured prices.
    pub(crate) merged_usd_saved: f64,
}

impl Coalescing {
    /// Attaches `waiter` to the job queued or in flight for the same key, if there is
    /// one (and counts what that saved), returning that job's id; gives the waiter back
    /// otherwise.
    pub(crate) fn join(
        &mut self,
        prepared: &Prepared,
        waiter: Waiter,
        jobs: &mut rustc_hash::FxHashMap<u64, Box<Job>>,
        lanes: &[Lane],
    ) -> Result<u64, Waiter> {
        let Some(job) = self
            .by_key
            .get(&prepared.key)
            .and_then(|id| jobs.get_mut(id))
        else {
            return Err(waiter);
        };
        job.waiters.push(waiter);
        job.span
            .record("merged", super::job::int(job.waiters.len() as u64 - 1));
        self.merged += 1;
        let est_input = prepared.rungs.get(job.rung).map_or(0, |r| r.est_input);
        let max_out = u64::from(prepared.request.max_tokens);
        self.merged_tokens_saved += est_input + max_out;
        if let Some(lane) = lanes.get(job.lane) {
            let usage = Usage {
                input_tokens: est_input,
                output_tokens: max_out,
                ..Usage::default()
            };
            self.merged_usd_saved += lane.model.cost(&usage);
        }
        Ok(job.id)
    }

    /// Job `id` is the one identical requests with `key` join from now on.
    pub(crate) fn register(&mut self, key: RequestKey, id: u64) {
        self.by_key.insert(key, id);
    }

    /// `job` has replied: later identical requests make their own call.
    pub(crate) fn forget(&mut self, job: &Job) {
        let k = job.prepared.key;
        if job.coalesced && self.by_key.get(&k) == Some(&job.id) {
            self.by_key.remove(&k);
        }
    }
}
