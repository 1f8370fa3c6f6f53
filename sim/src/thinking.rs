//! Thinking (Anthropic): the request's `thinking` and `output_config` settings as each
//! model generation takes them, the simulator's signed thinking blocks, and the checks a
//! replayed tool loop must pass: the real API refuses a tool loop whose previous thinking
//! block is missing or edited, so a client must replay it untouched.
//!
//! Which model takes what is `quotaswarm::config::family::claude_family`, the rule the
//! client's presets follow too: budget thinking (`enabled`) before Opus 4.7 (refused
//! after, with the real message), adaptive thinking from 4.6 on (refused before, as the
//! API's tag validation refuses it), `output_config.effort` values per generation, and
//! native structured output (`output_config.format`) from 4.5 on, whose schema the reply
//! text then follows.
//!
//! A signature is the base64 of a keyed hash of the thinking text: 32 bytes from four
//! FNV-1a passes salted with the simulator's seed. Only the simulator can make one, so a
//! block whose text or signature was edited, or that is missing, is refused as the real
//! API refuses it.

use super::reply;
use quotaswarm::config::family::{claude_family, ClaudeFamily};
use serde_json::Value;

/// The least `budget_tokens` the API accepts.
pub(super) const MIN_BUDGET: u64 = 1024;

const THINKING_DOCS: &str =
    "Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking";

/// The signature the simulator keyed with `seed` gives `thinking`.
pub(super) fn sign(seed: u64, thinking: &str) -> String {
    let mut bytes = Vec::with_capacity(32);
    for lane in 0u64..4 {
        let salted = format!("quotaswarm-sim-thinking:{seed}:{lane}:{thinking}");
        bytes.extend_from_slice(&reply::fnv1a(salted.as_bytes()).to_be_bytes());
    }
    base64(&bytes)
}

/// Standard base64 with padding.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The request's thinking settings on `model`: `Ok(None)` when thinking is off,
/// `Ok(Some(budget))` when on and valid (adaptive thinking: up to `max_tokens`), else
/// the real 400's message.
pub(super) fn settings(model: &str, body: &Value, max_tokens: u64) -> Result<Option<u64>, String> {
    let Some(t) = body.get("thinking").filter(|t| !t.is_null()) else {
        return Ok(None);
    };
    let family = claude_family(model);
    let tags = if family.budget_thinking() {
        "'adaptive', 'disabled', 'enabled'"
    } else {
        "'adaptive', 'disabled'"
    };
    match t.get("type").and_then(Value::as_str) {
        Some("disabled") => return Ok(None),
        Some("enabled") if !family.budget_thinking() => {
            return Err("\"thinking.type.enabled\" is not supported for this model. Use \"thinking.type.adaptive\" and \"output_config.effort\" to control thinking behavior.".into())
        }
        Some("enabled") => {}
        Some("adaptive") if family.adaptive_thinking() => return Ok(Some(max_tokens)),
        Some("adaptive") => {
            return Err("thinking: Input tag 'adaptive' found using 'type' does not match any of the expected tags: 'disabled', 'enabled'".into())
        }
        Some(other) => {
            return Err(format!(
                "thinking: Input tag '{other}' found using 'type' does not match any of the expected tags: {tags}"
            ))
        }
        None => return Err(format!("thinking: Unable to extract tag using discriminator 'type' (expected tags: {tags})")),
    }
    let budget = match t.get("budget_tokens").map(Value::as_u64) {
        None => return Err("thinking.enabled.budget_tokens: Field required".into()),
        Some(Some(b)) if b >= MIN_BUDGET => b,
        Some(_) => {
            return Err(format!(
            "thinking.enabled.budget_tokens: Input should be greater than or equal to {MIN_BUDGET}"
        ))
        }
    };
    if budget >= max_tokens {
        return Err(format!(
            "`max_tokens` must be greater than `thinking.budget_tokens`. {THINKING_DOCS}#max-tokens-and-context-window-size"
        ));
    }
    Ok(Some(budget))
}

/// The sampling and tool-choice rules while thinking is enabled.
pub(super) fn check_parameters(body: &Value) -> Result<(), String> {
    if let Some(t) = body.get("temperature").and_then(Value::as_f64) {
        if t != 1.0 {
            return Err(format!(
                "`temperature` may only be set to 1 when thinking is enabled. {THINKING_DOCS}#feature-compatibility"
            ));
        }
    }
    if let Some(p) = body.get("top_p").and_then(Value::as_f64) {
        if !(0.95..=1.0).contains(&p) {
            return Err(format!(
                "`top_p` must be unset or between 0.95 and 1 when thinking is enabled. {THINKING_DOCS}#feature-compatibility"
            ));
        }
    }
    if body.get("top_k").is_some_and(|k| !k.is_null()) {
        return Err(format!(
            "`top_k` must be unset when thinking is enabled. {THINKING_DOCS}#feature-compatibility"
        ));
    }
    if forces_tool(body) {
        return Err("Thinking may not be enabled when tool_choice forces tool use.".into());
    }
    Ok(())
}

/// The effort values of the API's enum.
const EFFORTS: [&str; 5] = ["low", "medium", "high", "xhigh", "max"];

/// Checks `output_config` on `model` (effort values the model takes, a native structured
/// output format where the model has it); returns the schema the reply must follow, if
/// any, else the 400's message.
pub(super) fn output_config(model: &str, body: &Value) -> Result<Option<Value>, String> {
    let Some(config) = body.get("output_config").filter(|c| !c.is_null()) else {
        return Ok(None);
    };
    let Some(fields) = config.as_object() else {
        return Err("output_config: Input should be a valid dictionary".into());
    };
    if let Some(k) = fields
        .keys()
        .find(|k| !["effort", "format"].contains(&k.as_str()))
    {
        return Err(format!("output_config.{k}: Extra inputs are not permitted"));
    }
    let family = claude_family(model);
    if let Some(effort) = config.get("effort").filter(|e| !e.is_null()) {
        let Some(e) = effort.as_str().filter(|e| EFFORTS.contains(e)) else {
            return Err(
                "output_config.effort: Input should be 'low', 'medium', 'high', 'xhigh' or 'max'"
                    .into(),
            );
        };
        if !family.efforts().iter().any(|x| x.as_str() == e) {
            return Err(match family {
                ClaudeFamily::Legacy | ClaudeFamily::Claude45 => {
                    "This model does not support the effort parameter.".to_string()
                }
                _ => format!("output_config.effort: \"{e}\" is not supported for this model."),
            });
        }
    }
    let Some(format) = config.get("format").filter(|f| !f.is_null()) else {
        return Ok(None);
    };
    if !family.native_structured_output() {
        return Err(
            "output_config.format: structured outputs are not supported for this model.".into(),
        );
    }
    if format.get("type").and_then(Value::as_str) != Some("json_schema") {
        return Err("output_config.format.type: Input should be 'json_schema'".into());
    }
    match format.get("schema") {
        Some(schema) if schema.is_object() => Ok(Some(schema.clone())),
        Some(_) => Err("output_config.format.schema: Input should be a valid dictionary".into()),
        None => Err("output_config.format.schema: Field required".into()),
    }
}

/// What `model` refuses whatever the thinking: sampling parameters other than their
/// defaults (Claude 4.7 and later) and a forced tool (Claude 5.1 and later).
pub(super) fn check_model_rules(model: &str, body: &Value) -> Result<(), String> {
    let family = claude_family(model);
    if !family.sampling() {
        for field in ["temperature", "top_p"] {
            if let Some(v) = body
                .get(field)
                .and_then(Value::as_f64)
                .filter(|v| *v != 1.0)
            {
                return Err(format!(
                    "`{field}` is not supported for this model with a value other than its default (1), not {v}."
                ));
            }
        }
        if body.get("top_k").is_some_and(|k| !k.is_null()) {
            return Err("`top_k` is not supported for this model.".into());
        }
    }
    if !family.forced_tool() && forces_tool(body) {
        return Err("tool_choice: forced tool use (`any` or `tool`) is not supported for this model. Use `auto` or `none`.".into());
    }
    Ok(())
}

/// Whether `tool_choice` forces a tool (`any` or `tool`).
fn forces_tool(body: &Value) -> bool {
    body.get("tool_choice")
        .and_then(|c| c.get("type"))
        .and_then(Value::as_str)
        .is_some_and(|t| t == "any" || t == "tool")
}

fn block_type(b: &Value) -> Option<&str> {
    b.get("type").and_then(Value::as_str)
}

fn blocks(m: &Value) -> &[Value] {
    m.get("content")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// Checks the replayed assistant turns of a request with thinking enabled: every
/// `thinking` block must carry the simulator's signature of its text, and every
/// assistant turn of the current tool loop (after the last user turn holding no
/// `tool_result`) that holds a `tool_use` must start with a thinking or
/// redacted_thinking block.
pub(super) fn check_replay(seed: u64, messages: &[Value]) -> Result<(), String> {
    for (i, m) in messages.iter().enumerate() {
        if m.get("role").and_then(Value::as_str) != Some("assistant") {
            continue;
        }
        for (j, b) in blocks(m).iter().enumerate() {
            if block_type(b) != Some("thinking") {
                continue;
            }
            let text = b.get("thinking").and_then(Value::as_str).unwrap_or("");
            let signature = b.get("signature").and_then(Value::as_str).unwrap_or("");
            if signature != sign(seed, text) {
                return Err(format!(
                    "messages.{i}.content.{j}: Invalid `signature` in `thinking` block"
                ));
            }
        }
    }
    let loop_start = messages
        .iter()
        .rposition(|m| {
            m.get("role").and_then(Value::as_str) == Some("user")
                && !blocks(m)
                    .iter()
                    .any(|b| block_type(b) == Some("tool_result"))
        })
        .map(|i| i + 1)
        .unwrap_or(0);
    for (i, m) in messages.iter().enumerate().skip(loop_start) {
        if m.get("role").and_then(Value::as_str) != Some("assistant") {
            continue;
        }
        let content = blocks(m);
        if !content.iter().any(|b| block_type(b) == Some("tool_use")) {
            continue;
        }
        let first = content.first().and_then(block_type).unwrap_or("text");
        if first != "thinking" && first != "redacted_thinking" {
            return Err(format!(
                "messages.{i}.content.0.type: Expected `thinking` or `redacted_thinking`, but found `{first}`. \
                 When `thinking` is enabled, a final `assistant` message must start with a thinking block \
                 (preceeding the lastmost set of `tool_use` and `tool_result` blocks). We recommend you include \
                 thinking blocks from previous turns. To avoid this requirement, disable `thinking`. {THINKING_DOCS}"
            ));
        }
    }
    Ok(())
}

/// Thinking text for a request: `words` words from the reply generator.
pub(super) fn text(hash: u64, words: u64) -> reply::Reply {
    reply::generate(hash ^ 0x7468_696e_6b21, words, &[])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn base64_matches_known_vectors() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn signatures_are_deterministic_and_keyed() {
        assert_eq!(sign(1, "x"), sign(1, "x"));
        assert_ne!(sign(1, "x"), sign(1, "y"));
        assert_ne!(sign(1, "x"), sign(2, "x"));
        assert_eq!(sign(1, "x").len(), 44);
    }

    #[test]
    fn validates_budget_against_max_tokens() {
        let t = |b: Value| json!({"thinking": b});
        let settings = |b: &Value, max| settings("claude-sonnet-4-5", b, max);
        assert_eq!(
            settings(&t(json!({"type": "enabled", "budget_tokens": 2000})), 4000),
            Ok(Some(2000))
        );
        assert_eq!(settings(&json!({}), 10), Ok(None));
        assert!(
            settings(&t(json!({"type": "enabled", "budget_tokens": 1000})), 4000)
                .unwrap_err()
                .contains("greater than or equal to 1024")
        );
        assert!(
            settings(&t(json!({"type": "enabled", "budget_tokens": 4000})), 4000)
                .unwrap_err()
                .contains("`max_tokens` must be greater than `thinking.budget_tokens`")
        );
    }

    #[test]
    fn each_generation_takes_its_own_kind_of_thinking() {
        let enabled = json!({"thinking": {"type": "enabled", "budget_tokens": 2000}});
        let adaptive = json!({"thinking": {"type": "adaptive"}});
        assert_eq!(settings("claude-opus-4-6", &enabled, 4000), Ok(Some(2000)));
        assert_eq!(settings("claude-opus-4-6", &adaptive, 4000), Ok(Some(4000)));
        assert_eq!(settings("claude-opus-5-5", &adaptive, 4000), Ok(Some(4000)));
        let e = settings("claude-opus-4-7", &enabled, 4000).unwrap_err();
        assert!(
            e.starts_with("\"thinking.type.enabled\" is not supported for this model."),
            "{e}"
        );
        let e = settings("claude-sonnet-4-5", &adaptive, 4000).unwrap_err();
        assert!(e.contains("Input tag 'adaptive'"), "{e}");
    }

    #[test]
    fn output_config_takes_the_efforts_and_format_of_the_generation() {
        let effort = |e: &str| json!({"output_config": {"effort": e}});
        assert_eq!(output_config("claude-opus-4-6", &effort("max")), Ok(None));
        assert!(output_config("claude-opus-4-6", &effort("xhigh")).is_err());
        assert!(output_config("claude-opus-4-7", &effort("xhigh")).is_ok());
        assert!(output_config("claude-sonnet-4-5", &effort("low"))
            .unwrap_err()
            .contains("does not support the effort parameter"));
        assert!(output_config("claude-opus-4-7", &effort("extreme")).is_err());
        let schema = json!({"type": "object", "properties": {"a": {"type": "integer"}}});
        let format =
            json!({"output_config": {"format": {"type": "json_schema", "schema": schema}}});
        assert_eq!(output_config("claude-haiku-4-5", &format), Ok(Some(schema)));
        assert!(output_config("claude-3-7-sonnet-20250219", &format).is_err());
        let bad = json!({"output_config": {"format": {"type": "json"}}});
        assert!(output_config("claude-opus-5-5", &bad).is_err());
        let extra = json!({"output_config": {"verbosity": "low"}});
        assert!(output_config("claude-opus-5-5", &extra).is_err());
    }

    #[test]
    fn newer_models_refuse_sampling_and_the_newest_a_forced_tool() {
        let t = json!({"temperature": 0.3});
        assert!(check_model_rules("claude-sonnet-4-6", &t).is_ok());
        assert!(check_model_rules("claude-opus-4-7", &t).is_err());
        assert!(check_model_rules("claude-opus-4-7", &json!({"temperature": 1.0})).is_ok());
        let any = json!({"tool_choice": {"type": "any"}});
        assert!(check_model_rules("claude-opus-5", &any).is_ok());
        assert!(check_model_rules("claude-opus-5-5", &any)
            .unwrap_err()
            .contains("forced tool use"));
    }

    #[test]
    fn refuses_sampling_and_forced_tools_with_thinking() {
        assert!(check_parameters(&json!({"temperature": 1.0, "top_p": 0.95})).is_ok());
        assert!(check_parameters(&json!({"temperature": 0.2})).is_err());
        assert!(check_parameters(&json!({"top_k": 5})).is_err());
        assert!(check_parameters(&json!({"tool_choice": {"type": "any"}}))
            .unwrap_err()
            .contains("forces tool use"));
        assert!(check_parameters(&json!({"tool_choice": {"type": "auto"}})).is_ok());
    }

    fn turn(thinking: Option<(&str, String)>) -> Value {
        let mut content = vec![];
        if let Some((t, s)) = thinking {
            content.push(json!({"type": "thinking", "thinking": t, "signature": s}));
        }
        content.push(json!({"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}));
        json!({"role": "assistant", "content": content})
    }

    #[test]
    fn checks_replayed_thinking_blocks() {
        let user = json!({"role": "user", "content": "go"});
        let result = json!({"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": "ok"}]});
        let good = turn(Some(("hmm", sign(5, "hmm"))));
        assert!(check_replay(5, &[user.clone(), good, result.clone()]).is_ok());
        let edited = turn(Some(("hmm!", sign(5, "hmm"))));
        let e = check_replay(5, &[user.clone(), edited, result.clone()]).unwrap_err();
        assert_eq!(
            e,
            "messages.1.content.0: Invalid `signature` in `thinking` block"
        );
        let e = check_replay(5, &[user.clone(), turn(None), result.clone()]).unwrap_err();
        assert!(e.starts_with("messages.1.content.0.type: Expected `thinking` or `redacted_thinking`, but found `tool_use`."), "{e}");
        // A finished loop (a plain user turn after it) may drop its thinking.
        let later = json!({"role": "user", "content": "next question"});
        assert!(check_replay(5, &[user, turn(None), result, later]).is_ok());
    }
}
