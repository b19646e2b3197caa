//! The content of Chat Completions messages rewritten as Responses content
//! parts: text-only content, user parts (text, images, files) and assistant parts.

use serde_json::{Map, Value, json};

use super::request::{object, string};
use crate::error::ApiError;

/// The texts of content that may only hold text: a string, text parts, or null.
pub(super) fn text_parts<'a>(at: &str, content: &'a Value) -> Result<Vec<&'a str>, ApiError> {
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

/// A user message's content as Responses input parts.
pub(super) fn user_content(at: &str, content: &Value) -> Result<Vec<Value>, ApiError> {
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
            Some("file") => out.push(file(&at, part.get("file"))?),
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

/// A `file` part: whichever of its id, data and name were given.
fn file(at: &str, file: Option<&Value>) -> Result<Value, ApiError> {
    let file = object(&format!("{at}.file"), file)?;
    let mut item = Map::new();
    item.insert("type".into(), "input_file".into());
    for key in ["file_id", "file_data", "filename"] {
        if let Some(v) = file.get(key).filter(|v| !v.is_null()) {
            item.insert(key.into(), v.clone());
        }
    }
    Ok(Value::Object(item))
}

/// An assistant message's text and refusal parts, then the `refusal` field
/// beside its content; empty when it only made tool calls.
pub(super) fn assistant_content(
    at: &str,
    message: &Map<String, Value>,
) -> Result<Vec<Value>, ApiError> {
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
                            "`{at}[{i}]` must be a text or refusal part"
                        )));
                    }
                }
            }
        }
        _ => return Err(content_type_error(at)),
    }
    if let Some(Value::String(refusal)) = message.get("refusal") {
        parts.push(json!({"type": "refusal", "refusal": refusal}));
    }
    Ok(parts)
}
