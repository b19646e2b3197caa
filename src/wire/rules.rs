//! The backend's rules ([`crate::patch`]) applied to a [`RawRequest`]: the
//! same checks, the same changes and the same messages, reading only the
//! fields they name. `input` is read only when it is not already a list;
//! a `previous_response_id` expansion splices the earlier items' JSON
//! ahead of the new input's bytes.

use bytes::{BufMut, Bytes, BytesMut};
use serde_json::{Map, Value, json};

use super::raw::{Kind, RawRequest, array_items};
use crate::error::ApiError;
use crate::models::aliases::{self, Efforts, ModelAliases};
use crate::patch::Rules;
use crate::store::continuity;

/// What patching found and did, besides the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawPatched {
    /// The client asked for a stream (before `stream` was forced on).
    pub client_stream: bool,
    /// Changes made, for the debug log.
    pub changes: Vec<String>,
}

/// Applies the backend's rules, as [`crate::patch::patch`] does.
pub fn patch(body: &mut RawRequest, rules: &Rules) -> Result<RawPatched, ApiError> {
    let mut changes = Vec::new();
    match body.kind("model") {
        Some(Kind::String) if body.get("model") != Some(b"\"\"") => {}
        Some(Kind::String) | None => {
            return Err(ApiError::invalid_request("`model` is required"));
        }
        Some(other) => return Err(wrong_type("model", "a string", other)),
    }
    let client_stream = force_stream(body, &mut changes)?;
    force_no_store(body, &mut changes)?;
    default_instructions(body, &rules.instructions, &mut changes)?;
    input_as_list(body, &mut changes)?;
    check_containers(body)?;
    for field in &rules.strip_fields {
        if body.remove(field) {
            changes.push(format!("removed {field} (the backend refuses it)"));
        }
    }
    Ok(RawPatched {
        client_stream,
        changes,
    })
}

fn force_stream(body: &mut RawRequest, changes: &mut Vec<String>) -> Result<bool, ApiError> {
    let client_stream = match body.kind("stream") {
        None | Some(Kind::Null) => false,
        Some(Kind::Bool) => body.get("stream") == Some(b"true"),
        Some(other) => return Err(wrong_type("stream", "a boolean", other)),
    };
    if !client_stream {
        changes.push("stream: true (the answer is collected for the client)".into());
        body.set_raw("stream", Bytes::from_static(b"true"));
    }
    Ok(client_stream)
}

fn force_no_store(body: &mut RawRequest, changes: &mut Vec<String>) -> Result<(), ApiError> {
    match body.kind("store") {
        Some(Kind::Bool) if body.get("store") == Some(b"false") => {}
        None | Some(Kind::Null | Kind::Bool) => {
            changes.push("store: false".into());
            body.set_raw("store", Bytes::from_static(b"false"));
        }
        Some(other) => return Err(wrong_type("store", "a boolean", other)),
    }
    Ok(())
}

fn default_instructions(
    body: &mut RawRequest,
    instructions: &str,
    changes: &mut Vec<String>,
) -> Result<(), ApiError> {
    let blank = match body.kind("instructions") {
        Some(Kind::String) => body
            .value("instructions")?
            .as_ref()
            .and_then(Value::as_str)
            .is_none_or(|s| s.trim().is_empty()),
        None | Some(Kind::Null) => true,
        Some(other) => return Err(wrong_type("instructions", "a string", other)),
    };
    if blank {
        changes.push("instructions: the configured default".into());
        body.set("instructions", &Value::from(instructions));
    }
    Ok(())
}

fn input_as_list(body: &mut RawRequest, changes: &mut Vec<String>) -> Result<(), ApiError> {
    match body.kind("input") {
        Some(Kind::Array) => {}
        Some(Kind::String) => {
            let text = body.value("input")?.unwrap_or(Value::Null);
            body.set(
                "input",
                &json!([{
                    "type": "message",
                    "role": "user",
                    "content": [{"type": "input_text", "text": text}],
                }]),
            );
            changes.push("input: the string as one user message".into());
        }
        None | Some(Kind::Null) => {
            return Err(ApiError::invalid_request(
                "`input` is required: a string or a list of items",
            ));
        }
        Some(other) => return Err(wrong_type("input", "a string or a list", other)),
    }
    Ok(())
}

fn check_containers(body: &RawRequest) -> Result<(), ApiError> {
    for (key, want) in [
        ("tools", Kind::Array),
        ("include", Kind::Array),
        ("reasoning", Kind::Object),
        ("text", Kind::Object),
    ] {
        if let Some(kind) = body.kind(key)
            && kind != Kind::Null
            && kind != want
        {
            return Err(wrong_type(key, want.name(), kind));
        }
    }
    Ok(())
}

fn wrong_type(key: &str, want: &str, got: Kind) -> ApiError {
    ApiError::invalid_request(format!("`{key}` must be {want}, not {}", got.name()))
}

/// Rewrites `model` by the aliases and an effort suffix
/// ([`aliases::apply`]), reading only `model` and `reasoning`.
pub fn resolve_model(
    body: &mut RawRequest,
    aliases: &ModelAliases,
    efforts: &Efforts,
) -> Result<(), ApiError> {
    if body.kind("model") != Some(Kind::String) {
        return Ok(());
    }
    edit_fields(body, &["model", "reasoning"], |head| {
        aliases::apply(head, aliases, efforts);
    })
}

/// Removes `previous_response_id` (the backend keeps nothing and would
/// refuse it) and returns it.
pub fn take_previous(body: &mut RawRequest) -> Result<Option<String>, ApiError> {
    let value = body.value("previous_response_id")?;
    body.remove("previous_response_id");
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(id)) => Ok(Some(id)),
        Some(_) => Err(
            ApiError::invalid_request("`previous_response_id` must be a string")
                .with_param("previous_response_id"),
        ),
    }
}

/// Whether the client's answer is kept: its `store` is not `false`. Read
/// before patching, which sends the backend `store: false`.
pub fn client_stores(body: &RawRequest) -> bool {
    body.get("store") != Some(b"false")
}

/// Asks for the reasoning content a next turn needs
/// ([`continuity::request_encrypted_reasoning`]); whether the client had
/// asked for it itself.
pub fn request_encrypted_reasoning(body: &mut RawRequest) -> Result<bool, ApiError> {
    let mut asked = true;
    edit_fields(body, &["include"], |head| {
        asked = continuity::request_encrypted_reasoning(head);
    })?;
    Ok(asked)
}

/// `input` (a list, once patched) with `earlier` items ahead of its own:
/// the earlier items as JSON text joined by commas (the store's
/// [`crate::store::Expanded`]), copied as they are, then the new items'
/// bytes as sent.
pub fn splice_input_raw(body: &mut RawRequest, earlier: &[u8]) {
    let own = body.get("input").map(array_items).unwrap_or_default();
    let mut out = BytesMut::with_capacity(own.len() + earlier.len() + 3);
    out.put_u8(b'[');
    out.put_slice(earlier);
    if !own.is_empty() {
        if !earlier.is_empty() {
            out.put_u8(b',');
        }
        out.put_slice(own);
    }
    out.put_u8(b']');
    body.set_raw("input", out.freeze());
}

/// Runs `edit` on a map of just `keys` (those present) and writes back
/// the ones it changed or added, so a rule written for a parsed map reads
/// only the fields it names.
fn edit_fields(
    body: &mut RawRequest,
    keys: &[&str],
    edit: impl FnOnce(&mut Map<String, Value>),
) -> Result<(), ApiError> {
    let mut head = Map::new();
    for key in keys {
        if let Some(value) = body.value(key)? {
            head.insert((*key).to_owned(), value);
        }
    }
    let before = head.clone();
    edit(&mut head);
    for (key, value) in &head {
        if before.get(key) != Some(value) {
            body.set(key, value);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
