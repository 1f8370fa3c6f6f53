//! `BrokerHandle`: what agents hold. Work that needs no shared state happens here, in the
//! caller's task, before the message is sent: validation, the canonical key, token
//! estimation (with the shared per-message cache) and trimming. The broker then does only
//! O(1) bookkeeping.

use super::error::BrokerError;
use super::job::{Prepared, RungPlan};
use super::key::canonical_key;
use super::mailbox::BrokerMailbox;
use super::stats::Stats;
use super::BrokerMsg;
use crate::config::Config;
use crate::tokens::{Encoding, Estimator};
use crate::types::{Completion, CompletionRequest, ContentBlock};
use ractor::concurrency::oneshot;
use ractor::RpcReplyPort;
use std::sync::Arc;

#[derive(Clone)]
pub struct BrokerHandle {
    pub(crate) mailbox: BrokerMailbox,
    pub(crate) config: Arc<Config>,
    pub(crate) estimator: Arc<Estimator>,
}

impl BrokerHandle {
    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn estimator(&self) -> &Estimator {
        &self.estimator
    }

    /// Messages sent to the broker and not yet handled (an atomic read).
    pub fn mailbox_depth(&self) -> u64 {
        self.mailbox.counters.depth()
    }

    /// Asks for one completion. Bad input is refused at once; otherwise the reply comes
    /// when the request has been admitted and answered (or has finally failed).
    pub async fn complete(&self, req: CompletionRequest) -> Result<Completion, BrokerError> {
        let prepared = self.prepare(req)?;
        let (tx, rx) = oneshot();
        let port: RpcReplyPort<_> = tx.into();
        if !self
            .mailbox
            .send(BrokerMsg::Complete(Box::new(prepared), port))
        {
            return Err(BrokerError::BrokerStopped);
        }
        rx.await.unwrap_or(Err(BrokerError::BrokerStopped))
    }

    /// A statistics snapshot.
    pub async fn stats(&self) -> Result<Stats, BrokerError> {
        let (tx, rx) = oneshot();
        if !self.mailbox.send(BrokerMsg::Stats(tx.into())) {
            return Err(BrokerError::BrokerStopped);
        }
        rx.await.map_err(|_| BrokerError::BrokerStopped)
    }

    /// Validates, keys and estimates `req` (runs in the caller's task).
    pub fn prepare(&self, req: CompletionRequest) -> Result<Prepared, BrokerError> {
        validate(&req)?;
        let rungs = self
            .config
            .rungs(&req.target)
            .ok_or_else(|| BrokerError::UnknownTarget(req.target.clone()))?;
        let key = canonical_key(&req);
        let mut plans = Vec::with_capacity(rungs.len());
        for model in rungs {
            let Some(m) = self.config.model(&model) else {
                return Err(BrokerError::UnknownTarget(model));
            };
            let raw = self
                .estimator
                .raw_input(Encoding::for_model(&m.model), &req);
            let est = self.estimator.calibrated(&model, &m.model, raw);
            plans.push(RungPlan {
                model,
                raw_input: raw,
                est_input: est,
            });
        }
        Ok(Prepared {
            request: Arc::new(req),
            key,
            rungs: plans,
            trimmed_tokens: 0,
        })
    }
}

fn validate(req: &CompletionRequest) -> Result<(), BrokerError> {
    let bad = |m: &str| Err(BrokerError::InvalidRequest(m.to_string()));
    if req.messages.is_empty() {
        return bad("messages is empty: a request needs at least one user message");
    }
    if req.max_tokens == 0 {
        return bad("max_tokens must be at least 1");
    }
    if let Some(t) = req.temperature {
        if !(0.0..=2.0).contains(&t) {
            return bad("temperature must be between 0 and 2");
        }
    }
    if let Some(p) = req.top_p {
        if !(0.0..=1.0).contains(&p) {
            return bad("top_p must be between 0 and 1");
        }
    }
    for (i, m) in req.messages.iter().enumerate() {
        if m.content.is_empty() {
            return Err(BrokerError::InvalidRequest(format!(
                "messages[{i}] has no content"
            )));
        }
        let blank = m
            .content
            .iter()
            .all(|b| matches!(b, ContentBlock::Text { text } if text.trim().is_empty()));
        if blank {
            return Err(BrokerError::InvalidRequest(format!(
                "messages[{i}] has only empty text"
            )));
        }
    }
    Ok(())
}
