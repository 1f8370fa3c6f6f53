//! Attempts that never end: a transport that neither answers nor errors would hold its
//! lane slot and its reservation for good. A plain attempt carries a limit ([`limit`]: a
//! timer in the attempt's own task, which costs nothing for an attempt that finishes
//! without waiting); a stream gets a watchdog task ([`Watchdog`]). If the attempt has
//! not reported within its provider's timeout plus [`GRACE`] (for a stream, within the
//! idle timeout plus the grace since its last event, not counting time the stream
//! waits for a slow reader), the broker is told, and abandons the attempt — slot and reservation freed, the
//! attempt failed as a timeout (retried as one, or answered) and counted in
//! `attempts_abandoned`. A report that comes after that is stale and ignored, and
//! whatever a stuck stream still sends is dropped, so the caller never sees it.

use super::mailbox::{BrokerMailbox, BrokerMsg};
use super::state::BrokerState;
use super::time::after;
use crate::provider::{EventSink, Overdue, ProviderError, ProviderFailure, StreamEvent};
use futures_util::future::BoxFuture;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::AbortHandle;
use tokio::time::Instant;

/// What an attempt gets past its provider's own timeout before the broker abandons it:
/// the transport's timeout fires first and reports at once; this only catches attempts
/// whose transport never reports at all.
pub(crate) const GRACE: Duration = Duration::from_secs(30);

/// What the watchdog and the stream wrapper of one attempt share.
struct Activity {
    /// When the attempt was sent.
    start: Instant,
    /// Nanoseconds from `start` to the last event the stream delivered.
    last_event_nanos: AtomicU64,
    /// Deltas delivered to the caller (what decides whether a retry may follow).
    deltas: AtomicU64,
    /// Set when the broker gives up on the attempt: later events are dropped.
    abandoned: AtomicBool,
    /// Set while an event waits for room in the caller's buffer.
    sending: AtomicBool,
}

impl Activity {
    /// Records activity now.
    fn touch(&self) {
        let since = Instant::now().saturating_duration_since(self.start);
        let nanos = u64::try_from(since.as_nanos()).unwrap_or(u64::MAX);
        self.last_event_nanos.store(nanos, Ordering::Release);
    }

    fn last_event(&self) -> Instant {
        let nanos = self.last_event_nanos.load(Ordering::Acquire);
        after(self.start, Duration::from_nanos(nanos))
    }
}

/// An attempt's stream sink, as the provider sees it: records each event for the
/// watchdog, and drops everything once the attempt is abandoned.
struct WatchedSink {
    inner: Arc<dyn EventSink>,
    activity: Arc<Activity>,
}

impl EventSink for WatchedSink {
    fn send(&self, event: StreamEvent) -> BoxFuture<'_, bool> {
        Box::pin(async move {
            let activity = &self.activity;
            if activity.abandoned.load(Ordering::Acquire) {
                return false;
            }
            if event.is_delta() {
                activity.deltas.fetch_add(1, Ordering::AcqRel);
            }
            // While the caller's buffer is full the provider waits on the caller, not
            // the other way round: that is not the provider's silence.
            activity.sending.store(true, Ordering::Release);
            activity.touch();
            let delivered = self.inner.send(event).await;
            activity.touch();
            activity.sending.store(false, Ordering::Release);
            delivered
        })
    }

    fn closed(&self) -> BoxFuture<'static, ()> {
        self.inner.closed()
    }
}

/// The limit of plain (not streamed) attempt `attempt` of job `job` on lane `lane`: with
/// no report within `timeout` + [`GRACE`], the broker gets `Overdue`.
pub(crate) fn limit(
    mailbox: BrokerMailbox,
    (job, lane, attempt): (u64, usize, u64),
    timeout: Duration,
) -> Overdue {
    Overdue {
        after: timeout.saturating_add(GRACE),
        notify: Box::new(move || {
            mailbox.send(BrokerMsg::Overdue {
                job,
                lane,
                attempt,
                deltas: 0,
            });
        }),
    }
}

/// The watchdog of one streamed attempt, started by `dispatch`.
pub(crate) struct Watchdog {
    /// Stops the watchdog once the attempt reports.
    pub(crate) task: AbortHandle,
    /// The stream sink to hand the provider instead of the caller's.
    pub(crate) stream: Arc<dyn EventSink>,
}

impl Watchdog {
    /// Watches streamed attempt `attempt` of job `job` on lane `lane`, sent at `now`:
    /// with no event within `timeout` + [`GRACE`], the broker gets `Overdue`.
    pub(crate) fn start(
        mailbox: BrokerMailbox,
        (job, lane, attempt): (u64, usize, u64),
        timeout: Duration,
        stream: Arc<dyn EventSink>,
        now: Instant,
    ) -> Self {
        let activity = Arc::new(Activity {
            start: now,
            last_event_nanos: AtomicU64::new(0),
            deltas: AtomicU64::new(0),
            abandoned: AtomicBool::new(false),
            sending: AtomicBool::new(false),
        });
        let limit = timeout.saturating_add(GRACE);
        let watched = Arc::clone(&activity);
        let task = tokio::spawn(async move {
            loop {
                let due = after(watched.last_event(), limit);
                let now = Instant::now();
                if now < due {
                    tokio::time::sleep_until(due).await;
                } else if watched.sending.load(Ordering::Acquire) {
                    // A slow reader holds the stream up: look again later.
                    tokio::time::sleep_until(after(now, limit)).await;
                } else {
                    break;
                }
            }
            watched.abandoned.store(true, Ordering::Release);
            let deltas = watched.deltas.load(Ordering::Acquire);
            mailbox.send(BrokerMsg::Overdue {
                job,
                lane,
                attempt,
                deltas,
            });
        })
        .abort_handle();
        let stream = Arc::new(WatchedSink {
            inner: stream,
            activity: Arc::clone(&activity),
        }) as Arc<dyn EventSink>;
        Watchdog { task, stream }
    }
}

impl BrokerState {
    /// The watchdog of attempt `attempt` of job `id` fired: unless the attempt reported
    /// in the meantime, it is abandoned and failed as a timeout (a stream that had
    /// delivered `deltas` fails mid-stream, so it is not retried).
    pub(crate) fn on_overdue(
        &mut self,
        id: u64,
        lane: usize,
        attempt: u64,
        deltas: u64,
        now: Instant,
    ) {
        let Some(job) = self.jobs.get(&id) else {
            return;
        };
        if job.lane != lane || job.in_flight != Some(attempt) {
            return; // it reported first
        }
        let Some(l) = self.lanes.get_mut(lane) else {
            return;
        };
        l.counters.on_abandoned();
        job.span.in_scope(|| {
            tracing::warn!(model = %l.model.name, "attempt abandoned: no answer within its timeout and grace")
        });
        let error = if deltas == 0 {
            ProviderError::Timeout
        } else {
            ProviderError::MidStream {
                error: Box::new(ProviderError::Timeout),
                deltas_delivered: deltas,
                partial_usage: Default::default(),
            }
        };
        self.on_finished(id, lane, attempt, Err(ProviderFailure::from(error)), now);
    }
}
