//! The provider actor: one per endpoint, generic over the [`Provider`] trait through
//! [`Endpoint`].
//!
//! Messages: [`ProviderMsg::Dispatch`]. For each dispatch it spawns one task that sends the
//! HTTP request and hands the outcome to the dispatch's `on_done` callback, which the
//! broker builds to post a `Finished` message back to itself. The actor itself never
//! awaits I/O, so one slow response does not hold up the next dispatch. Every dispatch
//! reports exactly once: success, failure and timeout alike (the transport has a timeout).

use super::{Endpoint, ProviderFailure, ProviderReply};
use crate::types::CompletionRequest;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use std::sync::Arc;

/// Called once with the outcome of a dispatch.
pub type OnDone = Box<dyn FnOnce(Result<ProviderReply, ProviderFailure>) + Send + 'static>;

pub struct Dispatch {
    pub wire_model: String,
    pub request: Arc<CompletionRequest>,
    pub on_done: OnDone,
}

pub enum ProviderMsg {
    Dispatch(Box<Dispatch>),
}

pub struct ProviderActor;

impl Actor for ProviderActor {
    type Msg = ProviderMsg;
    type State = Endpoint;
    type Arguments = Endpoint;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        endpoint: Endpoint,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(endpoint)
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        endpoint: &mut Endpoint,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            ProviderMsg::Dispatch(d) => on_dispatch(endpoint.clone(), *d),
        }
        Ok(())
    }
}

fn on_dispatch(endpoint: Endpoint, d: Dispatch) {
    tokio::spawn(async move {
        let outcome = endpoint.complete(&d.wire_model, &d.request).await;
        (d.on_done)(outcome);
    });
}
