//! The canonical key of a request: a hash of everything that shapes the answer (target,
//! system, messages, max_tokens, sampling, stop, tools, tool choice, output schema,
//! thinking, reasoning effort). Broker options and
//! metadata do not shape the answer and are left out. Computed in the caller's task.

use crate::types::CompletionRequest;
use std::hash::{Hash, Hasher};

pub(crate) fn canonical_key(req: &CompletionRequest) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    req.target.hash(&mut h);
    req.max_tokens.hash(&mut h);
    req.temperature.map(f32::to_bits).hash(&mut h);
    req.top_p.map(f32::to_bits).hash(&mut h);
    req.top_k.hash(&mut h);
    req.stop.hash(&mut h);
    req.parallel_tool_calls.hash(&mut h);
    req.tool_choice.hash(&mut h);
    req.thinking.hash(&mut h);
    req.reasoning_effort.hash(&mut h);
    // serde_json gives one stable text for the structured parts (blocks, tool inputs,
    // schemas). Cache breakpoints are part of it: they change what the provider bills.
    let parts = (&req.system, &req.messages, &req.tools, &req.response_format);
    serde_json::to_string(&parts)
        .unwrap_or_default()
        .hash(&mut h);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_requests_share_a_key_and_temperature_changes_it() {
        let a = CompletionRequest::prompt("sonnet", "hi").temperature(0.2);
        let mut b = a.clone();
        b.options.max_wait = Some(std::time::Duration::from_secs(3));
        b.metadata = Some(serde_json::json!({"user_id": "x"}));
        assert_eq!(canonical_key(&a), canonical_key(&b));
        let c = a.clone().temperature(0.3);
        assert_ne!(canonical_key(&a), canonical_key(&c));
    }
}
