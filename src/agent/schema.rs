//! Adapting a JSON Schema (derived with `schemars`, or written by hand) to what the
//! APIs accept for strict structured output and strict tools.
//!
//! Strict structured output (OpenAI `strict: true`, Anthropic strict tools) accepts a
//! subset of JSON Schema. [`strict_schema`] rewrites a derived schema into it:
//!
//! - **An object at the root.** A root that is not an object (a `Vec`, an enum, a
//!   number) is wrapped as `{"value": ...}`; the parser unwraps it.
//! - **Closed objects.** Every object gets `additionalProperties: false` and a
//!   `properties` map (empty if it had none).
//! - **Every property required.** Both APIs want each property in `required`; an
//!   optional one is expressed as nullable. `Option<T>` fields already allow `null`;
//!   a `#[serde(default)]` field becomes required (the model always fills it).
//! - **Metadata dropped:** `$schema`, `$id`, `title`, `default`, `examples`,
//!   `deprecated`, `readOnly`, `writeOnly`, `$comment`. `oneOf` becomes `anyOf` (OpenAI
//!   has no `oneOf`; the variants schemars writes are disjoint anyway). A `$ref` loses
//!   its sibling keywords (OpenAI refuses them); subschemas are inlined where possible,
//!   so `$ref`s remain only for recursive types.
//! - **Formats:** the string formats both APIs know (`date-time`, `date`, `time`,
//!   `duration`, `email`, `hostname`, `ipv4`, `ipv6`, `uuid`) are kept; others (schemars'
//!   `uint32`, `int64`, `double`, ...) are dropped.
//! - **Constraints the APIs refuse** (`minimum`, `maximum`, `exclusiveMinimum`,
//!   `exclusiveMaximum`, `multipleOf`, `minLength`, `maxLength`, `maxItems`, `minItems`
//!   above 1, `uniqueItems`, `minProperties`, `maxProperties`) are dropped and written
//!   into the `description` instead (`(minimum: 0)`), as the official SDKs do, so the
//!   model still sees them; the Rust type still enforces what serde checks (a `u8`
//!   rejects 300).
//! - **Maps** (`HashMap<String, T>`: an object with a schema for `additionalProperties`)
//!   cannot be strict: the schema keeps them and is sent with `strict: false`.

use schemars::generate::SchemaSettings;
use schemars::JsonSchema;
use serde_json::{Map, Value};

/// The longest schema name the APIs accept.
const MAX_NAME: usize = 64;

/// Keywords that only describe a schema: dropped.
const METADATA: &[&str] = &[
    "$schema",
    "$id",
    "title",
    "default",
    "examples",
    "deprecated",
    "readOnly",
    "writeOnly",
    "$comment",
];

/// Constraints strict mode refuses: dropped, and written into the description.
const CONSTRAINTS: &[&str] = &[
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "minLength",
    "maxLength",
    "maxItems",
    "uniqueItems",
    "minProperties",
    "maxProperties",
];

/// String formats both APIs accept in strict mode.
const FORMATS: &[&str] = &[
    "date-time",
    "date",
    "time",
    "duration",
    "email",
    "hostname",
    "ipv4",
    "ipv6",
    "uuid",
];

/// Keywords whose value is one subschema.
const ONE_SUBSCHEMA: &[&str] = &[
    "items",
    "additionalProperties",
    "not",
    "if",
    "then",
    "else",
    "contains",
];

/// Keywords whose value is a list of subschemas.
const SUBSCHEMA_LISTS: &[&str] = &["anyOf", "allOf", "prefixItems"];

/// Keywords whose value maps names to subschemas.
const SUBSCHEMA_MAPS: &[&str] = &["properties", "$defs", "definitions"];

/// A schema adapted to strict structured output (see the module doc).
#[derive(Debug, Clone, PartialEq)]
pub struct StrictSchema {
    /// The adapted schema: an object at the root.
    pub schema: Value,
    /// Whether it fits strict mode (false when it holds a map).
    pub strict: bool,
    /// Whether the original root was wrapped as `{"value": ...}`.
    pub wrapped: bool,
}

/// Adapts `schema` (a JSON Schema, as schemars or a hand derives it) to what the APIs
/// accept in strict mode; see the module doc for each rewrite.
pub fn strict_schema(schema: Value) -> StrictSchema {
    let mut schema = match schema {
        Value::Object(m) => m,
        // `true` / `false` / anything else: "any JSON" cannot be strict; wrap it.
        other => {
            let mut m = Map::new();
            m.insert("anyOf".into(), Value::Array(vec![other]));
            m
        }
    };
    // A root `$ref` keeps nothing beside it (see `adapt`), so it is wrapped too.
    let is_object = schema.get("type").and_then(Value::as_str) == Some("object")
        && !schema.contains_key("anyOf")
        && !schema.contains_key("oneOf")
        && !schema.contains_key("$ref");
    let wrapped = !is_object;
    if wrapped {
        let defs = schema.remove("$defs");
        let mut root = Map::new();
        root.insert("type".into(), "object".into());
        root.insert(
            "properties".into(),
            Value::Object(Map::from_iter([(
                "value".to_string(),
                Value::Object(schema),
            )])),
        );
        if let Some(defs) = defs {
            root.insert("$defs".into(), defs);
        }
        schema = root;
    }
    let mut schema = Value::Object(schema);
    let mut strict = true;
    adapt(&mut schema, &mut strict);
    StrictSchema {
        schema,
        strict,
        wrapped,
    }
}

/// Rewrites one subschema and everything below it.
fn adapt(schema: &mut Value, strict: &mut bool) {
    let Value::Object(obj) = schema else {
        return;
    };
    match obj.get("$ref") {
        Some(Value::String(_)) => {
            obj.retain(|k, _| k == "$ref");
            return;
        }
        // Not a reference at all (`"$ref": null`): dropped, the rest adapted.
        Some(_) => {
            obj.remove("$ref");
        }
        None => {}
    }
    for key in METADATA {
        obj.remove(*key);
    }
    if let Some(f) = obj.get("format").and_then(Value::as_str) {
        if !FORMATS.contains(&f) {
            obj.remove("format");
        }
    }
    let mut notes = Vec::new();
    for key in CONSTRAINTS {
        if let Some(v) = obj.remove(*key) {
            notes.push(format!("{key}: {v}"));
        }
    }
    if let Some(n) = obj
        .get("minItems")
        .and_then(Value::as_u64)
        .filter(|n| *n > 1)
    {
        obj.remove("minItems");
        notes.push(format!("minItems: {n}"));
    }
    if !notes.is_empty() {
        let note = format!("({})", notes.join(", "));
        let description = match obj.get("description").and_then(Value::as_str) {
            Some(d) if !d.is_empty() => format!("{d} {note}"),
            _ => note,
        };
        obj.insert("description".into(), description.into());
    }
    if let Some(one_of) = obj.remove("oneOf") {
        match obj.remove("anyOf") {
            None => {
                obj.insert("anyOf".into(), one_of);
            }
            // Both: each must hold, so both go under `allOf`.
            Some(any_of) => {
                let mut all = match obj.remove("allOf") {
                    Some(Value::Array(a)) => a,
                    Some(other) => vec![other],
                    None => Vec::new(),
                };
                for branches in [any_of, one_of] {
                    all.push(Value::Object(Map::from_iter([("anyOf".into(), branches)])));
                }
                obj.insert("allOf".into(), Value::Array(all));
            }
        }
    }
    if is_object_schema(obj) {
        close_object(obj, strict);
    }
    for key in ONE_SUBSCHEMA {
        if let Some(sub) = obj.get_mut(*key) {
            adapt(sub, strict);
        }
    }
    for key in SUBSCHEMA_LISTS {
        if let Some(Value::Array(subs)) = obj.get_mut(*key) {
            subs.iter_mut().for_each(|s| adapt(s, strict));
        }
    }
    for key in SUBSCHEMA_MAPS {
        if let Some(Value::Object(subs)) = obj.get_mut(*key) {
            subs.values_mut().for_each(|s| adapt(s, strict));
        }
    }
}

fn is_string_list(v: &Value) -> bool {
    v.as_array().is_some_and(|a| a.iter().all(Value::is_string))
}

pub(super) fn is_object_schema(obj: &Map<String, Value>) -> bool {
    let typed = match obj.get("type") {
        Some(Value::String(t)) => t == "object",
        Some(Value::Array(ts)) => ts.iter().any(|t| t == "object"),
        _ => false,
    };
    typed || obj.contains_key("properties")
}

/// `additionalProperties: false`, a `properties` map, and every property required.
fn close_object(obj: &mut Map<String, Value>, strict: &mut bool) {
    if obj
        .get("additionalProperties")
        .is_some_and(Value::is_object)
    {
        // A map: its keys are open, which strict mode cannot express.
        *strict = false;
        if !obj.contains_key("properties") {
            // Keys the map must have stay; anything else under `required` is no schema.
            if !obj.get("required").is_some_and(is_string_list) {
                obj.remove("required");
            }
            return;
        }
    } else {
        obj.insert("additionalProperties".into(), false.into());
    }
    let names: Vec<Value> = match obj
        .entry("properties")
        .or_insert_with(|| Value::Object(Map::new()))
    {
        Value::Object(props) => props.keys().cloned().map(Value::String).collect(),
        _ => Vec::new(),
    };
    obj.insert("required".into(), Value::Array(names));
}

/// A schema name the APIs accept: `[a-zA-Z0-9_-]`, 1 to 64 characters.
pub fn schema_name(raw: &str) -> String {
    let name: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(MAX_NAME)
        .collect();
    if name.is_empty() {
        "reply".into()
    } else {
        name
    }
}

/// The JSON Schema of `T` as schemars derives it (2020-12 dialect, subschemas inlined
/// where the type is not recursive), before adaptation.
pub fn derived_schema<T: JsonSchema>() -> Value {
    SchemaSettings::draft2020_12()
        .with(|s| {
            s.inline_subschemas = true;
            s.meta_schema = None;
        })
        .into_generator()
        .into_root_schema_for::<T>()
        .to_value()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn string_formats_the_apis_know_are_kept() {
        let s = strict_schema(json!({
            "type": "object",
            "properties": {
                "when": {"type": "string", "format": "date-time"},
                "site": {"type": "string", "format": "uri-reference"},
            }
        }));
        assert_eq!(s.schema["properties"]["when"]["format"], "date-time");
        assert!(s.schema["properties"]["site"].get("format").is_none());
    }

    #[test]
    fn one_of_becomes_any_of_and_refs_lose_their_siblings() {
        let s = strict_schema(json!({
            "type": "object",
            "properties": {
                "pick": {"oneOf": [{"type": "string"}, {"type": "integer"}]},
                "node": {"$ref": "#/$defs/Node", "description": "a node"},
            },
            "$defs": {"Node": {"type": "object", "properties": {"x": {"type": "integer"}}}}
        }));
        assert_eq!(
            s.schema["properties"]["pick"],
            json!({"anyOf": [{"type": "string"}, {"type": "integer"}]})
        );
        assert_eq!(
            s.schema["properties"]["node"],
            json!({"$ref": "#/$defs/Node"})
        );
        assert_eq!(s.schema["$defs"]["Node"]["additionalProperties"], false);
        assert_eq!(s.schema["$defs"]["Node"]["required"], json!(["x"]));
    }

    #[test]
    fn schema_names_fit_the_apis_pattern() {
        assert_eq!(schema_name("Wrapper<Foo>"), "Wrapper_Foo_");
        assert_eq!(schema_name(""), "reply");
        assert_eq!(schema_name(&"x".repeat(100)).len(), 64);
    }

    #[test]
    fn one_of_beside_any_of_keeps_both_under_all_of() {
        let s = strict_schema(json!({
            "type": "object",
            "properties": {"x": {
                "anyOf": [{"type": "string"}, {"type": "null"}],
                "oneOf": [{"type": "string", "minLength": 1}],
            }}
        }));
        assert_eq!(
            s.schema["properties"]["x"],
            json!({"allOf": [
                {"anyOf": [{"type": "string"}, {"type": "null"}]},
                {"anyOf": [{"type": "string", "description": "(minLength: 1)"}]},
            ]})
        );
    }

    #[test]
    fn any_json_at_the_root_is_wrapped_without_panicking() {
        for v in [json!(true), json!(null), json!([1]), json!("x")] {
            let s = strict_schema(v);
            assert!(s.wrapped);
            assert_eq!(s.schema["type"], "object");
        }
    }

    /// Any JSON (nested objects, arrays, schema keywords among the keys).
    fn any_json() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let key = prop_oneof![
            Just("type".to_string()),
            Just("properties".to_string()),
            Just("items".to_string()),
            Just("anyOf".to_string()),
            Just("oneOf".to_string()),
            Just("$ref".to_string()),
            Just("additionalProperties".to_string()),
            Just("required".to_string()),
            Just("minimum".to_string()),
            Just("format".to_string()),
            "[a-z]{1,3}",
        ];
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i32>().prop_map(Value::from),
            prop_oneof![
                Just("object"),
                Just("string"),
                Just("uint32"),
                Just("#/$defs/x")
            ]
            .prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 48, 6, move |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::btree_map(key.clone(), inner, 0..5)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// Every object schema at a schema position below `v` is closed, with every
    /// property required (or is a map, whose keys stay open).
    fn every_object_is_closed(v: &Value) -> bool {
        let Value::Object(m) = v else {
            return true;
        };
        if m.get("$ref").is_some_and(Value::is_string) {
            return m.len() == 1;
        }
        if is_object_schema(m) {
            let map = m.get("additionalProperties").is_some_and(Value::is_object);
            let closed = map || m.get("additionalProperties") == Some(&Value::Bool(false));
            let keys: Vec<Value> = match m.get("properties") {
                Some(Value::Object(p)) => p.keys().cloned().map(Value::String).collect(),
                _ => Vec::new(),
            };
            let required = match m.get("required") {
                Some(Value::Array(r)) => *r == keys,
                None => map && !m.contains_key("properties"),
                Some(r) if map && !m.contains_key("properties") => super::is_string_list(r),
                _ => false,
            };
            if !(closed && required) {
                return false;
            }
        }
        let below = ONE_SUBSCHEMA.iter().filter_map(|k| m.get(*k));
        let lists = SUBSCHEMA_LISTS
            .iter()
            .filter_map(|k| m.get(*k).and_then(Value::as_array))
            .flatten();
        let maps = SUBSCHEMA_MAPS
            .iter()
            .filter_map(|k| m.get(*k).and_then(Value::as_object))
            .flat_map(|o| o.values());
        below.chain(lists).chain(maps).all(every_object_is_closed)
    }

    #[test]
    fn a_map_keeps_only_a_valid_required_list() {
        // Found by the property below with more cases: `"required": null` on a map stayed.
        let s = strict_schema(json!({
            "type": "object", "additionalProperties": {}, "required": null
        }));
        assert!(s.schema.get("required").is_none(), "{:#}", s.schema);
        let s = strict_schema(json!({
            "type": ["object"], "additionalProperties": {}, "required": null
        }));
        assert!(every_object_is_closed(&s.schema), "{:#}", s.schema);
        let s = strict_schema(json!({
            "type": "object", "additionalProperties": {"type": "string"}, "required": ["a"]
        }));
        assert_eq!(s.schema["required"], json!(["a"]));
        assert!(!s.strict);
    }

    #[test]
    fn a_root_with_a_ref_beside_its_type_still_has_an_object_root() {
        // Found by the property below: `$ref` beside `type` once lost the type.
        for schema in [
            json!({"$ref": null, "type": "object"}),
            json!({"$ref": "#/$defs/A", "type": "object", "$defs": {"A": {"type": "object"}}}),
        ] {
            let s = strict_schema(schema.clone());
            assert_eq!(s.schema["type"], "object", "{schema} -> {:#}", s.schema);
            assert!(every_object_is_closed(&s.schema), "{:#}", s.schema);
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config {
            rng_seed: proptest::test_runner::RngSeed::Fixed(20_261_202),
            failure_persistence: None,
            ..proptest::test_runner::Config::default()
        })]
        #[test]
        fn any_schema_adapts_to_an_object_root_without_panicking(schema in any_json()) {
            let s = strict_schema(schema);
            proptest::prop_assert_eq!(&s.schema["type"], "object");
            proptest::prop_assert!(s.schema.get("$schema").is_none());
            proptest::prop_assert!(s.schema.get("title").is_none());
            proptest::prop_assert!(every_object_is_closed(&s.schema), "{:#}", s.schema);
            // Adapting twice changes nothing more.
            let again = strict_schema(s.schema.clone());
            proptest::prop_assert_eq!(&again.schema, &s.schema);
        }
    }
}
