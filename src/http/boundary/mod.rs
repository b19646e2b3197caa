//! Localhost is not a trust boundary. Every web page the user opens can send
//! requests to 127.0.0.1, and a page on a domain that resolves to this
//! machine (DNS rebinding) can read the answers as well; WebSocket handshakes
//! are not covered by CORS at all. So before a request is read or forwarded:
//! its `Host` must name this daemon, an `Origin` (which browsers send and the
//! CLIs and SDKs do not) must be one the user allowed, and allowed origins get
//! CORS headers. Requests over a Unix socket skip the `Host` check: no
//! browser can reach one.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;

use crate::error::{ApiError, ErrorKind};

use crate::config::hosts::{Hosts, Names, host_entry, is_loopback, normal_origin};

/// Marks a request that arrived over a Unix socket; the accept loop inserts it.
#[derive(Debug, Clone, Copy)]
pub struct ViaUnixSocket;

/// The request headers a page of an allowed origin may send: those of the
/// OpenAI and Anthropic SDKs (Stainless adds its `x-stainless-*` set).
/// A wildcard cannot stand in: `*` never covers `authorization`.
const ALLOWED_HEADERS: &str = "authorization, content-type, accept, x-api-key, \
    anthropic-version, anthropic-beta, anthropic-dangerous-direct-browser-access, \
    openai-beta, openai-organization, openai-project, idempotency-key, \
    x-stainless-arch, x-stainless-async, x-stainless-helper-method, x-stainless-lang, \
    x-stainless-os, x-stainless-package-version, x-stainless-retry-count, \
    x-stainless-runtime, x-stainless-runtime-version, x-stainless-timeout";

/// The methods our routes answer.
const ALLOWED_METHODS: &str = "GET, POST, OPTIONS";

/// The answer headers a page may read besides the CORS-safelisted ones.
const EXPOSED_HEADERS: &str = "x-proxy-request-id, retry-after";

/// How long a browser may reuse a preflight's answer.
const PREFLIGHT_MAX_AGE: &str = "600";

/// A refused request's unread body is read and dropped for at most this long
/// and this much, so that a client still sending it reads the 403 rather than
/// a reset connection. Small: the sender is most likely hostile.
const DRAIN_TIME: Duration = Duration::from_secs(1);
const DRAIN_BYTES: usize = 1024 * 1024;

/// What may reach the daemon: `allowed_hosts` and `allowed_origins`, as
/// the configuration parsed them.
#[derive(Debug, Clone, Default)]
pub struct Boundary {
    names: Names,
}

/// What to do with a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Serve it; no CORS headers (no `Origin`: a CLI, an SDK, curl).
    Serve,
    /// Serve it and add CORS headers for this allowed origin to the answer.
    ServeWithCors(HeaderValue),
    /// A CORS preflight from this allowed origin: answer it here with 204.
    Preflight(HeaderValue),
    /// Answer 403 without reading or forwarding anything.
    Refuse(Refusal),
}

/// Why a request is refused; the message names the setting that would allow it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error(
        "the request names no Host (or several); this proxy answers only requests for \
         localhost, a 127.0.0.0/8 address, [::1] or a name listed in allowed_hosts"
    )]
    NoHost,
    #[error(
        "the Host {0:?} does not name this proxy: a web page may be trying DNS rebinding. \
         If you reach the proxy by that name (a reverse proxy, a LAN name), add it to allowed_hosts"
    )]
    Host(String),
    #[error(
        "requests from web pages are refused unless their origin is listed in \
         allowed_origins; {0:?} is not"
    )]
    Origin(String),
    #[error(
        "requests from an opaque origin (Origin: null: a sandboxed frame, a file: page, \
         a redirect) are always refused; allowed_origins cannot list it"
    )]
    NullOrigin,
    #[error("the request carries several Origin headers, or one that is not text")]
    BadOrigin,
}

impl Refusal {
    /// The `error.code` of the OpenAI-shaped answer.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::NoHost | Refusal::Host(_) => "host_not_allowed",
            Refusal::Origin(_) | Refusal::NullOrigin | Refusal::BadOrigin => "origin_not_allowed",
        }
    }
}

impl Boundary {
    pub fn new(names: &Names) -> Self {
        Boundary {
            names: names.clone(),
        }
    }

    /// Decides on a request from its method, target and headers, and whether
    /// it came over a Unix socket. The `Host` is checked first, then the
    /// `Origin`; only then is a preflight answered.
    pub fn decide(&self, method: &Method, uri: &Uri, headers: &HeaderMap, unix: bool) -> Verdict {
        if !unix && let Err(refusal) = self.check_host(uri, headers) {
            return Verdict::Refuse(refusal);
        }
        let mut origins = headers.get_all(header::ORIGIN).iter();
        let origin = match (origins.next(), origins.next()) {
            (None, _) => return Verdict::Serve,
            (Some(origin), None) => origin,
            (Some(_), Some(_)) => return Verdict::Refuse(Refusal::BadOrigin),
        };
        if let Err(refusal) = self.check_origin(origin) {
            return Verdict::Refuse(refusal);
        }
        if method == Method::OPTIONS && headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
        {
            Verdict::Preflight(origin.clone())
        } else {
            Verdict::ServeWithCors(origin.clone())
        }
    }

    /// The `Host` header, and the authority of an absolute-form target if
    /// there is one, must each name this daemon.
    pub fn check_host(&self, uri: &Uri, headers: &HeaderMap) -> Result<(), Refusal> {
        let mut hosts = headers.get_all(header::HOST).iter();
        let host = match (hosts.next(), hosts.next()) {
            (Some(host), None) => Some(host.to_str().map_err(|_| Refusal::NoHost)?),
            (None, _) => None,
            (Some(_), Some(_)) => return Err(Refusal::NoHost),
        };
        let authority = uri.authority().map(|a| a.as_str());
        if host.is_none() && authority.is_none() {
            return Err(Refusal::NoHost);
        }
        for name in host.into_iter().chain(authority) {
            if !self.host_allowed(name) {
                return Err(Refusal::Host(name.to_owned()));
            }
        }
        Ok(())
    }

    /// Whether a `Host` value (`name`, `name:port`, `[v6]:port`) names this daemon.
    pub fn host_allowed(&self, host: &str) -> bool {
        let entries = match &self.names.hosts {
            Hosts::Any => return true,
            Hosts::Listed(entries) => entries,
        };
        let Some(given) = host_entry(host) else {
            return false;
        };
        is_loopback(&given.name)
            || entries
                .iter()
                .any(|e| e.name == given.name && e.port.is_none_or(|p| Some(p) == given.port))
    }

    /// An `Origin` header must be listed; `null` never is.
    pub fn check_origin(&self, origin: &HeaderValue) -> Result<(), Refusal> {
        let text = origin.to_str().map_err(|_| Refusal::BadOrigin)?.trim();
        if text.eq_ignore_ascii_case("null") {
            return Err(Refusal::NullOrigin);
        }
        let normal = normal_origin(text);
        if self.names.origins.contains(&normal) {
            Ok(())
        } else {
            Err(Refusal::Origin(text.to_owned()))
        }
    }
}

/// The middleware: runs before anything else sees the request, the client
/// key check included, so that a refused request is neither read nor
/// forwarded.
pub async fn guard(
    State(boundary): State<Arc<Boundary>>,
    request: Request,
    next: Next,
) -> Response {
    let unix = request.extensions().get::<ViaUnixSocket>().is_some();
    match boundary.decide(request.method(), request.uri(), request.headers(), unix) {
        Verdict::Serve => next.run(request).await,
        Verdict::ServeWithCors(origin) => {
            let mut response = next.run(request).await;
            add_cors(response.headers_mut(), origin);
            if let Ok(exposed) = HeaderValue::try_from(EXPOSED_HEADERS) {
                response
                    .headers_mut()
                    .insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, exposed);
            }
            response
        }
        Verdict::Preflight(origin) => preflight(origin),
        Verdict::Refuse(refusal) => {
            let path = request.uri().path().to_owned();
            tracing::warn!(method = %request.method(), path = %path, code = refusal.code(),
                "refused a request a web page may have sent: {refusal}");
            drain(request.into_body());
            refused(&refusal, &path)
        }
    }
}

/// The 204 answer to a preflight from an allowed origin.
pub fn preflight(origin: HeaderValue) -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    let headers = response.headers_mut();
    add_cors(headers, origin);
    for (name, value) in [
        (header::ACCESS_CONTROL_ALLOW_METHODS, ALLOWED_METHODS),
        (header::ACCESS_CONTROL_ALLOW_HEADERS, ALLOWED_HEADERS),
        (header::ACCESS_CONTROL_MAX_AGE, PREFLIGHT_MAX_AGE),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    for vary in [
        header::ACCESS_CONTROL_REQUEST_METHOD,
        header::ACCESS_CONTROL_REQUEST_HEADERS,
    ] {
        headers.append(header::VARY, HeaderValue::from(vary));
    }
    response
}

/// The headers every answer to an allowed origin carries: the origin itself,
/// never `*`, and `Vary: Origin` for caches.
fn add_cors(headers: &mut HeaderMap, origin: HeaderValue) {
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    headers.append(header::VARY, HeaderValue::from(header::ORIGIN));
}

/// The 403, in the dialect of the route: Anthropic's shape on `/v1/messages`.
pub fn refused(refusal: &Refusal, path: &str) -> Response {
    if path.starts_with("/v1/messages") {
        let body = serde_json::json!({
            "type": "error",
            "error": {"type": "permission_error", "message": refusal.to_string()},
        });
        return (StatusCode::FORBIDDEN, axum::Json(body)).into_response();
    }
    ApiError::new(
        StatusCode::FORBIDDEN,
        ErrorKind::InvalidRequest,
        Some(refusal.code()),
        refusal.to_string(),
    )
    .into_response()
}

/// Reads and drops what is left of a refused body, within small bounds.
fn drain(mut body: Body) {
    if http_body::Body::is_end_stream(&body) {
        return;
    }
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    runtime.spawn(async move {
        let drained = async {
            let mut left = DRAIN_BYTES;
            while let Some(Ok(frame)) = body.frame().await {
                let n = frame.data_ref().map_or(0, Bytes::len);
                if n >= left {
                    break;
                }
                left -= n;
            }
        };
        let _ = tokio::time::timeout(DRAIN_TIME, drained).await;
    });
}

#[cfg(test)]
mod tests;
