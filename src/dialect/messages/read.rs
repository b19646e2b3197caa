//! What the request translator and its content readers share: the things
//! accepted but not sent upstream, and readers of JSON values that name
//! the field at fault.

use serde_json::{Map, Value};

use super::MessagesError;

/// Things accepted but not sent upstream, each named once.
#[derive(Debug, Default)]
pub(super) struct Dropped(pub(super) Vec<String>);

impl Dropped {
    pub(super) fn note(&mut self, what: impl Into<String>) {
        let what = what.into();
        if !self.0.contains(&what) {
            self.0.push(what);
        }
    }
}

pub(super) fn invalid(message: impl Into<String>) -> MessagesError {
    MessagesError::invalid_request(message)
}

pub(super) fn boolean(at: &str, value: &Value) -> Result<bool, MessagesError> {
    value
        .as_bool()
        .ok_or_else(|| invalid(format!("`{at}` must be a boolean")))
}

pub(super) fn string<'a>(at: &str, value: Option<&'a Value>) -> Result<&'a str, MessagesError> {
    value
        .and_then(Value::as_str)
        .ok_or_else(|| invalid(format!("`{at}` must be a string")))
}

pub(super) fn object<'a>(
    at: &str,
    value: &'a Value,
) -> Result<&'a Map<String, Value>, MessagesError> {
    value
        .as_object()
        .ok_or_else(|| invalid(format!("`{at}` must be an object")))
}
