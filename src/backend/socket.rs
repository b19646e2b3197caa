//! The backend's own Responses WebSocket (PROTOCOL.md §8), one per client
//! socket. The handshake is an HTTP/1.1 request made by the project's HTTP
//! client (its HTTP/1.1-only twin from [`crate::net`]) and upgraded, so TLS
//! trust, `ca_file`, the proxy environment and our identity are those of
//! every other call; the login's credentials go with it, and a 401 reloads
//! or refreshes the login and tries once more, as HTTP calls do. The
//! handshake's headers and the `codex.rate_limits` frames feed the login's
//! usage limits, and a request for a login in its cooldown is answered
//! locally, as over HTTP.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Map, Value};
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::client::generate_key;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message, Utf8Bytes};

use super::events::StreamError;
use super::upstream::unreachable;
use super::watch::LimitsWatch;
use super::{call, headers, refusal};
use crate::auth::{Auth, Credentials};
use crate::config::Config;
use crate::error::ApiError;
use crate::models::client_version::ClientVersion;

/// The transport version the current Codex CLI asks for; sent unless the
/// client names a version of its own.
pub const BETA: &str = "responses_websockets=2026-02-06";

const OPENAI_BETA: HeaderName = HeaderName::from_static("openai-beta");

/// Frames are JSON events of a few hundred bytes: the crate's default read
/// buffer of 128 KiB per socket would be most of an idle socket's memory.
/// Larger frames still arrive whole; the buffer grows for them.
pub const READ_BUFFER_BYTES: usize = 4096;

/// How long a closing handshake may take before the socket is just dropped.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

/// The settings of every socket, ours to the backend and the client's to us:
/// a small read buffer, each frame written at once (events are flushed one
/// by one anyway), and a bound on a message's size.
pub fn socket_config(max_message_bytes: usize) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(0)
        .max_message_size(Some(max_message_bytes))
        .max_frame_size(Some(max_message_bytes))
}

/// Opens sockets to the backend. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Sockets {
    client: reqwest::Client,
    auth: Auth,
    /// `{upstream_url}/responses`, as `http(s)://`: the handshake is an HTTP
    /// request, and `ws(s)://` names the same place.
    url: reqwest::Url,
    idle_timeout: Duration,
    max_event_bytes: usize,
    limits: LimitsWatch,
    version: ClientVersion,
}

/// The backend's answer to an upgrade request, and the key it was sent with.
struct Handshake {
    response: reqwest::Response,
    key: String,
}

impl call::Answer for Handshake {
    fn status(&self) -> StatusCode {
        self.response.status()
    }
}

/// What became of a handshake the backend answered.
#[derive(Debug)]
pub enum Opening {
    Open(Box<BackendSocket>),
    /// Answered with this status instead of 101 (404, 405, 426…): the
    /// backend does not serve the WebSocket here.
    Refused(StatusCode),
}

impl Sockets {
    /// `client` must be [`crate::net::upgrade_client`]'s: HTTP/1.1 only.
    /// Presents the proxy as `version`, shared with HTTP calls.
    pub fn new(
        config: &Config,
        client: reqwest::Client,
        auth: Auth,
        version: ClientVersion,
    ) -> Self {
        Sockets {
            client,
            auth,
            url: call::url(config, "/responses"),
            idle_timeout: config.idle_timeout,
            max_event_bytes: config.max_event_bytes,
            limits: LimitsWatch::default(),
            version,
        }
    }

    /// Reports the sockets' limits to `limits`, and answers from its cooldown.
    pub fn with_limits(mut self, limits: LimitsWatch) -> Self {
        self.limits = limits;
        self
    }

    /// The backend's socket for a client that sent `client_headers` on its
    /// handshake and `first` as its first request.
    pub async fn open(
        &self,
        client_headers: &HeaderMap,
        first: &Map<String, Value>,
    ) -> Result<Opening, ApiError> {
        let forwarded = handshake_headers(client_headers, first, &self.version);
        let credentials = self.auth.credentials().await.map_err(call::auth_error)?;
        let (Handshake { response, key }, credentials) =
            call::with_credentials(&self.auth, "websocket", credentials, |credentials| {
                self.handshake(credentials, &forwarded)
            })
            .await?;
        let account = credentials.account_key.clone();
        self.limits
            .answered(&account, response.status(), response.headers(), false);
        match response.status() {
            StatusCode::SWITCHING_PROTOCOLS => self.upgrade(response, &key, account).await,
            StatusCode::UNAUTHORIZED => Err(refusal::error_from_response(response).await),
            refused => {
                tracing::info!(
                    status = refused.as_u16(),
                    "the backend refused the WebSocket upgrade"
                );
                Ok(Opening::Refused(refused))
            }
        }
    }

    /// Sends the upgrade request; its answer and the key it was sent with.
    async fn handshake(
        &self,
        credentials: Arc<Credentials>,
        forwarded: &HeaderMap,
    ) -> Result<Handshake, ApiError> {
        let key = generate_key();
        let request = self
            .client
            .get(self.url.clone())
            .headers(forwarded.clone())
            .header(header::CONNECTION, "upgrade")
            .header(header::UPGRADE, "websocket")
            .header(header::SEC_WEBSOCKET_VERSION, "13")
            .header(header::SEC_WEBSOCKET_KEY, key.as_str());
        let request = call::authorized(request, &credentials);
        // The connect timeout covers the connection; this, the answer.
        match tokio::time::timeout(self.idle_timeout, request.send()).await {
            Ok(Ok(response)) => Ok(Handshake { response, key }),
            Ok(Err(e)) => Err(unreachable(&self.url, &e)),
            Err(_) => Err(StreamError::Idle(self.idle_timeout).to_api_error()),
        }
    }

    async fn upgrade(
        &self,
        response: reqwest::Response,
        key: &str,
        account: Arc<str>,
    ) -> Result<Opening, ApiError> {
        let accept = response.headers().get(header::SEC_WEBSOCKET_ACCEPT);
        if accept.map(HeaderValue::as_bytes) != Some(derive_accept_key(key.as_bytes()).as_bytes()) {
            return Err(ApiError::bad_gateway(
                "the Codex backend answered the WebSocket handshake without a valid Sec-WebSocket-Accept",
            ));
        }
        let upstream_id = headers::request_id(response.headers()).map(str::to_owned);
        let upgraded = response.upgrade().await.map_err(|e| {
            ApiError::bad_gateway(format!(
                "the WebSocket to the Codex backend could not be opened: {}",
                crate::net::describe(&e)
            ))
        })?;
        let config = socket_config(self.max_event_bytes);
        let ws = WebSocketStream::from_raw_socket(upgraded, Role::Client, Some(config)).await;
        Ok(Opening::Open(Box::new(BackendSocket {
            ws,
            idle_timeout: self.idle_timeout,
            upstream_id,
            limits: self.limits.clone(),
            account,
        })))
    }
}

/// The client's headers the backend reads (as on HTTP), with the transport
/// version: the client's own when it names one, else ours.
fn handshake_headers(
    client: &HeaderMap,
    first: &Map<String, Value>,
    version: &ClientVersion,
) -> HeaderMap {
    let mut out = headers::to_backend(client, first, version);
    let beta = client
        .get_all(&OPENAI_BETA)
        .iter()
        .find(|v| {
            v.to_str()
                .is_ok_and(|v| v.contains("responses_websockets="))
        })
        .cloned()
        .unwrap_or(HeaderValue::from_static(BETA));
    out.insert(OPENAI_BETA, beta);
    out
}

/// An open socket to the backend.
#[derive(Debug)]
pub struct BackendSocket {
    ws: WebSocketStream<reqwest::Upgraded>,
    idle_timeout: Duration,
    /// The backend's request id of the handshake, for logs.
    pub upstream_id: Option<String>,
    limits: LimitsWatch,
    /// The login the socket was opened with.
    account: Arc<str>,
}

impl BackendSocket {
    /// Before a request on this socket: during its login's cooldown, the
    /// 429 to answer instead.
    pub fn check_limits(&self) -> Result<(), ApiError> {
        self.limits.check(&self.account)
    }

    /// A request on this socket was answered in full: a cooldown has lifted.
    pub fn answered(&self) {
        self.limits.spent(&self.account);
    }

    /// Sends one text frame.
    pub async fn send(&mut self, text: String) -> Result<(), StreamError> {
        self.ws.send(Message::text(text)).await.map_err(broken)
    }

    /// Sends one text frame given as bytes (a client's frame, or one
    /// written from its bytes), checked to be UTF-8 but not copied.
    pub async fn send_bytes(&mut self, text: bytes::Bytes) -> Result<(), StreamError> {
        let text = Utf8Bytes::try_from(text)
            .map_err(|e| StreamError::Broken(format!("a frame that is not UTF-8: {e}")))?;
        self.ws.send(Message::Text(text)).await.map_err(broken)
    }

    /// The next text frame; `None` once the backend closed the socket.
    /// While a turn is in flight (`in_turn`), a frame must come within the
    /// idle timeout; pings are answered and do not count as frames.
    pub async fn next(&mut self, in_turn: bool) -> Result<Option<Utf8Bytes>, StreamError> {
        let deadline = in_turn.then(|| Instant::now() + self.idle_timeout);
        loop {
            let message = match deadline {
                Some(at) => tokio::time::timeout_at(at, self.ws.next())
                    .await
                    .map_err(|_| StreamError::Idle(self.idle_timeout))?,
                None => self.ws.next().await,
            };
            match message {
                Some(Ok(Message::Text(text))) => {
                    self.limits.socket_frame(&self.account, text.as_str());
                    return Ok(Some(text));
                }
                None | Some(Ok(Message::Close(_))) => return Ok(None),
                Some(Err(WsError::ConnectionClosed | WsError::AlreadyClosed)) => return Ok(None),
                Some(Err(e)) => return Err(broken(e)),
                Some(Ok(Message::Binary(_))) => {
                    return Err(StreamError::Broken(
                        "the backend sent a binary frame".to_owned(),
                    ));
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
            }
        }
    }

    /// Ends the socket with a closing handshake, bounded in time.
    pub async fn close(mut self) {
        let _ = tokio::time::timeout(CLOSE_WAIT, self.ws.close(None)).await;
    }
}

fn broken(e: WsError) -> StreamError {
    let why = match &e {
        WsError::Io(io) => crate::net::describe(io),
        WsError::Capacity(_) => format!("an event larger than allowed: {e}"),
        _ => e.to_string(),
    };
    StreamError::Broken(why)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::headers::tests::builtin;

    #[test]
    fn the_handshake_carries_the_clients_transport_version_or_ours() {
        let mut client = HeaderMap::new();
        client.insert("thread-id", HeaderValue::from_static("t1"));
        let body = serde_json::json!({"prompt_cache_key": "pck"});
        let body = body.as_object().unwrap();
        let out = handshake_headers(&client, body, &builtin());
        assert_eq!(out["openai-beta"], BETA);
        assert_eq!(out["thread-id"], "t1");
        assert_eq!(out["session-id"], "pck");
        client.insert(
            "openai-beta",
            HeaderValue::from_static("responses_websockets=2026-02-04"),
        );
        let out = handshake_headers(&client, body, &builtin());
        assert_eq!(out["openai-beta"], "responses_websockets=2026-02-04");
        assert_eq!(out.get_all("openai-beta").iter().count(), 1);
    }

    #[test]
    fn the_handshake_forwards_the_clients_families_and_trace_but_not_its_cookie() {
        let mut client = HeaderMap::new();
        for (k, v) in [
            ("x-codex-new-thing", "1"),
            ("x-openai-internal-codex-responses-lite", "true"),
            (
                "traceparent",
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            ),
            ("cookie", "session=browser"),
            ("authorization", "Bearer client-key"),
            ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ] {
            client.insert(HeaderName::from_static(k), HeaderValue::from_static(v));
        }
        let out = handshake_headers(&client, &Map::new(), &builtin());
        let mut names: Vec<&str> = out.keys().map(HeaderName::as_str).collect();
        names.sort_unstable();
        assert_eq!(
            names,
            [
                "openai-beta",
                "traceparent",
                "user-agent",
                "version",
                "x-codex-new-thing",
                "x-openai-internal-codex-responses-lite"
            ]
        );
    }
}
