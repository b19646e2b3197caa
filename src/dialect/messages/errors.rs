//! Errors as Anthropic clients expect them: `{"type":"error","error":{"type","message"}}`
//! with Anthropic's statuses, so that the SDKs raise the right exception class
//! and Claude Code retries what is worth retrying.

use http::StatusCode;

use crate::error::{ApiError, Code};
use serde_json::{Value, json};

/// Anthropic's status for an overloaded service; not in the HTTP registry.
const OVERLOADED: u16 = 529;

/// Anthropic's `error.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorType {
    InvalidRequest,
    Authentication,
    Billing,
    Permission,
    NotFound,
    RequestTooLarge,
    RateLimit,
    Api,
    Timeout,
    Overloaded,
}

impl ErrorType {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorType::InvalidRequest => "invalid_request_error",
            ErrorType::Authentication => "authentication_error",
            ErrorType::Billing => "billing_error",
            ErrorType::Permission => "permission_error",
            ErrorType::NotFound => "not_found_error",
            ErrorType::RequestTooLarge => "request_too_large",
            ErrorType::RateLimit => "rate_limit_error",
            ErrorType::Api => "api_error",
            ErrorType::Timeout => "timeout_error",
            ErrorType::Overloaded => "overloaded_error",
        }
    }

    /// The status Anthropic answers this type with.
    pub fn status(self) -> StatusCode {
        let code = match self {
            ErrorType::InvalidRequest => 400,
            ErrorType::Authentication => 401,
            ErrorType::Billing => 402,
            ErrorType::Permission => 403,
            ErrorType::NotFound => 404,
            ErrorType::RequestTooLarge => 413,
            ErrorType::RateLimit => 429,
            ErrorType::Api => 500,
            ErrorType::Timeout => 504,
            ErrorType::Overloaded => OVERLOADED,
        };
        StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// The type for a status the proxy or the backend answered with; `code` is
    /// the backend's error code, which tells an overload apart from other 503s.
    fn for_status(status: StatusCode, code: Option<&str>) -> ErrorType {
        match status.as_u16() {
            401 => ErrorType::Authentication,
            402 => ErrorType::Billing,
            403 => ErrorType::Permission,
            404 => ErrorType::NotFound,
            413 => ErrorType::RequestTooLarge,
            429 => ErrorType::RateLimit,
            503 if is_overload(code) => ErrorType::Overloaded,
            OVERLOADED => ErrorType::Overloaded,
            504 => ErrorType::Timeout,
            // 400, and the 4xx Anthropic has no type of its own for.
            400..=499 => ErrorType::InvalidRequest,
            _ => ErrorType::Api,
        }
    }

    /// The type for an error code that ends a stream (`response.failed`, `error`).
    fn for_upstream_code(code: Option<&str>) -> ErrorType {
        match code {
            Some("context_length_exceeded" | "invalid_prompt" | "invalid_request_error") => {
                ErrorType::InvalidRequest
            }
            Some("rate_limit_exceeded" | "usage_limit_reached" | "insufficient_quota") => {
                ErrorType::RateLimit
            }
            Some("usage_not_included") => ErrorType::Permission,
            code if is_overload(code) => ErrorType::Overloaded,
            _ => ErrorType::Api,
        }
    }
}

fn is_overload(code: Option<&str>) -> bool {
    matches!(code, Some("server_is_overloaded" | "slow_down"))
}

/// An error of the proxy or the backend in Anthropic's terms: a backend
/// overload, or the proxy at its limit of requests in flight, is a 529
/// (Anthropic clients back off and retry an overload).
impl From<ApiError> for MessagesError {
    fn from(e: ApiError) -> Self {
        let error = if e.own == Some(Code::TooManyRequestsInFlight) {
            MessagesError::new(ErrorType::Overloaded, e.message)
        } else {
            MessagesError::from_status(e.status, e.code.as_deref(), e.message)
        };
        error.with_retry_after(e.retry_after)
    }
}

/// An error answered to an Anthropic client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status} {}: {message}", kind.as_str())]
pub struct MessagesError {
    pub status: StatusCode,
    pub kind: ErrorType,
    pub message: String,
    /// Seconds for a `retry-after` header.
    pub retry_after: Option<u64>,
}

impl MessagesError {
    /// An error of `kind`, with the status Anthropic gives it.
    pub fn new(kind: ErrorType, message: impl Into<String>) -> Self {
        MessagesError {
            status: kind.status(),
            kind,
            message: message.into(),
            retry_after: None,
        }
    }

    /// The client's request is wrong; it is never forwarded.
    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(ErrorType::InvalidRequest, message)
    }

    /// An error the proxy answers with `status` (the proxy's own or the
    /// backend's); `code` is the backend's error code when there is one. A
    /// backend overload (503 `server_is_overloaded` / `slow_down`) becomes
    /// Anthropic's 529; other statuses keep their number.
    pub fn from_status(status: StatusCode, code: Option<&str>, message: impl Into<String>) -> Self {
        let kind = ErrorType::for_status(status, code);
        MessagesError {
            status: if kind == ErrorType::Overloaded {
                kind.status()
            } else {
                status
            },
            kind,
            message: message.into(),
            retry_after: None,
        }
    }

    /// The error object of a `response.failed` event or an `error` event
    /// (`{code, message}`), which ends a stream that already answered 200.
    pub fn from_upstream_failure(error: &Value) -> Self {
        let code = error.get("code").and_then(Value::as_str);
        let message = error
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("the upstream response failed");
        Self::new(ErrorType::for_upstream_code(code), message)
    }

    pub fn with_retry_after(mut self, seconds: Option<u64>) -> Self {
        self.retry_after = seconds;
        self
    }

    /// The JSON body, as Anthropic shapes it; also the data of an `error` event.
    pub fn body(&self) -> Value {
        json!({
            "type": "error",
            "error": {"type": self.kind.as_str(), "message": self.message},
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: u16) -> StatusCode {
        StatusCode::from_u16(code).unwrap()
    }

    #[test]
    fn statuses_map_to_anthropic_types() {
        let cases = [
            (400, None, 400, "invalid_request_error"),
            (401, None, 401, "authentication_error"),
            (402, None, 402, "billing_error"),
            (403, None, 403, "permission_error"),
            (404, None, 404, "not_found_error"),
            (413, None, 413, "request_too_large"),
            (429, Some("usage_limit_reached"), 429, "rate_limit_error"),
            (422, None, 422, "invalid_request_error"),
            (500, None, 500, "api_error"),
            (502, Some("bad_gateway"), 502, "api_error"),
            (503, None, 503, "api_error"),
            (503, Some("server_is_overloaded"), 529, "overloaded_error"),
            (503, Some("slow_down"), 529, "overloaded_error"),
            (504, None, 504, "timeout_error"),
        ];
        for (given, code, want, kind) in cases {
            let e = MessagesError::from_status(status(given), code, "m");
            assert_eq!(
                (e.status.as_u16(), e.kind.as_str()),
                (want, kind),
                "{given} {code:?}"
            );
        }
    }

    #[test]
    fn the_body_has_anthropic_shape_and_retry_after_is_kept() {
        let e =
            MessagesError::from_status(status(429), None, "Slow down.").with_retry_after(Some(12));
        assert_eq!(
            e,
            MessagesError {
                status: StatusCode::TOO_MANY_REQUESTS,
                kind: ErrorType::RateLimit,
                message: "Slow down.".into(),
                retry_after: Some(12),
            }
        );
        assert_eq!(
            e.body(),
            json!({"type": "error", "error": {"type": "rate_limit_error", "message": "Slow down."}})
        );
    }

    #[test]
    fn stream_failures_are_typed_by_their_code() {
        let cases = [
            ("context_length_exceeded", ErrorType::InvalidRequest, 400),
            ("rate_limit_exceeded", ErrorType::RateLimit, 429),
            ("usage_not_included", ErrorType::Permission, 403),
            ("server_is_overloaded", ErrorType::Overloaded, 529),
            ("something_new", ErrorType::Api, 500),
        ];
        for (code, kind, status) in cases {
            let e = MessagesError::from_upstream_failure(&json!({"code": code, "message": "x"}));
            assert_eq!((e.kind, e.status.as_u16()), (kind, status), "{code}");
        }
        assert_eq!(
            MessagesError::from_upstream_failure(&json!({})).message,
            "the upstream response failed"
        );
    }
}
