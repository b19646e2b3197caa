//! Forwarding one patched request: a place among the concurrent requests,
//! credentials, one retry after a 401, and the upstream's refusals mapped.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{Map, Value};
use tokio::sync::OwnedSemaphorePermit;

use super::{AppState, Summary};
use crate::auth::AuthError;
use crate::auth::refresh::RefreshError;
use crate::error::ApiError;
use crate::relay::EventStream;
use crate::upstream;

/// An upstream answer that is streaming events.
#[derive(Debug)]
pub struct Opened {
    pub events: EventStream,
    /// Headers to hand back to the client (rate limits, request ids).
    pub headers: HeaderMap,
    pub upstream_id: Option<String>,
    /// Held until the answer is finished.
    pub permit: OwnedSemaphorePermit,
}

/// The conversation id the backend keys its prompt cache on: the client's
/// `session_id`/`session-id` header, else the body's `prompt_cache_key`.
pub fn session(headers: &HeaderMap, body: &Map<String, Value>) -> Option<HeaderValue> {
    headers
        .get("session_id")
        .or_else(|| headers.get("session-id"))
        .cloned()
        .or_else(|| {
            let key = body.get("prompt_cache_key")?.as_str()?;
            HeaderValue::try_from(key).ok()
        })
}

/// Sends a patched request upstream, with the client's session, and notes the
/// upstream request id for the summary line.
pub async fn send(
    state: &AppState,
    client_headers: &HeaderMap,
    body: &Map<String, Value>,
    summary: &mut Summary,
) -> Result<Opened, ApiError> {
    if state.inner.config.debug {
        tracing::debug!(body = %redacted(body), "forwarding request");
    }
    let session = session(client_headers, body);
    let encoded = serde_json::to_vec(body)
        .map_err(|e| ApiError::invalid_request(format!("the request could not be encoded: {e}")))?;
    let opened = open(state, Bytes::from(encoded), session).await?;
    summary.upstream_id = opened.upstream_id.clone();
    Ok(opened)
}

/// The handler's answer, carrying its summary for the log line.
pub fn with_summary(result: Result<Response, ApiError>, summary: Summary) -> Response {
    let mut response = result.unwrap_or_else(IntoResponse::into_response);
    response.extensions_mut().insert(summary);
    response
}

/// A 200 event stream with the upstream's headers passed back.
pub fn event_stream(body: Body, passed: HeaderMap) -> Response {
    let mut response = Response::new(body);
    let h = response.headers_mut();
    h.extend(passed);
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // Reverse proxies in front of us must not buffer the stream either.
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

/// Sends `body` upstream and returns its event stream, or the error to answer.
async fn open(
    state: &AppState,
    body: Bytes,
    session: Option<HeaderValue>,
) -> Result<Opened, ApiError> {
    let inner = &state.inner;
    let permit = inner.limiter.clone().try_acquire_owned().map_err(|_| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "server_error",
            Some("too_many_requests_in_flight"),
            format!(
                "the proxy is already forwarding {} requests (max_concurrent_requests); retry shortly",
                inner.config.max_concurrent_requests
            ),
        )
        .with_retry_after(Some(1))
    })?;
    let credentials = inner.auth.credentials().await.map_err(auth_error)?;
    let mut response = inner
        .upstream
        .post_responses(body.clone(), &credentials, session.as_ref())
        .await?;
    if response.status() == StatusCode::UNAUTHORIZED {
        tracing::info!("the backend refused the access token; reloading the login");
        let credentials = inner
            .auth
            .after_unauthorized(&credentials)
            .await
            .map_err(auth_error)?;
        response = inner
            .upstream
            .post_responses(body, &credentials, session.as_ref())
            .await?;
    }
    if !response.status().is_success() {
        return Err(upstream::error_from_response(response).await);
    }
    let is_sse = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.trim_start().starts_with("text/event-stream"));
    if !is_sse {
        let ct = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("no content type")
            .to_owned();
        return Err(ApiError::bad_gateway(format!(
            "the Codex backend answered {} with {ct} instead of an event stream",
            response.status().as_u16()
        )));
    }
    let mut headers = HeaderMap::new();
    upstream::pass_back_headers(response.headers(), &mut headers);
    let upstream_id = upstream::request_id(response.headers()).map(str::to_owned);
    Ok(Opened {
        events: EventStream::new(
            response.into_body(),
            inner.config.idle_timeout,
            inner.config.max_event_bytes,
        ),
        headers,
        upstream_id,
        permit,
    })
}

/// Maps a missing or dead login to the client's error.
pub fn auth_error(e: AuthError) -> ApiError {
    match e {
        AuthError::Login(e) => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "authentication_error",
            Some("codex_login_required"),
            e.to_string(),
        ),
        AuthError::Refresh(e @ RefreshError::Permanent { .. }) => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "authentication_error",
            Some("codex_login_expired"),
            e.to_string(),
        ),
        AuthError::Refresh(ref r @ RefreshError::Transient { unavailable, .. }) => {
            let status = if unavailable {
                StatusCode::SERVICE_UNAVAILABLE
            } else {
                StatusCode::BAD_GATEWAY
            };
            ApiError::new(
                status,
                "upstream_error",
                Some("token_refresh_failed"),
                r.to_string(),
            )
        }
    }
}

/// Keys whose values are never logged, even at debug level.
const SECRET_KEYS: &[&str] = &["api_key", "authorization", "token", "secret", "password"];

/// The body for a debug log, with anything that looks like a credential replaced.
pub fn redacted(body: &Map<String, Value>) -> String {
    fn walk(v: &mut Value) {
        match v {
            Value::Object(map) => {
                for (k, v) in map.iter_mut() {
                    let k = k.to_ascii_lowercase();
                    if SECRET_KEYS.iter().any(|s| k.contains(s)) && v.is_string() {
                        *v = Value::from("[redacted]");
                    } else {
                        walk(v);
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(walk),
            _ => {}
        }
    }
    let mut copy = Value::Object(body.clone());
    walk(&mut copy);
    copy.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn session_prefers_the_client_header_then_the_prompt_cache_key() {
        let body = json!({"prompt_cache_key": "pck"});
        let body = body.as_object().unwrap();
        let mut headers = HeaderMap::new();
        assert_eq!(session(&headers, body).unwrap(), "pck");
        headers.insert("session-id", HeaderValue::from_static("hyphen"));
        assert_eq!(session(&headers, body).unwrap(), "hyphen");
        headers.insert("session_id", HeaderValue::from_static("underscore"));
        assert_eq!(session(&headers, body).unwrap(), "underscore");
        assert!(session(&HeaderMap::new(), &Map::new()).is_none());
    }

    #[test]
    fn debug_bodies_hide_credentials() {
        let body = json!({"input": "hello", "metadata": {"api_key": "sk-secret", "n": 1}});
        let text = redacted(body.as_object().unwrap());
        assert!(!text.contains("sk-secret"));
        assert!(text.contains("[redacted]") && text.contains("hello"));
    }
}
