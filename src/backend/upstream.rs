//! The Codex backend, one call end to end: a place among the concurrent
//! requests, the login's credentials, one retry after a 401 with a reloaded
//! or refreshed login, the answer's status and content type checked, the
//! backend's refusals mapped, and the headers to hand back.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use serde_json::{Map, Value};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::events::EventStream;
use super::watch::{AnsweredFor, LimitsWatch};
use super::{call, headers, refusal, usage};
use crate::auth::Auth;
use crate::config::Config;
use crate::error::{ApiError, Code, ErrorKind};
use crate::models::client_version::ClientVersion;
use crate::net;
use crate::wire::Outgoing;
use crate::wire::encoding::{Compression, Encoded};

/// A model list call is small; one that takes longer than this is stuck.
const MODELS_TIMEOUT: Duration = Duration::from_secs(30);

/// The Codex backend and the login it is called with.
#[derive(Debug, Clone)]
pub struct Upstream {
    pub(super) client: reqwest::Client,
    pub(super) auth: Auth,
    pub(super) responses_url: reqwest::Url,
    models_url: reqwest::Url,
    usage_url: reqwest::Url,
    pub(crate) version: ClientVersion,
    limiter: Arc<Semaphore>,
    max_concurrent: usize,
    pub(super) idle_timeout: Duration,
    pub(super) max_event_bytes: usize,
    pub(super) debug: bool,
    first_answer: Arc<FirstAnswer>,
    pub(super) limits: LimitsWatch,
    compression: Arc<Compression>,
}

/// Until the backend has answered once, requests wait for the first one
/// rather than each opening a connection of its own: a backend that speaks
/// HTTP/2 then serves them all on the first connection, as the official
/// client's burst of concurrent requests expects.
#[derive(Debug, Default)]
struct FirstAnswer {
    arrived: std::sync::atomic::AtomicBool,
    opening: tokio::sync::Mutex<()>,
}

/// An upstream answer that is streaming events.
#[derive(Debug)]
pub struct Opened {
    pub events: EventStream,
    /// Headers to hand back to the client (rate limits, request ids).
    pub headers: HeaderMap,
    pub upstream_id: Option<String>,
    /// Held until the answer is finished.
    pub permit: OwnedSemaphorePermit,
    /// How the request went: whole over HTTP, or on a conversation's socket.
    pub sent: Sent,
}

/// How a turn went upstream, for the summary line and the metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sent {
    /// Only the new items, after `previous_response_id` on a conversation's
    /// socket (incremental turns).
    pub incremental: bool,
    /// The bytes of the request body or frame.
    pub bytes: u64,
}

impl Upstream {
    pub fn new(
        config: &Config,
        client: reqwest::Client,
        auth: Auth,
        version: ClientVersion,
    ) -> Self {
        let url = |path: &str| call::url(config, path);
        Upstream {
            responses_url: url("/responses"),
            models_url: url("/models"),
            version,
            usage_url: usage::url(config.upstream_url.url()),
            client,
            auth,
            limiter: Arc::new(Semaphore::new(config.max_concurrent_requests)),
            max_concurrent: config.max_concurrent_requests,
            idle_timeout: config.idle_timeout,
            max_event_bytes: config.max_event_bytes,
            debug: config.debug,
            first_answer: Arc::default(),
            limits: LimitsWatch::default(),
            compression: Arc::new(Compression::new(config.upstream_compression)),
        }
    }

    /// Reports every answer's limits to `limits`, and answers from its
    /// cooldown.
    pub fn with_limits(mut self, limits: LimitsWatch) -> Self {
        self.limits = limits;
        self
    }

    /// The usage limits of the logins this calls with.
    pub fn limits(&self) -> &LimitsWatch {
        &self.limits
    }

    /// The login the calls are made with.
    pub fn auth(&self) -> &Auth {
        &self.auth
    }

    /// `POST {base}/responses` with a patched body, carrying the client's
    /// conversation id; its event stream, or the error to answer.
    pub async fn stream(
        &self,
        client_headers: &HeaderMap,
        body: &Map<String, Value>,
    ) -> Result<Opened, ApiError> {
        if self.debug {
            tracing::debug!(body = %redacted(body), "forwarding request");
        }
        let json = serde_json::to_vec(body).map_err(|e| encode_failed(&e))?;
        let forwarded = headers::to_backend(client_headers, body, &self.version);
        self.stream_encoded(forwarded, Outgoing::json(json)).await
    }

    /// [`Upstream::stream`] for a request patched as raw bytes: its body
    /// goes as it is (`zstd`, the client's compressed bytes when it was
    /// not changed), never parsed again; `head` holds the fields the
    /// headers read (`prompt_cache_key`).
    pub async fn stream_raw(
        &self,
        client_headers: &HeaderMap,
        head: &Map<String, Value>,
        body: Outgoing,
    ) -> Result<Opened, ApiError> {
        if self.debug
            && let Ok(map) = serde_json::from_slice::<Map<String, Value>>(&body.json)
        {
            tracing::debug!(body = %redacted(&map), "forwarding request");
        }
        let forwarded = headers::to_backend(client_headers, head, &self.version);
        self.stream_encoded(forwarded, body).await
    }

    async fn stream_encoded(
        &self,
        forwarded: HeaderMap,
        body: Outgoing,
    ) -> Result<Opened, ApiError> {
        let permit = self.permit()?;
        let encoded = self.encode(body)?;
        let response = self
            .post(&self.responses_url, &encoded, |request| {
                request
                    .headers(forwarded.clone())
                    .header(header::ACCEPT, "text/event-stream")
            })
            .await?;
        check_event_stream(&response)?;
        let mut headers = HeaderMap::new();
        headers::pass_back(response.headers(), &mut headers);
        let upstream_id = headers::request_id(response.headers()).map(str::to_owned);
        let tap = self.limits.tap(&response);
        let body = axum::http::Response::from(response).into_body();
        Ok(Opened {
            events: EventStream::new(body, self.idle_timeout, self.max_event_bytes).with_tap(tap),
            headers,
            upstream_id,
            permit,
            sent: Sent {
                incremental: false,
                bytes: encoded.wire_len() as u64,
            },
        })
    }

    /// The body as it goes to the backend now: zstd unless compression is off.
    pub(super) fn encode(&self, body: Outgoing) -> Result<Encoded, ApiError> {
        Encoded::new(body, &self.compression).map_err(|e| encode_failed(&e))
    }

    /// `POST`s an encoded body through [`Upstream::send`]; a refusal of its
    /// compression turns compression off and sends it once more, plain.
    pub(super) async fn post(
        &self,
        url: &reqwest::Url,
        encoded: &Encoded,
        build: impl Fn(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, ApiError> {
        let method = reqwest::Method::POST;
        let sent = self
            .send(method.clone(), url, |r| encoded.attach(build(r), false))
            .await;
        match sent {
            Err(e) if encoded.is_compressed() && self.compression.refused(&e) => {
                self.send(method, url, |r| encoded.attach(build(r), true))
                    .await
            }
            sent => sent,
        }
    }

    /// A place among the requests in flight (`max_concurrent_requests`),
    /// held until the answer is finished; a WebSocket turn takes one too.
    pub fn permit(&self) -> Result<OwnedSemaphorePermit, ApiError> {
        self.limiter.clone().try_acquire_owned().map_err(|_| {
            ApiError::own(
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorKind::Server,
                Code::TooManyRequestsInFlight,
                format!(
                    "the proxy is already forwarding {} requests (max_concurrent_requests); retry shortly",
                    self.max_concurrent
                ),
            )
            .with_retry_after(Some(1))
        })
    }

    /// `GET {base}/models?client_version=…`, revalidating with `etag` when
    /// given: a 200 or a 304.
    pub async fn models(&self, etag: Option<&HeaderValue>) -> Result<reqwest::Response, ApiError> {
        self.send(reqwest::Method::GET, &self.models_url, |request| {
            let request = request.timeout(MODELS_TIMEOUT).query(&self.version.query());
            match etag {
                Some(etag) => request.header(header::IF_NONE_MATCH, etag.clone()),
                None => request,
            }
        })
        .await
    }

    /// `GET` the usage endpoint (PROTOCOL.md §11): the login's windows
    /// without spending any of them.
    pub async fn usage(&self) -> Result<reqwest::Response, ApiError> {
        self.send(reqwest::Method::GET, &self.usage_url, |request| {
            request.timeout(usage::USAGE_TIMEOUT)
        })
        .await
    }

    /// Sends a request built by `build` with the login's credentials (and
    /// once more after a 401, [`call::with_credentials`]). A refusal is mapped to
    /// the client's error. A call that spends the allowance (a `POST`) is
    /// answered locally during the login's cooldown; every answer's limits
    /// are kept, and the answer carries its login ([`AnsweredFor`]).
    pub(super) async fn send(
        &self,
        method: reqwest::Method,
        url: &reqwest::Url,
        build: impl Fn(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, ApiError> {
        let spends = method == reqwest::Method::POST;
        let credentials = self.auth.credentials().await.map_err(call::auth_error)?;
        if spends {
            self.limits.check(&credentials.account_key)?;
        }
        let (mut response, credentials) =
            call::with_credentials(&self.auth, "http", credentials, |credentials| {
                let request = build(self.client.request(method.clone(), url.clone()));
                self.send_as(call::authorized(request, &credentials), url)
            })
            .await?;
        let account = &credentials.account_key;
        let limited = self
            .limits
            .answered(account, response.status(), response.headers(), spends);
        if response.status().is_success() || response.status() == StatusCode::NOT_MODIFIED {
            response
                .extensions_mut()
                .insert(AnsweredFor(account.clone()));
            return Ok(response);
        }
        let (code, body) = refusal::read_error(response).await;
        self.limits.refused(account, code, &body, limited);
        Err(refusal::map_status(
            code,
            &body,
            std::time::SystemTime::now(),
        ))
    }

    /// Sends `request`; until the backend has answered once, one request at
    /// a time ([`FirstAnswer`]).
    async fn send_as(
        &self,
        request: reqwest::RequestBuilder,
        url: &reqwest::Url,
    ) -> Result<reqwest::Response, ApiError> {
        let first = &self.first_answer;
        let _opening = if first.arrived.load(Ordering::Acquire) {
            None
        } else {
            let guard = first.opening.lock().await;
            (!first.arrived.load(Ordering::Acquire)).then_some(guard)
        };
        let response = request.send().await.map_err(|e| {
            self.limits.unreachable(&e);
            unreachable(url, &e)
        })?;
        first.arrived.store(true, Ordering::Release);
        Ok(response)
    }
}

pub(super) fn encode_failed(e: &dyn std::fmt::Display) -> ApiError {
    ApiError::invalid_request(format!("the request could not be encoded: {e}"))
}

/// A 502 for an upstream that could not be reached.
pub(super) fn unreachable(url: &reqwest::Url, e: &reqwest::Error) -> ApiError {
    ApiError::bad_gateway(format!(
        "the Codex backend could not be reached at {url}: {}",
        net::describe(e)
    ))
}

/// A success that is not an event stream is a backend we do not understand.
fn check_event_stream(response: &reqwest::Response) -> Result<(), ApiError> {
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    if content_type.is_some_and(|ct| ct.trim_start().starts_with("text/event-stream")) {
        return Ok(());
    }
    Err(ApiError::bad_gateway(format!(
        "the Codex backend answered {} with {} instead of an event stream",
        response.status().as_u16(),
        content_type.unwrap_or("no content type")
    )))
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
    fn debug_bodies_hide_credentials() {
        let body = json!({"input": "hello", "metadata": {"api_key": "sk-secret", "n": 1}});
        let text = redacted(body.as_object().unwrap());
        assert!(!text.contains("sk-secret"));
        assert!(text.contains("[redacted]") && text.contains("hello"));
    }
}
