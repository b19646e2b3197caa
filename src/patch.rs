//! Rewrites a client's Responses request into one the Codex backend accepts.
//! Everything not named here passes as the client sent it.

use serde_json::{Map, Value, json};

use crate::error::ApiError;

/// What the patcher needs from the configuration.
#[derive(Debug, Clone)]
pub struct Rules {
    pub instructions: String,
    pub strip_fields: Vec<String>,
}

/// A request ready to forward, and what the client asked for.
#[derive(Debug)]
pub struct Patched {
    pub body: Map<String, Value>,
    /// The client asked for a stream (before `stream` was forced on).
    pub client_stream: bool,
    /// Changes made, for the debug log.
    pub changes: Vec<String>,
}

/// Parses a request body into a JSON object, with messages a person can act on.
pub fn parse_object(bytes: &[u8]) -> Result<Map<String, Value>, ApiError> {
    if bytes.is_empty() {
        return Err(ApiError::invalid_request(
            "the request body is empty; send a JSON object",
        ));
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(ApiError::invalid_request(format!(
            "the request body must be a JSON object, not {}",
            type_name(&other)
        ))),
        Err(e) => Err(ApiError::invalid_request(format!(
            "the request body is not valid JSON: {e}"
        ))),
    }
}

/// Applies the backend's rules to a Responses request.
pub fn patch(mut body: Map<String, Value>, rules: &Rules) -> Result<Patched, ApiError> {
    let mut changes = Vec::new();
    match body.get("model") {
        Some(Value::String(m)) if !m.is_empty() => {}
        Some(Value::String(_)) | None => {
            return Err(ApiError::invalid_request("`model` is required"));
        }
        Some(other) => return Err(wrong_type("model", "a string", other)),
    }
    let client_stream = force_stream(&mut body, &mut changes)?;
    force_no_store(&mut body, &mut changes)?;
    default_instructions(&mut body, &rules.instructions, &mut changes)?;
    input_as_list(&mut body, &mut changes)?;
    check_containers(&body)?;
    for field in &rules.strip_fields {
        if body.shift_remove(field).is_some() {
            changes.push(format!("removed {field} (the backend refuses it)"));
        }
    }
    Ok(Patched {
        body,
        client_stream,
        changes,
    })
}

/// The backend only streams; returns whether the client asked for a stream.
fn force_stream(
    body: &mut Map<String, Value>,
    changes: &mut Vec<String>,
) -> Result<bool, ApiError> {
    let client_stream = match body.get("stream") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => return Err(wrong_type("stream", "a boolean", other)),
    };
    if !client_stream {
        changes.push("stream: true (the answer is collected for the client)".into());
    }
    body.insert("stream".into(), Value::Bool(true));
    Ok(client_stream)
}

/// The backend refuses to store responses.
fn force_no_store(
    body: &mut Map<String, Value>,
    changes: &mut Vec<String>,
) -> Result<(), ApiError> {
    match body.get("store") {
        Some(Value::Bool(false)) => {}
        None | Some(Value::Null) | Some(Value::Bool(true)) => {
            changes.push("store: false".into());
            body.insert("store".into(), Value::Bool(false));
        }
        Some(other) => return Err(wrong_type("store", "a boolean", other)),
    }
    Ok(())
}

/// The backend requires instructions; blank ones count as none.
fn default_instructions(
    body: &mut Map<String, Value>,
    instructions: &str,
    changes: &mut Vec<String>,
) -> Result<(), ApiError> {
    match body.get("instructions") {
        Some(Value::String(s)) if !s.trim().is_empty() => {}
        None | Some(Value::Null) | Some(Value::String(_)) => {
            changes.push("instructions: the configured default".into());
            body.insert(
                "instructions".into(),
                Value::String(instructions.to_owned()),
            );
        }
        Some(other) => return Err(wrong_type("instructions", "a string", other)),
    }
    Ok(())
}

/// The backend takes `input` only as a list of items; a string is one user message.
fn input_as_list(body: &mut Map<String, Value>, changes: &mut Vec<String>) -> Result<(), ApiError> {
    match body.get_mut("input") {
        Some(Value::Array(_)) => {}
        Some(input @ Value::String(_)) => {
            let text = input.take();
            *input = json!([{
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": text}],
            }]);
            changes.push("input: the string as one user message".into());
        }
        None | Some(Value::Null) => {
            return Err(ApiError::invalid_request(
                "`input` is required: a string or a list of items",
            ));
        }
        Some(other) => return Err(wrong_type("input", "a string or a list", other)),
    }
    Ok(())
}

/// Lists and objects the backend would refuse with a less helpful message.
fn check_containers(body: &Map<String, Value>) -> Result<(), ApiError> {
    for (key, want) in [
        ("tools", "a list"),
        ("include", "a list"),
        ("reasoning", "an object"),
        ("text", "an object"),
    ] {
        if let Some(v) = body.get(key)
            && !(v.is_null() || type_name(v) == want)
        {
            return Err(wrong_type(key, want, v));
        }
    }
    Ok(())
}

/// Applies the backend's rules to a request for the legacy
/// `/responses/compact` (PROTOCOL.md §9): those of [`patch`], except that
/// the endpoint answers one JSON object and refuses `stream` and `store`.
pub fn patch_compact(body: Map<String, Value>, rules: &Rules) -> Result<Patched, ApiError> {
    let sent: Vec<&str> = ["stream", "store"]
        .into_iter()
        .filter(|k| body.contains_key(*k))
        .collect();
    let mut patched = patch(body, rules)?;
    patched.body.shift_remove("stream");
    patched.body.shift_remove("store");
    patched
        .changes
        .retain(|c| !c.starts_with("stream") && !c.starts_with("store"));
    for field in sent {
        patched
            .changes
            .push(format!("removed {field} (the compact endpoint refuses it)"));
    }
    patched.client_stream = false;
    Ok(patched)
}

fn wrong_type(key: &str, want: &str, got: &Value) -> ApiError {
    ApiError::invalid_request(format!("`{key}` must be {want}, not {}", type_name(got)))
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> Rules {
        Rules {
            instructions: "be brief".into(),
            strip_fields: vec!["max_output_tokens".into(), "temperature".into()],
        }
    }

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn a_minimal_request_gets_everything_the_backend_requires() {
        let p = patch(
            obj(json!({"model":"gpt-5","input":"hi","max_output_tokens":5,"temperature":0.2})),
            &rules(),
        )
        .unwrap();
        assert_eq!(
            Value::Object(p.body),
            json!({
                "model": "gpt-5",
                "input": [{"type":"message","role":"user","content":[{"type":"input_text","text":"hi"}]}],
                "stream": true,
                "store": false,
                "instructions": "be brief",
            })
        );
        assert!(!p.client_stream);
        assert_eq!(p.changes.len(), 6, "{:?}", p.changes);
    }

    #[test]
    fn everything_else_passes_as_sent() {
        let body = json!({
            "model": "gpt-5-codex",
            "instructions": "mine",
            "input": [{"type":"some_future_item","x":[1,2]}],
            "tools": [{"type":"function","name":"f","parameters":{}}],
            "tool_choice": "auto",
            "parallel_tool_calls": true,
            "reasoning": {"effort":"high","summary":"auto"},
            "include": ["reasoning.encrypted_content"],
            "text": {"verbosity":"low"},
            "prompt_cache_key": "abc",
            "stream": true,
            "store": false,
        });
        let p = patch(obj(body.clone()), &rules()).unwrap();
        assert_eq!(Value::Object(p.body), body);
        assert!(p.client_stream);
        assert!(p.changes.is_empty());
    }

    #[test]
    fn store_true_is_turned_off_and_empty_instructions_replaced() {
        let p = patch(
            obj(json!({"model":"m","input":[],"store":true,"instructions":"  "})),
            &rules(),
        )
        .unwrap();
        assert_eq!(p.body["store"], json!(false));
        assert_eq!(p.body["instructions"], json!("be brief"));
    }

    #[test]
    fn wrong_types_are_refused_with_the_field_named() {
        for (body, field) in [
            (json!({"input":"x"}), "`model`"),
            (json!({"model":1,"input":"x"}), "`model`"),
            (json!({"model":"m","input":"x","stream":"yes"}), "`stream`"),
            (json!({"model":"m","input":5}), "`input`"),
            (json!({"model":"m"}), "`input`"),
            (
                json!({"model":"m","input":"x","instructions":[]}),
                "`instructions`",
            ),
            (json!({"model":"m","input":"x","tools":{}}), "`tools`"),
            (
                json!({"model":"m","input":"x","reasoning":"high"}),
                "`reasoning`",
            ),
            (json!({"model":"m","input":"x","store":"no"}), "`store`"),
        ] {
            let e = patch(obj(body), &rules()).unwrap_err();
            assert_eq!(e.status, axum::http::StatusCode::BAD_REQUEST);
            assert!(e.message.contains(field), "{field}: {}", e.message);
        }
    }

    #[test]
    fn a_compaction_gets_the_same_rules_without_stream_or_store() {
        let p = patch_compact(
            obj(
                json!({"model":"gpt-5","input":[{"type":"compaction_trigger"}],"stream":false,
                "store":true,"temperature":0.2,"prompt_cache_key":"pck"}),
            ),
            &rules(),
        )
        .unwrap();
        assert_eq!(
            Value::Object(p.body),
            json!({"model":"gpt-5","input":[{"type":"compaction_trigger"}],"prompt_cache_key":"pck",
                "instructions":"be brief"})
        );
        assert!(!p.client_stream);
        assert_eq!(
            p.changes,
            [
                "instructions: the configured default",
                "removed temperature (the backend refuses it)",
                "removed stream (the compact endpoint refuses it)",
                "removed store (the compact endpoint refuses it)",
            ]
        );
        let e = patch_compact(
            obj(json!({"model":"m","input":"x","stream":"yes"})),
            &rules(),
        );
        assert!(e.unwrap_err().message.contains("`stream`"));
    }

    #[test]
    fn compaction_items_pass_as_sent() {
        let input = json!([
            {"type":"message","role":"user","content":[{"type":"input_text","text":"one"}]},
            {"type":"compaction","id":"cmp_1","encrypted_content":"enc_abc"},
            {"type":"compaction_summary","id":"cmp_0","encrypted_content":"enc_old"},
            {"type":"compaction_trigger"},
        ]);
        let body = obj(json!({"model":"gpt-5","instructions":"mine","input":input}));
        assert_eq!(patch(body.clone(), &rules()).unwrap().body["input"], input);
        assert_eq!(patch_compact(body, &rules()).unwrap().body["input"], input);
    }

    #[test]
    fn bodies_that_are_not_objects_are_refused() {
        assert!(parse_object(b"").unwrap_err().message.contains("empty"));
        assert!(
            parse_object(b"[1]")
                .unwrap_err()
                .message
                .contains("not a list")
        );
        assert!(
            parse_object(b"{\"a\":")
                .unwrap_err()
                .message
                .contains("not valid JSON")
        );
        assert!(
            parse_object(b"{\"a\":\"\xff\"}")
                .unwrap_err()
                .message
                .contains("not valid JSON")
        );
    }
}
