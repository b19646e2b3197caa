//! A Messages request rewritten as a Responses request.
//!
//! Top-level fields here; the conversation in `content.rs`, tools in
//! `tools.rs`. Thinking becomes `reasoning`:
//!
//! - The effort comes from, first to last: `output_config.effort` (`low`,
//!   `medium`, `high`, `max` → `xhigh`); `thinking.budget_tokens` (below
//!   4,000 → `low`, below 16,000 → `medium`, else `high`: Claude Code's
//!   "think" asks for 4,000 and "ultrathink" for 31,999); the model map's
//!   effort; else the model's own default. It is then moved to the nearest
//!   effort the model supports.
//! - `thinking` enabled or adaptive asks for reasoning summaries (the text of
//!   thinking blocks; not with `display: "omitted"`) and for the encrypted
//!   reasoning, which comes back in the thinking blocks' signatures. Absent or
//!   disabled asks for neither, so the answer holds no thinking blocks, as
//!   Anthropic's would not.
//!
//! `metadata.user_id` (Claude Code puts a JSON string with its `session_id`
//! there) becomes `prompt_cache_key`, from which the upstream `session-id`
//! is derived, so that a conversation's turns hit the prompt cache.

use serde_json::{Map, Value, json};

use super::content::input_items;
use super::errors::MessagesError;
use super::models::{Catalogue, Effort, ModelMap, resolve};
use super::tools::{ToolChoice, ToolNames, Tools, tool_choice, tools};

/// A Messages request, rewritten for the Responses API.
#[derive(Debug, Clone, PartialEq)]
pub struct Translated {
    /// The Responses request body, ready for the backend patcher.
    pub body: Map<String, Value>,
    /// The model name the client asked for, to answer with.
    pub model: String,
    /// Whether the client wants an event stream; upstream streams regardless.
    pub stream: bool,
    /// What was accepted but not sent upstream, for a debug log.
    pub dropped: Vec<String>,
    /// The conversation id, also sent as `prompt_cache_key`.
    pub session: Option<String>,
    /// Tools renamed for the backend, to name them as the client did in the answer.
    pub tool_names: ToolNames,
}

/// Effort thresholds for `thinking.budget_tokens` (see the module comment).
const BUDGET_LOW_BELOW: u64 = 4_000;
const BUDGET_MEDIUM_BELOW: u64 = 16_000;

/// Rewrites a Messages request body, or says what is wrong with it.
///
/// `instructions` is left out when there is no system prompt: the backend
/// patcher supplies its default then.
pub fn translate_request(
    request: Value,
    map: &ModelMap,
    catalogue: &Catalogue,
) -> Result<Translated, MessagesError> {
    let Value::Object(request) = request else {
        return Err(invalid("the request body must be a JSON object"));
    };
    let (model, messages) = model_and_messages(&request)?;
    let mut dropped = Dropped::default();
    let mut fields = Fields::default();
    for (key, value) in &request {
        // SDKs that serialize unset options send them as null.
        if !value.is_null() {
            fields.read(key, value, &mut dropped)?;
        }
    }
    let resolved = resolve(&model, map, catalogue);
    let effort = fields
        .effort
        .or(fields.thinking.budget_effort())
        .or(resolved.effort)
        .map(|e| catalogue.supported_effort(&resolved.model, e));

    let mut body = Map::new();
    body.insert("model".into(), Value::String(resolved.model));
    if let Some(system) = request.get("system").filter(|v| !v.is_null())
        && let Some(instructions) = system_text(system, &mut dropped)?
    {
        body.insert("instructions".into(), Value::String(instructions));
    }
    body.insert(
        "input".into(),
        Value::Array(input_items(messages, &mut dropped)?),
    );
    let tool_names = fields.tools_into(&mut body, &mut dropped)?;
    fields.thinking.reasoning_into(&mut body, effort);
    if let Some(format) = fields.format {
        body.insert("text".into(), json!({ "format": format }));
    }
    if let Some(session) = &fields.session {
        body.insert("prompt_cache_key".into(), Value::String(session.clone()));
    }
    body.insert("store".into(), Value::Bool(false));
    body.insert("stream".into(), Value::Bool(true));
    Ok(Translated {
        body,
        model,
        stream: fields.stream,
        dropped: dropped.0,
        session: fields.session,
        tool_names,
    })
}

fn model_and_messages(request: &Map<String, Value>) -> Result<(String, &[Value]), MessagesError> {
    let model = match request.get("model") {
        Some(Value::String(m)) if !m.is_empty() => m.clone(),
        Some(Value::String(_)) | None | Some(Value::Null) => {
            return Err(invalid("`model` is required"));
        }
        Some(_) => return Err(invalid("`model` must be a string")),
    };
    match request.get("messages") {
        Some(Value::Array(m)) if !m.is_empty() => Ok((model, m)),
        Some(Value::Array(_)) => Err(invalid("`messages` must not be empty")),
        None | Some(Value::Null) => Err(invalid("`messages` is required")),
        Some(_) => Err(invalid("`messages` must be an array")),
    }
}

/// The top-level fields besides `model`, `messages` and `system`, read in one pass.
#[derive(Debug, Default)]
struct Fields {
    stream: bool,
    session: Option<String>,
    tools: Option<Tools>,
    choice: Option<ToolChoice>,
    thinking: Thinking,
    effort: Option<Effort>,
    format: Option<Value>,
}

impl Fields {
    fn read(
        &mut self,
        key: &str,
        value: &Value,
        dropped: &mut Dropped,
    ) -> Result<(), MessagesError> {
        match key {
            "model" | "messages" | "system" => {}
            "stream" => self.stream = boolean(key, value)?,
            "metadata" => self.session = session(value)?,
            "tools" => self.tools = Some(tools(value, dropped)?),
            "tool_choice" => self.choice = Some(tool_choice(value)?),
            "thinking" => self.thinking = Thinking::parse(value)?,
            "output_config" => {
                let config = object(key, value)?;
                for (k, v) in config.iter().filter(|(_, v)| !v.is_null()) {
                    match k.as_str() {
                        "effort" => self.effort = Some(output_effort(v)?),
                        "format" => self.format = Some(output_format("output_config.format", v)?),
                        _ => dropped.note(format!("output_config.{k}")),
                    }
                }
            }
            "output_format" => self.format = Some(output_format(key, value)?),
            "mcp_servers" if value.as_array().is_some_and(|a| !a.is_empty()) => {
                return Err(invalid(
                    "`mcp_servers`: the MCP connector is not supported; run the MCP servers in the client",
                ));
            }
            // Sampling and context options the backend has no counterpart for
            // (`max_tokens`, `temperature`, `top_p`, `top_k`, `stop_sequences`,
            // `service_tier`, `context_management`, …): noted, not sent.
            _ => dropped.note(key),
        }
        Ok(())
    }

    /// `tools`, `tool_choice` and `parallel_tool_calls`. Anthropic lets a model
    /// call tools in parallel unless told not to; the backend is told either way.
    fn tools_into(
        &mut self,
        body: &mut Map<String, Value>,
        dropped: &mut Dropped,
    ) -> Result<ToolNames, MessagesError> {
        let Some(tools) = self.tools.take().filter(|t| !t.list.is_empty()) else {
            if self.choice.is_some() {
                dropped.note("tool_choice (no tools)");
            }
            return Ok(ToolNames::default());
        };
        let choice = self.choice.take().unwrap_or_default();
        let value = choice.to_responses(&tools)?;
        body.insert("tools".into(), Value::Array(tools.list));
        body.insert("tool_choice".into(), value);
        body.insert(
            "parallel_tool_calls".into(),
            Value::Bool(!choice.disable_parallel),
        );
        Ok(tools.names)
    }
}

/// What `thinking` asked for.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Thinking {
    #[default]
    Absent,
    Disabled,
    /// `enabled` (with its budget) or `adaptive` (without one); `shown` is false
    /// for `display: "omitted"`.
    On {
        budget: Option<u64>,
        shown: bool,
    },
}

impl Thinking {
    fn parse(value: &Value) -> Result<Thinking, MessagesError> {
        let thinking = object("thinking", value)?;
        let shown = match thinking.get("display").and_then(Value::as_str) {
            None | Some("summarized") => true,
            Some("omitted") => false,
            Some(other) => {
                return Err(invalid(format!(
                    "`thinking.display` is '{other}'; it must be 'summarized' or 'omitted'"
                )));
            }
        };
        match thinking.get("type").and_then(Value::as_str) {
            Some("enabled") => match thinking.get("budget_tokens") {
                Some(Value::Number(n)) if n.as_u64().is_some() => Ok(Thinking::On {
                    budget: n.as_u64(),
                    shown,
                }),
                None | Some(Value::Null) => Ok(Thinking::On {
                    budget: None,
                    shown,
                }),
                Some(_) => Err(invalid(
                    "`thinking.budget_tokens` must be a non-negative integer",
                )),
            },
            Some("adaptive") => Ok(Thinking::On {
                budget: None,
                shown,
            }),
            Some("disabled") => Ok(Thinking::Disabled),
            _ => Err(invalid(
                "`thinking.type` must be 'enabled', 'adaptive' or 'disabled'",
            )),
        }
    }

    fn budget_effort(self) -> Option<Effort> {
        match self {
            Thinking::On {
                budget: Some(budget),
                ..
            } => Some(if budget < BUDGET_LOW_BELOW {
                Effort::Low
            } else if budget < BUDGET_MEDIUM_BELOW {
                Effort::Medium
            } else {
                Effort::High
            }),
            _ => None,
        }
    }

    fn reasoning_into(self, body: &mut Map<String, Value>, effort: Option<Effort>) {
        let mut reasoning = Map::new();
        if let Some(effort) = effort {
            reasoning.insert("effort".into(), effort.as_str().into());
        }
        if let Thinking::On { shown, .. } = self {
            if shown && effort != Some(Effort::None) {
                reasoning.insert("summary".into(), "auto".into());
            }
            body.insert("include".into(), json!(["reasoning.encrypted_content"]));
        }
        if !reasoning.is_empty() {
            body.insert("reasoning".into(), Value::Object(reasoning));
        }
    }
}

fn output_effort(value: &Value) -> Result<Effort, MessagesError> {
    match value.as_str() {
        Some("low") => Ok(Effort::Low),
        Some("medium") => Ok(Effort::Medium),
        Some("high") => Ok(Effort::High),
        Some("max" | "xhigh") => Ok(Effort::Xhigh),
        _ => Err(invalid(
            "`output_config.effort` must be 'low', 'medium', 'high' or 'max'",
        )),
    }
}

/// Structured output: `{type: "json_schema", schema}` → Responses `text.format`.
fn output_format(at: &str, value: &Value) -> Result<Value, MessagesError> {
    let format = object(at, value)?;
    match (
        format.get("type").and_then(Value::as_str),
        format.get("schema"),
    ) {
        (Some("json_schema"), Some(schema @ Value::Object(_))) => Ok(json!({
            "type": "json_schema", "name": "output", "schema": schema, "strict": true,
        })),
        _ => Err(invalid(format!(
            "`{at}` must be {{\"type\":\"json_schema\",\"schema\":{{…}}}}"
        ))),
    }
}

/// The session in `metadata.user_id`: the `session_id` of the JSON string
/// Claude Code sends, or the whole string from other clients.
fn session(metadata: &Value) -> Result<Option<String>, MessagesError> {
    let metadata = object("metadata", metadata)?;
    let user = match metadata.get("user_id") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) => s.trim(),
        Some(_) => return Err(invalid("`metadata.user_id` must be a string")),
    };
    let from_json = serde_json::from_str::<Value>(user).ok().and_then(|v| {
        v.get("session_id")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    });
    Ok(from_json.or_else(|| (!user.is_empty()).then(|| user.to_owned())))
}

/// The system prompt: a string, or text blocks joined. Claude Code's first
/// block is a billing pseudo-header, not instructions; `cache_control` has no
/// counterpart (the backend caches prefixes by itself).
fn system_text(system: &Value, dropped: &mut Dropped) -> Result<Option<String>, MessagesError> {
    let blocks = match system {
        Value::String(s) => return Ok((!s.is_empty()).then(|| s.clone())),
        Value::Array(blocks) => blocks,
        _ => {
            return Err(invalid(
                "`system` must be a string or an array of text blocks",
            ));
        }
    };
    let mut texts = Vec::with_capacity(blocks.len());
    for (i, block) in blocks.iter().enumerate() {
        let at = format!("system[{i}]");
        let block = object(&at, block)?;
        let text = match (block.get("type").and_then(Value::as_str), block.get("text")) {
            (Some("text"), Some(Value::String(t))) => t,
            _ => return Err(invalid(format!("`{at}` must be a text block"))),
        };
        if block.contains_key("cache_control") {
            dropped.note("cache_control");
        }
        if text.starts_with("x-anthropic-billing-header:") {
            dropped.note(format!("{at}: the billing header"));
        } else if !text.is_empty() {
            texts.push(text.as_str());
        }
    }
    Ok((!texts.is_empty()).then(|| texts.join("\n\n")))
}

pub(super) use super::read::{Dropped, boolean, invalid, object, string};

#[cfg(test)]
#[path = "request_tests.rs"]
mod tests;
