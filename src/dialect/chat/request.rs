//! A Chat Completions request rewritten as a Responses request.
//!
//! This file owns the request as a whole (its options and the order of the
//! conversation); `content.rs` reads message content and `tools.rs` the tool
//! definitions and calls.

use serde_json::{Map, Value, json};

use super::content::{assistant_content, text_parts, user_content};
use super::tools::{tool_calls, tool_choice, tool_output, tools};
use crate::error::ApiError;

/// A Chat Completions request, rewritten for the Responses API.
#[derive(Debug, Clone, PartialEq)]
pub struct Translated {
    /// The Responses request body, ready for the backend patcher.
    pub body: Map<String, Value>,
    /// Whether the client wants chunks; the upstream request streams regardless.
    pub stream: bool,
    /// `stream_options.include_usage`: end a chunk stream with a usage chunk.
    pub include_usage: bool,
    pub model: String,
    /// Top-level fields that were accepted but cannot be honoured, for a debug log.
    pub dropped: Vec<String>,
}

const ROLES: &str = "system, developer, user, assistant or tool";

/// Rewrites a Chat Completions request body, or says what is wrong with it.
///
/// `instructions` is left out when there is no system or developer message:
/// the backend patcher supplies its default then.
pub fn to_responses(chat: Value) -> Result<Translated, ApiError> {
    let Value::Object(chat) = chat else {
        return Err(ApiError::invalid_request(
            "the request body must be a JSON object",
        ));
    };
    let model = required_string("model", chat.get("model"))?.to_owned();
    let (instructions, input) = conversation(messages(chat.get("messages"))?)?;

    let mut body = Map::new();
    body.insert("model".into(), Value::String(model.clone()));
    if let Some(instructions) = instructions {
        body.insert("instructions".into(), Value::String(instructions));
    }
    body.insert("input".into(), Value::Array(input));

    let mut options = Options::default();
    for (key, value) in &chat {
        // SDKs that serialize unset options send them as null.
        if !value.is_null() {
            options.read(key, value, &mut body)?;
        }
    }
    if let Some(reasoning) = options.reasoning {
        body.insert("reasoning".into(), reasoning);
    }
    if !options.text.is_empty() {
        body.insert("text".into(), Value::Object(options.text));
    }
    body.insert("store".into(), Value::Bool(false));
    body.insert("stream".into(), Value::Bool(true));
    Ok(Translated {
        body,
        stream: options.stream,
        include_usage: options.include_usage,
        model,
        dropped: options.dropped,
    })
}

/// What the top-level options say beyond the fields copied straight into the body.
#[derive(Default)]
struct Options {
    stream: bool,
    include_usage: bool,
    dropped: Vec<String>,
    reasoning: Option<Value>,
    /// The Responses `text` object: output format and verbosity.
    text: Map<String, Value>,
}

impl Options {
    /// Takes one top-level field other than null; the ones the Responses API
    /// names the same go into `body` in the client's order.
    fn read(
        &mut self,
        key: &str,
        value: &Value,
        body: &mut Map<String, Value>,
    ) -> Result<(), ApiError> {
        match key {
            "model" | "messages" => {}
            "stream" => self.stream = boolean(key, value)?,
            "stream_options" => {
                self.include_usage = match value.get("include_usage") {
                    None | Some(Value::Null) => false,
                    Some(v) => boolean("stream_options.include_usage", v)?,
                }
            }
            "n" => one_choice(value)?,
            "tools" => {
                body.insert(key.to_owned(), tools(value)?);
            }
            "tool_choice" => {
                body.insert(key.to_owned(), tool_choice(value)?);
            }
            "parallel_tool_calls" => {
                body.insert(key.to_owned(), Value::Bool(boolean(key, value)?));
            }
            "prompt_cache_key" | "service_tier" => {
                string(key, Some(value))?;
                body.insert(key.to_owned(), value.clone());
            }
            "reasoning_effort" => self.reasoning = Some(reasoning(string(key, Some(value))?)),
            "response_format" => {
                self.text.insert("format".into(), response_format(value)?);
            }
            "verbosity" => {
                string(key, Some(value))?;
                self.text.insert("verbosity".into(), value.clone());
            }
            // Forced to false in the body; only a request to store is worth noting.
            "store" if value == &Value::Bool(false) => {}
            _ => self.dropped.push(key.to_owned()),
        }
        Ok(())
    }
}

/// `messages`: a non-empty array.
fn messages(value: Option<&Value>) -> Result<&[Value], ApiError> {
    match value {
        Some(Value::Array(m)) if !m.is_empty() => Ok(m),
        Some(Value::Array(_)) => Err(ApiError::invalid_request("`messages` must not be empty")),
        Some(_) => Err(ApiError::invalid_request("`messages` must be an array")),
        None => Err(ApiError::invalid_request("`messages` is required")),
    }
}

/// `n`: only one choice can be asked for, as the backend answers with one.
fn one_choice(value: &Value) -> Result<(), ApiError> {
    match value.as_u64() {
        Some(1) => Ok(()),
        Some(n) if n > 1 => Err(ApiError::invalid_request(format!(
            "`n` is {n}, but only one choice per request is supported"
        ))),
        _ => Err(ApiError::invalid_request("`n` must be a positive integer")),
    }
}

/// The Responses `reasoning` object for a `reasoning_effort`.
fn reasoning(effort: &str) -> Value {
    // Summaries are what a Chat client can see of the reasoning
    // (`reasoning_content`); with no reasoning there is nothing to summarise.
    // No `include: ["reasoning.encrypted_content"]`: a Chat client has no
    // field to send it back in, so it would only enlarge every answer.
    if effort == "none" {
        json!({ "effort": effort })
    } else {
        json!({ "effort": effort, "summary": "auto" })
    }
}

pub(super) fn boolean(at: &str, value: &Value) -> Result<bool, ApiError> {
    value
        .as_bool()
        .ok_or_else(|| ApiError::invalid_request(format!("`{at}` must be a boolean")))
}

pub(super) fn string<'a>(at: &str, value: Option<&'a Value>) -> Result<&'a str, ApiError> {
    value
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::invalid_request(format!("`{at}` must be a string")))
}

/// A string that says so when it is missing rather than only when it is not a string.
fn required_string<'a>(at: &str, value: Option<&'a Value>) -> Result<&'a str, ApiError> {
    match value {
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(ApiError::invalid_request(format!(
            "`{at}` must be a string"
        ))),
        None => Err(ApiError::invalid_request(format!("`{at}` is required"))),
    }
}

pub(super) fn object<'a>(
    at: &str,
    value: Option<&'a Value>,
) -> Result<&'a Map<String, Value>, ApiError> {
    value
        .and_then(Value::as_object)
        .ok_or_else(|| ApiError::invalid_request(format!("`{at}` must be an object")))
}

/// The instructions (system and developer messages, in order) and the input items.
fn conversation(messages: &[Value]) -> Result<(Option<String>, Vec<Value>), ApiError> {
    let mut instructions: Vec<String> = Vec::new();
    let mut input = Vec::new();
    for (i, message) in messages.iter().enumerate() {
        let at = format!("messages[{i}]");
        let message = object(&at, Some(message))?;
        let role = required_string(&format!("{at}.role"), message.get("role"))?;
        let content = message.get("content").unwrap_or(&Value::Null);
        let content_at = format!("{at}.content");
        match role {
            "system" | "developer" => {
                let text = text_parts(&content_at, content)?.join("\n\n");
                if !text.is_empty() {
                    instructions.push(text);
                }
            }
            "user" => input.push(json!({
                "type": "message",
                "role": "user",
                "content": user_content(&content_at, content)?,
            })),
            "assistant" => assistant(&at, message, &mut input)?,
            "tool" => input.push(tool_output(&at, message)?),
            other => {
                return Err(ApiError::invalid_request(format!(
                    "`{at}.role` is '{other}'; it must be one of {ROLES}"
                )));
            }
        }
    }
    let instructions = (!instructions.is_empty()).then(|| instructions.join("\n\n"));
    Ok((instructions, input))
}

/// An assistant turn: its text (and refusal) as one message item, then one
/// `function_call` item per tool call, in that order.
fn assistant(
    at: &str,
    message: &Map<String, Value>,
    input: &mut Vec<Value>,
) -> Result<(), ApiError> {
    let parts = assistant_content(&format!("{at}.content"), message)?;
    if !parts.is_empty() {
        input.push(json!({"type": "message", "role": "assistant", "content": parts}));
    }
    input.extend(tool_calls(at, message.get("tool_calls"))?);
    Ok(())
}

fn response_format(value: &Value) -> Result<Value, ApiError> {
    let format = object("response_format", Some(value))?;
    match format.get("type").and_then(Value::as_str) {
        Some("text") => Ok(json!({"type": "text"})),
        Some("json_object") => Ok(json!({"type": "json_object"})),
        Some("json_schema") => {
            let schema = object("response_format.json_schema", format.get("json_schema"))?;
            let name = string("response_format.json_schema.name", schema.get("name"))?;
            let mut out = Map::new();
            out.insert("type".into(), "json_schema".into());
            out.insert("name".into(), name.into());
            for key in ["description", "schema", "strict"] {
                if let Some(v) = schema.get(key).filter(|v| !v.is_null()) {
                    out.insert(key.into(), v.clone());
                }
            }
            Ok(Value::Object(out))
        }
        _ => Err(ApiError::invalid_request(
            "`response_format.type` must be 'text', 'json_object' or 'json_schema'",
        )),
    }
}

#[cfg(test)]
#[path = "request_tests.rs"]
mod tests;
