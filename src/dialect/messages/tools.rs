//! Anthropic tool definitions and `tool_choice` as Responses tools.
//!
//! Custom tools (`name`, `description`, `input_schema`) become function tools.
//! The web search server tool becomes the backend's own `web_search`; no other
//! server tool or Anthropic-defined tool (code execution, web fetch, bash,
//! text editor, computer use, memory, tool search) has a counterpart, so a
//! request with one is refused with its name rather than answered without it.
//! `defer_loading` is ignored: every tool is sent, so the model sees them all
//! from the start and a client's tool search finds nothing missing.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::errors::MessagesError;
use super::request::{Dropped, boolean, invalid, object, string};

/// The translated tools.
#[derive(Debug, Default)]
pub(super) struct Tools {
    pub(super) list: Vec<Value>,
    /// The name the client gave its web search tool, if it offered one.
    pub(super) web_search: Option<String>,
    pub(super) names: ToolNames,
}

/// The longest function name the Responses API accepts.
const MAX_NAME: usize = 64;
/// What is kept of a longer name, before `_` and 8 hex digits of its hash.
const KEPT_OF_NAME: usize = MAX_NAME - 9;

/// The client's names of the tools renamed for the backend.
///
/// Anthropic allows tool names up to 128 characters, the Responses API only
/// 64, and Claude Code's MCP tools (`mcp__server__tool`) can be longer. Such a
/// name is cut to its first 55 characters plus `_` and 8 hex digits of a hash
/// of the whole name: the same on every request, so the tools and the
/// conversation's earlier calls agree, and put back in the answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ToolNames(BTreeMap<String, String>);

impl ToolNames {
    /// The client's name for a tool the backend named `name`.
    pub fn client_name<'a>(&'a self, name: &'a str) -> &'a str {
        self.0.get(name).map_or(name, String::as_str)
    }
}

/// The name the backend gets for a client's tool name.
pub(super) fn backend_name(name: &str) -> Cow<'_, str> {
    if name.chars().count() <= MAX_NAME {
        return Cow::Borrowed(name);
    }
    // FNV-1a: stable across runs and builds, unlike the standard hasher.
    let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let kept: String = name.chars().take(KEPT_OF_NAME).collect();
    Cow::Owned(format!("{kept}_{:08x}", hash as u32))
}

/// Tool fields with no counterpart upstream, noted when present.
const IGNORED_FIELDS: &[&str] = &[
    "cache_control",
    "defer_loading",
    "input_examples",
    "eager_input_streaming",
];

pub(super) fn tools(value: &Value, dropped: &mut Dropped) -> Result<Tools, MessagesError> {
    let Value::Array(list) = value else {
        return Err(invalid("`tools` must be an array"));
    };
    let mut tools = Tools::default();
    for (i, tool) in list.iter().enumerate() {
        let at = format!("tools[{i}]");
        let tool = object(&at, tool)?;
        for key in IGNORED_FIELDS {
            if tool.contains_key(*key) {
                dropped.note(format!("tools[].{key}"));
            }
        }
        match tool.get("type").and_then(Value::as_str) {
            None | Some("custom") => tools.list.push(function(&at, tool, &mut tools.names)?),
            Some(kind) if kind.starts_with("web_search_") => {
                tools.list.push(web_search(&at, tool, dropped)?);
                tools.web_search = Some(string(&format!("{at}.name"), tool.get("name"))?.into());
            }
            Some(kind) => {
                return Err(invalid(format!(
                    "`{at}` is the Anthropic tool '{kind}', which the Codex backend cannot run; \
                     only custom tools (name, description, input_schema) and web_search are supported"
                )));
            }
        }
    }
    Ok(tools)
}

fn function(
    at: &str,
    tool: &Map<String, Value>,
    names: &mut ToolNames,
) -> Result<Value, MessagesError> {
    let name = string(&format!("{at}.name"), tool.get("name"))?;
    let backend = backend_name(name);
    if let Cow::Owned(backend) = &backend {
        names.0.insert(backend.clone(), name.to_owned());
    }
    let mut schema = match tool.get("input_schema") {
        Some(Value::Object(schema)) => schema.clone(),
        Some(_) => return Err(invalid(format!("`{at}.input_schema` must be an object"))),
        None => return Err(invalid(format!("`{at}.input_schema` is required"))),
    };
    // A JSON Schema dialect marker the backend's schema checker has no use for.
    schema.remove("$schema");
    let mut out = Map::new();
    out.insert("type".into(), "function".into());
    out.insert("name".into(), backend.into());
    match tool.get("description") {
        None | Some(Value::Null) => {}
        Some(Value::String(d)) => {
            out.insert("description".into(), d.as_str().into());
        }
        Some(_) => return Err(invalid(format!("`{at}.description` must be a string"))),
    }
    out.insert("parameters".into(), Value::Object(schema));
    let strict = match tool.get("strict") {
        None | Some(Value::Null) => false,
        Some(v) => boolean(&format!("{at}.strict"), v)?,
    };
    out.insert("strict".into(), strict.into());
    Ok(Value::Object(out))
}

/// Anthropic's web search options that the backend's tool shares: the allowed
/// domains and the user's approximate location (the same shape in both).
fn web_search(
    at: &str,
    tool: &Map<String, Value>,
    dropped: &mut Dropped,
) -> Result<Value, MessagesError> {
    let mut out = json!({"type": "web_search"});
    for (key, value) in tool.iter().filter(|(_, v)| !v.is_null()) {
        match key.as_str() {
            "type" | "name" | "cache_control" => {}
            "allowed_domains" if value.is_array() => {
                out["filters"] = json!({ "allowed_domains": value });
            }
            "user_location" if value.is_object() => out["user_location"] = value.clone(),
            "allowed_domains" | "user_location" => {
                return Err(invalid(format!("`{at}.{key}` has the wrong type")));
            }
            _ => dropped.note(format!("tools[].{key} (web search)")),
        }
    }
    Ok(out)
}

/// A client's `tool_choice`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(super) struct ToolChoice {
    kind: ChoiceKind,
    pub(super) disable_parallel: bool,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
enum ChoiceKind {
    #[default]
    Auto,
    Any,
    None,
    Tool(String),
}

pub(super) fn tool_choice(value: &Value) -> Result<ToolChoice, MessagesError> {
    let choice = object("tool_choice", value)?;
    let kind = match choice.get("type").and_then(Value::as_str) {
        Some("auto") => ChoiceKind::Auto,
        Some("any") => ChoiceKind::Any,
        Some("none") => ChoiceKind::None,
        Some("tool") => ChoiceKind::Tool(string("tool_choice.name", choice.get("name"))?.into()),
        _ => {
            return Err(invalid(
                "`tool_choice.type` must be 'auto', 'any', 'tool' or 'none'",
            ));
        }
    };
    let disable_parallel = match choice.get("disable_parallel_tool_use") {
        None | Some(Value::Null) => false,
        Some(v) => boolean("tool_choice.disable_parallel_tool_use", v)?,
    };
    Ok(ToolChoice {
        kind,
        disable_parallel,
    })
}

impl ToolChoice {
    /// The Responses `tool_choice`. Forcing the web search becomes `required`
    /// (some tool must be called): the backend's hosted tools cannot be named.
    pub(super) fn to_responses(&self, tools: &Tools) -> Result<Value, MessagesError> {
        Ok(match &self.kind {
            ChoiceKind::Auto => "auto".into(),
            ChoiceKind::Any => "required".into(),
            ChoiceKind::None => "none".into(),
            ChoiceKind::Tool(name)
                if tools.list.iter().any(|t| t["name"] == *backend_name(name)) =>
            {
                json!({"type": "function", "name": backend_name(name)})
            }
            ChoiceKind::Tool(name) if tools.web_search.as_ref() == Some(name) => "required".into(),
            ChoiceKind::Tool(name) => {
                return Err(invalid(format!(
                    "`tool_choice.name` is '{name}', which is not one of `tools`"
                )));
            }
        })
    }
}
