//! A context overflow in Anthropic's words. Claude Code knows the windows of
//! Claude models only; it reads `prompt is too long: N tokens > M maximum`
//! (Anthropic's own 400) for the numbers it compacts by (PROTOCOL.md §14),
//! while the backend says "Your input exceeds the context window of this
//! model…" (`context_length_exceeded`). So the backend's refusal is told
//! again with M, the model's `context_window` from the backend's catalogue,
//! and N, the proxy's estimate of the request ([`super::count_translated`]).

use serde_json::Value;

use super::errors::MessagesError;

/// The backend's error code for an input past the model's window.
pub const CODE: &str = "context_length_exceeded";

/// Words of the backend's (and other services') overflow messages, for a
/// refusal that comes without the code.
const WORDINGS: [&str; 3] = [
    "context window",
    "context_length_exceeded",
    "context length",
];

/// Whether an error with this code and message is a context overflow.
pub fn is_overflow(code: Option<&str>, message: &str) -> bool {
    if code == Some(CODE) {
        return true;
    }
    let message = message.to_ascii_lowercase();
    WORDINGS.iter().any(|w| message.contains(w))
}

/// Anthropic's 400 for a prompt of `counted` tokens past a `window`; the
/// count is an estimate, so it is raised to `window + 1` when it falls
/// short (the backend counted more, or it would not have refused).
pub fn too_long(counted: u64, window: u64) -> MessagesError {
    let tokens = counted.max(window.saturating_add(1));
    MessagesError::invalid_request(format!(
        "prompt is too long: {tokens} tokens > {window} maximum"
    ))
}

/// The backend's own error for an overflow that ends a stream (the data of
/// a `response.failed` or `error` event); `None` for any other event.
pub fn failure_in(data: &str) -> Option<MessagesError> {
    // Most events are deltas: only those that could be one are parsed.
    if !data.contains("context") {
        return None;
    }
    let event: Value = serde_json::from_str(data).ok()?;
    let error = match event.get("type").and_then(Value::as_str)? {
        "response.failed" => event.pointer("/response/error")?,
        "error" => event.get("error").unwrap_or(&event),
        _ => return None,
    };
    let code = error.get("code").and_then(Value::as_str);
    let message = error.get("message").and_then(Value::as_str).unwrap_or("");
    is_overflow(code, message).then(|| MessagesError::from_upstream_failure(error))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialect::messages::ErrorType;
    use serde_json::json;

    const BACKEND: &str = "Your input exceeds the context window of this model. Please adjust your input and try again.";

    #[test]
    fn an_overflow_is_known_by_its_code_or_its_words() {
        assert!(is_overflow(Some(CODE), "anything"));
        assert!(is_overflow(None, BACKEND));
        assert!(is_overflow(
            Some("invalid_request_error"),
            "This model's maximum context length is 272000 tokens."
        ));
        assert!(!is_overflow(Some("invalid_prompt"), "Invalid prompt"));
        assert!(!is_overflow(None, "rate limited"));
    }

    #[test]
    fn the_wording_is_anthropics_with_a_count_past_the_window() {
        let e = too_long(300_512, 272_000);
        assert_eq!(
            (e.status.as_u16(), e.kind, e.message.as_str()),
            (
                400,
                ErrorType::InvalidRequest,
                "prompt is too long: 300512 tokens > 272000 maximum"
            )
        );
        // An estimate below the window still says the prompt is past it.
        assert_eq!(
            too_long(1_200, 272_000).message,
            "prompt is too long: 272001 tokens > 272000 maximum"
        );
    }

    #[test]
    fn failed_and_error_events_naming_an_overflow_are_found_and_others_are_not() {
        let failed = json!({"type": "response.failed", "response": {"id": "r",
            "error": {"code": CODE, "message": BACKEND}}});
        let e = failure_in(&failed.to_string()).unwrap();
        assert_eq!(
            (e.kind, e.message.as_str()),
            (ErrorType::InvalidRequest, BACKEND)
        );
        let error = json!({"type": "error", "code": CODE, "message": "Too long."});
        assert!(failure_in(&error.to_string()).is_some());
        let other = json!({"type": "response.failed", "response": {"error":
            {"code": "server_is_overloaded", "message": "the context is busy"}}});
        assert!(failure_in(&other.to_string()).is_none());
        let delta = json!({"type": "response.output_text.delta", "delta": "the context window"});
        assert!(failure_in(&delta.to_string()).is_none());
    }
}
