//! A Chat Completions request rewritten as a Responses request.

use serde_json::{Map, Value, json};

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
    let model = match chat.get("model") {
        Some(Value::String(m)) => m.clone(),
        Some(_) => return Err(ApiError::invalid_request("`model` must be a string")),
        None => return Err(ApiError::invalid_request("`model` is required")),
    };
    let messages = match chat.get("messages") {
        Some(Value::Array(m)) if !m.is_empty() => m,
        Some(Value::Array(_)) => {
            return Err(ApiError::invalid_request("`messages` must not be empty"));
        }
        Some(_) => return Err(ApiError::invalid_request("`messages` must be an array")),
        None => return Err(ApiError::invalid_request("`messages` is required")),
    };
    let (instructions, input) = conversation(messages)?;

    let mut body = Map::new();
    body.insert("model".into(), Value::String(model.clone()));
    if let Some(instructions) = instructions {
        body.insert("instructions".into(), Value::String(instructions));
    }
    body.insert("input".into(), Value::Array(input));

    let mut stream = false;
    let mut include_usage = false;
    let mut dropped = Vec::new();
    let mut reasoning = None;
    let mut text = Map::new();
    for (key, value) in &chat {
        // SDKs that serialize unset options send them as null.
        if value.is_null() {
            continue;
        }
        match key.as_str() {
            "model" | "messages" => {}
            "stream" => stream = boolean(key, value)?,
            "stream_options" => {
                include_usage = match value.get("include_usage") {
                    None | Some(Value::Null) => false,
                    Some(v) => boolean("stream_options.include_usage", v)?,
                }
            }
            "n" => match value.as_u64() {
                Some(1) => {}
                Some(n) if n > 1 => {
                    return Err(ApiError::invalid_request(format!(
                        "`n` is {n}, but only one choice per request is supported"
                    )));
                }
                _ => return Err(ApiError::invalid_request("`n` must be a positive integer")),
            },
            "tools" => {
                body.insert(key.clone(), tools(value)?);
            }
            "tool_choice" => {
                body.insert(key.clone(), tool_choice(value)?);
            }
            "parallel_tool_calls" => {
                body.insert(key.clone(), Value::Bool(boolean(key, value)?));
            }
            "prompt_cache_key" | "service_tier" => {
                string(key, Some(value))?;
                body.insert(key.clone(), value.clone());
            }
            "reasoning_effort" => {
                let effort = string(key, Some(value))?;
                // Summaries are what a Chat client can see of the reasoning
                // (`reasoning_content`); with no reasoning there is nothing to summarise.
                // No `include: ["reasoning.encrypted_content"]`: a Chat client has no
                // field to send it back in, so it would only enlarge every answer.
                reasoning = Some(if effort == "none" {
                    json!({ "effort": effort })
                } else {
                    json!({ "effort": effort, "summary": "auto" })
                });
            }
            "response_format" => {
                text.insert("format".into(), response_format(value)?);
            }
            "verbosity" => {
                string(key, Some(value))?;
                text.insert("verbosity".into(), value.clone());
            }
            // Forced to false below; only a request to store is worth noting.
            "store" if value == &Value::Bool(false) => {}
            _ => dropped.push(key.clone()),
        }
    }
    if let Some(reasoning) = reasoning {
        body.insert("reasoning".into(), reasoning);
    }
    if !text.is_empty() {
        body.insert("text".into(), Value::Object(text));
    }
    body.insert("store".into(), Value::Bool(false));
    body.insert("stream".into(), Value::Bool(true));
    Ok(Translated {
        body,
        stream,
        include_usage,
        model,
        dropped,
    })
}

fn boolean(at: &str, value: &Value) -> Result<bool, ApiError> {
    value
        .as_bool()
        .ok_or_else(|| ApiError::invalid_request(format!("`{at}` must be a boolean")))
}

fn string<'a>(at: &str, value: Option<&'a Value>) -> Result<&'a str, ApiError> {
    value
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::invalid_request(format!("`{at}` must be a string")))
}

fn object<'a>(at: &str, value: Option<&'a Value>) -> Result<&'a Map<String, Value>, ApiError> {
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
        let role = match message.get("role") {
            Some(Value::String(role)) => role.as_str(),
            Some(_) => {
                return Err(ApiError::invalid_request(format!(
                    "`{at}.role` must be a string"
                )));
            }
            None => {
                return Err(ApiError::invalid_request(format!(
                    "`{at}.role` is required"
                )));
            }
        };
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
            "tool" => {
                let call_id = match message.get("tool_call_id") {
                    Some(Value::String(id)) => id,
                    _ => {
                        return Err(ApiError::invalid_request(format!(
                            "`{at}.tool_call_id` is required and must be a string"
                        )));
                    }
                };
                input.push(json!({
                    "type": "function_call_output",
                    "call_id": call_id,
                    "output": text_parts(&content_at, content)?.concat(),
                }));
            }
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

/// The texts of content that may only hold text: a string, text parts, or null.
fn text_parts<'a>(at: &str, content: &'a Value) -> Result<Vec<&'a str>, ApiError> {
    match content {
        Value::Null => Ok(Vec::new()),
        Value::String(s) => Ok(vec![s]),
        Value::Array(parts) => parts
            .iter()
            .enumerate()
            .map(|(i, part)| match (part_type(part), part.get("text")) {
                (Some("text"), Some(Value::String(t))) => Ok(t.as_str()),
                _ => Err(ApiError::invalid_request(format!(
                    "`{at}[{i}]` must be a text part ({{\"type\":\"text\",\"text\":\"…\"}})"
                ))),
            })
            .collect(),
        _ => Err(content_type_error(at)),
    }
}

fn content_type_error(at: &str) -> ApiError {
    ApiError::invalid_request(format!(
        "`{at}` must be a string, an array of content parts, or null"
    ))
}

fn part_type(part: &Value) -> Option<&str> {
    part.get("type").and_then(Value::as_str)
}

fn user_content(at: &str, content: &Value) -> Result<Vec<Value>, ApiError> {
    let parts = match content {
        Value::String(s) => return Ok(vec![json!({"type": "input_text", "text": s})]),
        Value::Array(parts) => parts,
        Value::Null => {
            return Err(ApiError::invalid_request(format!(
                "`{at}` is required for user messages"
            )));
        }
        _ => return Err(content_type_error(at)),
    };
    let mut out = Vec::with_capacity(parts.len());
    for (i, part) in parts.iter().enumerate() {
        let at = format!("{at}[{i}]");
        match part_type(part) {
            Some("text") => {
                let text = string(&format!("{at}.text"), part.get("text"))?;
                out.push(json!({"type": "input_text", "text": text}));
            }
            Some("image_url") => out.push(image(&at, part.get("image_url"))?),
            Some("file") => {
                let file = object(&format!("{at}.file"), part.get("file"))?;
                let mut item = Map::new();
                item.insert("type".into(), "input_file".into());
                for key in ["file_id", "file_data", "filename"] {
                    if let Some(v) = file.get(key).filter(|v| !v.is_null()) {
                        item.insert(key.into(), v.clone());
                    }
                }
                out.push(Value::Object(item));
            }
            Some(other) => {
                return Err(ApiError::invalid_request(format!(
                    "`{at}` has type '{other}'; supported user content parts are text, image_url and file"
                )));
            }
            None => {
                return Err(ApiError::invalid_request(format!(
                    "`{at}.type` is required"
                )));
            }
        }
    }
    Ok(out)
}

/// An `image_url` part: `{url, detail?}`, or the bare URL some clients send.
fn image(at: &str, image_url: Option<&Value>) -> Result<Value, ApiError> {
    let (url, detail) = match image_url {
        Some(Value::String(url)) => (url, None),
        Some(Value::Object(o)) => match o.get("url") {
            Some(Value::String(url)) => (url, o.get("detail").filter(|d| !d.is_null())),
            _ => {
                return Err(ApiError::invalid_request(format!(
                    "`{at}.image_url.url` must be a string"
                )));
            }
        },
        _ => {
            return Err(ApiError::invalid_request(format!(
                "`{at}.image_url` must be an object"
            )));
        }
    };
    let mut item = json!({"type": "input_image", "image_url": url});
    if let Some(detail) = detail {
        item["detail"] = detail.clone();
    }
    Ok(item)
}

/// An assistant turn: its text (and refusal) as one message item, then one
/// `function_call` item per tool call, in that order.
fn assistant(
    at: &str,
    message: &Map<String, Value>,
    input: &mut Vec<Value>,
) -> Result<(), ApiError> {
    let content_at = format!("{at}.content");
    let mut parts = Vec::new();
    match message.get("content").unwrap_or(&Value::Null) {
        Value::Null => {}
        Value::String(s) => {
            if !s.is_empty() {
                parts.push(json!({"type": "output_text", "text": s}));
            }
        }
        Value::Array(items) => {
            for (i, part) in items.iter().enumerate() {
                match (part_type(part), part.get("text"), part.get("refusal")) {
                    (Some("text"), Some(Value::String(t)), _) => {
                        parts.push(json!({"type": "output_text", "text": t}));
                    }
                    (Some("refusal"), _, Some(Value::String(r))) => {
                        parts.push(json!({"type": "refusal", "refusal": r}));
                    }
                    _ => {
                        return Err(ApiError::invalid_request(format!(
                            "`{content_at}[{i}]` must be a text or refusal part"
                        )));
                    }
                }
            }
        }
        _ => return Err(content_type_error(&content_at)),
    }
    if let Some(Value::String(refusal)) = message.get("refusal") {
        parts.push(json!({"type": "refusal", "refusal": refusal}));
    }
    if !parts.is_empty() {
        input.push(json!({"type": "message", "role": "assistant", "content": parts}));
    }

    let calls = match message.get("tool_calls") {
        None | Some(Value::Null) => return Ok(()),
        Some(Value::Array(calls)) => calls,
        Some(_) => {
            return Err(ApiError::invalid_request(format!(
                "`{at}.tool_calls` must be an array"
            )));
        }
    };
    for (i, call) in calls.iter().enumerate() {
        let at = format!("{at}.tool_calls[{i}]");
        let call = object(&at, Some(call))?;
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
        input.push(json!({
            "type": "function_call",
            "call_id": id,
            "name": name,
            "arguments": arguments,
        }));
    }
    Ok(())
}

fn tools(value: &Value) -> Result<Value, ApiError> {
    let Value::Array(tools) = value else {
        return Err(ApiError::invalid_request("`tools` must be an array"));
    };
    let mut out = Vec::with_capacity(tools.len());
    for (i, tool) in tools.iter().enumerate() {
        let at = format!("tools[{i}]");
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
        out.push(Value::Object(item));
    }
    Ok(Value::Array(out))
}

fn tool_choice(value: &Value) -> Result<Value, ApiError> {
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
