//! Tools the model may call, how it must choose among them, and structured output.

use super::CacheControl;
use serde::{Deserialize, Serialize};

/// A tool the model may call.
///
/// ```
/// use quotaswarm::types::Tool;
/// let t = Tool::new("lookup", serde_json::json!({"type": "object", "properties": {}}))
///     .description("Looks a word up.")
///     .strict(true);
/// assert_eq!(t.name, "lookup");
///
/// // A server tool the provider runs itself (Anthropic web search), named by its type:
/// let search = Tool::server("web_search_20250305", "web_search").setting("max_uses", 5);
/// assert_eq!(search.kind.as_deref(), Some("web_search_20250305"));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Tool {
    /// The name the model calls it by.
    pub name: String,
    /// What it does, for the model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// JSON Schema of the tool's input (`type: object`); `null` for a server tool.
    #[serde(default)]
    pub input_schema: serde_json::Value,
    /// Ask the provider to guarantee that calls match the schema exactly (`strict`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
    /// An Anthropic cache breakpoint after this tool (tools come first in the prefix).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<CacheControl>,
    /// A server tool's versioned type (`web_search_20250305`, `web_fetch_20250910`,
    /// `code_execution_20250825`, ...): the provider runs it and returns its call and
    /// result as blocks kept whole ([`ContentBlock::Raw`](super::ContentBlock::Raw)).
    /// `None` for a tool the agent runs (a function tool with an `input_schema`).
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// A server tool's other fields, sent as given (`max_uses`, `allowed_domains`,
    /// `user_location`, ...).
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub settings: serde_json::Map<String, serde_json::Value>,
}

impl Tool {
    /// A tool named `name` whose input follows `input_schema` (a JSON Schema object).
    pub fn new(name: impl Into<String>, input_schema: serde_json::Value) -> Self {
        Tool {
            name: name.into(),
            description: None,
            input_schema,
            strict: None,
            cache_control: None,
            kind: None,
            settings: serde_json::Map::new(),
        }
    }

    /// A server tool of type `kind` (e.g. `web_search_20250305`) called `name` (e.g.
    /// `web_search`): the provider runs it. Anthropic only; the OpenAI Chat wire refuses
    /// a request carrying one before sending it.
    pub fn server(kind: impl Into<String>, name: impl Into<String>) -> Self {
        Tool {
            kind: Some(kind.into()),
            ..Tool::new(name, serde_json::Value::Null)
        }
    }

    /// Sets one of a server tool's fields (`max_uses`, `allowed_domains`, ...).
    pub fn setting(mut self, key: impl Into<String>, value: impl Into<serde_json::Value>) -> Self {
        self.settings.insert(key.into(), value.into());
        self
    }

    /// Whether the provider runs this tool (it names a server-tool type).
    pub fn is_server(&self) -> bool {
        self.kind.is_some()
    }

    /// Describes the tool for the model.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// Asks for calls that match the schema exactly.
    pub fn strict(mut self, strict: bool) -> Self {
        self.strict = Some(strict);
        self
    }

    /// Places a cache breakpoint after this tool.
    pub fn cache(mut self, cache: CacheControl) -> Self {
        self.cache_control = Some(cache);
        self
    }
}

/// Which tool, if any, the model must call.
///
/// On the wire: Anthropic `{"type": "auto" | "any" | "none"}` or `{"type": "tool", "name"}`;
/// OpenAI `"auto" | "required" | "none"` or `{"type": "function", "function": {"name"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type", content = "name")]
#[non_exhaustive]
pub enum ToolChoice {
    /// The model decides (the default when tools are given).
    Auto,
    /// The model must call one of the tools (OpenAI `required`).
    Any,
    /// The model must not call a tool.
    None,
    /// The model must call this tool.
    Tool(String),
}

/// A JSON Schema the reply must follow (structured output).
///
/// OpenAI receives it as `response_format: {"type": "json_schema", "json_schema": {...}}`;
/// Anthropic as a tool of this name that the model is forced to call, whose input is the
/// reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct OutputSchema {
    /// The schema's name (`[a-zA-Z0-9_-]`, at most 64 characters).
    pub name: String,
    /// The JSON Schema of the reply (an object).
    pub schema: serde_json::Value,
    /// Ask for exact adherence (OpenAI `strict`, default true).
    #[serde(default = "yes")]
    pub strict: bool,
}

fn yes() -> bool {
    true
}

impl OutputSchema {
    /// A strict schema named `name`.
    pub fn new(name: impl Into<String>, schema: serde_json::Value) -> Self {
        OutputSchema {
            name: name.into(),
            schema,
            strict: true,
        }
    }
}
