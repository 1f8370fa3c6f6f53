//! Dispatch: an admitted job's attempt started in a task of its own over its lane's
//! endpoint (`provider::spawn_attempt`), with the report that comes back as `Finished`
//! exactly once, whatever happens to the attempt, and a limit in case that report never
//! comes (`overdue.rs`): a plain attempt carries its own timer, a stream a watchdog.

use super::bucket::Cost;
use super::circuit::Transition;
use super::mailbox::{BrokerMsg, Finished};
use super::overdue::{self, Watchdog};
use super::state::BrokerState;
use crate::provider::{
    spawn_attempt, Dispatch, EventSink, ProviderError, ProviderFailure, Reporter,
};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// The timeout of an attempt whose provider the config does not name (cannot happen: a
/// validated config names every model's provider); the providers' default.
const FALLBACK_TIMEOUT: Duration = Duration::from_secs(600);

impl BrokerState {
    pub(crate) fn dispatch(&mut self, id: u64, cost: Cost, now: Instant) {
        let token = self.next_attempt;
        self.next_attempt += 1;
        let Some(job) = self.jobs.get_mut(&id) else {
            return;
        };
        let Some(lane) = self.lanes.get_mut(job.lane) else {
            return;
        };
        job.attempt += 1;
        job.reserved = cost;
        job.in_flight = Some(token);
        job.sent_at = Some(now);
        // A span nobody subscribes to records nothing (each record still costs a call).
        let traced = !job.span.is_disabled();
        if job.attempt == 1 {
            let waited = now.saturating_duration_since(job.enqueued_at);
            lane.counters.on_queue_wait(waited, now);
            if traced {
                job.span
                    .record("waited_ms", super::job::int(waited.as_millis() as u64));
            }
        }
        if traced {
            job.span.record("attempt", i64::from(job.attempt));
            job.span.record("lane", lane.model.name.as_str());
        }
        lane.in_flight += 1;
        lane.counters.on_sent(now);
        if lane.circuit.on_send(now) == Some(Transition::HalfOpened) {
            job.span.in_scope(
                || tracing::info!(model = %lane.model.name, "circuit half-open: sending a probe"),
            );
        }
        let lane_idx = job.lane;
        // The model's own headers and `extra_body` go under the request's.
        let request = lane.model.with_extras(job.prepared.request_for(job.rung));
        let wire_model = lane.model.model.clone();
        let endpoint = self.endpoints.get(&lane.model.provider).cloned();
        let stream = job
            .sink
            .as_ref()
            .map(|(_, s)| Arc::new(s.clone()) as Arc<dyn EventSink>);
        // A stream has no total timeout, only one between events.
        let timeout =
            self.config
                .providers
                .get(&lane.model.provider)
                .map_or(FALLBACK_TIMEOUT, |p| {
                    if stream.is_some() {
                        p.stream_idle_timeout
                    } else {
                        p.timeout
                    }
                });
        let attempt = (id, lane_idx, token);
        // A stream's silence is measured between events (a watchdog task beside it); a
        // plain attempt's from its start (a timer in its own task).
        let (stream, stop_watchdog, overdue) = match stream {
            Some(sink) => {
                let w = Watchdog::start(self.mailbox.clone(), attempt, timeout, sink, now);
                (Some(w.stream), Some(w.task), None)
            }
            None => (
                None,
                None,
                Some(overdue::limit(self.mailbox.clone(), attempt, timeout)),
            ),
        };
        let mailbox = self.mailbox.clone();
        // Reports exactly once, even if the attempt panics or is dropped (`Reporter`).
        let on_done = Reporter::new(Box::new(move |outcome| {
            if let Some(w) = stop_watchdog {
                w.abort();
            }
            mailbox.send(BrokerMsg::Finished(Box::new(Finished {
                job: id,
                lane: lane_idx,
                attempt: token,
                outcome,
            })));
        }));
        let dispatch = Dispatch {
            wire_model,
            request,
            on_done,
            stream,
            overdue,
        };
        match endpoint {
            Some(endpoint) => spawn_attempt(endpoint, dispatch),
            // A model whose provider has no endpoint: the attempt fails as a connection
            // error, reported through the mailbox like any outcome and retried like one.
            None => {
                tracing::warn!("dispatch failed: no endpoint for this model's provider");
                dispatch
                    .on_done
                    .report(Err(ProviderFailure::from(ProviderError::Connection {
                        message: "provider unavailable: no endpoint for this model's provider"
                            .into(),
                    })));
            }
        }
    }
}
