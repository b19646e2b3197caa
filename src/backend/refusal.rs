//! The backend's refusals: an HTTP error status with its `{"detail"}` or
//! `{"error"}` body mapped to the client's error.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::StatusCode;
use serde_json::Value;

use crate::error::{ApiError, ErrorKind};

/// An error body larger than this is not read: only its first part is shown.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// Reads an upstream error answer, up to its first `MAX_ERROR_BODY` bytes,
/// for [`map_status`] and for the limits it may announce.
pub async fn read_error(mut response: reqwest::Response) -> (StatusCode, Vec<u8>) {
    let status = response.status();
    let mut text = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        text.extend_from_slice(&chunk);
        if text.len() >= MAX_ERROR_BODY {
            break;
        }
    }
    (status, text)
}

/// Reads an upstream error answer and maps it for the client.
pub async fn error_from_response(response: reqwest::Response) -> ApiError {
    let (status, text) = read_error(response).await;
    map_status(status, &text, SystemTime::now())
}

/// Maps an upstream HTTP error (`{"detail": …}` or `{"error": {…}}`) to the client's error.
pub fn map_status(status: StatusCode, body: &[u8], now: SystemTime) -> ApiError {
    let value: Option<Value> = serde_json::from_slice(body).ok();
    let error = value.as_ref().and_then(|v| v.get("error"));
    let field = |k: &str| error.and_then(|e| e.get(k)).and_then(Value::as_str);
    let message = value
        .as_ref()
        .and_then(|v| v.get("detail"))
        .and_then(|d| {
            d.as_str()
                .map(str::to_owned)
                .or_else(|| Some(d.to_string()))
        })
        .or_else(|| field("message").map(str::to_owned))
        .or_else(|| error.and_then(Value::as_str).map(str::to_owned));
    let kind = field("type");
    let code = field("code").or(kind);

    if kind == Some("usage_limit_reached")
        || (status == StatusCode::TOO_MANY_REQUESTS && code.is_some())
    {
        let retry = error.and_then(|e| retry_after_from_limit(e, now));
        return usage_limit(message, code, retry);
    }
    let message = refusal_message(status, message);
    let kind = match status.as_u16() {
        400 | 413 | 422 => ErrorKind::InvalidRequest,
        401 => ErrorKind::Authentication,
        403 => ErrorKind::Permission,
        404 => ErrorKind::NotFound,
        429 => ErrorKind::RateLimit,
        _ => ErrorKind::Upstream,
    };
    let status = if status.is_client_error() || status.is_server_error() {
        status
    } else {
        StatusCode::BAD_GATEWAY
    };
    ApiError::new(status, kind, code, message)
}

/// A reached usage limit, whatever status it came with: a 429 that says when
/// the limit resets, in the message and in `Retry-After`.
fn usage_limit(message: Option<String>, code: Option<&str>, retry: Option<u64>) -> ApiError {
    let message = message.unwrap_or_else(|| "the ChatGPT usage limit was reached".into());
    let message = match retry {
        Some(s) => format!(
            "{message} (resets in {})",
            humantime::format_duration(Duration::from_secs(s))
        ),
        None => message,
    };
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        ErrorKind::RateLimit,
        code,
        message,
    )
    .with_retry_after(retry)
}

/// The message the backend gave, else one naming the status; a refused login
/// also says how to fix it.
fn refusal_message(status: StatusCode, message: Option<String>) -> String {
    match (status.as_u16(), message) {
        (401, m) => format!(
            "the Codex backend refused the login ({}): run `codex login` again",
            m.unwrap_or_else(|| "401".into())
        ),
        (_, Some(m)) => m,
        (_, None) if status.is_server_error() => {
            format!("the Codex backend failed with HTTP {}", status.as_u16())
        }
        (_, None) => format!("the Codex backend answered HTTP {}", status.as_u16()),
    }
}

/// Seconds until a usage limit resets: `resets_at` (Unix time) or `resets_in_seconds`.
fn retry_after_from_limit(error: &Value, now: SystemTime) -> Option<u64> {
    if let Some(at) = error.get("resets_at").and_then(Value::as_f64) {
        let now = now
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64();
        return Some((at - now).max(0.0).ceil() as u64);
    }
    error
        .get("resets_in_seconds")
        .and_then(Value::as_f64)
        .map(|s| s.max(0.0).ceil() as u64)
}

/// Maps an in-stream `response.failed` / `error` object (`{code, message}`).
pub fn map_failure(error: &Value) -> ApiError {
    let code = error
        .get("code")
        .and_then(Value::as_str)
        .unwrap_or("upstream_failed");
    let message = error
        .get("message")
        .and_then(Value::as_str)
        .filter(|m| !m.is_empty())
        .map(str::to_owned)
        .unwrap_or_else(|| format!("the Codex backend failed the response ({code})"));
    let (status, kind) = match code {
        "rate_limit_exceeded"
        | "insufficient_quota"
        | "usage_not_included"
        | "usage_limit_reached" => (StatusCode::TOO_MANY_REQUESTS, ErrorKind::RateLimit),
        "server_is_overloaded" | "slow_down" => {
            (StatusCode::SERVICE_UNAVAILABLE, ErrorKind::Server)
        }
        "context_length_exceeded" | "invalid_prompt" => {
            (StatusCode::BAD_REQUEST, ErrorKind::InvalidRequest)
        }
        _ => (StatusCode::BAD_GATEWAY, ErrorKind::Upstream),
    };
    let retry = if code == "rate_limit_exceeded" {
        retry_after_from_message(&message)
    } else {
        None
    };
    ApiError::new(status, kind, Some(code), message).with_retry_after(retry)
}

/// The delay in "… try again in 11.054s." (or "in 250ms"), rounded up to seconds.
pub fn retry_after_from_message(message: &str) -> Option<u64> {
    let lower = message.to_ascii_lowercase();
    let at = lower.find("try again in ")? + "try again in ".len();
    let rest = &lower[at..];
    let num_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let n: f64 = rest[..num_end].parse().ok()?;
    let unit = rest[num_end..].trim_start();
    let secs = if unit.starts_with("ms") {
        n / 1000.0
    } else if unit.starts_with('m') && !unit.starts_with("ms") {
        n * 60.0
    } else {
        n
    };
    Some(secs.ceil().max(1.0) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn detail_bodies_become_openai_errors_with_the_same_status() {
        let e = map_status(
            StatusCode::BAD_REQUEST,
            br#"{"detail":"Store must be set to false"}"#,
            at(0),
        );
        assert_eq!(
            e,
            ApiError::new(
                StatusCode::BAD_REQUEST,
                ErrorKind::InvalidRequest,
                None,
                "Store must be set to false"
            )
        );
        let e = map_status(StatusCode::BAD_GATEWAY, b"<html>oops</html>", at(0));
        assert_eq!(e.status, StatusCode::BAD_GATEWAY);
        assert_eq!(e.message, "the Codex backend failed with HTTP 502");
    }

    #[test]
    fn usage_limit_gives_429_with_retry_after_from_resets_at() {
        let body = json!({"error":{"type":"usage_limit_reached","message":"limit","plan_type":"plus","resets_at":1_000_090}});
        let e = map_status(
            StatusCode::TOO_MANY_REQUESTS,
            body.to_string().as_bytes(),
            at(1_000_000),
        );
        assert_eq!(e.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(e.retry_after, Some(90));
        assert_eq!(e.code.as_deref(), Some("usage_limit_reached"));
        // Seen arriving as a 404, and with the older field.
        let body = json!({"error":{"type":"usage_limit_reached","resets_in_seconds":30}});
        let e = map_status(StatusCode::NOT_FOUND, body.to_string().as_bytes(), at(0));
        assert_eq!(
            (e.status, e.retry_after),
            (StatusCode::TOO_MANY_REQUESTS, Some(30))
        );
    }

    #[test]
    fn in_stream_failures_map_to_fitting_statuses() {
        let cases = [
            ("rate_limit_exceeded", StatusCode::TOO_MANY_REQUESTS),
            ("insufficient_quota", StatusCode::TOO_MANY_REQUESTS),
            ("usage_not_included", StatusCode::TOO_MANY_REQUESTS),
            ("server_is_overloaded", StatusCode::SERVICE_UNAVAILABLE),
            ("slow_down", StatusCode::SERVICE_UNAVAILABLE),
            ("context_length_exceeded", StatusCode::BAD_REQUEST),
            ("invalid_prompt", StatusCode::BAD_REQUEST),
            ("something_else", StatusCode::BAD_GATEWAY),
        ];
        for (code, status) in cases {
            assert_eq!(
                map_failure(&json!({"code": code, "message": "m"})).status,
                status,
                "{code}"
            );
        }
        let e = map_failure(
            &json!({"code":"rate_limit_exceeded","message":"Rate limit reached. Please try again in 11.054s."}),
        );
        assert_eq!(e.retry_after, Some(12));
    }

    #[test]
    fn retry_delays_are_read_in_seconds_minutes_and_milliseconds() {
        assert_eq!(retry_after_from_message("try again in 2s"), Some(2));
        assert_eq!(retry_after_from_message("Try again in 1.5m."), Some(90));
        assert_eq!(retry_after_from_message("try again in 250ms"), Some(1));
        assert_eq!(retry_after_from_message("no delay here"), None);
    }
}
