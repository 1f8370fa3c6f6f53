//! OpenAI Chat Completions. TODO(provider helper).
use super::*;

pub struct OpenAi;

impl Provider for OpenAi {
    fn wire(&self) -> Wire {
        Wire::OpenAi
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
