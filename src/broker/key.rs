//! The request key: SHA-256 over a canonical, versioned byte encoding of everything that
//! shapes the answer (target, system, messages, max_tokens, sampling, stop, tools, tool
//! choice, output schema, thinking, reasoning effort). Broker options and metadata do
//! not shape the answer and are left out. Computed in the caller's task.
//!
//! The key is shared through Redis for the reuse window, so it must be the same in every
//! build and never shared by two different requests: the encoding is written out here
//! field by field (no `std` hasher, whose algorithm may change between Rust releases,
//! and no serialiser that can fail), every variable-length part is length-prefixed, JSON
//! objects are encoded with their keys sorted (map order cannot change the key), floats
//! by their bits, and the whole starts with [`KEY_VERSION`]. Each struct is destructured
//! in full, so a new field does not compile until this file decides whether it shapes
//! the answer. Changing the encoding means bumping [`KEY_VERSION`] (the pinned-key test
//! fails until then); the version is part of the reuse keys in Redis, so two encodings
//! never meet in one cache.

use crate::types::{
    CacheControl, CacheTtl, CompletionRequest, ContentBlock, Message, OutputSchema, Role, Tool,
    ToolChoice,
};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::fmt;

/// The version of the encoding below; part of every Redis reuse key.
pub(crate) const KEY_VERSION: u8 = 1;

/// The canonical key of a request: equal for requests that would get the same answer
/// (SHA-256, all 256 bits, compared in full). Displays as 64 hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestKey([u8; 32]);

impl RequestKey {
    /// The key of a request nothing will look up by key: the caller's task skips the
    /// hash when neither coalescing nor the reuse window can apply to the request (see
    /// `BrokerHandle::prepare_with_dropped`). No request's hash is all zeros in practice,
    /// and the broker never compares an unkeyed request's key: it coalesces only requests
    /// that allow it, which are always keyed.
    pub(crate) const UNKEYED: RequestKey = RequestKey([0; 32]);
}

impl fmt::Display for RequestKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for RequestKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RequestKey({self})")
    }
}

pub(crate) fn canonical_key(req: &CompletionRequest) -> RequestKey {
    let CompletionRequest {
        target,
        system,
        messages,
        max_tokens,
        temperature,
        top_p,
        stop,
        top_k,
        tools,
        tool_choice,
        parallel_tool_calls,
        response_format,
        thinking,
        reasoning_effort,
        // Neither shapes the answer: identical requests with different options or
        // metadata share one call; of the options, only the extra headers and body
        // fields can (encoded last, below).
        metadata: _,
        options,
    } = req;
    let mut e = Encoder(Sha256::new());
    e.raw(b"quotaswarm-request-key");
    e.raw(&[KEY_VERSION]);
    e.str(target);
    e.blocks(system);
    e.len(messages.len());
    for m in messages {
        e.message(m);
    }
    e.u64(u64::from(*max_tokens));
    e.opt(temperature.as_ref(), |e, t| e.u64(u64::from(t.to_bits())));
    e.opt(top_p.as_ref(), |e, p| e.u64(u64::from(p.to_bits())));
    e.len(stop.len());
    for s in stop {
        e.str(s);
    }
    e.opt(top_k.as_ref(), |e, k| e.u64(u64::from(*k)));
    e.len(tools.len());
    for t in tools {
        e.tool(t);
    }
    e.opt(tool_choice.as_ref(), Encoder::tool_choice);
    e.opt(parallel_tool_calls.as_ref(), |e, p| e.bool(*p));
    e.opt(response_format.as_ref(), Encoder::output_schema);
    e.opt(thinking.as_ref(), |e, t| match t.budget_tokens() {
        Some(budget) => e.u64(u64::from(budget)),
        // Tagged apart from any budget (a budget is a u64 in the same place).
        None => e.str(t.kind().as_str()),
    });
    e.opt(reasoning_effort.as_ref(), |e, r| e.str(r.as_str()));
    // Appended only when set: every encoding above is self-delimiting, so a request
    // without extras keeps the key it had before they existed (no version bump), and
    // none can equal one with them. Credential header values are left out.
    if !options.headers.is_empty() || options.extra_body.is_some() {
        e.tag(0xE7);
        let headers: Vec<(&str, &str)> = options.headers.iter().collect();
        e.len(headers.len());
        for (name, value) in headers {
            e.str(name);
            e.str(if crate::types::is_secret_header(name) {
                ""
            } else {
                value
            });
        }
        e.opt(options.extra_body.as_ref(), |e, b| {
            e.value(&Value::Object(b.clone()))
        });
    }
    RequestKey(e.0.finalize().into())
}

/// Writes the canonical encoding straight into the hash; nothing in it can fail.
struct Encoder(Sha256);

impl Encoder {
    fn raw(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
    fn tag(&mut self, t: u8) {
        self.raw(&[t]);
    }
    fn u64(&mut self, n: u64) {
        self.raw(&n.to_le_bytes());
    }
    fn len(&mut self, n: usize) {
        self.u64(n as u64);
    }
    fn bool(&mut self, b: bool) {
        self.tag(u8::from(b));
    }
    fn str(&mut self, s: &str) {
        self.len(s.len());
        self.raw(s.as_bytes());
    }
    fn opt<T: ?Sized>(&mut self, v: Option<&T>, f: impl FnOnce(&mut Self, &T)) {
        match v {
            None => self.tag(0),
            Some(v) => {
                self.tag(1);
                f(self, v);
            }
        }
    }

    /// A JSON value with its object keys sorted, numbers by kind and bits.
    fn value(&mut self, v: &Value) {
        match v {
            Value::Null => self.tag(0),
            Value::Bool(b) => {
                self.tag(1);
                self.bool(*b);
            }
            Value::Number(n) => {
                self.tag(2);
                if let Some(u) = n.as_u64() {
                    self.tag(0);
                    self.u64(u);
                } else if let Some(i) = n.as_i64() {
                    self.tag(1);
                    self.raw(&i.to_le_bytes());
                } else {
                    // Neither integer: serde_json holds it as an f64.
                    self.tag(2);
                    self.u64(n.as_f64().map_or(0, f64::to_bits));
                }
            }
            Value::String(s) => {
                self.tag(3);
                self.str(s);
            }
            Value::Array(items) => {
                self.tag(4);
                self.len(items.len());
                items.iter().for_each(|i| self.value(i));
            }
            Value::Object(map) => self.map(map),
        }
    }

    /// A JSON object (tag 5), keys sorted.
    fn map(&mut self, map: &serde_json::Map<String, Value>) {
        self.tag(5);
        self.len(map.len());
        let mut entries: Vec<_> = map.iter().collect();
        entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
        for (k, v) in entries {
            self.str(k);
            self.value(v);
        }
    }

    fn cache(&mut self, c: Option<&CacheControl>) {
        // Breakpoints change what the provider bills, so they are part of the key.
        self.opt(c, |e, c| {
            let CacheControl { ttl } = c;
            e.tag(match ttl {
                CacheTtl::FiveMinutes => 0,
                CacheTtl::OneHour => 1,
            })
        });
    }

    fn message(&mut self, m: &Message) {
        let Message { role, content } = m;
        self.tag(match role {
            Role::User => 0,
            Role::Assistant => 1,
        });
        self.blocks(content);
    }

    fn blocks(&mut self, blocks: &[ContentBlock]) {
        self.len(blocks.len());
        for b in blocks {
            self.block(b);
        }
    }

    fn block(&mut self, b: &ContentBlock) {
        match b {
            ContentBlock::Text {
                text,
                cache_control,
                citations: None,
            } => {
                self.tag(0);
                self.str(text);
                self.cache(cache_control.as_ref());
            }
            // Tags 16 and up: the blocks kept for replay (documents, citations, raw
            // blocks); a text with citations has its own tag, so a plain text's encoding
            // (and every key made before them) is unchanged.
            ContentBlock::Text {
                text,
                cache_control,
                citations: Some(citations),
            } => {
                self.tag(17);
                self.str(text);
                self.cache(cache_control.as_ref());
                self.len(citations.len());
                citations.iter().for_each(|c| self.value(c));
            }
            ContentBlock::ToolUse { id, name, input } => {
                self.tag(1);
                self.str(id);
                self.str(name);
                self.value(input);
            }
            ContentBlock::ToolResult {
                tool_use_id,
                content,
                is_error,
                cache_control,
            } => {
                self.tag(2);
                self.str(tool_use_id);
                self.blocks(content);
                self.bool(*is_error);
                self.cache(cache_control.as_ref());
            }
            ContentBlock::Image {
                source,
                cache_control,
            } => {
                self.tag(3);
                self.value(source);
                self.cache(cache_control.as_ref());
            }
            ContentBlock::Thinking {
                thinking,
                signature,
            } => {
                self.tag(4);
                self.str(thinking);
                self.str(signature);
            }
            ContentBlock::RedactedThinking { data } => {
                self.tag(5);
                self.str(data);
            }
            ContentBlock::Document {
                source,
                title,
                context,
                citations,
                cache_control,
            } => {
                self.tag(16);
                self.value(source);
                self.opt(title.as_deref(), |e, t| e.str(t));
                self.opt(context.as_deref(), |e, c| e.str(c));
                self.opt(citations.as_ref(), Encoder::value);
                self.cache(cache_control.as_ref());
            }
            ContentBlock::Raw(block) => {
                self.tag(18);
                self.map(block);
            }
            ContentBlock::Reasoning {
                id,
                summary,
                encrypted_content,
            } => {
                self.tag(6);
                self.str(id);
                self.len(summary.len());
                for s in summary {
                    self.str(s);
                }
                self.bool(encrypted_content.is_some());
                self.str(encrypted_content.as_deref().unwrap_or(""));
            }
        }
    }

    fn tool(&mut self, t: &Tool) {
        let Tool {
            name,
            description,
            input_schema,
            strict,
            cache_control,
            kind,
            settings,
        } = t;
        self.str(name);
        self.opt(description.as_deref(), |e, d| e.str(d));
        match kind {
            None => self.value(input_schema),
            // Where a function tool has its schema (a JSON value, tags 0 to 5), a server
            // tool has tag 16, its type and settings: function tools keep their keys.
            Some(kind) => {
                self.tag(16);
                self.str(kind);
                self.map(settings);
                self.value(input_schema);
            }
        }
        self.opt(strict.as_ref(), |e, s| e.bool(*s));
        self.cache(cache_control.as_ref());
    }

    fn tool_choice(&mut self, c: &ToolChoice) {
        match c {
            ToolChoice::Auto => self.tag(0),
            ToolChoice::Any => self.tag(1),
            ToolChoice::None => self.tag(2),
            ToolChoice::Tool(name) => {
                self.tag(3);
                self.str(name);
            }
        }
    }

    fn output_schema(&mut self, o: &OutputSchema) {
        let OutputSchema {
            name,
            schema,
            strict,
        } = o;
        self.str(name);
        self.value(schema);
        self.bool(*strict);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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

    fn with_tool(schema: Value) -> CompletionRequest {
        let mut r = CompletionRequest::prompt("sonnet", "look it up");
        r.tools.push(Tool::new("lookup", schema));
        r
    }

    /// A change here is a change of encoding: bump `KEY_VERSION` with it, so old
    /// entries in a shared reuse cache are never read by the new encoding.
    #[test]
    fn a_fixed_request_has_a_pinned_key() {
        let mut r = with_tool(json!({"type": "object", "properties": {"q": {"type": "string"}}}));
        r.system.push(ContentBlock::text("be brief"));
        r.max_tokens = 256;
        let r = r.temperature(0.5);
        assert_eq!(KEY_VERSION, 1);
        assert_eq!(canonical_key(&r).to_string(), PINNED);
    }
    const PINNED: &str = "0ae11c02ba2667ef1e2b0bd74d567c49f319bc13fb39765534fa8e3b0a35dfb3";

    #[test]
    fn a_difference_deep_inside_a_tool_schema_changes_the_key() {
        let deep = |t: &str| {
            with_tool(
                json!({"type": "object", "properties": {"q": {"type": "object",
                "properties": {"filter": {"type": "array", "items": {"type": t}}}}}}),
            )
        };
        assert_ne!(
            canonical_key(&deep("string")),
            canonical_key(&deep("integer"))
        );
    }

    #[test]
    fn object_key_order_does_not_matter() {
        let mut ab = serde_json::Map::new();
        ab.insert("a".into(), json!(1));
        ab.insert("b".into(), json!({"y": true, "x": null}));
        let mut ba = serde_json::Map::new();
        ba.insert("b".into(), json!({"x": null, "y": true}));
        ba.insert("a".into(), json!(1));
        assert_eq!(
            canonical_key(&with_tool(Value::Object(ab))),
            canonical_key(&with_tool(Value::Object(ba)))
        );
    }

    #[test]
    fn length_prefixes_keep_fields_apart() {
        let mut a = CompletionRequest::prompt("sonnet", "ab");
        a.stop = vec!["c".into()];
        let mut b = CompletionRequest::prompt("sonnet", "a");
        b.stop = vec!["bc".into()];
        assert_ne!(canonical_key(&a), canonical_key(&b));
        // Numbers keep their kind: 1 and 1.0 are different JSON.
        assert_ne!(
            canonical_key(&with_tool(json!({"n": 1}))),
            canonical_key(&with_tool(json!({"n": 1.0})))
        );
    }

    #[test]
    fn the_key_is_shown_as_64_hex_digits() {
        let k = canonical_key(&CompletionRequest::prompt("sonnet", "hi"));
        let hex = k.to_string();
        assert_eq!(hex.len(), 64);
        assert!(hex.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(format!("{k:?}"), format!("RequestKey({hex})"));
    }

    #[test]
    fn extra_headers_and_body_fields_shape_the_key_but_credentials_do_not() {
        let plain = CompletionRequest::prompt("sonnet", "hi");
        let key = |r: CompletionRequest| canonical_key(&r);
        let body = |v: Value| plain.clone().extra_body(v);
        assert_ne!(key(plain.clone()), key(body(json!({"top_k": 20}))));
        assert_ne!(
            key(body(json!({"top_k": 20}))),
            key(body(json!({"top_k": 21})))
        );
        assert_ne!(
            key(plain.clone()),
            key(plain.clone().header("anthropic-beta", "b"))
        );
        assert_eq!(
            key(plain.clone().header("x-api-token", "one")),
            key(plain.clone().header("x-api-token", "two"))
        );
    }
}
