//! The client for the Codex backend: the headers it expects, sending, and
//! turning its refusals into errors a client understands.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

mod pool;
mod tls;

use axum::http::{
    HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode, Uri, header,
};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde_json::Value;

use crate::auth::Credentials;
use crate::config::Config;
use crate::error::ApiError;

use self::pool::Pool;
pub use self::pool::{PooledBody, SendError, close_expired};
pub use self::tls::Trust;

/// The `originator` of the official client: an edge filter is reported to
/// challenge requests without it.
pub const ORIGINATOR: &str = "codex_cli_rs";

/// An error body larger than this is not read: only its first part is shown.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// Upstream response headers handed back to the client.
pub fn is_passed_back(name: &HeaderName) -> bool {
    let n = name.as_str();
    n.starts_with("x-codex-") || n == "x-request-id" || n == "x-oai-request-id"
}

/// The Codex backend.
#[derive(Debug, Clone)]
pub struct Upstream {
    /// For `/models`, which is off the request path.
    client: reqwest::Client,
    models_url: reqwest::Url,
    /// For `/responses`: parsed once, since parsing per request shows in the profile.
    pool: Pool,
    responses_url: Uri,
    responses_path: Uri,
    host: HeaderValue,
    user_agent: HeaderValue,
    version: Option<HeaderValue>,
}

impl Upstream {
    /// `config.upstream_url` was checked to be an http(s) URL when the
    /// configuration was loaded.
    pub fn new(config: &Config, client: reqwest::Client, trust: &Trust) -> Result<Self, String> {
        let base = config.upstream_url.trim_end_matches('/');
        let responses = format!("{base}/responses");
        let responses_url: Uri = responses.parse().map_err(|e| format!("{responses}: {e}"))?;
        let (Some(authority), Some(path)) =
            (responses_url.authority(), responses_url.path_and_query())
        else {
            return Err(format!("{responses}: not an absolute URL"));
        };
        let host = HeaderValue::try_from(authority.as_str()).map_err(|e| e.to_string())?;
        let responses_path = Uri::try_from(path.as_str()).map_err(|e| e.to_string())?;
        Ok(Upstream {
            client,
            models_url: parse_url(&format!(
                "{base}/models?client_version={}",
                config.client_version
            ))?,
            pool: Pool::new(
                &responses_url,
                config.connect_timeout,
                trust.client_config()?,
            ),
            responses_url,
            responses_path,
            host,
            user_agent: HeaderValue::try_from(user_agent(&config.client_version))
                .map_err(|e| e.to_string())?,
            version: HeaderValue::try_from(config.client_version.as_str()).ok(),
        })
    }

    /// The HTTP client for the token endpoint and `/models`: a connect
    /// timeout but no total timeout.
    pub fn http_client(config: &Config, trust: &Trust) -> reqwest::Result<reqwest::Client> {
        let mut headers = HeaderMap::new();
        headers.insert("originator", HeaderValue::from_static(ORIGINATOR));
        if let Ok(v) = HeaderValue::try_from(config.client_version.as_str()) {
            headers.insert("version", v);
        }
        trust
            .apply(reqwest::Client::builder())?
            .user_agent(user_agent(&config.client_version))
            .default_headers(headers)
            .connect_timeout(config.connect_timeout)
            .pool_idle_timeout(Duration::from_secs(90))
            .tcp_nodelay(true)
            .build()
    }

    /// `POST {base}/responses` with a body already patched.
    pub async fn post_responses(
        &self,
        body: Bytes,
        credentials: &Credentials,
        session: Option<&HeaderValue>,
    ) -> Result<Response<PooledBody>, ApiError> {
        let request = || self.responses_request(body.clone(), credentials, session);
        match self.pool.send(&self.responses_url, request()).await {
            // A pooled connection the server had just closed: the request never
            // reached it, so sending once more on a new connection is safe. The
            // official client retries such failures too.
            Err(e) if e.is_stale_connection() => {
                tracing::debug!("pooled upstream connection was closed; sending again");
                self.pool.send(&self.responses_url, request()).await
            }
            other => other,
        }
        .map_err(|e| unreachable(&self.responses_url.to_string(), &e))
    }

    fn responses_request(
        &self,
        body: Bytes,
        credentials: &Credentials,
        session: Option<&HeaderValue>,
    ) -> Request<Full<Bytes>> {
        let mut request = Request::new(Full::new(body));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = self.responses_path.clone();
        let h = request.headers_mut();
        h.insert(header::HOST, self.host.clone());
        h.insert(header::AUTHORIZATION, credentials.authorization.clone());
        h.insert(
            header::ACCEPT,
            HeaderValue::from_static("text/event-stream"),
        );
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        h.insert(header::USER_AGENT, self.user_agent.clone());
        h.insert(ORIGINATOR_HEADER, HeaderValue::from_static(ORIGINATOR));
        if let Some(version) = &self.version {
            h.insert(VERSION_HEADER, version.clone());
        }
        if let Some(account) = &credentials.account_header {
            h.insert(ACCOUNT_HEADER, account.clone());
        }
        if let Some(session) = session {
            // Older clients send the underscore form, newer ones the hyphen.
            h.insert(SESSION_UNDERSCORE, session.clone());
            h.insert(SESSION_HYPHEN, session.clone());
        }
        request
    }

    /// `GET {base}/models?client_version=…`, revalidating with `etag` when given.
    pub async fn get_models(
        &self,
        credentials: &Credentials,
        etag: Option<&HeaderValue>,
        timeout: Duration,
    ) -> Result<reqwest::Response, ApiError> {
        let mut request = self
            .client
            .get(self.models_url.clone())
            .header(header::AUTHORIZATION, credentials.authorization.clone())
            .timeout(timeout);
        if let Some(account) = &credentials.account_header {
            request = request.header(ACCOUNT_HEADER, account.clone());
        }
        if let Some(etag) = etag {
            request = request.header(header::IF_NONE_MATCH, etag.clone());
        }
        request
            .send()
            .await
            .map_err(|e| unreachable(self.models_url.as_str(), &e))
    }
}

const ORIGINATOR_HEADER: HeaderName = HeaderName::from_static("originator");
const VERSION_HEADER: HeaderName = HeaderName::from_static("version");
const ACCOUNT_HEADER: HeaderName = HeaderName::from_static("chatgpt-account-id");
const SESSION_UNDERSCORE: HeaderName = HeaderName::from_static("session_id");
const SESSION_HYPHEN: HeaderName = HeaderName::from_static("session-id");

fn parse_url(url: &str) -> Result<reqwest::Url, String> {
    reqwest::Url::parse(url).map_err(|e| format!("{url}: {e}"))
}

fn user_agent(version: &str) -> String {
    format!(
        "{ORIGINATOR}/{version} ({} ; {}) codex-responses-proxy/{}",
        std::env::consts::OS,
        std::env::consts::ARCH,
        env!("CARGO_PKG_VERSION")
    )
    .replace(" ;", ";")
}

/// A 502 for an upstream that could not be reached.
fn unreachable(url: &str, e: &(dyn std::error::Error + 'static)) -> ApiError {
    ApiError::bad_gateway(format!(
        "the Codex backend could not be reached at {url}: {}",
        describe(e)
    ))
}

/// Plain words for a transport error: refused, name not found, TLS, timeout.
pub fn describe(e: &(dyn std::error::Error + 'static)) -> String {
    let mut chain = Vec::new();
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        chain.push(s.to_string());
        source = s.source();
    }
    let all = chain.join(": ").to_lowercase();
    let timed_out = e
        .downcast_ref::<reqwest::Error>()
        .is_some_and(reqwest::Error::is_timeout)
        || all.contains("timed out");
    let what = if timed_out {
        "timed out"
    } else if all.contains("connection refused") {
        "connection refused"
    } else if all.contains("dns")
        || all.contains("failed to lookup")
        || all.contains("name or service")
    {
        "the host name could not be resolved"
    } else if all.contains("certificate") || all.contains("tls") {
        "the TLS handshake failed"
    } else if all.contains("reset") {
        "the connection was reset"
    } else {
        return chain.last().cloned().unwrap_or_else(|| e.to_string());
    };
    what.to_string()
}

/// Reads an upstream error answer and maps it for the client.
pub async fn error_from_response<B>(response: Response<B>) -> ApiError
where
    B: http_body::Body<Data = Bytes> + Unpin,
{
    let status = response.status();
    let mut text = Vec::new();
    let mut body = response.into_body();
    while let Some(Ok(frame)) = body.frame().await {
        if let Some(chunk) = frame.data_ref() {
            text.extend_from_slice(chunk);
        }
        if text.len() >= MAX_ERROR_BODY {
            break;
        }
    }
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
        let message = message.unwrap_or_else(|| "the ChatGPT usage limit was reached".into());
        let message = match retry {
            Some(s) => format!(
                "{message} (resets in {})",
                humantime::format_duration(Duration::from_secs(s))
            ),
            None => message,
        };
        return ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limit_error",
            code,
            message,
        )
        .with_retry_after(retry);
    }
    let kind = match status.as_u16() {
        400 | 413 | 422 => "invalid_request_error",
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        429 => "rate_limit_error",
        _ => "upstream_error",
    };
    let message = match (status.as_u16(), message) {
        (401, m) => format!(
            "the Codex backend refused the login ({}): run `codex login` again",
            m.unwrap_or_else(|| "401".into())
        ),
        (_, Some(m)) => m,
        (_, None) if status.is_server_error() => {
            format!("the Codex backend failed with HTTP {}", status.as_u16())
        }
        (_, None) => format!("the Codex backend answered HTTP {}", status.as_u16()),
    };
    let status = if status.is_client_error() || status.is_server_error() {
        status
    } else {
        StatusCode::BAD_GATEWAY
    };
    ApiError::new(status, kind, code, message)
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
        | "usage_limit_reached" => (StatusCode::TOO_MANY_REQUESTS, "rate_limit_error"),
        "server_is_overloaded" | "slow_down" => (StatusCode::SERVICE_UNAVAILABLE, "server_error"),
        "context_length_exceeded" | "invalid_prompt" => {
            (StatusCode::BAD_REQUEST, "invalid_request_error")
        }
        _ => (StatusCode::BAD_GATEWAY, "upstream_error"),
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

/// Copies the headers a client may want (rate limits, request ids) into `out`.
pub fn pass_back_headers(from: &HeaderMap, out: &mut HeaderMap) {
    for (name, value) in from {
        if is_passed_back(name) {
            out.append(name.clone(), value.clone());
        }
    }
}

/// The upstream's request id, for logs.
pub fn request_id(headers: &HeaderMap) -> Option<&str> {
    headers
        .get("x-request-id")
        .or_else(|| headers.get("x-oai-request-id"))
        .and_then(|v| v.to_str().ok())
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
                "invalid_request_error",
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
