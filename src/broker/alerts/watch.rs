//! The alert watcher: a task that takes a [`Stats`] snapshot every `[alerts]
//! interval_secs`, evaluates the alerts (the pure `evaluate`), publishes the active set
//! for [`BrokerHandle::stats`], logs what was raised (`warn`) and cleared (`info`), and
//! hands the changes to the sinks (the webhook, a test's recorder). It runs beside the
//! broker, never inside its handler, so a slow webhook cannot hold up admission; it ends
//! when the broker stops.

use super::{changes, evaluate, Alert, AlertChanges, AlertState};
use crate::broker::BrokerHandle;
use crate::config::AlertsConfig;
use std::sync::{Arc, Mutex};
use tokio::time::MissedTickBehavior;

/// Where alert changes go besides the log and `Stats` (see
/// [`StartOptions::alert_sink`](crate::broker::StartOptions::alert_sink)). Called from the
/// watcher's task: return quickly (spawn any slow work).
pub trait AlertSink: Send + Sync + 'static {
    /// One evaluation raised or cleared at least one alert.
    fn changed(&self, changes: &AlertChanges);
}

/// The active alerts as last evaluated, shared by the watcher and every handle.
#[derive(Debug, Default)]
pub(crate) struct Current(Mutex<Vec<Alert>>);

impl Current {
    pub(crate) fn get(&self) -> Vec<Alert> {
        self.0.lock().map(|a| a.clone()).unwrap_or_default()
    }

    fn set(&self, alerts: Vec<Alert>) {
        if let Ok(mut a) = self.0.lock() {
            *a = alerts;
        }
    }
}

/// Starts the watcher over `handle` (whose `alerts` is `current`).
pub(crate) fn spawn(
    handle: BrokerHandle,
    config: AlertsConfig,
    mut sinks: Vec<Arc<dyn AlertSink>>,
) {
    if !config.enabled {
        return;
    }
    if let Some(url) = &config.webhook_url {
        sinks.push(Arc::new(super::webhook::Webhook::new(url.clone())));
    }
    tokio::spawn(async move {
        let mut state = AlertState::default();
        // The first evaluation one interval after the start: there is nothing to see
        // before.
        let first = tokio::time::Instant::now() + config.interval;
        let mut tick = tokio::time::interval_at(first, config.interval);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Ok(stats) = handle.stats().await else {
                break;
            };
            let next = evaluate(&stats, &state, stats.uptime_secs, &config);
            let changed = changes(&state, &next);
            handle.alerts.set(next.alerts());
            state = next;
            if changed.is_empty() {
                continue;
            }
            for a in &changed.raised {
                tracing::warn!(
                    kind = a.kind.as_str(),
                    lane = a.lane_label(),
                    value = a.value,
                    threshold = a.threshold,
                    advice = a.advice.as_deref().unwrap_or(""),
                    "alert raised: {}",
                    a.message
                );
            }
            for a in &changed.cleared {
                tracing::info!(
                    kind = a.kind.as_str(),
                    lane = a.lane_label(),
                    after_secs = a.age_secs,
                    "alert cleared"
                );
            }
            for s in &sinks {
                s.changed(&changed);
            }
        }
    });
}
