//! The conversation: Messages `messages` as Responses input items, in order.
//!
//! - user blocks → a user message (`input_text`, `input_image`, `input_file`);
//!   each `tool_result` → a `function_call_output` item in its place, so a
//!   user turn may become several items;
//! - assistant blocks → an assistant message (`output_text`), a
//!   `function_call` per `tool_use` (its `id` is the `call_id`), a `reasoning`
//!   item per thinking block whose signature this proxy made, and a
//!   `web_search_call` per web search;
//! - `role: "system"` messages (Claude Code sends them mid-conversation) → a
//!   `developer` message in place: the role the official client uses for
//!   instructions inside the input.
//!
//! Dropped, and noted: thinking blocks signed by someone else and
//! `redacted_thinking` (the backend cannot read Anthropic's reasoning), the
//! results of web searches (the backend runs its own again), and other server
//! tools' blocks (this proxy never produces them).

use std::borrow::Cow;

use serde_json::{Map, Value, json};

use super::errors::MessagesError;
use super::request::{Dropped, boolean, invalid, object, string};
use super::tools::backend_name;
use super::{WEB_SEARCH, signature};

pub(super) fn input_items(
    messages: &[Value],
    dropped: &mut Dropped,
) -> Result<Vec<Value>, MessagesError> {
    let mut input = Vec::with_capacity(messages.len());
    for (i, message) in messages.iter().enumerate() {
        let at = format!("messages[{i}]");
        let message = object(&at, message)?;
        let blocks = blocks(&format!("{at}.content"), message.get("content"))?;
        match message.get("role").and_then(Value::as_str) {
            Some("user") => user(&at, &blocks, &mut input, dropped)?,
            Some("assistant") => assistant(&at, &blocks, &mut input, dropped)?,
            Some("system") => {
                let mut parts = Vec::with_capacity(blocks.len());
                for (j, block) in blocks.iter().enumerate() {
                    let at = format!("{at}.content[{j}]");
                    match block_type(&at, block)? {
                        "text" => parts.push(input_text(text(&at, block)?)),
                        _ => return Err(invalid(format!("`{at}` must be a text block"))),
                    }
                }
                input.push(json!({"type": "message", "role": "developer", "content": parts}));
            }
            Some(other) => {
                return Err(invalid(format!(
                    "`{at}.role` is '{other}'; it must be 'user', 'assistant' or 'system'"
                )));
            }
            None => return Err(invalid(format!("`{at}.role` is required"))),
        }
    }
    Ok(input)
}

/// The blocks of a message's content; a string is one text block.
fn blocks<'a>(at: &str, content: Option<&'a Value>) -> Result<Cow<'a, [Value]>, MessagesError> {
    match content {
        Some(Value::String(s)) => Ok(Cow::Owned(vec![json!({"type": "text", "text": s})])),
        Some(Value::Array(blocks)) => Ok(Cow::Borrowed(blocks)),
        None | Some(Value::Null) => Err(invalid(format!("`{at}` is required"))),
        Some(_) => Err(invalid(format!(
            "`{at}` must be a string or an array of content blocks"
        ))),
    }
}

fn block_type<'a>(at: &str, block: &'a Value) -> Result<&'a str, MessagesError> {
    block
        .get("type")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid(format!("`{at}.type` is required")))
}

fn text<'a>(at: &str, block: &'a Value) -> Result<&'a str, MessagesError> {
    string(&format!("{at}.text"), block.get("text"))
}

fn input_text(text: &str) -> Value {
    json!({"type": "input_text", "text": text})
}

fn user(
    at: &str,
    blocks: &[Value],
    input: &mut Vec<Value>,
    dropped: &mut Dropped,
) -> Result<(), MessagesError> {
    let mut parts = Vec::new();
    let flush = |parts: &mut Vec<Value>, input: &mut Vec<Value>| {
        if !parts.is_empty() {
            let content = std::mem::take(parts);
            input.push(json!({"type": "message", "role": "user", "content": content}));
        }
    };
    for (j, block) in blocks.iter().enumerate() {
        let at = format!("{at}.content[{j}]");
        if block.get("cache_control").is_some() {
            dropped.note("cache_control");
        }
        match block_type(&at, block)? {
            "tool_result" => {
                flush(&mut parts, input);
                input.push(tool_result(&at, block)?);
            }
            "text" => parts.push(input_text(text(&at, block)?)),
            "image" => parts.push(image(&at, block)?),
            "document" => parts.extend(document(&at, block)?),
            "search_result" => parts.push(input_text(&search_result(&at, block)?)),
            other => {
                return Err(invalid(format!(
                    "`{at}.type` is '{other}'; a user message may hold text, image, document, \
                     search_result and tool_result blocks"
                )));
            }
        }
    }
    flush(&mut parts, input);
    Ok(())
}

fn assistant(
    at: &str,
    blocks: &[Value],
    input: &mut Vec<Value>,
    dropped: &mut Dropped,
) -> Result<(), MessagesError> {
    let mut texts = Vec::new();
    let flush = |texts: &mut Vec<Value>, input: &mut Vec<Value>| {
        if !texts.is_empty() {
            let content = std::mem::take(texts);
            input.push(json!({"type": "message", "role": "assistant", "content": content}));
        }
    };
    for (j, block) in blocks.iter().enumerate() {
        let at = format!("{at}.content[{j}]");
        let item = match block_type(&at, block)? {
            "text" => {
                let text = text(&at, block)?;
                if !text.is_empty() {
                    texts.push(json!({"type": "output_text", "text": text}));
                }
                continue;
            }
            "tool_use" => tool_use(&at, block)?,
            "thinking" => match thinking(&at, block)? {
                Some(item) => item,
                None => {
                    dropped.note("thinking blocks not signed by this proxy");
                    continue;
                }
            },
            "server_tool_use" if block.get("name").and_then(Value::as_str) == Some(WEB_SEARCH) => {
                let query = block.pointer("/input/query").and_then(Value::as_str);
                json!({"type": "web_search_call", "status": "completed",
                       "action": {"type": "search", "query": query.unwrap_or("")}})
            }
            kind @ ("redacted_thinking" | "server_tool_use") => {
                dropped.note(format!("{kind} blocks"));
                continue;
            }
            kind if kind.ends_with("_tool_result") => {
                dropped.note(format!("{kind} blocks"));
                continue;
            }
            other => {
                return Err(invalid(format!(
                    "`{at}.type` is '{other}'; an assistant message may hold text, tool_use, \
                     thinking, redacted_thinking and server tool blocks"
                )));
            }
        };
        flush(&mut texts, input);
        input.push(item);
    }
    flush(&mut texts, input);
    Ok(())
}

fn tool_use(at: &str, block: &Value) -> Result<Value, MessagesError> {
    let id = string(&format!("{at}.id"), block.get("id"))?;
    let name = string(&format!("{at}.name"), block.get("name"))?;
    let arguments = match block.get("input") {
        None | Some(Value::Null) => "{}".to_owned(),
        Some(input @ Value::Object(_)) => input.to_string(),
        Some(_) => return Err(invalid(format!("`{at}.input` must be an object"))),
    };
    Ok(
        json!({"type": "function_call", "call_id": id, "name": backend_name(name),
               "arguments": arguments}),
    )
}

/// The reasoning item a thinking block carries, if this proxy signed it.
/// Sent without its id, as the official client does: with `store: false`
/// there is no stored item for an id to refer to.
fn thinking(at: &str, block: &Value) -> Result<Option<Value>, MessagesError> {
    let signature = match block.get("signature") {
        None | Some(Value::Null) => return Ok(None),
        Some(s) => string(&format!("{at}.signature"), Some(s))?,
    };
    let Some(reasoning) = signature::decode(signature) else {
        return Ok(None);
    };
    let summary = match block.get("thinking").and_then(Value::as_str) {
        Some(text) if !text.is_empty() => json!([{"type": "summary_text", "text": text}]),
        _ => json!([]),
    };
    Ok(Some(json!({
        "type": "reasoning",
        "summary": summary,
        "encrypted_content": reasoning.encrypted_content,
    })))
}

/// A tool's answer. Text alone is sent as one string; with images it is a
/// list of parts. The backend has no error flag for a tool output, so a
/// failed tool's output says so in its text.
fn tool_result(at: &str, block: &Value) -> Result<Value, MessagesError> {
    let call_id = string(&format!("{at}.tool_use_id"), block.get("tool_use_id"))?;
    let is_error = match block.get("is_error") {
        None | Some(Value::Null) => false,
        Some(v) => boolean(&format!("{at}.is_error"), v)?,
    };
    let content_at = format!("{at}.content");
    let mut parts = match block.get("content") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => vec![input_text(s)],
        Some(Value::Array(blocks)) => result_parts(&content_at, blocks)?,
        Some(_) => {
            return Err(invalid(format!(
                "`{content_at}` must be a string or an array of content blocks"
            )));
        }
    };
    if is_error {
        parts.insert(0, input_text("Error:"));
    }
    let all_text = parts.iter().all(|p| p["type"] == "input_text");
    let output = if all_text {
        let texts: Vec<&str> = parts.iter().filter_map(|p| p["text"].as_str()).collect();
        Value::String(texts.join("\n"))
    } else {
        Value::Array(parts)
    };
    Ok(json!({"type": "function_call_output", "call_id": call_id, "output": output}))
}

fn result_parts(at: &str, blocks: &[Value]) -> Result<Vec<Value>, MessagesError> {
    let mut parts = Vec::with_capacity(blocks.len());
    for (k, block) in blocks.iter().enumerate() {
        let at = format!("{at}[{k}]");
        match block_type(&at, block)? {
            "text" => parts.push(input_text(text(&at, block)?)),
            "image" => parts.push(image(&at, block)?),
            "document" => parts.extend(document(&at, block)?),
            "search_result" => parts.push(input_text(&search_result(&at, block)?)),
            // A client-side tool search names the deferred tools it found; every
            // tool was sent from the start, so saying which is enough.
            "tool_reference" => {
                let name = string(&format!("{at}.tool_name"), block.get("tool_name"))?;
                parts.push(input_text(&format!("Tool `{name}` is available.")));
            }
            other => {
                return Err(invalid(format!(
                    "`{at}.type` is '{other}'; a tool result may hold text, image, document, \
                     search_result and tool_reference blocks"
                )));
            }
        }
    }
    Ok(parts)
}

fn source<'a>(
    at: &str,
    block: &'a Value,
) -> Result<(&'a Map<String, Value>, &'a str), MessagesError> {
    let at = format!("{at}.source");
    let source = object(&at, block.get("source").unwrap_or(&Value::Null))?;
    let kind = string(&format!("{at}.type"), source.get("type"))?;
    Ok((source, kind))
}

fn data_url(at: &str, source: &Map<String, Value>) -> Result<String, MessagesError> {
    let media_type = string(&format!("{at}.source.media_type"), source.get("media_type"))?;
    let data = string(&format!("{at}.source.data"), source.get("data"))?;
    Ok(format!("data:{media_type};base64,{data}"))
}

fn image(at: &str, block: &Value) -> Result<Value, MessagesError> {
    let (source, kind) = source(at, block)?;
    let url = match kind {
        "base64" => data_url(at, source)?,
        "url" => string(&format!("{at}.source.url"), source.get("url"))?.to_owned(),
        other => return Err(unsupported_source(at, other, "base64 or url")),
    };
    Ok(json!({"type": "input_image", "image_url": url}))
}

/// A document: a PDF (base64 or url) as an input file, plain text and
/// content blocks as text.
fn document(at: &str, block: &Value) -> Result<Vec<Value>, MessagesError> {
    let (source, kind) = source(at, block)?;
    let title = block.get("title").and_then(Value::as_str);
    match kind {
        "base64" => Ok(vec![json!({
            "type": "input_file",
            "filename": title.unwrap_or("document.pdf"),
            "file_data": data_url(at, source)?,
        })]),
        "url" => {
            let url = string(&format!("{at}.source.url"), source.get("url"))?;
            Ok(vec![json!({"type": "input_file", "file_url": url})])
        }
        "text" => {
            let data = string(&format!("{at}.source.data"), source.get("data"))?;
            Ok(vec![input_text(&titled(title, data))])
        }
        "content" => match source.get("content") {
            Some(Value::String(s)) => Ok(vec![input_text(&titled(title, s))]),
            Some(Value::Array(blocks)) => result_parts(&format!("{at}.source.content"), blocks),
            _ => Err(invalid(format!(
                "`{at}.source.content` must be a string or an array of content blocks"
            ))),
        },
        other => Err(unsupported_source(
            at,
            other,
            "base64, url, text or content",
        )),
    }
}

fn titled(title: Option<&str>, text: &str) -> String {
    match title {
        Some(title) => format!("{title}\n\n{text}"),
        None => text.to_owned(),
    }
}

fn search_result(at: &str, block: &Value) -> Result<String, MessagesError> {
    let title = string(&format!("{at}.title"), block.get("title"))?;
    let source = string(&format!("{at}.source"), block.get("source"))?;
    let content = block.get("content").and_then(Value::as_array);
    let texts: Vec<&str> = content
        .into_iter()
        .flatten()
        .filter_map(|b| b.get("text").and_then(Value::as_str))
        .collect();
    Ok(format!("{title}\n{source}\n\n{}", texts.join("\n")))
}

fn unsupported_source(at: &str, kind: &str, supported: &str) -> MessagesError {
    invalid(format!(
        "`{at}.source.type` is '{kind}'; it must be {supported} (the Files API is not supported)"
    ))
}

#[cfg(test)]
#[path = "content_tests.rs"]
mod tests;
