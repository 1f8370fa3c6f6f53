//! JSON made up to fit a JSON Schema (a tool's `input_schema`, an OpenAI `json_schema`
//! response format), deterministic from a seed.
//!
//! Covers what tool schemas and schema generators (schemars) write: `type` (one or a
//! list, `null` picked last), `enum`, `const`, `properties` with `required` (every
//! declared property is filled), `items`, `minItems`/`maxItems`, `minimum`/`maximum`,
//! `minLength`/`maxLength`, common string `format`s, `anyOf`/`oneOf` (the first
//! non-null branch), `allOf` (merged objects), and local `$ref`s (`#/$defs/..`,
//! `#/definitions/..`). Nesting deeper than [`MAX_DEPTH`] ends in `null`.
//!
//! [`violate`] breaks a fitting value on purpose (a required field left out, else a
//! wrong type), for the simulator's `schema_violation_rate`.

use serde_json::{Map, Value};

/// Nesting depth after which generation stops (recursive schemas).
const MAX_DEPTH: usize = 8;

const WORDS: &[&str] = &[
    "alpha", "bravo", "delta", "echo", "lima", "oscar", "sierra", "tango", "paris", "rome",
];

/// A splitmix64 sequence: the same seed gives the same value.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }
}

/// A value that fits `schema`, chosen by `seed`.
pub(super) fn generate(schema: &Value, seed: u64) -> Value {
    let mut rng = Rng(seed);
    gen(schema, schema, &mut rng, 0)
}

/// The schema `r` points at inside `root` (`#`, `#/$defs/X`, `#/definitions/X`, any
/// JSON pointer), if it is local.
fn resolve<'a>(root: &'a Value, r: &str) -> Option<&'a Value> {
    let pointer = r.strip_prefix('#')?;
    if pointer.is_empty() {
        return Some(root);
    }
    root.pointer(pointer)
}

/// The types a schema allows, `null` last.
fn types(schema: &Value) -> Vec<&str> {
    let mut t: Vec<&str> = match schema.get("type") {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    t.sort_by_key(|t| *t == "null");
    if t.is_empty() {
        if schema.get("properties").is_some() {
            t.push("object");
        } else if schema.get("items").is_some() {
            t.push("array");
        }
    }
    t
}

fn gen(schema: &Value, root: &Value, rng: &mut Rng, depth: usize) -> Value {
    if depth > MAX_DEPTH {
        return Value::Null;
    }
    let Some(obj) = schema.as_object() else {
        // `true` or anything unexpected: any value fits; a word is a safe one.
        return Value::String(word(rng));
    };
    if let Some(r) = obj.get("$ref").and_then(Value::as_str) {
        return match resolve(root, r) {
            Some(target) => gen(target, root, rng, depth + 1),
            None => Value::Null,
        };
    }
    if let Some(c) = obj.get("const") {
        return c.clone();
    }
    if let Some(Value::Array(options)) = obj.get("enum") {
        if !options.is_empty() {
            let i = rng.below(options.len() as u64) as usize;
            return options[i].clone();
        }
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(Value::Array(branches)) = obj.get(key) {
            let pick = branches
                .iter()
                .find(|b| b.get("type").and_then(Value::as_str) != Some("null"))
                .or(branches.first());
            if let Some(b) = pick {
                return gen(b, root, rng, depth + 1);
            }
        }
    }
    if let Some(Value::Array(parts)) = obj.get("allOf") {
        let mut merged = Map::new();
        for p in parts {
            if let Value::Object(m) = gen(p, root, rng, depth + 1) {
                merged.extend(m);
            }
        }
        return Value::Object(merged);
    }
    match types(schema).first().copied().unwrap_or("string") {
        "object" => object(obj, root, rng, depth),
        "array" => {
            let min = obj.get("minItems").and_then(Value::as_u64).unwrap_or(1);
            let max = obj
                .get("maxItems")
                .and_then(Value::as_u64)
                .unwrap_or(min.max(2));
            let n = min + rng.below(max.saturating_sub(min) + 1);
            let items = obj.get("items").cloned().unwrap_or(Value::Bool(true));
            Value::Array(
                (0..n.min(16))
                    .map(|_| gen(&items, root, rng, depth + 1))
                    .collect(),
            )
        }
        "integer" => {
            let (lo, hi) = range(obj, 0.0, 100.0);
            let (lo, hi) = (lo.ceil() as i64, hi.floor() as i64);
            let span = (hi - lo).max(0) as u64;
            Value::from(lo + rng.below(span + 1) as i64)
        }
        "number" => {
            let (lo, hi) = range(obj, 0.0, 100.0);
            let steps = rng.below(101) as f64 / 100.0;
            let n = lo + (hi - lo).max(0.0) * steps;
            // Rounded for readability, never past a bound.
            let n = ((n * 100.0).round() / 100.0).clamp(lo, hi.max(lo));
            serde_json::Number::from_f64(n)
                .map(Value::Number)
                .unwrap_or(Value::from(0))
        }
        "boolean" => Value::Bool(rng.below(2) == 1),
        "null" => Value::Null,
        _ => string(obj, rng),
    }
}

fn range(obj: &Map<String, Value>, lo: f64, hi: f64) -> (f64, f64) {
    let num = |k: &str| obj.get(k).and_then(Value::as_f64);
    let lo = num("minimum")
        .or(num("exclusiveMinimum").map(|x| x + 1.0))
        .unwrap_or(lo);
    let hi = num("maximum")
        .or(num("exclusiveMaximum").map(|x| x - 1.0))
        .unwrap_or(hi.max(lo + 100.0));
    (lo, hi.max(lo))
}

fn word(rng: &mut Rng) -> String {
    WORDS[rng.below(WORDS.len() as u64) as usize].to_string()
}

fn string(obj: &Map<String, Value>, rng: &mut Rng) -> Value {
    let s = match obj.get("format").and_then(Value::as_str) {
        Some("date-time") => "2026-01-01T00:00:00Z".to_string(),
        Some("date") => "2026-01-01".to_string(),
        Some("time") => "12:00:00".to_string(),
        Some("email") => format!("{}@example.com", word(rng)),
        Some("uri" | "url") => format!("https://example.com/{}", word(rng)),
        Some("uuid") => "123e4567-e89b-12d3-a456-426614174000".to_string(),
        _ => word(rng),
    };
    let min = obj.get("minLength").and_then(Value::as_u64).unwrap_or(0) as usize;
    let max = obj
        .get("maxLength")
        .and_then(Value::as_u64)
        .map(|m| m as usize);
    let mut s = s;
    while s.chars().count() < min {
        s.push('x');
    }
    if let Some(max) = max {
        s = s.chars().take(max).collect();
    }
    Value::String(s)
}

fn object(obj: &Map<String, Value>, root: &Value, rng: &mut Rng, depth: usize) -> Value {
    let mut out = Map::new();
    if let Some(Value::Object(props)) = obj.get("properties") {
        for (name, s) in props {
            out.insert(name.clone(), gen(s, root, rng, depth + 1));
        }
    }
    // A required name without a declared schema still gets a value.
    for name in required(obj) {
        out.entry(name.to_string())
            .or_insert_with(|| Value::String(word(rng)));
    }
    Value::Object(out)
}

fn required(obj: &Map<String, Value>) -> Vec<&str> {
    obj.get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// `value` (which fits `schema`) changed so that it does not: the last required field
/// of the top-level object removed; without one, the first property given a value of
/// the wrong type; for a non-object schema, a value of the wrong type.
pub(super) fn violate(schema: &Value, value: Value) -> Value {
    let target = match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => resolve(schema, r).unwrap_or(schema),
        None => schema,
    };
    let Value::Object(mut map) = value else {
        return match value {
            Value::String(_) => Value::from(42),
            _ => Value::String("not what the schema says".into()),
        };
    };
    let obj = target.as_object();
    if let Some(name) = obj.and_then(|o| required(o).last().map(|s| s.to_string())) {
        map.remove(&name);
        return Value::Object(map);
    }
    if let Some(first) = map.keys().next().cloned() {
        let wrong = match map.get(&first) {
            Some(Value::String(_)) => Value::from(42),
            _ => Value::String("not what the schema says".into()),
        };
        map.insert(first, wrong);
        return Value::Object(map);
    }
    map.insert("unexpected_field".into(), Value::Bool(true));
    Value::Object(map)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A small checker for the keywords the generator covers.
    pub(crate) fn fits(schema: &Value, root: &Value, v: &Value) -> bool {
        let Some(obj) = schema.as_object() else {
            return true;
        };
        if let Some(r) = obj.get("$ref").and_then(Value::as_str) {
            return resolve(root, r).is_some_and(|t| fits(t, root, v));
        }
        if let Some(Value::Array(options)) = obj.get("enum") {
            return options.contains(v);
        }
        if let Some(Value::Array(b)) = obj.get("anyOf") {
            return b.iter().any(|s| fits(s, root, v));
        }
        let t = types(schema);
        let ok_type = t.is_empty()
            || t.iter().any(|t| match *t {
                "object" => v.is_object(),
                "array" => v.is_array(),
                "string" => v.is_string(),
                "integer" => v.is_i64() || v.is_u64(),
                "number" => v.is_number(),
                "boolean" => v.is_boolean(),
                "null" => v.is_null(),
                _ => true,
            });
        if !ok_type {
            return false;
        }
        if let Value::Object(m) = v {
            if required(obj).iter().any(|r| !m.contains_key(*r)) {
                return false;
            }
            if let Some(Value::Object(props)) = obj.get("properties") {
                for (k, s) in props {
                    if let Some(x) = m.get(k) {
                        if !fits(s, root, x) {
                            return false;
                        }
                    }
                }
            }
        }
        if let (Value::Array(a), Some(items)) = (v, obj.get("items")) {
            let min = obj.get("minItems").and_then(Value::as_u64).unwrap_or(0);
            return a.len() as u64 >= min && a.iter().all(|x| fits(items, root, x));
        }
        if let (Some(n), Some(min)) = (v.as_f64(), obj.get("minimum").and_then(Value::as_f64)) {
            if n < min {
                return false;
            }
        }
        if let (Some(n), Some(max)) = (v.as_f64(), obj.get("maximum").and_then(Value::as_f64)) {
            if n > max {
                return false;
            }
        }
        true
    }

    fn weather() -> Value {
        json!({"type": "object",
               "properties": {
                   "city": {"type": "string", "minLength": 3},
                   "days": {"type": "integer", "minimum": 1, "maximum": 7},
                   "units": {"type": "string", "enum": ["metric", "imperial"]},
                   "precise": {"type": "boolean"},
                   "score": {"type": "number", "minimum": -1, "maximum": 1},
                   "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2},
                   "where": {"type": "object", "properties": {"lat": {"type": "number"}},
                             "required": ["lat"]},
                   "note": {"type": ["string", "null"]}
               },
               "required": ["city", "days"]})
    }

    #[test]
    fn generates_values_that_fit_their_schema_for_many_seeds() {
        let s = weather();
        for seed in 0..200 {
            let v = generate(&s, seed);
            assert!(fits(&s, &s, &v), "{v}");
            assert_eq!(v.as_object().map(|m| m.len()), Some(8), "every property");
        }
    }

    #[test]
    fn same_seed_same_value() {
        assert_eq!(generate(&weather(), 7), generate(&weather(), 7));
    }

    #[test]
    fn follows_local_refs_and_nullable_any_of_as_schemars_writes_them() {
        let s = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": "Report", "type": "object",
            "properties": {
                "author": {"$ref": "#/$defs/Person"},
                "reviewer": {"anyOf": [{"$ref": "#/$defs/Person"}, {"type": "null"}]},
                "count": {"type": "integer", "format": "uint32", "minimum": 0}
            },
            "required": ["author", "count"],
            "$defs": {"Person": {"type": "object",
                                 "properties": {"name": {"type": "string"}},
                                 "required": ["name"]}}
        });
        for seed in 0..50 {
            let v = generate(&s, seed);
            assert!(fits(&s, &s, &v), "{v}");
            assert!(v["reviewer"]["name"].is_string(), "{v}");
        }
    }

    #[test]
    fn a_recursive_schema_ends() {
        let s = json!({"type": "object", "properties": {"next": {"$ref": "#"}}});
        let v = generate(&s, 1);
        assert!(v.to_string().contains("null"));
    }

    #[test]
    fn violate_drops_a_required_field_or_breaks_a_type() {
        let s = weather();
        let v = violate(&s, generate(&s, 3));
        assert!(!fits(&s, &s, &v));
        let loose = json!({"type": "object", "properties": {"a": {"type": "string"}}});
        let v = violate(&loose, generate(&loose, 3));
        assert!(!fits(&loose, &loose, &v), "{v}");
        let text = json!({"type": "string"});
        assert!(!fits(&text, &text, &violate(&text, generate(&text, 1))));
    }
}
