//! The one error type a client ever sees, and its OpenAI-shaped JSON body.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// OpenAI's `error.type`: what kind of failure the client is looking at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request is wrong; it was not forwarded, or the backend refused it.
    InvalidRequest,
    /// No usable login, or the client key is missing.
    Authentication,
    Permission,
    NotFound,
    /// A usage or rate limit of the subscription.
    RateLimit,
    /// The proxy itself cannot take the request now.
    Server,
    /// The backend failed, or could not be reached or understood.
    Upstream,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidRequest => "invalid_request_error",
            ErrorKind::Authentication => "authentication_error",
            ErrorKind::Permission => "permission_error",
            ErrorKind::NotFound => "not_found_error",
            ErrorKind::RateLimit => "rate_limit_error",
            ErrorKind::Server => "server_error",
            ErrorKind::Upstream => "upstream_error",
        }
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The codes of the proxy's own errors (`error.code` on the wire): what
/// the proxy itself branches on, so never compared as strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    InvalidApiKey,
    UnknownUrl,
    MethodNotAllowed,
    RequestTooLarge,
    UnsupportedMediaType,
    UnsupportedContentEncoding,
    /// The proxy forwards as many requests as `max_concurrent_requests` allows.
    TooManyRequestsInFlight,
    BadGateway,
    TokenRefreshFailed,
    CodexLoginRequired,
    CodexLoginExpired,
    ResponseStoreOff,
    ResponseStoreUnavailable,
    ResponseStoreFailed,
    ResponseInProgress,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Code::InvalidApiKey => "invalid_api_key",
            Code::UnknownUrl => "unknown_url",
            Code::MethodNotAllowed => "method_not_allowed",
            Code::RequestTooLarge => "request_too_large",
            Code::UnsupportedMediaType => "unsupported_media_type",
            Code::UnsupportedContentEncoding => "unsupported_content_encoding",
            Code::TooManyRequestsInFlight => "too_many_requests_in_flight",
            Code::BadGateway => "bad_gateway",
            Code::TokenRefreshFailed => "token_refresh_failed",
            Code::CodexLoginRequired => "codex_login_required",
            Code::CodexLoginExpired => "codex_login_expired",
            Code::ResponseStoreOff => "response_store_off",
            Code::ResponseStoreUnavailable => "response_store_unavailable",
            Code::ResponseStoreFailed => "response_store_failed",
            Code::ResponseInProgress => "response_in_progress",
        }
    }
}

/// An error answered to the client as `{"error":{"message","type","code"}}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status} {kind}: {message}")]
pub struct ApiError {
    pub status: StatusCode,
    /// OpenAI's `error.type`.
    pub kind: ErrorKind,
    /// OpenAI's `error.code`; `None` is rendered as `null`.
    pub code: Option<String>,
    /// The proxy's own code, when the error is the proxy's.
    pub own: Option<Code>,
    /// OpenAI's `error.param`, the request field at fault; `None` is `null`.
    pub param: Option<String>,
    pub message: String,
    /// Seconds for a `Retry-After` header.
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(
        status: StatusCode,
        kind: ErrorKind,
        code: Option<&str>,
        message: impl Into<String>,
    ) -> Self {
        ApiError {
            status,
            kind,
            code: code.map(str::to_owned),
            own: None,
            param: None,
            message: message.into(),
            retry_after: None,
        }
    }

    /// One of the proxy's own errors, with its [`Code`].
    pub fn own(
        status: StatusCode,
        kind: ErrorKind,
        code: Code,
        message: impl Into<String>,
    ) -> Self {
        ApiError {
            own: Some(code),
            ..Self::new(status, kind, Some(code.as_str()), message)
        }
    }

    /// The client's request is wrong; it is never forwarded.
    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            ErrorKind::InvalidRequest,
            None,
            message,
        )
    }

    /// The proxy could not reach or understand the upstream.
    pub fn bad_gateway(message: impl Into<String>) -> Self {
        Self::own(
            StatusCode::BAD_GATEWAY,
            ErrorKind::Upstream,
            Code::BadGateway,
            message,
        )
    }

    pub fn with_retry_after(mut self, seconds: Option<u64>) -> Self {
        self.retry_after = seconds;
        self
    }

    pub fn with_code(mut self, code: impl Into<String>) -> Self {
        self.code = Some(code.into());
        self
    }

    pub fn with_param(mut self, param: impl Into<String>) -> Self {
        self.param = Some(param.into());
        self
    }

    /// The JSON body, as OpenAI shapes it.
    pub fn body(&self) -> serde_json::Value {
        json!({
            "error": {
                "message": self.message,
                "type": self.kind.as_str(),
                "param": self.param,
                "code": self.code,
            }
        })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        json_error(self.status, self.body(), self.retry_after)
    }
}

/// An error's JSON `body` with its `status` and, for a limit, `Retry-After`:
/// the shape every dialect's error answer takes on the wire.
pub fn json_error(
    status: StatusCode,
    body: serde_json::Value,
    retry_after: Option<u64>,
) -> Response {
    let mut response = (status, axum::Json(body)).into_response();
    if let Some(secs) = retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}
