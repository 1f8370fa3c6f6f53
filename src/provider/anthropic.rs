//! Anthropic Messages API. TODO(provider helper).
use super::*;

pub struct Anthropic;

impl Provider for Anthropic {
    fn wire(&self) -> Wire {
        Wire::Anthropic
    }
    fn encode(
        &self,
        _model: &str,
        _req: &CompletionRequest,
        _key: Option<&ApiKey>,
    ) -> Result<HttpRequest, ProviderError> {
        todo!()
    }
    fn decode(
        &self,
        _response: HttpResponse,
        _now: SystemTime,
    ) -> Result<ProviderReply, ProviderFailure> {
        todo!()
    }
}
