//! Typed structured output: [`ReplySchema`] derives a JSON Schema from a Rust type
//! (with `schemars`), adapts it to what the APIs accept in strict mode, asks for it as
//! the request's `response_format`, and parses the reply back into the type.
//! [`Asker::complete_json`] and [`Asker::ask_json`] (on the agent's `Ctx` too) do all
//! of it in one call.
//!
//! On the wire, OpenAI receives `response_format: {"type": "json_schema", "json_schema":
//! {name, schema, strict}}` and answers with the JSON as its text; Anthropic receives a
//! tool named after the schema, whose `input_schema` is the schema, forced with
//! `tool_choice: {"type": "tool", name}`, and its decoder turns that tool call back into
//! one text block holding the JSON. Either way the JSON is `completion.text()`.
//!
//! How the schema is adapted to strict mode is described in `agent/schema.rs`
//! ([`strict_schema`](super::strict_schema)).

use super::ask::Ask;
use super::asker::Asker;
use super::error::{AgentError, UnfitReply};
use super::schema::{derived_schema, schema_name, strict_schema};
use crate::types::{Completion, CompletionRequest, ContentBlock, OutputSchema};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::marker::PhantomData;

/// How to ask for a `T` and read it back: the adapted schema as an [`OutputSchema`] and
/// the parser of the reply.
///
/// ```
/// use quotaswarm::agent::ReplySchema;
/// use quotaswarm::CompletionRequest;
///
/// #[derive(serde::Deserialize, schemars::JsonSchema)]
/// struct Verdict {
///     ok: bool,
///     reason: String,
/// }
///
/// let shape = ReplySchema::<Verdict>::new();
/// let req = shape.request(CompletionRequest::prompt("claude", "Is 7 prime?"));
/// let format = req.response_format.as_ref().unwrap();
/// assert_eq!(format.name, "Verdict");
/// assert_eq!(format.schema["additionalProperties"], false);
/// assert_eq!(format.schema["required"], serde_json::json!(["ok", "reason"]));
/// ```
///
/// Without a `schemars` dependency of your own, derive through the re-export:
///
/// ```
/// use quotaswarm::agent::schemars::JsonSchema;
/// use quotaswarm::agent::ReplySchema;
///
/// #[derive(serde::Deserialize, JsonSchema)]
/// #[schemars(crate = "quotaswarm::agent::schemars")]
/// struct Count {
///     n: u32,
/// }
///
/// assert_eq!(ReplySchema::<Count>::new().output_schema().name, "Count");
/// ```
pub struct ReplySchema<T> {
    schema: OutputSchema,
    wrapped: bool,
    _t: PhantomData<fn() -> T>,
}

impl<T> Clone for ReplySchema<T> {
    fn clone(&self) -> Self {
        ReplySchema {
            schema: self.schema.clone(),
            wrapped: self.wrapped,
            _t: PhantomData,
        }
    }
}

impl<T> std::fmt::Debug for ReplySchema<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplySchema")
            .field("schema", &self.schema)
            .field("wrapped", &self.wrapped)
            .finish()
    }
}

impl<T: DeserializeOwned + JsonSchema> Default for ReplySchema<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: DeserializeOwned + JsonSchema> ReplySchema<T> {
    /// The schema of `T`, named after the type (`T::schema_name()`, made to fit the
    /// APIs' `[a-zA-Z0-9_-]{1,64}`).
    pub fn new() -> Self {
        Self::named(&T::schema_name())
    }

    /// The schema of `T` under another name (the Anthropic tool's name, the OpenAI
    /// `json_schema.name`).
    pub fn named(name: &str) -> Self {
        let adapted = strict_schema(derived_schema::<T>());
        let mut schema = OutputSchema::new(schema_name(name), adapted.schema);
        schema.strict = adapted.strict;
        ReplySchema {
            schema,
            wrapped: adapted.wrapped,
            _t: PhantomData,
        }
    }

    /// The schema as the request's `response_format` carries it.
    pub fn output_schema(&self) -> &OutputSchema {
        &self.schema
    }

    /// `req` asking for a `T` (its `response_format` set to this schema).
    pub fn request(&self, req: CompletionRequest) -> CompletionRequest {
        req.response_format(self.schema.clone())
    }

    /// Reads a `T` from the reply: its text (see [`reply_json`]), parsed and
    /// deserialized. A reply that is not JSON or does not fit `T` is an [`UnfitReply`]
    /// holding the text and serde's message.
    pub fn parse(&self, completion: &Completion) -> Result<T, UnfitReply> {
        let text = reply_json(completion, &self.schema.name);
        let unfit = |e: serde_json::Error| {
            UnfitReply::new(
                &self.schema.name,
                &text,
                e.to_string(),
                completion.stop_reason.clone(),
            )
        };
        let json = strip_fence(&text);
        if self.wrapped {
            serde_json::from_str::<Wrapped<T>>(json)
                .map(|w| w.value)
                .map_err(unfit)
        } else {
            serde_json::from_str::<T>(json).map_err(unfit)
        }
    }
}

/// A root that was not an object, as the adapted schema asks for it.
#[derive(Deserialize)]
#[serde(bound = "T: DeserializeOwned")]
struct Wrapped<T> {
    value: T,
}

/// The JSON text of a structured reply: its text blocks — or, when it has none, the
/// input of a call to the tool named `schema` (an Anthropic reply whose forced tool call
/// was not turned into text), serialized.
pub fn reply_json(completion: &Completion, schema: &str) -> String {
    let text = completion.text();
    if !text.trim().is_empty() {
        return text;
    }
    completion
        .content
        .iter()
        .find_map(|b| match b {
            ContentBlock::ToolUse { name, input, .. } if name == schema => Some(input.to_string()),
            _ => None,
        })
        .unwrap_or(text)
}

/// The JSON inside a Markdown code fence (```` ```json ... ``` ````), which a model not
/// held to the schema sometimes writes; other text unchanged.
fn strip_fence(text: &str) -> &str {
    let t = text.trim();
    let Some(rest) = t.strip_prefix("```") else {
        return t;
    };
    let body = rest.split_once('\n').map_or("", |(_, b)| b);
    body.trim_end().strip_suffix("```").unwrap_or(body).trim()
}

impl Asker {
    /// Asks for a `T`, a type that derives `Deserialize` and `schemars::JsonSchema`:
    /// the request asks for `T`'s JSON Schema as structured output and the reply comes
    /// back parsed (see [`ReplySchema`]). A reply that does not fit is
    /// [`AgentError::Unfit`], holding the text and serde's message; a broker failure is
    /// [`AgentError::Broker`].
    ///
    /// ```no_run
    /// use quotaswarm::agent::{Agent, AgentResult, Ask, Ctx};
    ///
    /// #[derive(serde::Deserialize, schemars::JsonSchema)]
    /// struct Triage {
    ///     urgent: bool,
    ///     team: String,
    /// }
    ///
    /// struct Triager;
    ///
    /// impl Agent for Triager {
    ///     type Msg = ();
    ///     async fn on_start(&mut self, ctx: &mut Ctx<()>) -> AgentResult {
    ///         let ask = Ask::new("haiku").max_tokens(200);
    ///         let t: Triage = ctx.ask_json(&ask, "Ticket: the site is down.").await?;
    ///         println!("urgent: {}, team: {}", t.urgent, t.team);
    ///         ctx.finish();
    ///         Ok(())
    ///     }
    /// }
    /// ```
    pub async fn complete_json<T: DeserializeOwned + JsonSchema>(
        &self,
        req: CompletionRequest,
    ) -> Result<T, AgentError> {
        let shape = ReplySchema::<T>::new();
        let reply = self.complete(shape.request(req)).await?;
        Ok(shape.parse(&reply)?)
    }

    /// A one-shot question answered as a `T`: `user` alone, asked as `ask` says (see
    /// [`Asker::complete_json`]).
    pub async fn ask_json<T: DeserializeOwned + JsonSchema>(
        &self,
        ask: &Ask,
        user: impl Into<String>,
    ) -> Result<T, AgentError> {
        self.complete_json(ask.clone().user(user)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::schema::is_object_schema;
    use crate::types::{StopReason, Usage};
    use serde_json::json;
    use serde_json::{Map, Value};
    use std::collections::HashMap;

    /// A verdict on a claim.
    #[derive(Debug, PartialEq, Deserialize, JsonSchema)]
    struct Verdict {
        /// Whether the claim holds.
        holds: bool,
        /// How sure, 0 to 100.
        confidence: u8,
        /// The sources that back it.
        sources: Vec<Source>,
        /// A caveat, if any.
        caveat: Option<String>,
        #[serde(default)]
        tags: Vec<String>,
    }

    #[derive(Debug, PartialEq, Deserialize, JsonSchema)]
    struct Source {
        name: String,
        year: i32,
    }

    #[derive(Debug, PartialEq, Deserialize, JsonSchema)]
    #[serde(rename_all = "lowercase")]
    enum Mood {
        Calm,
        Busy,
    }

    #[derive(Debug, PartialEq, Deserialize, JsonSchema)]
    struct Tree {
        label: String,
        children: Vec<Tree>,
    }

    #[derive(Debug, Deserialize, JsonSchema)]
    struct Counts {
        by_word: HashMap<String, u32>,
    }

    fn reply(content: Vec<ContentBlock>, stop: StopReason) -> Completion {
        crate::types::test_reply::reply(content, stop, Usage::default())
    }

    fn text_reply(text: &str) -> Completion {
        reply(vec![ContentBlock::text(text)], StopReason::EndTurn)
    }

    /// Every object below `v` (itself included).
    fn objects(v: &Value, out: &mut Vec<Map<String, Value>>) {
        match v {
            Value::Object(m) => {
                if is_object_schema(m) {
                    out.push(m.clone());
                }
                m.values().for_each(|c| objects(c, out));
            }
            Value::Array(a) => a.iter().for_each(|c| objects(c, out)),
            _ => {}
        }
    }

    fn keys_anywhere(v: &Value, key: &str) -> usize {
        match v {
            Value::Object(m) => {
                usize::from(m.contains_key(key))
                    + m.values().map(|c| keys_anywhere(c, key)).sum::<usize>()
            }
            Value::Array(a) => a.iter().map(|c| keys_anywhere(c, key)).sum(),
            _ => 0,
        }
    }

    #[test]
    fn a_derived_struct_becomes_a_closed_object_with_every_property_required() {
        let s = ReplySchema::<Verdict>::new();
        let schema = &s.output_schema().schema;
        assert_eq!(s.output_schema().name, "Verdict");
        assert!(s.output_schema().strict);
        assert_eq!(schema["type"], "object");
        // serde_json's maps are sorted: `required` lists the properties in that order.
        assert_eq!(
            schema["required"],
            json!(["caveat", "confidence", "holds", "sources", "tags"])
        );
        let mut objs = Vec::new();
        objects(schema, &mut objs);
        assert_eq!(
            objs.len(),
            2,
            "the verdict and its inlined source: {schema:#}"
        );
        for o in objs {
            assert_eq!(o["additionalProperties"], false, "{o:?}");
            let props: Vec<&String> = o["properties"].as_object().unwrap().keys().collect();
            let required: Vec<&str> = o["required"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(Value::as_str)
                .collect();
            assert_eq!(props, required);
        }
        // The option stays nullable, so "required" does not force a value.
        assert_eq!(
            schema["properties"]["caveat"]["type"],
            json!(["string", "null"])
        );
    }

    #[test]
    fn metadata_and_non_string_formats_are_stripped_and_constraints_move_to_the_description() {
        let schema = ReplySchema::<Verdict>::new().output_schema().schema.clone();
        for key in ["$schema", "title", "$defs", "minimum", "maximum", "default"] {
            assert_eq!(keys_anywhere(&schema, key), 0, "{key} left in {schema:#}");
        }
        assert_eq!(
            keys_anywhere(&schema, "format"),
            0,
            "uint8/int32 formats: {schema:#}"
        );
        let confidence = schema["properties"]["confidence"]["description"]
            .as_str()
            .unwrap();
        assert_eq!(confidence, "How sure, 0 to 100. (minimum: 0, maximum: 255)");
    }

    #[test]
    fn a_root_that_is_not_an_object_is_wrapped_and_unwrapped() {
        let s = ReplySchema::<Vec<Mood>>::new();
        let schema = &s.output_schema().schema;
        assert_eq!(schema["type"], "object");
        assert_eq!(schema["required"], json!(["value"]));
        assert_eq!(schema["properties"]["value"]["type"], "array");
        let got = s
            .parse(&text_reply(r#"{"value": ["busy", "calm"]}"#))
            .unwrap();
        assert_eq!(got, vec![Mood::Busy, Mood::Calm]);
        assert_eq!(s.output_schema().name, "Array_of_Mood");
    }

    #[test]
    fn recursive_types_keep_their_refs_under_a_root_defs() {
        let s = ReplySchema::<Tree>::new();
        let schema = &s.output_schema().schema;
        assert!(s.output_schema().strict);
        let t: Tree = s
            .parse(&text_reply(
                r#"{"label":"a","children":[{"label":"b","children":[]}]}"#,
            ))
            .unwrap();
        assert_eq!(t.children[0].label, "b");
        // Every `$ref` points at something the schema holds.
        let text = schema.to_string();
        for r in text.split("\"$ref\":\"").skip(1) {
            let target = &r[..r.find('"').unwrap()];
            assert!(
                schema.pointer(&target[1..]).is_some(),
                "{target} in {schema:#}"
            );
        }
    }

    #[test]
    fn maps_are_kept_but_sent_without_strict() {
        let s = ReplySchema::<Counts>::new();
        assert!(!s.output_schema().strict);
        let c: Counts = s.parse(&text_reply(r#"{"by_word": {"a": 2}}"#)).unwrap();
        assert_eq!(c.by_word["a"], 2);
    }

    #[test]
    fn a_schema_can_be_named() {
        let s = ReplySchema::<Source>::named("a source!");
        assert_eq!(s.output_schema().name, "a_source_");
    }

    #[test]
    fn parses_a_fitting_reply() {
        let s = ReplySchema::<Verdict>::new();
        let v = s
            .parse(&text_reply(
                r#"{"holds": true, "confidence": 90, "sources": [{"name": "t", "year": 2020}], "caveat": null, "tags": []}"#,
            ))
            .unwrap();
        assert!(v.holds);
        assert_eq!(v.sources[0].year, 2020);
        assert_eq!(v.caveat, None);
    }

    #[test]
    fn a_reply_missing_a_field_is_unfit_with_serdes_message_and_the_text() {
        let s = ReplySchema::<Verdict>::new();
        let text = r#"{"holds": true, "sources": [], "caveat": null, "tags": []}"#;
        let e = s.parse(&text_reply(text)).unwrap_err();
        assert_eq!(e.schema, "Verdict");
        assert_eq!(e.text, text);
        assert!(
            e.message.starts_with("missing field `confidence`"),
            "{}",
            e.message
        );
        assert_eq!(e.stop_reason, StopReason::EndTurn);
    }

    #[test]
    fn a_reply_cut_at_max_tokens_is_unfit_and_says_so() {
        let s = ReplySchema::<Verdict>::new();
        let cut = reply(
            vec![ContentBlock::text(r#"{"holds": tr"#)],
            StopReason::MaxTokens,
        );
        let e = s.parse(&cut).unwrap_err();
        assert_eq!(e.stop_reason, StopReason::MaxTokens);
        assert!(e.to_string().contains("max_tokens"), "{e}");
    }

    #[test]
    fn a_value_out_of_the_types_range_is_unfit() {
        let s = ReplySchema::<Verdict>::new();
        let text =
            r#"{"holds": true, "confidence": 300, "sources": [], "caveat": null, "tags": []}"#;
        let e = s.parse(&text_reply(text)).unwrap_err();
        assert!(e.message.contains("300"), "{}", e.message);
    }

    #[test]
    fn a_fenced_reply_and_an_unconverted_tool_call_are_still_read() {
        let s = ReplySchema::<Source>::new();
        let fenced = text_reply("```json\n{\"name\": \"a\", \"year\": 1}\n```");
        assert_eq!(s.parse(&fenced).unwrap().name, "a");
        let tool = reply(
            vec![ContentBlock::ToolUse {
                id: "t1".into(),
                name: "Source".into(),
                input: json!({"name": "b", "year": 2}),
            }],
            StopReason::ToolUse,
        );
        assert_eq!(s.parse(&tool).unwrap().name, "b");
    }
}
