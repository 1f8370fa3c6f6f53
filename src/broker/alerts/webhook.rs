//! `[alerts] webhook_url`: each evaluation that raised or cleared an alert is POSTed as
//! JSON ([`AlertChanges`]) from its own task, retried with doubling backoff on a
//! transport error or a non-2xx answer, so a slow or failing receiver never holds up the
//! watcher, let alone the broker.

use super::{AlertChanges, AlertSink};
use std::time::Duration;

/// Attempts per POST, the first included.
const ATTEMPTS: u32 = 4;
const TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) struct Webhook {
    url: String,
    client: reqwest::Client,
    backoff: Duration,
}

impl Webhook {
    pub(crate) fn new(url: String) -> Self {
        Webhook {
            url,
            client: reqwest::Client::builder()
                .timeout(TIMEOUT)
                .build()
                .unwrap_or_default(),
            backoff: Duration::from_secs(1),
        }
    }

    #[cfg(test)]
    pub(crate) fn with_backoff(mut self, backoff: Duration) -> Self {
        self.backoff = backoff;
        self
    }

    /// POSTs `changes`, retrying; true once the receiver accepted it.
    pub(crate) async fn post(&self, changes: &AlertChanges) -> bool {
        let mut wait = self.backoff;
        for attempt in 1..=ATTEMPTS {
            match self.client.post(&self.url).json(changes).send().await {
                Ok(r) if r.status().is_success() => return true,
                Ok(r) => tracing::warn!(
                    status = r.status().as_u16(),
                    attempt,
                    "alert webhook refused the POST"
                ),
                Err(e) => {
                    tracing::warn!(error = %e.without_url(), attempt, "alert webhook unreachable")
                }
            }
            if attempt < ATTEMPTS {
                tokio::time::sleep(wait).await;
                wait = wait.saturating_mul(2);
            }
        }
        false
    }
}

impl AlertSink for Webhook {
    fn changed(&self, changes: &AlertChanges) {
        let hook = Webhook {
            url: self.url.clone(),
            client: self.client.clone(),
            backoff: self.backoff,
        };
        let changes = changes.clone();
        tokio::spawn(async move {
            if !hook.post(&changes).await {
                tracing::warn!("alert webhook: gave up after {ATTEMPTS} attempts");
            }
        });
    }
}

#[cfg(all(test, feature = "monitor"))]
mod tests {
    use super::*;
    use axum::http::StatusCode;
    use std::sync::{Arc, Mutex};

    /// Real time over loopback (no paused clock with a real socket): the receiver refuses
    /// the first POST, so the second attempt carries the alert.
    #[tokio::test]
    async fn a_refused_post_is_retried_and_delivered_once() {
        let seen: Arc<Mutex<Vec<AlertChanges>>> = Arc::default();
        let rec = seen.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |axum::Json(body): axum::Json<AlertChanges>| {
                let rec = rec.clone();
                async move {
                    let mut v = rec.lock().unwrap();
                    v.push(body);
                    if v.len() == 1 {
                        StatusCode::INTERNAL_SERVER_ERROR
                    } else {
                        StatusCode::NO_CONTENT
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move { axum::serve(listener, app).await });
        let hook =
            Webhook::new(format!("http://{addr}/hook")).with_backoff(Duration::from_millis(10));
        let mut stats = crate::monitor::fixture::stats();
        stats.lanes.truncate(1);
        stats.quota_store_degraded = true;
        let cfg = crate::config::AlertsConfig::default();
        let after = super::super::evaluate(&stats, &Default::default(), 5.0, &cfg);
        let changes = super::super::changes(&Default::default(), &after);
        assert!(!changes.raised.is_empty());
        assert!(hook.post(&changes).await);
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[1], changes);
        server.abort();
    }
}
