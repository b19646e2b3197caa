//! Tools in a Chat Completions request rewritten for the Responses API: the
//! function definitions and `tool_choice`, and the tool calls and results of
//! earlier turns.

use serde_json::{Map, Value, json};

use super::content::text_parts;
use super::request::{object, string};
use crate::error::ApiError;

/// `tools`: function definitions, flattened to the Responses shape.
pub(super) fn tools(value: &Value) -> Result<Value, ApiError> {
    let Value::Array(tools) = value else {
        return Err(ApiError::invalid_request("`tools` must be an array"));
    };
    let mut out = Vec::with_capacity(tools.len());
    for (i, tool) in tools.iter().enumerate() {
        out.push(function_tool(&format!("tools[{i}]"), tool)?);
    }
    Ok(Value::Array(out))
}

fn function_tool(at: &str, tool: &Value) -> Result<Value, ApiError> {
    let kind = tool.get("type").and_then(Value::as_str);
    if kind != Some("function") {
        return Err(ApiError::invalid_request(format!(
            "`{at}.type` must be 'function'; other tool types are not supported"
        )));
    }
    let function = object(&format!("{at}.function"), tool.get("function"))?;
    let name = string(&format!("{at}.function.name"), function.get("name"))?;
    let mut item = Map::new();
    item.insert("type".into(), "function".into());
    item.insert("name".into(), name.into());
    if let Some(d) = function.get("description").filter(|d| !d.is_null()) {
        item.insert("description".into(), d.clone());
    }
    // Chat Completions allows a tool without parameters; the Responses API does not.
    let parameters = function
        .get("parameters")
        .filter(|p| !p.is_null())
        .cloned()
        .unwrap_or_else(|| json!({"type": "object", "properties": {}}));
    item.insert("parameters".into(), parameters);
    // Strict is off unless asked for in Chat Completions but on by default in the
    // Responses API, where it rejects schemas that are not written for it.
    let strict = function
        .get("strict")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    item.insert("strict".into(), strict.into());
    Ok(Value::Object(item))
}

pub(super) fn tool_choice(value: &Value) -> Result<Value, ApiError> {
    match value {
        Value::String(s) if matches!(s.as_str(), "auto" | "none" | "required") => Ok(value.clone()),
        Value::Object(o) if o.get("type").and_then(Value::as_str) == Some("function") => {
            match o.get("function").and_then(|f| f.get("name")) {
                Some(Value::String(name)) => Ok(json!({"type": "function", "name": name})),
                _ => Err(ApiError::invalid_request(
                    "`tool_choice.function.name` must be a string",
                )),
            }
        }
        _ => Err(ApiError::invalid_request(
            "`tool_choice` must be 'auto', 'none', 'required' or {\"type\":\"function\",\"function\":{\"name\":…}}",
        )),
    }
}

/// An assistant message's `tool_calls` as `function_call` items.
pub(super) fn tool_calls(at: &str, value: Option<&Value>) -> Result<Vec<Value>, ApiError> {
    let calls = match value {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(calls)) => calls,
        Some(_) => {
            return Err(ApiError::invalid_request(format!(
                "`{at}.tool_calls` must be an array"
            )));
        }
    };
    let mut out = Vec::with_capacity(calls.len());
    for (i, call) in calls.iter().enumerate() {
        out.push(tool_call(&format!("{at}.tool_calls[{i}]"), call)?);
    }
    Ok(out)
}

fn tool_call(at: &str, call: &Value) -> Result<Value, ApiError> {
    let call = object(at, Some(call))?;
    if let Some(kind) = call.get("type").and_then(Value::as_str)
        && kind != "function"
    {
        return Err(ApiError::invalid_request(format!(
            "`{at}.type` is '{kind}'; only function tool calls are supported"
        )));
    }
    let id = string(&format!("{at}.id"), call.get("id"))?;
    let function = object(&format!("{at}.function"), call.get("function"))?;
    let name = string(&format!("{at}.function.name"), function.get("name"))?;
    // Some clients echo arguments back parsed; the Responses API wants the text.
    let arguments = match function.get("arguments") {
        Some(Value::String(a)) => a.clone(),
        None | Some(Value::Null) => "{}".to_owned(),
        Some(other) => other.to_string(),
    };
    Ok(json!({
        "type": "function_call",
        "call_id": id,
        "name": name,
        "arguments": arguments,
    }))
}

/// A `tool` message: the result of the call it names, as a `function_call_output`.
pub(super) fn tool_output(at: &str, message: &Map<String, Value>) -> Result<Value, ApiError> {
    let call_id = match message.get("tool_call_id") {
        Some(Value::String(id)) => id,
        _ => {
            return Err(ApiError::invalid_request(format!(
                "`{at}.tool_call_id` is required and must be a string"
            )));
        }
    };
    let content = message.get("content").unwrap_or(&Value::Null);
    Ok(json!({
        "type": "function_call_output",
        "call_id": call_id,
        "output": text_parts(&format!("{at}.content"), content)?.concat(),
    }))
}
